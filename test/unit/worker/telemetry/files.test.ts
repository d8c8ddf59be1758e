import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import winston from "winston";
import { FileTelemetry } from "../../../../worker/telemetry/files.ts";
import { tempDir } from "../../../support/worker-fixtures.ts";

describe("worker/telemetry/files (local mode)", () => {
  it("writes a job attempt's log where its location points, lines marked by source", async () => {
    const dir = await tempDir();
    const t = new FileTelemetry({ dir, deployment: "local", instanceId: "i-1" });
    const log = await t.openJobLog("01JOB", 3);
    assert.deepEqual(log.location, { group: path.join(dir, "jobs"), stream: "01JOB/3.log" });
    log.write("stdout", "hello");
    log.write("stderr", "oops");
    await log.close();
    const lines = (await readFile(path.join(log.location.group, log.location.stream), "utf8")).trim().split("\n");
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT.*Z \[stdout\] hello$/);
    assert.match(lines[1]!, /\[stderr\] oops$/);
  });

  it("appends one metrics line per attempt, with CloudWatch's names and dimension", async () => {
    const dir = await tempDir();
    const t = new FileTelemetry({ dir, deployment: "local", instanceId: "i-1" });
    await t.putJobMetrics({ jobId: "J", attempt: 1, outcome: "retried", processSeconds: 2 });
    await t.putJobMetrics({ jobId: "J", attempt: 2, outcome: "interrupted" });
    const lines = (await readFile(path.join(dir, "metrics", "i-1.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.attempt, l.outcome, l.namespace, l.dimensions.Deployment]), [
      [1, "retried", "spotq", "local"],
      [2, "interrupted", "spotq", "local"],
    ]);
    assert.deepEqual(lines[0].metrics, [
      { name: "ProcessSeconds", value: 2, unit: "Seconds" },
      { name: "JobsRetried", value: 1, unit: "Count" },
    ]);
  });

  it("keeps the worker's own log in a file per instance", async () => {
    const dir = await tempDir();
    const t = new FileTelemetry({ dir, deployment: "local", instanceId: "i-7" });
    const logger = winston.createLogger({ transports: [t.workerTransport()] });
    logger.info("started");
    await new Promise<void>((r) => {
      logger.on("finish", () => r());
      logger.end();
    });
    await new Promise((r) => setTimeout(r, 50));
    const entry = JSON.parse((await readFile(path.join(dir, "workers", "i-7.log"), "utf8")).trim().split("\n")[0]!);
    assert.equal(entry.message, "started");
    assert.equal(entry.level, "info");
  });
});
