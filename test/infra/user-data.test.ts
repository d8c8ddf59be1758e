import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ENV } from "../../core/runtime.ts";
import { renderBootTemplate } from "../../infra/user-data/boot-template.ts";
import { BOOT_VARIABLES, fillTemplate, type BootVariable } from "../../infra/user-data/template.ts";
import { BOOT_PATHS, USER_DATA_LIMIT_BYTES, WORKER_SERVICE, type WorkerBoot } from "../../infra/user-data/worker-boot.ts";

const VALUES: Record<BootVariable, string> = {
  artifacts_bucket: "spotq-artifacts-111122223333-us-east-1",
  table: "spotq-jobs",
  queue_url: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs",
  dlq_url: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs-dlq",
  bucket: "spotq-data-111122223333",
  group: "spotq-workers",
};

const boot = (platform: "windows" | "linux", extra: Partial<WorkerBoot> = {}): WorkerBoot => ({
  platform,
  region: "us-east-1",
  nodeMajor: 24,
  workerKey: "worker/0123456789abcdef/worker.mjs",
  configKey: "config/fedcba9876543210.json",
  ...extra,
});

describe("infra/user-data", () => {
  for (const platform of ["windows", "linux"] as const) {
    describe(`${platform} template`, () => {
      const template = renderBootTemplate(boot(platform));

      it("interpolates exactly the deployment's names and nothing else", () => {
        const interpolations = [...template.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((m) => m[1]);
        assert.deepEqual([...new Set(interpolations)].sort(), Object.values(BOOT_VARIABLES).sort());
        assert.doesNotMatch(template, /(?<!%)%\{/, "no Terraform template directive");
      });

      it("fits EC2's 16 KB user data limit once filled in", () => {
        assert.ok(Buffer.byteLength(fillTemplate(template, VALUES)) < USER_DATA_LIMIT_BYTES);
      });
    });
  }

  describe("Windows (PowerShell, with what AWS Windows AMIs ship)", () => {
    const script = fillTemplate(renderBootTemplate(boot("windows", { workRoot: "D:\\jobs" })), VALUES);

    it("is PowerShell user data that runs once", () => {
      assert.match(script, /^<powershell>\n/);
      assert.match(script, /<\/powershell>\n<persist>false<\/persist>\n$/);
      assert.match(script, /\$ErrorActionPreference = 'Stop'/);
    });

    it("fetches the worker bundle and the config from the artifacts bucket with the AWS Tools for PowerShell", () => {
      assert.match(script, /\$ArtifactsBucket = 'spotq-artifacts-111122223333-us-east-1'/);
      assert.match(script, /\$WorkerKey = 'worker\/0123456789abcdef\/worker\.mjs'/);
      assert.match(script, /Read-S3Object -BucketName \$ArtifactsBucket -Key \$WorkerKey -File \$WorkerFile -Region \$Region/);
      assert.match(script, /Read-S3Object -BucketName \$ArtifactsBucket -Key \$ConfigKey -File \$ConfigFile -Region \$Region/);
    });

    it("installs Node.js from nodejs.org only when the AMI has none of 22 or newer, checking its SHA-256", () => {
      assert.match(script, /if \(\(Get-NodeMajor \$NodeExe\) -lt 22\) \{ \$NodeExe = Install-Node \}/);
      assert.match(script, /'https:\/\/nodejs\.org\/dist\/latest-v\{0\}\.x' -f \$NodeMajor/);
      assert.match(script, /\$NodeMajor = 24/);
      assert.match(script, /Get-FileHash -Algorithm SHA256 -Path \$zip\)\.Hash -ne \$hash\) \{ throw/);
    });

    it("installs a service that Windows restarts on failure, with the worker's environment and the config in place", () => {
      assert.match(script, /Add-Type -TypeDefinition \$ServiceSource .*-OutputAssembly \$Wrapper -OutputType ConsoleApplication/);
      assert.match(script, /New-Service -Name \$ServiceName -BinaryPathName \$binaryPath .* -StartupType Automatic/);
      assert.match(script, /sc\.exe failure \$ServiceName reset= 86400 actions= restart\/10000\/restart\/10000\/restart\/10000/);
      assert.match(script, /sc\.exe failureflag \$ServiceName 1/);
      assert.match(script, /Start-Service -Name \$ServiceName/);
      const env = [...script.matchAll(/^ {2}'([A-Z_0-9]+)=(.*)'$/gm)].map((m) => [m[1], m[2]]);
      assert.deepEqual(Object.fromEntries(env), {
        [ENV.config]: BOOT_PATHS.windows.config,
        [ENV.table]: VALUES.table,
        [ENV.queueUrl]: VALUES.queue_url,
        [ENV.dlqUrl]: VALUES.dlq_url,
        [ENV.bucket]: VALUES.bucket,
        [ENV.group]: VALUES.group,
        [ENV.workRoot]: "D:\\jobs",
        [ENV.telemetry]: "cloudwatch",
        AWS_REGION: "us-east-1",
        AWS_EC2_METADATA_V1_DISABLED: "true",
      });
      assert.match(script, /\$ConfigFile = 'C:\\ProgramData\\spotq\\spotq\.config\.json'/);
    });

    it("embeds the service wrapper as a here-string PowerShell can end", () => {
      const source = /\$ServiceSource = @'\n([\s\S]*?)\n'@\n/.exec(script);
      assert.ok(source, "the here-string closes with '@ at the start of a line");
      assert.match(source[1]!, /public class SpotqWorkerService : ServiceBase/);
      assert.match(source[1]!, /if \(code == 0\)\s*\{[^}]*Stop\(\);/, "an orderly worker stop (exit 0) stops the service without a restart");
      assert.match(source[1]!, /Environment\.Exit\(1\)/, "a failed worker fails the service, so recovery restarts it");
      assert.match(source[1]!, /taskkill\.exe", "\/PID " \+ child\.Id \+ " \/T \/F"/, "a stop ends the worker's whole process tree");
      assert.doesNotMatch(source[1]!, /\$"|\?\./, "C# 5 only: no interpolated strings or null-conditional operators");
    });

    it("terminates its own instance when the bootstrap fails, decrementing the group", () => {
      assert.match(script, /Stop-ASInstanceInAutoScalingGroup -InstanceId \$instanceId -ShouldDecrementDesiredCapacity \$true -Region \$Region -Force/);
      assert.match(script, /'X-aws-ec2-metadata-token-ttl-seconds' = '300'/, "reads the instance id with an IMDSv2 token");
    });
  });

  describe("Linux (bash), run against stand-ins for aws, curl and systemctl", () => {
    const bashScript = fillTemplate(renderBootTemplate(boot("linux")), VALUES);

    /** Runs the script with its absolute paths moved under a scratch root and stand-in tools on PATH. */
    function runBootstrap(options: { failS3?: boolean; withNode: boolean; tamperNode?: boolean }) {
      const root = mkdtempSync(join(tmpdir(), "spotq-boot-"));
      const bin = join(root, "bin");
      const dist = join(root, "nodejs-dist");
      for (const d of [bin, dist, join(root, "var/log"), join(root, "tmp"), join(root, "etc/systemd/system")]) mkdirSync(d, { recursive: true });
      const calls = join(root, "calls.log");
      const tool = (name: string, body: string) => {
        writeFileSync(join(bin, name), `#!/bin/bash\necho "${name} $*" >> ${calls}\n${body}\n`);
        chmodSync(join(bin, name), 0o755);
      };
      tool("aws", options.failS3 ? `[ "$1" = s3 ] && exit 1\nexit 0` : `if [ "$1" = s3 ]; then echo "object $3" > "$4"; fi`);
      tool("systemctl", "exit 0");
      tool("shutdown", "exit 0");
      // IMDS answers a token and the instance id; nodejs.org serves files from the dist folder.
      tool(
        "curl",
        [
          'out=""; url=""',
          'while [ $# -gt 0 ]; do case "$1" in -o) out="$2"; shift 2 ;; -H|-X) shift 2 ;; -*) shift ;; *) url="$1"; shift ;; esac; done',
          'case "$url" in',
          '  *api/token) echo TOKEN ;;',
          '  *meta-data/instance-id) echo i-0123456789abcdef0 ;;',
          `  https://nodejs.org/dist/latest-v24.x/*) cp "${dist}/$(basename "$url")" "$out" ;;`,
          "  *) exit 22 ;;",
          "esac",
        ].join("\n"),
      );
      // A Node.js release tarball whose "node" reports v24.
      const release = "node-v24.9.0-linux-x64";
      mkdirSync(join(dist, release, "bin"), { recursive: true });
      writeFileSync(join(dist, release, "bin/node"), `#!/bin/bash\nif [ "$1" = --version ]; then echo v24.9.0; else echo 24; fi\n`);
      chmodSync(join(dist, release, "bin/node"), 0o755);
      assert.equal(spawnSync("tar", ["-czf", `${release}.tar.gz`, release], { cwd: dist }).status, 0);
      const tarball = readFileSync(join(dist, `${release}.tar.gz`));
      const hash = createHash("sha256").update(options.tamperNode ? Buffer.from("something else") : tarball).digest("hex");
      writeFileSync(join(dist, "SHASUMS256.txt"), `${"0".repeat(64)}  node-v24.9.0-linux-arm64.tar.gz\n${hash}  ${release}.tar.gz\n`);

      const script = bashScript.replace(/(?<![\w.:/])\/(opt\/spotq|etc\/spotq|etc\/systemd|var\/log|var\/lib\/spotq|tmp)\b/g, `${root}/$1`);
      writeFileSync(join(root, "user-data.sh"), script);
      const nodeDir = dirname(process.execPath);
      const path = [bin, ...(options.withNode ? [nodeDir] : []), "/usr/bin", "/bin"].join(":");
      const r = spawnSync("/bin/bash", [join(root, "user-data.sh")], { env: { PATH: path }, encoding: "utf8" });
      const read = (p: string) => (existsSync(join(root, p)) ? readFileSync(join(root, p), "utf8") : "");
      return { status: r.status, root, calls: read("calls.log"), log: read("var/log/spotq-bootstrap.log"), read };
    }

    it("is valid bash", () => {
      const r = spawnSync("/bin/bash", ["-n"], { input: bashScript, encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
    });

    it("fetches the worker and the config, writes the environment and starts a service restarted on failure", () => {
      const r = runBootstrap({ withNode: true });
      assert.equal(r.status, 0, r.log);
      assert.match(r.calls, /^aws s3 cp s3:\/\/spotq-artifacts-111122223333-us-east-1\/worker\/0123456789abcdef\/worker\.mjs \S+\/opt\/spotq\/worker\.mjs --region us-east-1/m);
      assert.match(r.calls, /^aws s3 cp s3:\/\/spotq-artifacts-111122223333-us-east-1\/config\/fedcba9876543210\.json \S+\/etc\/spotq\/spotq\.config\.json --region us-east-1/m);
      assert.equal(r.read("opt/spotq/worker.mjs"), "object s3://spotq-artifacts-111122223333-us-east-1/worker/0123456789abcdef/worker.mjs\n");
      const env = Object.fromEntries(r.read("etc/spotq/worker.env").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), JSON.parse(l.slice(l.indexOf("=") + 1))]));
      assert.deepEqual(env, {
        // The scratch root stands for "/".
        [ENV.config]: `${r.root}/etc/spotq/spotq.config.json`,
        [ENV.table]: VALUES.table,
        [ENV.queueUrl]: VALUES.queue_url,
        [ENV.dlqUrl]: VALUES.dlq_url,
        [ENV.bucket]: VALUES.bucket,
        [ENV.group]: VALUES.group,
        [ENV.workRoot]: `${r.root}/var/lib/spotq/jobs`,
        [ENV.telemetry]: "cloudwatch",
        AWS_REGION: "us-east-1",
        AWS_EC2_METADATA_V1_DISABLED: "true",
      });
      const unit = r.read(`etc/systemd/system/${WORKER_SERVICE}.service`);
      assert.match(unit, /^Restart=on-failure$/m, "a worker that stops in order (exit 0) is not restarted: its instance is going away");
      assert.match(unit, /^ExecStart=\S+\/opt\/spotq\/node-current \S+\/opt\/spotq\/worker\.mjs$/m);
      assert.match(unit, /^EnvironmentFile=\S+\/etc\/spotq\/worker\.env$/m);
      assert.match(r.calls, /^systemctl daemon-reload$/m);
      assert.match(r.calls, new RegExp(`^systemctl enable --now ${WORKER_SERVICE}\\.service$`, "m"));
      assert.equal(readlinkSync(join(r.root, "opt/spotq/node-current")), process.execPath, "uses the AMI's Node.js when it is recent");
      assert.ok(existsSync(join(r.root, "var/lib/spotq/jobs")), "creates the work root");
      assert.doesNotMatch(r.calls, /nodejs\.org/);
    });

    it("installs Node.js from nodejs.org when the AMI has none, after checking the tarball's SHA-256", () => {
      const r = runBootstrap({ withNode: false });
      assert.equal(r.status, 0, r.log);
      assert.match(r.calls, /^curl -fsSL https:\/\/nodejs\.org\/dist\/latest-v24\.x\/SHASUMS256\.txt/m);
      assert.equal(readlinkSync(join(r.root, "opt/spotq/node-current")), join(r.root, "opt/spotq/node/bin/node"));
      assert.match(r.log, /spotq: node v24\.9\.0/);
    });

    it("refuses a tampered Node.js download and terminates its own instance", () => {
      const r = runBootstrap({ withNode: false, tamperNode: true });
      assert.equal(r.status, 1);
      assert.match(r.calls, /^aws autoscaling terminate-instance-in-auto-scaling-group --region us-east-1 --instance-id i-0123456789abcdef0 --should-decrement-desired-capacity$/m);
      assert.doesNotMatch(r.calls, /^systemctl/m);
    });

    it("terminates its own instance, decrementing the group, when the bundle cannot be fetched", () => {
      const r = runBootstrap({ withNode: true, failS3: true });
      assert.equal(r.status, 1);
      assert.match(r.log, /spotq: bootstrap failed at line \d+; terminating this instance/);
      assert.match(r.calls, /^aws autoscaling terminate-instance-in-auto-scaling-group --region us-east-1 --instance-id i-0123456789abcdef0 --should-decrement-desired-capacity$/m);
      assert.doesNotMatch(r.calls, /^systemctl/m, "no service for a worker that is not there");
    });
  });
});
