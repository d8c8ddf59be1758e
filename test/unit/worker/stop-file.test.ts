import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gracefulStop, STOP_FILE_ENV, StopFileWatcher } from "../../../worker/stop-file.ts";
import { tempDir } from "../../support/worker-fixtures.ts";

describe("worker/stop-file: a graceful stop where there is no SIGTERM (CONTRACTS §9)", () => {
  it("POSIX stops on SIGTERM and SIGINT; Windows on its console events and the stop file (platform as a parameter)", () => {
    assert.deepEqual(gracefulStop("posix", {}), { signals: ["SIGTERM", "SIGINT"] });
    assert.deepEqual(gracefulStop("win32", { [STOP_FILE_ENV]: "C:\\spotq\\run\\stop" }), { signals: ["SIGINT", "SIGBREAK"], stopFile: "C:\\spotq\\run\\stop" });
    assert.deepEqual(gracefulStop("posix", { [STOP_FILE_ENV]: "/run/spotq/stop" }).stopFile, "/run/spotq/stop");
  });

  it("warns that a Windows service stop cannot hand the job back without the stop file", () => {
    assert.match(gracefulStop("win32", {}).warning!, /SPOTQ_STOP_FILE is not set: on Windows a service stop cannot hand the running job back/);
    assert.equal(gracefulStop("posix", {}).warning, undefined);
  });

  it("removes a stale stop file at start, then fires once when the service manager creates it", async () => {
    const file = path.join(await tempDir(), "stop");
    writeFileSync(file, "");
    let stops = 0;
    const w = new StopFileWatcher(file, { onStop: () => stops++, pollMs: 10 });
    assert.equal(w.start(), true, "a stale one was removed");
    assert.equal(existsSync(file), false);
    w.check();
    assert.equal(stops, 0, "no stop without the file");
    writeFileSync(file, "");
    await new Promise<void>((resolve) => {
      const t = setInterval(() => stops > 0 && (clearInterval(t), resolve()), 5);
    });
    w.check();
    assert.equal(stops, 1, "fired once");
    w.stop();
  });
});
