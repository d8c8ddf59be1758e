import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import path from "node:path";
import { fleetConfig, type FleetConfigInput } from "../../../core/fleet-config.ts";
import { describePreflightFailures, probeFile, resolveExecutable, runPreflight, type FileProbe } from "../../../worker/preflight.ts";
import { localDefaultConfig } from "../../../scripts/local/local-config.ts";
import { useFakeDocker } from "../../support/fake-docker.ts";
import { fakeNvidiaSmi, REPO, tempDir } from "../../support/worker-fixtures.ts";

const GiB = 1024 ** 3;
const node = process.execPath;

function config(preflight: NonNullable<NonNullable<FleetConfigInput["fleet"]>["preflight"]>, command = node) {
  return fleetConfig({ processor: { command }, fleet: { preflight } });
}

describe("worker/preflight: the checks before an instance takes work", function () {
  this.timeout(20_000);

  it("passes on a healthy instance: work root, disk, processor, GPU check; an unset licence check is skipped", async () => {
    const workRoot = path.join(await tempDir(), "work");
    const r = await runPreflight(config({ gpuCheck: fakeNvidiaSmi(), minFreeDiskGiB: 1 }), { workRoot, platform: "posix", freeBytes: async () => 50 * GiB });
    assert.equal(r.ok, true, describePreflightFailures(r));
    assert.deepEqual(
      r.checks.map((c) => [c.name, c.ok, c.skipped ?? false]),
      [
        ["workRoot", true, false],
        ["disk", true, false],
        ["processor", true, false],
        ["gpu", true, false],
        ["licence", true, true],
      ],
    );
  });

  it("the local stack's default config passes it, with the stand-in nvidia-smi running (the path is exercised, not skipped)", async () => {
    const r = await runPreflight(localDefaultConfig(REPO), { workRoot: await tempDir(), platform: "posix" });
    assert.equal(r.ok, true, describePreflightFailures(r));
    const gpu = r.checks.find((c) => c.name === "gpu")!;
    assert.equal(gpu.skipped, undefined);
    assert.match(gpu.detail, /fake-nvidia-smi\.mjs exited 0$/);
  });

  it("names every failed check with its reason: the GPU, free disk, a missing processor, a licence check", async () => {
    const workRoot = await tempDir();
    const r = await runPreflight(
      config(
        {
          gpuCheck: [node, "-e", "console.error('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver'); process.exit(9)"],
          minFreeDiskGiB: 20,
          licenceCheck: [node, "-e", "process.exit(3)"],
        },
        "/opt/medit/Medit_AutoTest.exe",
      ),
      { workRoot, platform: "posix", freeBytes: async () => 5 * GiB },
    );
    assert.equal(r.ok, false);
    const failed = Object.fromEntries(r.checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));
    assert.deepEqual(Object.keys(failed), ["disk", "processor", "gpu", "licence"]);
    assert.match(failed.disk!, /^5\.0 GiB free at .*, at least 20 GiB needed \(fleet.preflight.minFreeDiskGiB\)$/);
    assert.match(failed.processor!, /^processor.command "\/opt\/medit\/Medit_AutoTest.exe": no such file$/);
    assert.match(failed.gpu!, /^fleet.preflight.gpuCheck \(.* -e .*\) exited with code 9: NVIDIA-SMI has failed/);
    assert.match(failed.licence!, /^fleet.preflight.licenceCheck .* exited with code 3$/);
    assert.match(describePreflightFailures(r), /^disk: .*; processor: .*; gpu: .*; licence: /);
  });

  it("kills a check command that hangs past fleet.preflight.timeoutSeconds", async () => {
    const r = await runPreflight(config({ gpuCheck: [node, "-e", "setInterval(() => {}, 1000)"], minFreeDiskGiB: 0, timeoutSeconds: 1 }), {
      workRoot: await tempDir(),
      platform: "posix",
    });
    const gpu = r.checks.find((c) => c.name === "gpu")!;
    assert.equal(gpu.ok, false);
    assert.match(gpu.detail, /ran past 1 s and was killed/);
  });

  it("reports a check command that cannot start, and a work root that cannot be created", async () => {
    const file = path.join(await tempDir(), "a-file");
    await writeFile(file, "");
    const r = await runPreflight(config({ gpuCheck: ["/no/such/nvidia-smi"], minFreeDiskGiB: 0 }), { workRoot: path.join(file, "work"), platform: "posix" });
    const byName = Object.fromEntries(r.checks.map((c) => [c.name, c]));
    assert.match(byName.workRoot!.detail, /cannot create the work root .*a-file\/work: ENOTDIR/);
    assert.match(byName.disk!.detail, /free disk unknown/);
    assert.match(byName.gpu!.detail, /could not start: spawn \/no\/such\/nvidia-smi ENOENT/);
  });

  it("finds the processor as a spawn without a shell would: a path as it is, a bare name on PATH; on POSIX it must be executable", async () => {
    const dir = await tempDir();
    const tool = path.join(dir, "medit");
    await writeFile(tool, "#!/bin/sh\n");
    await chmod(tool, 0o644);
    const o = { platform: "posix" as const, env: { PATH: `/nowhere:${dir}` }, probe: probeFile };
    assert.deepEqual(await resolveExecutable("medit", o), { ok: false, reason: `${tool} exists but is not executable` });
    await chmod(tool, 0o755);
    assert.deepEqual(await resolveExecutable("medit", o), { ok: true, path: tool });
    assert.deepEqual(await resolveExecutable(tool, o), { ok: true, path: tool });
    assert.deepEqual(await resolveExecutable("nvidia-smi", o), { ok: false, reason: "not found on PATH (2 folders searched)" });
  });

  it("on Windows adds PATHEXT to a name without an extension and searches Path with ; (platform as a parameter)", async () => {
    const files = new Set(["C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.EXE", "C:\\MeditAutoTest\\Medit_AutoTest.exe"]);
    const probe: FileProbe = async (f) => (files.has(f) ? { isFile: true, executable: false } : undefined);
    const env = { Path: "C:\\Windows\\system32;C:\\Program Files\\NVIDIA Corporation\\NVSMI", PATHEXT: ".COM;.EXE;.BAT" };
    assert.deepEqual(await resolveExecutable("nvidia-smi", { platform: "win32", env, probe }), {
      ok: true,
      path: "C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.EXE",
    });
    assert.deepEqual(await resolveExecutable("C:\\MeditAutoTest\\Medit_AutoTest.exe", { platform: "win32", env, probe }), {
      ok: true,
      path: "C:\\MeditAutoTest\\Medit_AutoTest.exe",
    });
    assert.deepEqual(await resolveExecutable("C:\\MeditAutoTest\\9999\\Medit_AutoTest.exe", { platform: "win32", env, probe }), { ok: false, reason: "no such file" });
  });

  describe("the container profile (processor.container), against a stand-in docker and ECR", () => {
    const { docker } = useFakeDocker();
    const containerConfig = (gpuCheck: string[] | null = fakeNvidiaSmi()) =>
      fleetConfig({ fleet: { platform: "linux", preflight: { gpuCheck, minFreeDiskGiB: 0 } }, processor: { container: { image: "medit-iscan", gpus: "all" } } });
    beforeEach(() => docker().addImage("medit-iscan:latest"));
    const failedChecks = (r: Awaited<ReturnType<typeof runPreflight>>) => Object.fromEntries(r.checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));

    it("passes: the daemon answers, the image is pulled, and the GPUs reach a container", async () => {
      const r = await runPreflight(containerConfig(), { workRoot: await tempDir(), platform: "posix" });
      assert.equal(r.ok, true, describePreflightFailures(r));
      const detail = Object.fromEntries(r.checks.map((c) => [c.name, c.detail]));
      assert.match(detail.processor!, /^docker 25\.0\.18-fake answers; 111122223333\.dkr\.ecr\.us-east-1\.amazonaws\.com\/medit-iscan:latest pulled in \d+ ms$/);
      assert.match(detail.gpu!, /fake-nvidia-smi\.mjs exited 0; docker run --gpus all --entrypoint nvidia-smi .* sees the GPUs/);
      assert.deepEqual(
        docker().commands().map((c) => c[0]),
        ["version", "login", "pull", "run"],
      );
      assert.equal(docker().events("run")[0]!.gpus, "all");
    });

    it("names a missing docker, a daemon that does not answer, an image that cannot be pulled, a GPU runtime missing", async () => {
      const workRoot = await tempDir();
      const noDocker = await runPreflight(containerConfig(), { workRoot, platform: "posix", env: { PATH: "/nowhere" } });
      assert.match(failedChecks(noDocker).processor!, /^processor\.container: the docker CLI: not found on PATH/);
      assert.match(failedChecks(noDocker).gpu!, /GPUs in a container are not checked: docker or the image is not ready/);

      docker().settings({ daemonDown: true });
      try {
        const down = await runPreflight(containerConfig(), { workRoot, platform: "posix" });
        assert.match(failedChecks(down).processor!, /the Docker daemon does not answer: docker version exited with 1: Cannot connect to the Docker daemon/);
      } finally {
        docker().settings({ daemonDown: false });
      }

      const missing = await runPreflight(
        fleetConfig({ fleet: { platform: "linux", preflight: { gpuCheck: null, minFreeDiskGiB: 0 } }, processor: { container: { image: "medit-iscan:v9" } } }),
        { workRoot, platform: "posix" },
      );
      assert.deepEqual(Object.keys(failedChecks(missing)), ["processor"]);
      assert.match(failedChecks(missing).processor!, /processor\.container\.image "medit-iscan:v9" cannot be pulled: docker pull .*medit-iscan:v9 exited with 1: .*manifest unknown/);

      docker().settings({ noGpu: true });
      try {
        const noToolkit = await runPreflight(containerConfig(null), { workRoot, platform: "posix" });
        assert.deepEqual(Object.keys(failedChecks(noToolkit)), ["gpu"]);
        assert.match(failedChecks(noToolkit).gpu!, /^docker run --gpus all .* exited with 125: .*could not select device driver/);
      } finally {
        docker().settings({ noGpu: false });
      }
    });

    it("does not look for processor.command (the image's entrypoint runs)", async () => {
      const r = await runPreflight(containerConfig(null), { workRoot: await tempDir(), platform: "posix" });
      assert.equal(r.ok, true, describePreflightFailures(r));
      assert.doesNotMatch(r.checks.find((c) => c.name === "processor")!.detail, /Medit_AutoTest/);
    });
  });
});
