import assert from "node:assert/strict";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { CONTAINER_FOLDERS, jobFolders, renderArgs, renderConfigJson } from "../../../core/config-json.ts";
import { fleetConfig, type ContainerProfile } from "../../../core/fleet-config.ts";
import type { JobRequest } from "../../../core/request.ts";
import { containerName, ContainerRunner, containerStopCommands, dockerRunArgs, ImagePullError } from "../../../worker/container.ts";
import type { OutputStream } from "../../../worker/processor.ts";
import { FAKE_REGISTRY, processGone, useFakeDocker, waitGone } from "../../support/fake-docker.ts";
import { meditFixture, tempDir } from "../../support/worker-fixtures.ts";

const profile = (p: Partial<ContainerProfile> = {}): ContainerProfile =>
  fleetConfig({ fleet: { platform: "linux" }, processor: { container: { image: "medit-iscan", gpus: "all", stopTimeoutSeconds: 1, ...p } } }).processor.container!;

describe("worker/container: docker run of a job, against a stand-in docker", function () {
  this.timeout(60_000);

  describe("the command lines (pure)", () => {
    it("runs the image removed at its end, never pulled behind the worker's back, named, labelled, the source read-only, the target writable", () => {
      const args = dockerRunArgs({
        name: containerName("01JOB", 2),
        image: `${FAKE_REGISTRY}/medit-iscan:latest`,
        profile: { gpus: "all", user: "1000:1000", shmSizeMiB: 2048 },
        host: { source: "/var/lib/spotq/jobs/01JOB-2/source", target: "/var/lib/spotq/jobs/01JOB-2/target" },
        envNames: ["LICENCE_SERVER", "SPOTQ_JOB_ID"],
        labels: { "spotq.job": "01JOB", "spotq.attempt": "2" },
        args: ["--iScanComplete", "/spotq/source/config.json"],
      });
      assert.deepEqual(args, [
        "run",
        "--rm",
        "--pull",
        "never",
        "--name",
        "spotq-01JOB-2",
        "--label",
        "spotq.job=01JOB",
        "--label",
        "spotq.attempt=2",
        "--gpus",
        "all",
        "--user",
        "1000:1000",
        "--shm-size",
        "2048m",
        "--mount",
        "type=bind,source=/var/lib/spotq/jobs/01JOB-2/source,target=/spotq/source,readonly",
        "--mount",
        "type=bind,source=/var/lib/spotq/jobs/01JOB-2/target,target=/spotq/target",
        "--env",
        "LICENCE_SERVER",
        "--env",
        "SPOTQ_JOB_ID",
        `${FAKE_REGISTRY}/medit-iscan:latest`,
        "--iScanComplete",
        "/spotq/source/config.json",
      ]);
      assert.ok(!args.some((a) => a.includes("=") && a.startsWith("LICENCE")), "environment values never on the command line");
    });

    it("quotes a mount path docker would split (its --mount is CSV), and leaves out what is not configured", () => {
      const args = dockerRunArgs({ name: "n", image: "i", profile: {}, host: { source: "/w,1/source", target: "/w/target" }, envNames: [], labels: {}, args: [] });
      assert.ok(args.includes('type=bind,"source=/w,1/source",target=/spotq/source,readonly'));
      assert.ok(!args.includes("--gpus") && !args.includes("--user") && !args.includes("--shm-size"));
    });

    it("stops with docker stop and the configured timeout, then docker kill", () => {
      assert.deepEqual(containerStopCommands("spotq-01JOB-1", 10), { stop: ["stop", "--time", "10", "spotq-01JOB-1"], kill: ["kill", "spotq-01JOB-1"] });
    });
  });

  describe("pulling, running and stopping", () => {
    const { docker, ecr } = useFakeDocker();
    let workRoot: string;
    beforeEach(async () => {
      workRoot = await tempDir("spotq-container-");
      docker().addImage("medit-iscan:latest");
    });

    /** A job's folders with inputs and config.json rendered with the container paths, as the worker prepares them. */
    async function prepare(jobId: string, extra: Record<string, unknown> = {}) {
      const folders = jobFolders("posix", workRoot, jobId, 1);
      await mkdir(path.join(folders.source, "scan"), { recursive: true });
      await mkdir(folders.target, { recursive: true });
      await writeFile(path.join(folders.source, "scan", "a.bin"), "scan bytes");
      const request = { ...(await meditFixture()), "Source Folder Path": "s3://b/in", "Target Folder Path": "s3://b/out", ...extra } as JobRequest;
      await writeFile(folders.config, renderConfigJson(request, CONTAINER_FOLDERS));
      return folders;
    }

    function runJob(runner: ContainerRunner, folders: ReturnType<typeof jobFolders>, o: { image: string; env?: Record<string, string>; signal?: AbortSignal; timeoutMs?: number; jobId?: string }) {
      const lines: [OutputStream, string][] = [];
      const notes: string[] = [];
      const done = runner.run({
        jobId: o.jobId ?? "01JOB",
        attempt: 1,
        instanceId: "i-0123456789abcdef0",
        folders,
        image: o.image,
        args: renderArgs(["--iScanComplete", "{config}"], { ...CONTAINER_FOLDERS, jobId: "01JOB" }),
        env: { SPOTQ_JOB_ID: o.jobId ?? "01JOB", SPOTQ_ATTEMPT: "1", ...o.env },
        timeoutMs: o.timeoutMs ?? 30_000,
        killGraceMs: 2_000,
        ...(o.signal ? { signal: o.signal } : {}),
        onLine: (s, l) => lines.push([s, l]),
        onNote: (l) => notes.push(l),
      });
      return { done, lines, notes };
    }

    /** Resolves once the stand-in's container has printed a line matching `re`. */
    async function lineSeen(lines: [OutputStream, string][], re: RegExp): Promise<void> {
      for (let i = 0; i < 400 && !lines.some(([, l]) => re.test(l)); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(lines.some(([, l]) => re.test(l)), `no line like ${re}: ${JSON.stringify(lines)}`);
    }

    it("logs in to ECR with the token's password on stdin, pulls, and reuses the login until it nears expiry", async () => {
      const runner = new ContainerRunner({ profile: profile(), workRoot });
      const { image } = await runner.pull({ timeoutMs: 30_000 });
      assert.equal(image, `${FAKE_REGISTRY}/medit-iscan:latest`, "the registry of a repository given by name comes with the token");
      const login = docker().events("login");
      assert.deepEqual(login.map((l) => [l.host, l.user, l.password]), [[FAKE_REGISTRY, "AWS", ecr().password]]);
      assert.ok(!docker().commands().some((c) => c.includes(ecr().password)), "the password is never on a command line");
      assert.deepEqual(docker().commands().map((c) => c.slice(0, 2)), [["login", "--username"], ["pull", image]]);
      const calls = ecr().calls;
      await runner.pull({ timeoutMs: 30_000 });
      assert.equal(ecr().calls, calls, "a second pull reuses the login");
      assert.equal(docker().events("login").length, 1);
      const config = JSON.parse(await readFile(path.join(workRoot, ".docker", "config.json"), "utf8"));
      assert.ok(config.auths[FAKE_REGISTRY], "the login is in the worker's own Docker config");
    });

    it("logs in again when the token is about to expire, and once more when a pull is refused after a cached login", async () => {
      ecr().validForMs = 30 * 60_000; // inside the hour of margin
      const runner = new ContainerRunner({ profile: profile(), workRoot });
      await runner.pull({ timeoutMs: 30_000 });
      await runner.pull({ timeoutMs: 30_000 });
      assert.equal(docker().events("login").length, 2);
      ecr().validForMs = 12 * 3600_000;
      await runner.pull({ timeoutMs: 30_000 });
      // The registry forgets the login (a revoked token): the next pull fails once, logs in afresh and succeeds.
      const revoked = ecr().password;
      ecr().password = "ecr-password-2";
      docker().settings({ password: "ecr-password-2" });
      try {
        await runner.pull({ timeoutMs: 30_000 });
        assert.equal(docker().events("pull").length, 4);
      } finally {
        ecr().password = revoked;
        docker().settings({ password: revoked });
      }
    });

    it("names what failed: an image the registry does not have, a role without GetAuthorizationToken, a daemon that does not answer", async () => {
      const missing = new ContainerRunner({ profile: profile({ image: "medit-iscan:v9" }), workRoot });
      await assert.rejects(missing.pull({ timeoutMs: 30_000 }), (e: Error) => e instanceof ImagePullError && /manifest for .*medit-iscan:v9 not found/.test(e.message));
      ecr().denied = true;
      try {
        const denied = new ContainerRunner({ profile: profile({ image: "other-repo" }), workRoot: await tempDir() });
        await assert.rejects(denied.pull({ timeoutMs: 30_000 }), /no ECR authorization token: ECR GetAuthorizationToken in us-east-1 failed: .*not authorized to perform: ecr:GetAuthorizationToken/);
      } finally {
        ecr().denied = false;
      }
      const runner = new ContainerRunner({ profile: profile(), workRoot });
      assert.deepEqual(await runner.daemon(5_000), { ok: true, version: "25.0.18-fake" });
      docker().settings({ daemonDown: true });
      try {
        const down = await runner.daemon(5_000);
        assert.equal(down.ok, false);
        assert.match(!down.ok ? down.reason : "", /docker version exited with 1: Cannot connect to the Docker daemon/);
      } finally {
        docker().settings({ daemonDown: false });
      }
    });

    it("runs a job: config.json and the arguments with container paths, the source read-only, results in the host's target, only the job's environment", async () => {
      const runner = new ContainerRunner({ profile: profile(), workRoot });
      const { image } = await runner.pull({ timeoutMs: 30_000 });
      const folders = await prepare("01JOBOK");
      process.env.SPOTQ_TEST_SECRET = "the worker's own";
      try {
        const { done, lines } = runJob(runner, folders, { image, env: { FAKE_MEDIT_SLEEP_MS: "10" }, jobId: "01JOBOK" });
        const outcome = await done;
        assert.equal(outcome.exitCode, 0, JSON.stringify(lines));
        assert.match(lines.map(([, l]) => l).join("\n"), /config ok: .* source \/spotq\/source, target \/spotq\/target/);
      } finally {
        delete process.env.SPOTQ_TEST_SECRET;
      }
      assert.deepEqual((await readdir(folders.target)).sort(), ["manifest.json", "result.bin", "source"]);
      const run = docker().events("run")[0]!;
      assert.equal(run.name, "spotq-01JOBOK-1");
      assert.deepEqual(run.mounts, [
        { readonly: true, type: "bind", source: folders.source, target: "/spotq/source" },
        { readonly: false, type: "bind", source: folders.target, target: "/spotq/target" },
      ]);
      assert.deepEqual(run.env, ["SPOTQ_JOB_ID", "SPOTQ_ATTEMPT", "FAKE_MEDIT_SLEEP_MS"]);
      assert.deepEqual(run.args, ["--iScanComplete", "/spotq/source/config.json"]);
      assert.equal(run.gpus, "all");
      assert.deepEqual(docker().commands().filter((c) => c[0] === "stop" || c[0] === "kill"), [], "a job that ends by itself is not stopped");
      assert.deepEqual(docker().commands().filter((c) => c[0] === "ps").length, 0);
    });

    it("hands the target folder to the configured user before the run", async function () {
      if (process.getuid?.() !== 0) this.skip(); // chown to another user needs root, as the worker is on an instance
      const runner = new ContainerRunner({ profile: profile({ user: "1234:2345" }), workRoot });
      const { image } = await runner.pull({ timeoutMs: 30_000 });
      const folders = await prepare("01JOBUSER");
      const { done } = runJob(runner, folders, { image, jobId: "01JOBUSER" });
      assert.equal((await done).exitCode, 0);
      const { uid, gid } = await stat(folders.target);
      assert.deepEqual([uid, gid], [1234, 2345]);
      assert.equal(docker().events("run")[0]!.user, "1234:2345");
    });

    it("keeps the source read-only inside the container", async () => {
      const runner = new ContainerRunner({ profile: profile({ image: "writer" }), workRoot });
      docker().addImage("writer:latest", { entrypoint: [process.execPath, "-e", "require('fs').writeFileSync('/spotq/source/x', 'x')", "--"] });
      const { image } = await runner.pull({ timeoutMs: 30_000 });
      const folders = await prepare("01JOBRO");
      const { done, lines } = runJob(runner, folders, { image, jobId: "01JOBRO" });
      const outcome = await done;
      assert.notEqual(outcome.exitCode, 0);
      assert.match(lines.map(([, l]) => l).join("\n"), /EROFS: read-only file system/);
    });

    it("a cancel stops the container (docker stop, SIGTERM first), and the client goes with it", async () => {
      const runner = new ContainerRunner({ profile: profile(), workRoot });
      const { image } = await runner.pull({ timeoutMs: 30_000 });
      const folders = await prepare("01JOBSTOP");
      const abort = new AbortController();
      const { done, lines, notes } = runJob(runner, folders, { image, env: { FAKE_MEDIT_SLEEP_MS: "60000" }, signal: abort.signal, jobId: "01JOBSTOP" });
      await lineSeen(lines, /processing/);
      const container = docker().events("started")[0]!;
      abort.abort();
      const outcome = await done;
      assert.equal(outcome.killed, "aborted");
      assert.equal(outcome.exitCode, 143, "the client reports the container's SIGTERM");
      assert.equal(processGone(container.pid as number), true, "the container is gone");
      const stops = docker().commands().filter((c) => c[0] === "stop" || c[0] === "kill");
      assert.deepEqual(stops, [["stop", "--time", "1", "spotq-01JOBSTOP-1"]]);
      assert.deepEqual(docker().events("stop").map((e) => e.graceful), [true], "it had the chance to stop on SIGTERM");
      assert.match(notes.join("\n"), /docker stop --time 1 spotq-01JOBSTOP-1: stopped/);
    });

    it("a container that ignores SIGTERM is killed by docker stop after the timeout; one docker cannot stop gets docker kill, after docker stop", async () => {
      const runner = new ContainerRunner({ profile: profile(), workRoot });
      const { image } = await runner.pull({ timeoutMs: 30_000 });
      for (const stopFails of [false, true]) {
        docker().reset();
        docker().settings({ stopFails });
        try {
          const jobId = stopFails ? "01JOBKILL" : "01JOBHANG";
          const folders = await prepare(jobId, { "Fake Medit Behaviour": "hang" });
          const abort = new AbortController();
          const { done, lines } = runJob(runner, folders, { image, signal: abort.signal, jobId });
          await lineSeen(lines, /helper pid \d+/);
          const helper = Number(/helper pid (\d+)/.exec(lines.map(([, l]) => l).join("\n"))![1]);
          const container = docker().events("started")[0]!;
          abort.abort();
          await done;
          assert.equal(processGone(container.pid as number), true, `the container is gone (stopFails ${stopFails})`);
          assert.equal(await waitGone(helper), true, "and the process it started");
          const order = docker()
            .commands()
            .filter((c) => c[0] === "stop" || c[0] === "kill")
            .map((c) => c[0]);
          assert.deepEqual(order, stopFails ? ["stop", "kill"] : ["stop"], "docker stop first; docker kill only for a container still there");
          if (!stopFails) assert.deepEqual(docker().events("stop").map((e) => e.graceful), [false], "SIGKILL after the stop timeout");
        } finally {
          docker().settings({ stopFails: false });
        }
      }
    });

    it("the stand-in is faithful where it matters: killing only the docker run client leaves the container running, and the next job removes it", async () => {
      const runner = new ContainerRunner({ profile: profile(), workRoot });
      const { image } = await runner.pull({ timeoutMs: 30_000 });
      const folders = await prepare("01JOBORPHAN", { "Fake Medit Behaviour": "hang" });
      const { done, lines } = runJob(runner, folders, { image, jobId: "01JOBORPHAN" });
      await lineSeen(lines, /helper pid \d+/);
      const client = docker().events("run")[0]!;
      const container = docker().events("started")[0]!;
      process.kill(-(client.pid as number), "SIGKILL"); // as a crashed worker's service manager would
      const outcome = await done;
      assert.equal(outcome.signal, "SIGKILL");
      assert.equal(processGone(container.pid as number), false, "a container outlives its client");
      assert.deepEqual(await runner.removeLeftovers("i-0123456789abcdef0"), ["spotq-01JOBORPHAN-1"]);
      assert.equal(await waitGone(container.pid as number), true);
      assert.deepEqual(await runner.removeLeftovers("i-0123456789abcdef0"), []);
    });

    it("a timeout stops the container the same way", async () => {
      const runner = new ContainerRunner({ profile: profile(), workRoot });
      const { image } = await runner.pull({ timeoutMs: 30_000 });
      const folders = await prepare("01JOBSLOW");
      const { done } = runJob(runner, folders, { image, env: { FAKE_MEDIT_SLEEP_MS: "60000" }, timeoutMs: 1_500, jobId: "01JOBSLOW" });
      const outcome = await done;
      assert.equal(outcome.killed, "timeout");
      assert.deepEqual(docker().commands().filter((c) => c[0] === "stop").map((c) => c.at(-1)), ["spotq-01JOBSLOW-1"]);
      assert.equal(processGone(docker().events("started")[0]!.pid as number), true);
    });

    it("passes docker run's own failures through as its exit code: 125 without the GPU runtime, 127 for a missing command", async () => {
      const runner = new ContainerRunner({ profile: profile(), workRoot });
      const { image } = await runner.pull({ timeoutMs: 30_000 });
      docker().settings({ noGpu: true });
      try {
        const { done, lines } = runJob(runner, await prepare("01JOBNOGPU"), { image, jobId: "01JOBNOGPU" });
        assert.equal((await done).exitCode, 125);
        assert.match(lines.map(([, l]) => l).join("\n"), /could not select device driver "" with capabilities: \[\[gpu\]\]/);
        const gpu = await runner.gpuCheck(image, 10_000);
        assert.equal(gpu.ok, false);
        assert.match(gpu.detail, /exited with 125: .*could not select device driver/);
      } finally {
        docker().settings({ noGpu: false });
      }
      const gpu = await runner.gpuCheck(image, 10_000);
      assert.equal(gpu.ok, true, gpu.detail);
      assert.match(gpu.detail, /--gpus all --entrypoint nvidia-smi .* sees the GPUs: .*Tesla T4/);
      docker().addImage("broken:latest", { missing: true });
      const broken = new ContainerRunner({ profile: profile({ image: "broken" }), workRoot });
      const pulled = await broken.pull({ timeoutMs: 30_000 });
      const { done } = runJob(broken, await prepare("01JOBNOCMD"), { image: pulled.image, jobId: "01JOBNOCMD" });
      assert.equal((await done).exitCode, 127);
    });
  });
});
