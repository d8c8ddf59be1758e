import assert from "node:assert/strict";
import { jobFolders, renderArgs, renderConfigJson } from "../../../core/config-json.ts";
import { defaultFleetConfig } from "../../../core/fleet-config.ts";
import type { JobRequest } from "../../../core/request.ts";
import { killPlan, spawnOptions } from "../../../worker/kill-tree.ts";
import { localPathOf, relativePathOfKey } from "../../../worker/object-paths.ts";
import { resolveWorkerOptions } from "../../../worker/options.ts";
import { meditFixture } from "../../support/worker-fixtures.ts";

/** What the worker does on the Medit Windows AMI, checked here with the platform as a parameter (no Windows in CI). */
describe("worker on Windows (platform as a parameter)", () => {
  const jobId = "01JB0X6Q3WQ1S7N2D4Z8K9M5TA";

  it("lays a job out under C:\\spotq\\work with Windows separators, the downloaded keys included", () => {
    const o = resolveWorkerOptions({ instanceId: "i-1", config: defaultFleetConfig(), platform: "win32" });
    const f = jobFolders(o.platform, o.workRoot, jobId, 2);
    assert.deepEqual(f, {
      root: `C:\\spotq\\work\\${jobId}-2`,
      source: `C:\\spotq\\work\\${jobId}-2\\source`,
      target: `C:\\spotq\\work\\${jobId}-2\\target`,
      config: `C:\\spotq\\work\\${jobId}-2\\source\\config.json`,
    });
    const rel = relativePathOfKey("win32", "jobs/in/", "jobs/in/Scan Data/Upper Jaw/0001.bin")!;
    assert.equal(localPathOf("win32", f.source, rel), `C:\\spotq\\work\\${jobId}-2\\source\\Scan Data\\Upper Jaw\\0001.bin`);
  });

  it("writes config.json with Windows folder paths, which Medit reads", async () => {
    const f = jobFolders("win32", "C:\\spotq\\work", jobId, 1);
    const text = renderConfigJson((await meditFixture()) as JobRequest, f);
    // JSON escapes each backslash.
    assert.ok(text.includes(`"Source Folder Path": "C:\\\\spotq\\\\work\\\\${jobId}-1\\\\source"`), text);
    assert.ok(text.includes(`"Target Folder Path": "C:\\\\spotq\\\\work\\\\${jobId}-1\\\\target"`), text);
    assert.equal(JSON.parse(text)["Use GPU"], true);
  });

  it("runs Medit_AutoTest.exe --iScanComplete <config.json> by default, the path one argument even with spaces", () => {
    const c = defaultFleetConfig();
    const f = jobFolders("win32", "C:\\Program Data\\spotq", jobId, 1);
    assert.equal(c.processor.command, "C:\\MeditAutoTest\\9999.0.0.4515_Release\\Medit_AutoTest.exe");
    assert.deepEqual(renderArgs(c.processor.args, { ...f, jobId }), ["--iScanComplete", `C:\\Program Data\\spotq\\${jobId}-1\\source\\config.json`]);
    assert.deepEqual(spawnOptions("win32"), { shell: false, detached: false, windowsHide: true });
  });

  it("kills the processor's whole tree with taskkill /PID <pid> /T /F", () => {
    assert.deepEqual(killPlan("win32", 4242).force, { kind: "exec", command: "taskkill", args: ["/PID", "4242", "/T", "/F"] });
  });
});
