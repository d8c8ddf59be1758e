import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import winston from "winston";
import { FileTelemetry } from "../../../../worker/telemetry/files.ts";
import { createWorkerLogger, endWorkerLogger } from "../../../../worker/telemetry/logger.ts";
import { tempDir } from "../../../support/worker-fixtures.ts";

describe("worker/telemetry/logger (the worker's own log)", () => {
  it("a line logged after the log ended (a SIGTERM as the process exits) goes to stderr and raises nothing", async () => {
    const dir = await tempDir();
    const telemetry = new FileTelemetry({ dir, deployment: "local", instanceId: "i-1" });
    const log = createWorkerLogger(telemetry, { instanceId: "i-1" });
    for (const t of log.transports) if (t instanceof winston.transports.Console) t.silent = true;
    const errors: Error[] = [];
    // An 'error' listener keeps a failure observable here; the worker has none, so it would crash the exit.
    log.on("error", (e: Error) => errors.push(e));
    log.info("stopped: idle", { event: "stopped" });
    const stderr: string[] = [];
    await endWorkerLogger(log, { stderr: (line) => stderr.push(line) });
    log.info("SIGTERM received: handing back any job and stopping");
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(errors.map((e) => e.message), []);
    assert.equal(stderr.length, 1);
    assert.match(stderr[0]!, /^\d{4}-\d\d-\d\dT\S+Z info SIGTERM received: handing back any job and stopping\n$/);
    await telemetry.close();
    // The line before the end reached the instance's stream.
    const stream = await readFile(path.join(dir, "workers", "i-1.log"), "utf8");
    assert.match(stream, /"message":"stopped: idle"/);
    assert.doesNotMatch(stream, /SIGTERM/);
  });
});
