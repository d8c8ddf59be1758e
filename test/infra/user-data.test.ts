import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ENV } from "../../core/runtime.ts";
import { renderBootTemplate } from "../../infra/user-data/boot-template.ts";
import { LINUX_UNITS } from "../../infra/user-data/linux.ts";
import { BOOT_VARIABLES, FALLBACK_VARIABLES, fillTemplate, NAME_VARIABLES, type BootVariable } from "../../infra/user-data/template.ts";
import { SERVICE_WRAPPER_SOURCE } from "../../infra/user-data/windows-service.ts";
import { SHIP_LOGS_TASK } from "../../infra/user-data/windows.ts";
import {
  BOOT_PATHS,
  EXIT_POLICY,
  restartBackoffSeconds,
  SERVICE_ENV,
  USER_DATA_LIMIT_BYTES,
  WORKER_SERVICE,
  type BootArtifact,
  type WorkerBoot,
} from "../../infra/user-data/worker-boot.ts";

const VALUES: Record<BootVariable, string> = {
  artifacts_bucket: "spotq-artifacts-111122223333-us-east-1",
  table: "spotq-jobs",
  queue_url: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs",
  dlq_url: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs-dlq",
  high_queue_url: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs-high",
  bucket: "spotq-data-111122223333",
  group: "spotq-workers",
  group_kind: "spot",
  ondemand_queue_url: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs-ondemand",
  ondemand_group: "spotq-workers-ondemand",
  worker_version: "Wv1.worker",
  config_version: "Cv1.config",
  service_version: "Sv1.service",
  node_version: "Nv1.node",
};

const sha = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const WORKER_BYTES = "export {}; // the worker bundle\n";
const CONFIG_BYTES = '{ "name": "spotq" }\n';
const artifact = (key: string, bytes: string | Buffer, version: BootVariable): BootArtifact => ({ key, sha256: sha(bytes), version });

const boot = (platform: "windows" | "linux", extra: Partial<WorkerBoot> = {}): WorkerBoot => ({
  platform,
  region: "us-east-1",
  deployment: "spotq",
  nodeMajor: 24,
  artifacts: {
    worker: artifact("worker/worker.mjs", WORKER_BYTES, BOOT_VARIABLES.workerVersion),
    config: artifact("worker/spotq.config.json", CONFIG_BYTES, BOOT_VARIABLES.configVersion),
    ...(platform === "windows" ? { service: artifact("worker/spotq-worker-service.cs", SERVICE_WRAPPER_SOURCE, BOOT_VARIABLES.serviceVersion) } : {}),
  },
  debugKeepFailedInstances: false,
  stopGraceSeconds: 90,
  session: "service",
  ...extra,
});

/** The worker's environment as the user data writes it (the lines of the env file). */
const expectedEnvironment = (platform: "windows" | "linux", workRoot: string, root = "") => ({
  [ENV.config]: root + BOOT_PATHS[platform].config,
  [ENV.table]: VALUES.table,
  [ENV.queueUrl]: VALUES.queue_url,
  [ENV.dlqUrl]: VALUES.dlq_url,
  [ENV.highQueueUrl]: VALUES.high_queue_url,
  [ENV.bucket]: VALUES.bucket,
  [ENV.group]: VALUES.group,
  [ENV.workRoot]: workRoot,
  [ENV.telemetry]: "cloudwatch",
  [SERVICE_ENV.stopFile]: BOOT_PATHS[platform].stopFile,
  [SERVICE_ENV.stopGraceSeconds]: "90",
  AWS_REGION: "us-east-1",
  AWS_EC2_METADATA_V1_DISABLED: "true",
});

describe("infra/user-data", () => {
  for (const platform of ["windows", "linux"] as const) {
    describe(`${platform} template`, () => {
      const template = renderBootTemplate(boot(platform));

      it("interpolates exactly the deployment's names and its artifacts' version ids, nothing else", () => {
        const interpolations = [...template.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((m) => m[1]);
        const versions = platform === "windows" ? ["worker_version", "config_version", "service_version"] : ["worker_version", "config_version"];
        assert.deepEqual([...new Set(interpolations)].sort(), [...NAME_VARIABLES, ...versions].sort());
        assert.doesNotMatch(template, /(?<!%)%\{/, "no Terraform template directive");
      });

      it("with scaling.onDemandFallback, also interpolates the group kind and the On-Demand queue and group, into the worker's environment", () => {
        const fallback = renderBootTemplate(boot(platform, { onDemandFallback: true }));
        const interpolations = new Set([...fallback.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((m) => m[1]));
        for (const v of FALLBACK_VARIABLES) assert.ok(interpolations.has(v), v);
        const script = fillTemplate(fallback, VALUES);
        for (const [name, value] of [
          [ENV.groupKind, VALUES.group_kind],
          [ENV.onDemandQueueUrl, VALUES.ondemand_queue_url],
          [ENV.onDemandGroup, VALUES.ondemand_group],
        ])
          assert.ok(script.includes(platform === "windows" ? `'${name}=${value}'` : `${name}="${value}"`), `${name} in the environment`);
      });

      it("fits EC2's 16 KB user data limit once filled in, even with a pinned Node.js, an interactive session and the On-Demand fallback", () => {
        assert.ok(Buffer.byteLength(fillTemplate(template, VALUES)) < USER_DATA_LIMIT_BYTES);
        const largest = renderBootTemplate(
          boot(platform, {
            artifacts: { ...boot(platform).artifacts, node: { ...artifact("worker/node", "n", BOOT_VARIABLES.nodeVersion), release: "24.11.1" } },
            ...(platform === "windows" ? { session: "interactive" as const, autoLogon: { user: "medit", passwordParameter: "/spotq/medit-password" } } : { container: { gpus: true } }),
            onDemandFallback: true,
          }),
        );
        if (platform === "linux") assert.match(largest, /Docker for processor\.container/, "the largest Linux variant has the container step");
        const size = Buffer.byteLength(fillTemplate(largest, VALUES));
        assert.ok(size < USER_DATA_LIMIT_BYTES - 2000, `${size} bytes leaves too little room`);
      });

      it("never downloads from the internet: Node.js comes from the AMI or the artifacts bucket", () => {
        assert.doesNotMatch(template, /nodejs\.org/);
      });
    });
  }

  describe("Windows (PowerShell, with what AWS Windows AMIs ship), checked as text", () => {
    const script = fillTemplate(renderBootTemplate(boot("windows", { workRoot: "D:\\jobs" })), VALUES);
    /** The main script without the embedded helper script. */
    const main = script.replace(/\$InstanceScript = @'\n[\s\S]*?\n'@\n/, "$InstanceScript = <helpers>\n");
    const helpers = /\$InstanceScript = @'\n([\s\S]*?)\n'@\n/.exec(script)?.[1] ?? "";
    const at = (pattern: RegExp | string, text = main) => {
      const i = typeof pattern === "string" ? text.indexOf(pattern) : text.search(pattern);
      assert.ok(i >= 0, `not found: ${pattern}`);
      return i;
    };
    const tryStart = at(/^try \{$/m);
    const catchStart = at(/^\} catch \{$/m);

    it("is PowerShell user data that runs once and stops at the first error", () => {
      assert.match(script, /^<powershell>\n/);
      assert.match(script, /<\/powershell>\n<persist>false<\/persist>\n$/);
      assert.match(script, /\$ErrorActionPreference = 'Stop'/);
    });

    it("loads the AWS Tools before it uses their types, without failing outside the error handling", () => {
      assert.match(helpers, /try \{\n {2}if \(Get-Module -ListAvailable -Name AWSPowerShell\) \{ Import-Module AWSPowerShell \}\n {2}else \{ Import-Module AWS\.Tools\.Common, AWS\.Tools\.CloudWatch, AWS\.Tools\.CloudWatchLogs, AWS\.Tools\.AutoScaling \}\n\} catch \{/);
      assert.ok(helpers.indexOf("Import-Module") < helpers.indexOf("New-Object"));
      assert.match(main, /Set-Content -Path \$EnvFile -Value \$WorkerEnvironment -Encoding UTF8/);
    });

    it("defines its helpers before anything runs, from text it also writes to disk for the log task and the service", () => {
      assert.ok(helpers.length > 0, "the helpers are a here-string PowerShell can end");
      assert.ok(at(". ([ScriptBlock]::Create($InstanceScript))") < tryStart);
      assert.ok(at("Set-Content -Path $InstanceFile -Value $InstanceScript") > tryStart);
      assert.match(helpers, /^param\(\[string\]\$Action = 'none'/);
      for (const fn of ["Send-SpotqLogs", "Write-SpotqMetric", "Invoke-SpotqLeave", "Get-ImdsValue"]) assert.match(helpers, new RegExp(`^function ${fn}\\b`, "m"));
    });

    it("creates its first folder and starts the transcript inside the error handling, so a bad workRoot still takes the failure path", () => {
      const before = main.slice(0, tryStart).replace(/^function [\s\S]*?^\}$/gm, "<function>");
      assert.doesNotMatch(before, /New-Item|Start-Transcript|Read-S3Object|Register-ScheduledTask/, "nothing that can fail runs before the try");
      for (const step of ["New-Item -ItemType Directory -Force -Path $SpotqHome", "Start-Transcript -Path $BootLog", "New-Item -ItemType Directory -Force -Path $WorkRoot"]) {
        const i = at(step);
        assert.ok(i > tryStart && i < catchStart, `${step} is inside the try`);
      }
      assert.match(main, /\$WorkRoot = 'D:\\jobs'/);
      assert.match(main.slice(catchStart), /^\} catch \{\n {2}Write-Output \('spotq: bootstrap failed: ' \+ \$_\)\n {2}Invoke-SpotqLeave 'bootstrap' 1\n/);
    });

    it("ships the transcript to CloudWatch Logs before anything else can fail, then every minute", () => {
      const transcript = at("Start-Transcript");
      const task = at(`Register-ScheduledTask -TaskName '${SHIP_LOGS_TASK}'`);
      const firstShip = at(/^ {2}Send-SpotqLogs$/m);
      assert.ok(transcript < task && task < firstShip, "transcript, then the shipping task, then a first shipment");
      assert.ok(firstShip < at("New-Item -ItemType Directory -Force -Path $WorkRoot"), "shipped before the work root, Node.js or any download");
      assert.match(main, /New-ScheduledTaskTrigger -Once -At \(Get-Date\) -RepetitionInterval \(New-TimeSpan -Minutes 1\)/);
      assert.match(main, /-File "' \+ \$InstanceFile \+ '" -Action ship'/);
      assert.match(helpers, /\$BootLogGroup = '\/spotq\/spotq\/boot'/);
      assert.match(helpers, /Send-SpotqLog \$BootLog \$id\n {2}Send-SpotqLog \$WorkerLog \(\$id \+ '\/service'\)/, "one stream per instance, and one for the worker service's output");
      assert.match(helpers, /Write-CWLLogEvent -LogGroupName \$BootLogGroup -LogStreamName \$Stream -LogEvent \$events/);
      assert.match(helpers, /\[IO\.File\]::Open\(\$File, 'Open', 'Read', 'ReadWrite, Delete'\)/, "reads files other processes are writing");
    });

    it("the failure path logs, counts, ships, then abandons the launch or terminates without decrement, unless debug keeps the instance", () => {
      const leave = /^function Invoke-SpotqLeave[\s\S]*?^\}$/m.exec(helpers)![0];
      const order = ["Write-SpotqMetric $metric", "Send-SpotqLogs", "if ($DebugKeepFailedInstances)", "Complete-ASLifecycleAction", "Stop-ASInstanceInAutoScalingGroup", "Stop-Computer -Force"].map((s) =>
        at(s, leave),
      );
      assert.deepEqual([...order].sort((a, b) => a - b), order, "metric, logs, debug check, ABANDON, terminate, shutdown");
      assert.match(leave, /-LifecycleHookName \$LaunchHook -InstanceId \$id -LifecycleActionResult ABANDON/);
      // No worker holds the terminate hook any more: completed once the instance waits in it, after the terminate request.
      assert.ok(
        leave.search(/-LifecycleHookName \$TerminateHook -InstanceId \$id -LifecycleActionResult CONTINUE/) > leave.indexOf("Stop-ASInstanceInAutoScalingGroup"),
        "the terminate hook completed after the terminate request",
      );
      assert.match(leave, /for \(\$i = 0; \$state -ne 'Terminating:Wait' -and \$i -lt 30; \$i\+\+\)/, "waits (bounded) for Terminating:Wait");
      assert.match(leave, /if \(\$id -and \(\$state -eq 'Pending:Wait'\)\)/, "ABANDON only while the launch hook is pending");
      assert.match(leave, /-ShouldDecrementDesiredCapacity \$false/, "a replacement, not a smaller fleet: the breaker bounds the loop");
      assert.match(leave, /\$failedBoot = \(\$Reason -eq 'bootstrap'\) -or \(\$ExitCode -eq 2\) -or \(\$ExitCode -eq 3\) -or \(\$state -like 'Pending\*'\)/);
      assert.match(leave, /if \(\$failedBoot\) \{ 'BootstrapFailed' \} else \{ 'WorkerCrashLoop' \}/);
      assert.match(helpers, /\$LaunchHook = 'spotq-launching'/);
      assert.match(helpers, /\$Group = 'spotq-workers'/);
      assert.match(helpers, /\$DebugKeepFailedInstances = \$false/);
      assert.match(helpers, /Write-CWMetricData -Namespace 'spotq'/);
      assert.match(helpers, /\$dimension\.Name = 'Deployment'/);
      // Each step is tried on its own: a failing metric call must not skip the ABANDON.
      assert.match(leave, /try \{ Write-SpotqMetric \$metric;.*\} catch \{/);
      const debug = fillTemplate(renderBootTemplate(boot("windows", { debugKeepFailedInstances: true })), VALUES);
      assert.match(debug, /\$DebugKeepFailedInstances = \$true/);
    });

    it("fetches exactly the artifact versions its launch template names, and checks their SHA-256", () => {
      assert.match(main, /\$ArtifactsBucket = 'spotq-artifacts-111122223333-us-east-1'/);
      assert.match(main, new RegExp(`worker = @\\{ Key = 'worker/worker\\.mjs'; Version = 'Wv1\\.worker'; Sha256 = '${sha(WORKER_BYTES)}' \\}`));
      assert.match(main, /config = @\{ Key = 'worker\/spotq\.config\.json'; Version = 'Cv1\.config'/);
      assert.match(main, /service = @\{ Key = 'worker\/spotq-worker-service\.cs'; Version = 'Sv1\.service'/);
      assert.match(main, /Read-S3Object -BucketName \$ArtifactsBucket -Key \$Artifact\.Key -Version \$Artifact\.Version -File \$File -Region \$Region/);
      assert.match(main, /if \(\$hash -ne \$Artifact\.Sha256\) \{ throw \('checksum mismatch/);
      for (const a of ["worker $WorkerFile", "config $ConfigFile", "service $WrapperSource"]) assert.match(main, new RegExp(`Get-SpotqArtifact \\$Artifacts\\.${a.replace("$", "\\$")}`));
    });

    it("uses the AMI's Node.js of at least fleet.nodeMajor when none is pinned, and says how to fix it otherwise", () => {
      assert.match(main, /if \(\(Get-NodeMajor \$NodeExe\) -lt \$NodeMajor\) \{ throw \('no Node\.js ' \+ \$NodeMajor \+ ' or newer on this AMI: install it in the AMI, or pin a release in fleet\.artifacts\.node/);
      assert.match(main, /\$NodeMajor = 24/);
      assert.doesNotMatch(main, /Get-SpotqArtifact \$Artifacts\.node/);
    });

    it("installs a pinned Node.js from the artifacts bucket after checking its SHA-256 and version", () => {
      const node = { ...artifact("worker/node.zip", "zip", BOOT_VARIABLES.nodeVersion), release: "24.11.1" };
      const pinned = fillTemplate(renderBootTemplate(boot("windows", { artifacts: { ...boot("windows").artifacts, node } })), VALUES);
      assert.match(pinned, /node = @\{ Key = 'worker\/node\.zip'; Version = 'Nv1\.node'; Sha256 = '[0-9a-f]{64}' \}/);
      assert.match(pinned, /\$NodeVersion = '24\.11\.1'\n.*\n {2}Get-SpotqArtifact \$Artifacts\.node \$zip\n {2}Expand-Archive -Path \$zip -DestinationPath \$SpotqHome -Force/);
      assert.match(pinned, /if \(\(& \$NodeExe --version\)\.Trim\(\) -ne \('v' \+ \$NodeVersion\)\) \{ throw/);
      assert.doesNotMatch(pinned, /Get-Command node\.exe/, "the pinned release, not whatever the AMI has");
    });

    it("runs the worker as a Windows service through the wrapper, with the worker's environment in a file", () => {
      assert.match(main, /Add-Type -Path \$WrapperSource -ReferencedAssemblies 'System\.ServiceProcess' -OutputAssembly \$Wrapper -OutputType ConsoleApplication/);
      assert.match(main, /\$wrapperArgs = '"\{0\}" "\{1\}" "\{2\}" "\{3\}" "\{4\}"' -f \$NodeExe, \$WorkerFile, \$WorkerLog, \$EnvFile, \$InstanceFile/);
      assert.match(main, /New-Service -Name \$ServiceName -BinaryPathName \('"' \+ \$Wrapper \+ '" ' \+ \$wrapperArgs\) .* -StartupType Automatic/);
      assert.match(main, /sc\.exe failure \$ServiceName reset= 86400 actions= restart\/10000/, "Windows restarts the wrapper only if the wrapper itself crashes");
      assert.match(main, /Start-Service -Name \$ServiceName/);
      assert.match(main, /Set-Content -Path \$EnvFile -Value \$WorkerEnvironment/);
      const env = [...main.matchAll(/^ {2}'([A-Z_0-9]+)=(.*)'$/gm)].map((m) => [m[1], m[2]]);
      assert.deepEqual(Object.fromEntries(env), expectedEnvironment("windows", "D:\\jobs"));
      assert.doesNotMatch(main, /AutoAdminLogon|-AtLogOn|shutdown\.exe \/r/, "no desktop session for a service");
    });

    describe('processor.session "interactive"', () => {
      const interactive = fillTemplate(
        renderBootTemplate(boot("windows", { session: "interactive", autoLogon: { user: "medit", passwordParameter: "/spotq/medit-password" } })),
        VALUES,
      );

      it("logs the configured user on with the password from SSM Parameter Store", () => {
        assert.match(interactive, /Enable-SpotqAutoLogon 'medit' '\/spotq\/medit-password'/);
        assert.match(interactive, /Get-SSMParameterValue -Name \$PasswordParameter -WithDecryption \$true -Region \$Region/);
        for (const name of ["AutoAdminLogon -Value '1'", "DefaultUserName -Value $User", "DefaultPassword -Value $password", "DefaultDomainName -Value $env:COMPUTERNAME"])
          assert.ok(interactive.includes(`Set-ItemProperty -Path $winlogon -Name ${name}`), name);
        assert.match(interactive, /New-LocalUser -Name \$User -Password \$secure/);
        assert.match(interactive, /icacls\.exe \$folder \/grant \(\$User \+ ':\(OI\)\(CI\)M'\)/, "the user may write the work root and the logs");
      });

      it("starts the wrapper in console mode from a task at that user's logon, then restarts Windows to log on", () => {
        assert.match(interactive, /New-ScheduledTaskAction -Execute \$Wrapper -Argument \('--console ' \+ \$wrapperArgs\)/);
        assert.match(interactive, /New-ScheduledTaskTrigger -AtLogOn -User 'medit'/);
        assert.match(interactive, /New-ScheduledTaskPrincipal -UserId 'medit' -LogonType Interactive/);
        assert.match(interactive, /-ExecutionTimeLimit \(\[TimeSpan\]::Zero\) -MultipleInstances IgnoreNew/);
        assert.match(interactive, /shutdown\.exe \/r \/t 20/);
        assert.doesNotMatch(interactive, /New-Service/);
        const i = interactive.indexOf("Enable-SpotqAutoLogon 'medit'");
        assert.ok(i > interactive.search(/^try \{$/m) && i < interactive.search(/^\} catch \{$/m), "a missing password is a failed boot too");
      });
    });
  });

  describe("the Windows service wrapper (C#), checked as text", () => {
    const cs = SERVICE_WRAPPER_SOURCE;
    const method = (name: string) => {
      const m = new RegExp(`^ {4}(?:private|public|protected override)[^\\n]* ${name}\\([^)]*\\)\\n {4}\\{[\\s\\S]*?\\n {4}\\}$`, "m").exec(cs);
      assert.ok(m, `no method ${name}`);
      return m[0];
    };

    it("applies the exit-code table of CONTRACTS §4", () => {
      assert.match(cs, new RegExp(`ExitOrderly = ${EXIT_POLICY.orderly};`));
      assert.match(cs, new RegExp(`ExitBadConfig = ${EXIT_POLICY.badConfig};`));
      assert.match(cs, new RegExp(`ExitPreflightFailed = ${EXIT_POLICY.preflightFailed};`));
      assert.match(cs, /MaxRestarts = 5;/);
      assert.match(cs, /RestartWindowSeconds = 600;/);
      assert.match(cs, /MaxBackoffSeconds = 60;/);
      const supervise = method("Supervise");
      assert.match(supervise, /if \(code == ExitOrderly\)\s*\{[^}]*Finish\(\);\s*return;/, "0: the service stops for good, no restart");
      assert.match(supervise, /if \(code == ExitBadConfig \|\| code == ExitPreflightFailed\)\s*\{[^}]*Leave\([^)]*\);\s*Finish\(\);\s*return;/, "2 and 3: no restart, the instance leaves");
      assert.match(supervise, /if \(restarts\.Count >= MaxRestarts\)\s*\{[^}]*Leave\("crash-loop", code\);/, "beyond 5 restarts the instance leaves");
      assert.match(supervise, /int delay = Math\.Min\(MaxBackoffSeconds, 1 << restarts\.Count\);/, "1, 2, 4, 8, 16 s");
      assert.match(supervise, /restarts\.RemoveAll\(delegate\(DateTime t\) \{ return \(now - t\)\.TotalSeconds > RestartWindowSeconds; \}\)/, "counted within the window");
      assert.match(supervise, /if \(stopRequested\.WaitOne\(delay \* 1000\)\) return;/, "a stop during the backoff does not start the worker again");
      assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(restartBackoffSeconds), [1, 2, 4, 8, 16, 32, 60, 60]);
    });

    it("stops gracefully: the stop file, a bounded wait, and only then taskkill /T /F", () => {
      const halt = method("Halt");
      const order = ["File.WriteAllText(stopFile", "DateTime deadline = DateTime.UtcNow.AddSeconds(stopGraceSeconds)", "p.WaitForExit(5000)", "taskkill.exe"].map((s) => halt.indexOf(s));
      assert.ok(order.every((i) => i >= 0), `missing a step: ${order}`);
      assert.deepEqual([...order].sort((a, b) => a - b), order);
      assert.match(halt, /while \(!p\.WaitForExit\(5000\) && DateTime\.UtcNow < deadline\)/, "the wait is bounded by the grace");
      assert.match(halt, /if \(!HasExited\(p\)\)\s*\{[^}]*taskkill\.exe", "\/PID " \+ p\.Id \+ " \/T \/F"/, "the tree is killed only if the worker is still there");
      assert.match(halt, /RequestAdditionalTime\(15000\)/, "the service control manager keeps waiting meanwhile");
      assert.match(cs, new RegExp(`environment\\.TryGetValue\\("${SERVICE_ENV.stopFile}", out value\\)\\) stopFile = value;`));
      assert.match(cs, new RegExp(`environment\\.TryGetValue\\("${SERVICE_ENV.stopGraceSeconds}"`));
      assert.match(method("OnStop"), /Halt\(\);/);
      assert.match(method("OnShutdown"), /Halt\(\);/);
      assert.match(cs, /SetConsoleCtrlHandler\(consoleHandler, true\);/, "in a desktop session, close, logoff and shutdown stop it gracefully too");
    });

    it("deletes a stale stop file before it starts a worker", () => {
      const run = method("RunWorker");
      assert.ok(run.indexOf("File.Delete(stopFile)") < run.indexOf("p.Start()"));
    });

    it("runs the failure path of the instance script, and lets the log shipper read its log", () => {
      assert.match(method("Leave"), /"-NoProfile -NonInteractive -ExecutionPolicy Bypass -File \\"" \+ instanceScript \+ "\\" -Action leave -Reason " \+ reason \+ " -ExitCode " \+ reported/);
      assert.match(method("Leave"), /int reported = code < 0 \? 1 : code;/, "a negative NTSTATUS would read as a parameter name");
      assert.match(cs, /new FileStream\(logFile, FileMode\.Append, FileAccess\.Write, FileShare\.ReadWrite \| FileShare\.Delete\)/);
    });

    it("is C# 5 (what Windows PowerShell 5.1 compiles), with balanced braces", () => {
      assert.doesNotMatch(cs, /\$"|\?\.|\bnameof\b|=>/, "no interpolated strings, null-conditional operators, nameof or expression bodies");
      const code = cs.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)'|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, "");
      assert.equal((code.match(/\{/g) ?? []).length, (code.match(/\}/g) ?? []).length);
      assert.equal((code.match(/\(/g) ?? []).length, (code.match(/\)/g) ?? []).length);
    });
  });

  describe("Linux (bash), run against stand-ins for aws, curl, systemctl, shutdown and sleep", () => {
    const NODE_RELEASE = "node-v24.9.0-linux-x64";

    /** A Node.js release tarball whose "node" reports v24.9.0. */
    function nodeTarball(dir: string): Buffer {
      mkdirSync(join(dir, NODE_RELEASE, "bin"), { recursive: true });
      writeFileSync(join(dir, NODE_RELEASE, "bin/node"), `#!/bin/bash\nif [ "$1" = --version ]; then echo v24.9.0; else echo 24; fi\n`);
      chmodSync(join(dir, NODE_RELEASE, "bin/node"), 0o755);
      assert.equal(spawnSync("tar", ["-czf", `${NODE_RELEASE}.tar.gz`, NODE_RELEASE], { cwd: dir }).status, 0);
      return readFileSync(join(dir, `${NODE_RELEASE}.tar.gz`));
    }

    interface Run {
      withNode: boolean;
      pinNode?: boolean;
      tamperNode?: boolean;
      failS3?: boolean;
      workRoot?: string;
      debug?: boolean;
      /** What DescribeAutoScalingInstances answers. @default "Pending:Wait" */
      state?: string;
      /** processor.container: a docker stand-in answers `docker version` (unless `dockerDown`; none at all with `noDocker`). */
      container?: { gpus: boolean };
      dockerDown?: boolean;
      noDocker?: boolean;
    }

    /** Runs the user data with its absolute paths moved under a scratch root and stand-in tools on PATH. */
    function runBootstrap(options: Run) {
      const root = mkdtempSync(join(tmpdir(), "spotq-boot-"));
      const bin = join(root, "bin");
      const store = join(root, "s3");
      const shipped = join(root, "shipped");
      for (const d of [bin, store, shipped, join(root, "var/log"), join(root, "tmp"), join(root, "etc/systemd/system")]) mkdirSync(d, { recursive: true });
      const calls = join(root, "calls.log");
      const tool = (name: string, body: string) => {
        writeFileSync(join(bin, name), `#!/bin/bash\necho "${name} $*" >> ${calls}\n${body}\n`);
        chmodSync(join(bin, name), 0o755);
      };
      // S3 answers each key only at the version the launch template names; CloudWatch Logs keeps what it is sent.
      tool(
        "aws",
        [
          'case "$1 $2" in',
          `  "s3api get-object") ${options.failS3 ? "exit 1" : ""}`,
          '    while [ $# -gt 1 ]; do case "$1" in --key) key=$2; shift 2 ;; --version-id) version=$2; shift 2 ;; *) shift ;; esac; done',
          `    cp "${store}/$(echo "$key@$version" | tr / _)" "$1" ;;`,
          '  "logs put-log-events") f=$(echo "$*" | grep -o "file://[^ ]*" | cut -c8-); n=$(ls ' + shipped + ' | wc -l); s=$(echo "$*" | grep -o -- "--log-stream-name [^ ]*" | cut -d" " -f2 | tr / _); cp "$f" "' + shipped + '/$n-$s.json" ;;',
          // Once asked to terminate, the instance waits in its terminate hook (Terminating:Wait) when next described.
          `  "autoscaling describe-auto-scaling-instances") if [ -e "${root}/terminating" ]; then rm "${root}/terminating"; echo Terminating:Wait; else echo "${options.state ?? "Pending:Wait"}"; fi ;;`,
          '  "autoscaling complete-lifecycle-action") [ -z "$FAKE_ASG_REFUSES" ] || exit 254 ;;',
          `  "autoscaling terminate-instance-in-auto-scaling-group") [ -z "$FAKE_ASG_REFUSES" ] || exit 254; touch "${root}/terminating" ;;`,
          "esac",
          "exit 0",
        ].join("\n"),
      );
      tool(
        "systemctl",
        [
          'if [ "$1" = show ]; then case "$3" in NRestarts) echo "${FAKE_NRESTARTS:-0}" ;; Result) echo "${FAKE_RESULT:-success}" ;; ExecMainStatus) echo "${FAKE_STATUS:-0}" ;; esac; fi',
          'if [ "$1" = is-system-running ]; then echo "${FAKE_SYSTEM:-running}"; fi',
          "exit 0",
        ].join("\n"),
      );
      tool("shutdown", "exit 0");
      if (!options.noDocker) tool("docker", options.dockerDown ? 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1' : 'echo 25.0.18');
      tool("sleep", "exit 0");
      tool(
        "curl",
        [
          'url=""',
          'while [ $# -gt 0 ]; do case "$1" in -H|-X) shift 2 ;; -*) shift ;; *) url="$1"; shift ;; esac; done',
          'case "$url" in',
          "  *api/token) echo TOKEN ;;",
          "  *meta-data/instance-id) echo i-0123456789abcdef0 ;;",
          "  *) exit 22 ;;",
          "esac",
        ].join("\n"),
      );
      const put = (key: string, version: string, bytes: string | Buffer) => writeFileSync(join(store, `${key}@${version}`.replaceAll("/", "_")), bytes);
      put("worker/worker.mjs", VALUES.worker_version, WORKER_BYTES);
      put("worker/spotq.config.json", VALUES.config_version, CONFIG_BYTES);
      let b = boot("linux", {
        ...(options.workRoot ? { workRoot: options.workRoot } : {}),
        debugKeepFailedInstances: options.debug ?? false,
        ...(options.container ? { container: options.container } : {}),
      });
      if (options.pinNode) {
        const tarball = nodeTarball(mkdtempSync(join(tmpdir(), "spotq-node-")));
        put("worker/node.tar.gz", VALUES.node_version, options.tamperNode ? Buffer.concat([tarball, Buffer.from("tampered")]) : tarball);
        b = { ...b, artifacts: { ...b.artifacts, node: { ...artifact("worker/node.tar.gz", tarball, BOOT_VARIABLES.nodeVersion), release: "24.9.0" } } };
      }
      const script = fillTemplate(renderBootTemplate(b), VALUES).replace(/(?<![\w.:/])\/(opt\/spotq|etc\/spotq|etc\/systemd|var\/log|var\/lib\/spotq|tmp)\b/g, `${root}/$1`);
      writeFileSync(join(root, "user-data.sh"), script);
      const nodeDir = dirname(process.execPath);
      const path = [bin, ...(options.withNode ? [nodeDir] : []), "/usr/bin", "/bin"].join(":");
      const r = spawnSync("/bin/bash", [join(root, "user-data.sh")], { env: { PATH: path }, encoding: "utf8" });
      const read = (p: string) => (existsSync(join(root, p)) ? readFileSync(join(root, p), "utf8") : "");
      /** Every event shipped to CloudWatch Logs, by stream. */
      const logs = () => {
        const byStream: Record<string, string[]> = {};
        for (const f of readdirSync(shipped).sort((x, y) => parseInt(x) - parseInt(y))) {
          const stream = f.replace(/^\d+-/, "").replace(/\.json$/, "").replaceAll("_", "/");
          const events = JSON.parse(readFileSync(join(shipped, f), "utf8")) as { timestamp: number; message: string }[];
          (byStream[stream] ??= []).push(...events.map((e) => e.message));
        }
        return byStream;
      };
      /** Runs the instance script as systemd would (OnFailure, ExecStartPre). */
      const instance = (args: string[], env: Record<string, string> = {}) => {
        writeFileSync(calls, "");
        return spawnSync(join(root, "opt/spotq/spotq-instance.sh"), args, { env: { PATH: path, ...env }, encoding: "utf8" });
      };
      return { status: r.status, root, calls: () => read("calls.log"), log: () => read("var/log/spotq-bootstrap.log"), read, logs, instance };
    }

    const bashScript = fillTemplate(renderBootTemplate(boot("linux")), VALUES);
    const ABANDON = /^aws autoscaling complete-lifecycle-action --region us-east-1 --auto-scaling-group-name spotq-workers --lifecycle-hook-name spotq-launching --instance-id i-0123456789abcdef0 --lifecycle-action-result ABANDON$/m;
    const METRIC = (name: string) => new RegExp(`^aws cloudwatch put-metric-data --region us-east-1 --namespace spotq --metric-name ${name} --value 1 --unit Count --dimensions Deployment=spotq$`, "m");
    const TERMINATE_HOOK_DONE = /^aws autoscaling complete-lifecycle-action --region us-east-1 --auto-scaling-group-name spotq-workers --lifecycle-hook-name spotq-terminating --instance-id i-0123456789abcdef0 --lifecycle-action-result CONTINUE$/m;
    const REPLACE = /^aws autoscaling terminate-instance-in-auto-scaling-group --region us-east-1 --instance-id i-0123456789abcdef0 --no-should-decrement-desired-capacity$/m;

    it("is valid bash, and so is the instance script it installs", () => {
      const r = spawnSync("/bin/bash", ["-n"], { input: bashScript, encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const instance = /<<'SPOTQ_INSTANCE'\n([\s\S]*?)SPOTQ_INSTANCE\n/.exec(bashScript)![1]!;
      assert.match(instance, /^#!\/bin\/bash\n/);
      assert.equal(spawnSync("/bin/bash", ["-n"], { input: instance, encoding: "utf8" }).status, 0);
    });

    describe("a good boot", () => {
    let r: ReturnType<typeof runBootstrap>;
    before(() => {
      r = runBootstrap({ withNode: true });
    });

    it("fetches the exact artifact versions, writes the environment and starts the worker under the exit-code table", () => {
      assert.equal(r.status, 0, r.log());
      const calls = r.calls();
      assert.match(calls, /^aws s3api get-object --region us-east-1 --bucket spotq-artifacts-111122223333-us-east-1 --key worker\/worker\.mjs --version-id Wv1\.worker \S+\/opt\/spotq\/worker\.mjs$/m);
      assert.match(calls, /^aws s3api get-object --region us-east-1 --bucket spotq-artifacts-111122223333-us-east-1 --key worker\/spotq\.config\.json --version-id Cv1\.config \S+\/etc\/spotq\/spotq\.config\.json$/m);
      assert.equal(r.read("opt/spotq/worker.mjs"), WORKER_BYTES);
      const env = Object.fromEntries(r.read("etc/spotq/worker.env").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), JSON.parse(l.slice(l.indexOf("=") + 1))]));
      // The scratch root stands for "/".
      assert.deepEqual(env, expectedEnvironment("linux", `${r.root}/var/lib/spotq/jobs`, r.root));
      const unit = r.read(`etc/systemd/system/${WORKER_SERVICE}.service`);
      assert.match(unit, /^Restart=on-failure$/m, "exit 0 (an orderly stop) is not restarted");
      assert.match(unit, /^RestartPreventExitStatus=2 3$/m, "bad config and a failed preflight are not restarted");
      assert.match(unit, /^StartLimitIntervalSec=600$/m);
      assert.match(unit, /^StartLimitBurst=6$/m, "the first start and 5 restarts in 10 minutes");
      assert.match(unit, /^RestartSec=1$/m);
      assert.match(unit, new RegExp(`^ExecStartPre=-\\S+/opt/spotq/spotq-instance\\.sh backoff$`, "m"), "1, 2, 4, 8, 16 s between restarts on any systemd");
      assert.match(unit, new RegExp(`^OnFailure=${LINUX_UNITS.leave}\\.service$`, "m"));
      assert.match(unit, /^ExecStart=\S+\/opt\/spotq\/node-current \S+\/opt\/spotq\/worker\.mjs$/m);
      assert.match(unit, /^StandardOutput=append:\S+\/var\/log\/spotq\/worker\.log$/m, "the worker's output is a file the shipper follows");
      assert.match(unit, /^TimeoutStopSec=90$/m, "stop waits the grace (SIGTERM is the hand-back signal on Linux)");
      assert.match(r.read(`etc/systemd/system/${LINUX_UNITS.leave}.service`), /^ExecStart=\S+\/opt\/spotq\/spotq-instance\.sh service-failed$/m);
      assert.match(calls, new RegExp(`^systemctl enable --now ${WORKER_SERVICE}\\.service$`, "m"));
      assert.equal(readlinkSync(join(r.root, "opt/spotq/node-current")), process.execPath, "the AMI's Node.js when none is pinned");
      assert.ok(existsSync(join(r.root, "var/lib/spotq/jobs")), "creates the work root");
      assert.doesNotMatch(calls, /put-metric-data|complete-lifecycle-action|terminate-instance/, "a good boot does not leave");
    });

    it("ships its log to the instance's stream of the boot log group first, and installs a timer that keeps shipping", () => {
      const calls = r.calls();
      const enableTimer = calls.indexOf(`systemctl enable --now ${LINUX_UNITS.shipLogs}.timer`);
      const firstShip = calls.indexOf("aws logs put-log-events --region us-east-1 --log-group-name /spotq/spotq/boot --log-stream-name i-0123456789abcdef0 ");
      const firstFetch = calls.indexOf("aws s3api get-object");
      assert.ok(enableTimer >= 0 && firstShip > enableTimer && firstFetch > firstShip, `timer, first shipment, then the first download:\n${calls}`);
      assert.match(r.read(`etc/systemd/system/${LINUX_UNITS.shipLogs}.timer`), /^OnUnitActiveSec=60$/m);
      assert.match(r.read(`etc/systemd/system/${LINUX_UNITS.shipLogs}.service`), /^ExecStart=\S+\/opt\/spotq\/spotq-instance\.sh ship$/m);
      const shipped = r.logs()["i-0123456789abcdef0"]!.join("\n");
      assert.match(shipped, /spotq: worker service started/, "the whole log reaches CloudWatch, each line once");
      assert.equal(shipped.match(/spotq: node /g)?.length, 1);
    });

    it("writes units systemd itself accepts (systemd-analyze verify, where it is installed)", function () {
      if (spawnSync("systemd-analyze", ["--version"]).status !== 0) this.skip();
      const dir = join(r.root, "etc/systemd/system");
      const units = readdirSync(dir).map((f) => join(dir, f));
      assert.equal(units.length, 4);
      const v = spawnSync("systemd-analyze", ["verify", ...units], { encoding: "utf8" });
      assert.equal(v.status, 0, v.stderr);
      assert.equal(v.stderr.trim(), "", "no unknown keys or bad values");
    });

    it("ships the worker's output file to the instance's service stream, JSON-escaped", () => {
      mkdirSync(join(r.root, "var/log/spotq"), { recursive: true });
      writeFileSync(join(r.root, "var/log/spotq/worker.log"), 'worker: "quoted" \\ back\tslash\n\nsecond line\n');
      assert.equal(r.instance(["ship"]).status, 0);
      assert.deepEqual(r.logs()["i-0123456789abcdef0/service"], ['worker: "quoted" \\ back\tslash', "second line"]);
      assert.equal(r.instance(["ship"]).status, 0);
      assert.deepEqual(r.logs()["i-0123456789abcdef0/service"], ['worker: "quoted" \\ back\tslash', "second line"], "nothing is shipped twice");
    });
    });

    it("installs a pinned Node.js from the artifacts bucket after checking its SHA-256", () => {
      const r = runBootstrap({ withNode: false, pinNode: true });
      assert.equal(r.status, 0, r.log());
      assert.match(r.calls(), /^aws s3api get-object .* --key worker\/node\.tar\.gz --version-id Nv1\.node /m);
      assert.equal(readlinkSync(join(r.root, "opt/spotq/node-current")), join(r.root, "opt/spotq/node/bin/node"));
      assert.match(r.log(), /spotq: node v24\.9\.0/);
    });

    it("refuses a tampered Node.js archive: the boot fails, counts, and abandons its launch", () => {
      const r = runBootstrap({ withNode: false, pinNode: true, tamperNode: true });
      assert.equal(r.status, 1);
      assert.match(r.log(), /spotq: checksum mismatch for s3:\/\/spotq-artifacts-111122223333-us-east-1\/worker\/node\.tar\.gz \(Nv1\.node\)/);
      assert.match(r.calls(), METRIC("BootstrapFailed"));
      assert.match(r.calls(), ABANDON);
      assert.doesNotMatch(r.calls(), /^systemctl enable --now spotq-worker/m);
    });

    it("without Node.js on the AMI and none pinned, the boot fails and says how to fix it", () => {
      const r = runBootstrap({ withNode: false });
      assert.equal(r.status, 1);
      assert.match(r.log(), /no Node\.js 24 or newer on this AMI: install it in the AMI, or pin a release in fleet\.artifacts\.node \(npm run fetch:node\)/);
      assert.match(r.calls(), ABANDON);
    });

    it("a bad workRoot does not skip the failure path: log shipped, BootstrapFailed counted, launch abandoned", () => {
      const r = runBootstrap({ withNode: true, workRoot: "/dev/null/jobs" });
      assert.equal(r.status, 1);
      const calls = r.calls();
      assert.match(calls, METRIC("BootstrapFailed"));
      assert.match(calls, ABANDON);
      assert.doesNotMatch(calls, REPLACE, "abandoned, not terminated twice");
      assert.ok(calls.indexOf("put-metric-data") < calls.search(ABANDON), "counted before the instance goes");
      const shipped = r.logs()["i-0123456789abcdef0"]!.join("\n");
      assert.match(shipped, /spotq: bootstrap failed at line \d+/);
      assert.match(shipped, /spotq: this instance leaves: bootstrap \(exit code 1\)/);
      assert.match(shipped, /spotq: counted BootstrapFailed/, "the evidence includes the failure path itself");
    });

    it("terminates without decrement when the launch is no longer pending, and shuts down when Auto Scaling refuses", () => {
      const r = runBootstrap({ withNode: true, failS3: true, state: "InService" });
      assert.equal(r.status, 1);
      assert.match(r.calls(), REPLACE);
      assert.doesNotMatch(r.calls(), ABANDON);
      // No worker holds the terminate hook: the leave path completes it rather than wait out its timeout.
      assert.ok(r.calls().search(TERMINATE_HOOK_DONE) > r.calls().search(REPLACE), "the terminate hook completed after the terminate request");
      assert.doesNotMatch(r.calls(), /^shutdown/m);
      r.instance(["leave", "bootstrap", "1"], { FAKE_ASG_REFUSES: "1" });
      assert.match(r.calls(), REPLACE);
      assert.match(r.calls(), /^shutdown -h now$/m, "the launch template terminates an instance that shuts itself down");
    });

    it("keeps a failed instance in debug mode, after logging and counting", () => {
      const r = runBootstrap({ withNode: true, failS3: true, debug: true });
      assert.equal(r.status, 1);
      assert.match(r.calls(), METRIC("BootstrapFailed"));
      assert.doesNotMatch(r.calls(), /complete-lifecycle-action|terminate-instance|^shutdown/m);
      assert.match(r.log(), /fleet\.debugKeepFailedInstances is on: this instance stays/);
    });

    describe("the container profile (processor.container)", () => {
      const containerScript = fillTemplate(renderBootTemplate(boot("linux", { container: { gpus: true } })), VALUES);

      it("is valid bash, and adds nothing to a fleet without a container", () => {
        assert.equal(spawnSync("/bin/bash", ["-n"], { input: containerScript, encoding: "utf8" }).status, 0);
        assert.doesNotMatch(bashScript, /docker|ecs\.service/);
      });

      it("starts Docker (leaving the ECS agent off) before the worker, and orders the worker's unit after it", () => {
        const r = runBootstrap({ withNode: true, container: { gpus: true } });
        assert.equal(r.status, 0, r.log());
        const calls = r.calls();
        const at = (line: string) => {
          const i = calls.indexOf(line);
          assert.ok(i >= 0, `no call ${line}:\n${calls}`);
          return i;
        };
        const ecs = at("systemctl disable --now ecs.service");
        const docker = at("systemctl enable --now docker.service");
        const answers = at("docker version --format {{.Server.Version}}");
        const worker = at(`systemctl enable --now ${WORKER_SERVICE}.service`);
        assert.ok(at("aws s3api get-object") < ecs && ecs < docker && docker < answers && answers < worker, calls);
        assert.match(r.log(), /spotq: docker 25\.0\.18 answers/);
        const unit = r.read(`etc/systemd/system/${WORKER_SERVICE}.service`);
        assert.match(unit, /^Wants=network-online\.target docker\.service$/m);
        assert.match(unit, /^After=network-online\.target docker\.service$/m, "a reboot starts Docker first");
        assert.doesNotMatch(calls, /ecr|docker login|docker pull/, "the worker logs in and pulls (its preflight), not the user data");
      });

      it("a Docker that never answers, or none at all, is a failed boot: counted, launch abandoned, saying why", () => {
        const down = runBootstrap({ withNode: true, container: { gpus: false }, dockerDown: true });
        assert.equal(down.status, 1);
        assert.match(down.log(), /spotq: the Docker daemon does not answer/);
        assert.equal((down.calls().match(/^sleep 1$/gm) ?? []).length, 60, "waited a minute for the daemon");
        assert.match(down.calls(), METRIC("BootstrapFailed"));
        assert.match(down.calls(), ABANDON);
        assert.doesNotMatch(down.calls(), /^systemctl enable --now spotq-worker/m);
        const none = runBootstrap({ withNode: true, container: { gpus: false }, noDocker: true });
        assert.equal(none.status, 1);
        assert.match(none.log(), /processor\.container needs Docker on the AMI \(the ECS GPU-optimised AMI has it\)/);
        assert.match(none.calls(), ABANDON);
      });
    });

    describe("the worker unit's failure path and backoff (spotq-instance.sh, as systemd runs it)", () => {
      let r: ReturnType<typeof runBootstrap>;
      before(() => {
        r = runBootstrap({ withNode: true, state: "InService" });
        assert.equal(r.status, 0, r.log());
      });

      it("exit 2 or 3: a failed boot leaves (BootstrapFailed), whatever the lifecycle state", () => {
        for (const status of ["2", "3"]) {
          assert.equal(r.instance(["service-failed"], { FAKE_RESULT: "exit-code", FAKE_STATUS: status }).status, 0);
          assert.match(r.calls(), METRIC("BootstrapFailed"), `exit ${status}`);
          assert.match(r.calls(), REPLACE);
        }
        assert.match(r.log(), /this instance leaves: config \(exit code 2\)/);
        assert.match(r.log(), /this instance leaves: preflight \(exit code 3\)/);
      });

      it("a crash loop after boot leaves as WorkerCrashLoop, with a replacement", () => {
        r.instance(["service-failed"], { FAKE_RESULT: "start-limit-hit", FAKE_STATUS: "1" });
        assert.match(r.calls(), METRIC("WorkerCrashLoop"));
        assert.match(r.calls(), REPLACE);
      });

      it("a worker ended by a shutdown is no reason to leave", () => {
        r.instance(["service-failed"], { FAKE_RESULT: "signal", FAKE_STATUS: "9", FAKE_SYSTEM: "stopping" });
        assert.doesNotMatch(r.calls(), /put-metric-data|terminate-instance|complete-lifecycle-action/);
        r.instance(["service-failed"], { FAKE_RESULT: "timeout", FAKE_STATUS: "0" });
        assert.doesNotMatch(r.calls(), /put-metric-data|terminate-instance|complete-lifecycle-action/);
      });

      it("waits 1, 2, 4 … 60 s before restart n", () => {
        const slept = (n: number) => {
          r.instance(["backoff"], { FAKE_NRESTARTS: String(n) });
          return /^sleep (\d+)$/m.exec(r.calls())?.[1];
        };
        assert.equal(slept(0), undefined, "the first start does not wait");
        assert.deepEqual([1, 2, 3, 5, 8].map(slept), ["1", "2", "4", "16", "60"]);
        assert.deepEqual([1, 2, 3, 5, 8].map((n) => String(restartBackoffSeconds(n))), ["1", "2", "4", "16", "60"], "the same table as the Windows service");
      });
    });
  });
});
