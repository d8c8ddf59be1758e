import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { expectedOutputs } from "../../../scripts/fake-medit/outputs.ts";
import { isAlive } from "../../support/worker-fixtures.ts";
import { useWorkerTestBed } from "../../support/worker-stack.ts";
import { interceptQueue } from "../../support/worker-stubs.ts";

describe("worker: a job from message to results (fauxqs, dynalite, local Auto Scaling and IMDS)", function () {
  this.timeout(90_000);
  const { bed } = useWorkerTestBed();

  it("runs a job end to end: outputs match the inputs byte for byte, the record says SUCCEEDED with timings, bytes and outputs", async () => {
    const b = bed();
    // One input above the 5 MiB part size: ranged GETs on the way in, a multipart upload of its copy on the way out.
    const inputs = {
      "scan/raw-0001.bin": randomBytes(6 * 1024 * 1024 + 123),
      "scan/raw-0002.bin": randomBytes(200_000),
      "meta/info.txt": "tooth 36\n",
      "empty.dat": Buffer.alloc(0),
    };
    const job = await b.submit(inputs);
    const w = await b.startWorker();
    const { record } = await w.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    // Metrics, the log flush and the folders' removal follow the delete; the worker reports when they are done.
    await w.events.waitFor("job_settled", (e) => e.jobId === job.jobId);

    const outputs = await b.readFolder(job.targetPrefix);
    const inputMap = new Map(Object.entries(inputs).map(([k, v]) => [k, Buffer.from(v)]));
    const expected = expectedOutputs(inputMap, { saveSource: true });
    assert.deepEqual([...outputs.keys()].sort(), [...expected.keys()].sort());
    for (const [rel, body] of expected) assert.ok(outputs.get(rel)!.equals(body), `${rel} differs`);

    const stored = await b.record(job.jobId);
    assert.deepEqual(stored, record);
    assert.equal(stored.state, "SUCCEEDED");
    assert.equal(stored.attempts, 1);
    assert.equal(stored.exitCode, 0);
    assert.equal(stored.instanceId, w.instanceId);
    const bytesIn = Object.values(inputs).reduce((n, v) => n + Buffer.from(v).length, 0);
    assert.equal(stored.bytes?.in, bytesIn);
    assert.equal(stored.bytes?.out, [...expected.values()].reduce((n, v) => n + v.length, 0));
    assert.deepEqual(stored.outputs, { target: `s3://${b.bucket}/${job.targetPrefix}`, objects: expected.size });
    for (const k of ["queueWaitMs", "downloadMs", "processMs", "uploadMs"] as const) assert.equal(typeof stored.timings?.[k], "number", k);
    assert.deepEqual(
      stored.attemptHistory?.map((a) => [a.attempt, a.outcome, a.instanceId]),
      [[1, "SUCCEEDED", w.instanceId]],
    );
    assert.equal(stored.progress, undefined);

    // The message is gone, nothing went to the DLQ, and the job's folders are removed.
    assert.deepEqual(await b.queue.depth(), { visible: 0, inFlight: 0, delayed: 0 });
    assert.deepEqual(await b.deadLetters(), []);
    assert.deepEqual((await readdir(w.workRoot)).filter((f) => f.startsWith(job.jobId)), []);

    // The job log holds the processor's stdout, marked, and the metrics line names the outcome.
    const logFile = path.join(stored.logs!.group, stored.logs!.stream);
    const log = await readFile(logFile, "utf8");
    assert.match(log, /\[stdout\] fake-medit: read 4 files/);
    assert.match(log, /\[spotq\] downloaded 4 objects/);
    const metrics = (await readFile(path.join(w.telemetryDir, "metrics", `${w.instanceId}.jsonl`), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    const mine = metrics.find((m) => m.jobId === job.jobId);
    assert.equal(mine.outcome, "succeeded");
    const names = mine.metrics.map((m: { name: string }) => m.name);
    for (const n of ["ProcessSeconds", "DownloadSeconds", "UploadSeconds", "QueueWaitSeconds", "BytesIn", "BytesOut", "JobsSucceeded"]) assert.ok(names.includes(n), n);
    assert.equal(mine.metrics.find((m: { name: string }) => m.name === "BytesIn").value, bytesIn);
  });

  it("writes config.json with the job's local folders in place of the S3 paths, keeping every other key", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=60000" });
    const w = await b.startWorker();
    await w.events.waitFor("processor_output", (e) => /read 1 files/.test(e.line));
    const folder = path.join(w.workRoot, `${job.jobId}-1`);
    const config = JSON.parse(await readFile(path.join(folder, "source", "config.json"), "utf8"));
    assert.equal(config["Source Folder Path"], path.join(folder, "source"));
    assert.equal(config["Target Folder Path"], path.join(folder, "target"));
    assert.equal(config["Use GPU"], true);
    assert.equal(config["Complete Type"], 1);
    assert.equal(config["Fake Medit Behaviour"], "sleep=60000");
    await w.worker.stop();
    assert.equal(existsSync(folder), false, "the job folder is removed when the job is handed back");
  });

  it("protects the instance exactly while it works: on before the record says RUNNING, off once it polls again", async () => {
    const b = bed();
    const timeline: string[] = [];
    b.asg.group.on("protection_changed", (e) => timeline.push(`group:protected=${e.protectedFromScaleIn}`));
    const w = await b.startWorker({ timeline });
    await w.events.waitFor("protection_changed", (e) => !e.protectedFromScaleIn);
    assert.equal(b.asg.group.instance(w.instanceId)?.protectedFromScaleIn, false, "idle-polling: unprotected");

    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=1500" });
    await w.events.waitFor("job_phase", (e) => e.jobId === job.jobId && e.phase === "process");
    assert.equal(b.asg.group.instance(w.instanceId)?.protectedFromScaleIn, true, "working: protected");
    await w.events.waitFor("job_succeeded");
    // The next idle poll lifts it again.
    for (let i = 0; i < 100 && b.asg.group.instance(w.instanceId)?.protectedFromScaleIn; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(b.asg.group.instance(w.instanceId)?.protectedFromScaleIn, false);

    const relevant = timeline.filter((t) => /protected=|job_started|job_succeeded|message_received/.test(t));
    assert.deepEqual(relevant, [
      "group:protected=false",
      "worker:message_received",
      "group:protected=true",
      "worker:job_started",
      "worker:job_succeeded",
      "group:protected=false",
    ]);
  });

  it("keeps a job that outlasts the visibility timeout: the heartbeat holds the message and no other worker receives it", async () => {
    const b = bed();
    // Visibility of 4 s, renewed every second; the job takes several visibility timeouts.
    const quick = { visibilityTimeoutSeconds: 4, heartbeatSeconds: 1 };
    const job = await b.submit({ "a.txt": "a" }, { "Fake Medit Behaviour": "sleep=10000" });
    const a = await b.startWorker({ options: quick, label: "a" });
    await a.events.waitFor("job_started", (e) => e.jobId === job.jobId);
    const other = await b.startWorker({ options: quick, label: "b" });
    await a.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    assert.deepEqual(other.events.all("message_received"), [], "the second worker never got the message");
    const stored = await b.record(job.jobId);
    assert.equal(stored.attempts, 1);
    assert.equal(stored.state, "SUCCEEDED");
  });

  it("a stale worker cannot overwrite a newer attempt: when its message goes to another worker, it stops and touches nothing", async () => {
    const b = bed();
    const job = await b.submit({ "a.txt": "a" });
    // Slow on A only (its processor environment); quick on B. A stalls: its heartbeat renews nothing
    // until B has the message (else a renewal with A's still valid receipt handle could hide the
    // message again before B, starting on a loaded machine, polls).
    let stalled = false;
    const a = await b.startWorker({
      label: "a",
      config: { processor: { env: { FAKE_MEDIT_SLEEP_MS: "60000" } } },
      deps: (d) => ({ ...d, queue: interceptQueue(d.queue, { extend: (r, sec) => (stalled ? Promise.resolve() : d.queue.extend(r, sec)) }) }),
    });
    const received = await a.events.waitFor("message_received", (e) => e.jobId === job.jobId);
    await a.events.waitFor("job_phase", (e) => e.phase === "process");
    // As if A had stalled past the visibility timeout: its message becomes visible to others.
    stalled = true;
    await b.queue.release(received.receiptHandle, 0);
    const other = await b.startWorker({ label: "b" });
    const started = await other.events.waitFor("job_started", (e) => e.jobId === job.jobId);
    stalled = false;
    assert.equal(started.attempt, 2);
    assert.equal(started.takeover, true);

    const lost = await a.events.waitFor("job_lost", (e) => e.jobId === job.jobId);
    assert.equal(lost.attempt, 1);
    const { pid } = await a.events.waitFor("processor_started");
    assert.equal(isAlive(pid), false, "A killed its processor");
    await other.events.waitFor("job_succeeded", (e) => e.jobId === job.jobId);
    const stored = await b.record(job.jobId);
    assert.equal(stored.state, "SUCCEEDED");
    assert.equal(stored.instanceId, other.instanceId);
    assert.deepEqual(
      stored.attemptHistory?.map((h) => [h.attempt, h.outcome, h.instanceId]),
      [
        [1, "LOST", a.instanceId],
        [2, "SUCCEEDED", other.instanceId],
      ],
    );
    assert.equal(a.events.all("job_succeeded").length + a.events.all("job_retried").length + a.events.all("job_failed").length, 0);
  });
});
