import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { GetCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createApi } from "../../../api/app.ts";
import { silentLog } from "../../../api/log.ts";
import { DynamoJobStore } from "../../../aws/job-store.ts";
import { S3ObjectStore } from "../../../aws/object-store.ts";
import { fleetConfig, type FleetConfigInput } from "../../../core/fleet-config.ts";
import {
  capacityReport,
  costByStep,
  CURRENT_INDEXES,
  indexWriteUnits,
  jobLifeWrites,
  PREVIOUS_INDEXES,
  type Item,
  type TableWrite,
  type WriteStep,
} from "../../../core/job-table-capacity.ts";
import { JOB_TABLE } from "../../../core/job.ts";
import { meditFixture } from "../../support/worker-fixtures.ts";
import { TEST_CONFIG, useWorkerTestBed } from "../../support/worker-stack.ts";

const KEY = "capacityKey0123456789abcd";
const CONFIG: FleetConfigInput = { ...TEST_CONFIG, api: { tenants: [{ name: "lab-a", apiKey: KEY, prefixes: ["labs/a/"] }] } };

/**
 * A DynamoDB client that records every write of the job table with the item as it was before and
 * after it (read consistently around the write), so the writes can be priced as DynamoDB prices them.
 */
function recordingClient(real: DynamoDBDocumentClient, table: string, writes: { command: string; before?: Item; after?: Item }[]): DynamoDBDocumentClient {
  const read = async (key: Item) => (await real.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
  return {
    async send(command: { constructor: { name: string }; input: { Item?: Item; Key?: Item } }) {
      const name = command.constructor.name;
      if (!["PutCommand", "UpdateCommand", "DeleteCommand"].includes(name)) return real.send(command as never);
      const key = name === "PutCommand" ? { [JOB_TABLE.partitionKey]: command.input.Item![JOB_TABLE.partitionKey] } : command.input.Key!;
      const before = await read(key);
      const result = await real.send(command as never); // a refused conditional write throws: not a write
      writes.push({ command: name, ...(before ? { before } : {}), ...(await read(key).then((a) => (a ? { after: a } : {}))) });
      return result;
    },
  } as unknown as DynamoDBDocumentClient;
}

/** The step of a job's life a recorded write is. */
function stepOf(w: { command: string; before?: Item; after?: Item }): WriteStep {
  const id = String((w.after ?? w.before)![JOB_TABLE.partitionKey]);
  if (id.startsWith(JOB_TABLE.idempotencyPrefix)) return "idempotency key";
  if (w.command === "PutCommand") return "record";
  if (w.before?.state !== w.after?.state) return w.after?.state === "RUNNING" ? "claim" : "finish";
  const phase = (i?: Item) => (i?.progress as { phase?: string } | undefined)?.phase;
  return phase(w.before) !== phase(w.after) ? "phase" : "heartbeat";
}

describe("the jobs table's capacity model (core/job-table-capacity.ts) against a real job's writes", function () {
  this.timeout(120_000);
  const { bed } = useWorkerTestBed(CONFIG);

  it("prices every write of a job submitted through the API and run by a worker as the model does: heartbeats and phases write no index", async () => {
    const b = bed();
    const recorded: { command: string; before?: Item; after?: Item }[] = [];
    const db = recordingClient(b.aws.emulators.clients.dynamo(), b.aws.resources.tableName, recorded);
    const store = new DynamoJobStore(db, { tableName: b.aws.resources.tableName });
    for (const f of ["scan-1.ply", "scan-2.ply"]) await b.s3.send(new PutObjectCommand({ Bucket: b.bucket, Key: `labs/a/case-cap/${f}`, Body: Buffer.alloc(4096, 7) }));

    // The API's submit, as tenant lab-a, with an Idempotency-Key, a name and tags.
    const api = createApi({ store, queue: b.queue, objects: new S3ObjectStore(b.s3), config: fleetConfig(CONFIG), bucket: b.bucket, log: silentLog });
    const res = await api.request("/jobs", {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": KEY, "Idempotency-Key": "cap-1", "Spotq-Job-Name": "case cap", "Spotq-Job-Tags": "clinic=north" },
      body: JSON.stringify({
        ...(await meditFixture()),
        "Source Folder Path": `s3://${b.bucket}/labs/a/case-cap`,
        "Target Folder Path": `s3://${b.bucket}/labs/a/out-cap`,
        "Fake Medit Behaviour": "sleep=4500", // a few heartbeats (the test worker beats every second)
      }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    const { jobId } = (await res.json()) as { jobId: string };
    const w = await b.startWorker({ deps: (d) => ({ ...d, store }) });
    await w.events.waitFor("job_succeeded", (e) => e.jobId === jobId);

    const real: TableWrite[] = recorded.map((r) => ({ step: stepOf(r), ...(r.before ? { before: r.before } : {}), after: r.after! }));
    const count = (ws: readonly TableWrite[], s: WriteStep) => ws.filter((x) => x.step === s).length;
    const beats = count(real, "heartbeat");
    assert.ok(beats >= 2, `a few heartbeats, got ${beats}`);
    assert.deepEqual(
      real.map((x) => x.step).filter((s) => s !== "heartbeat"),
      ["idempotency key", "record", "claim", "phase", "phase", "finish"],
      "the writes the model lists, in its order",
    );

    // The model with as many heartbeats as the real run made lists the same writes ...
    const model = jobLifeWrites({ runSeconds: beats * 60, heartbeatSeconds: 60 });
    for (const s of ["idempotency key", "record", "claim", "phase", "heartbeat", "finish"] as const) assert.equal(count(model, s), count(real, s), s);

    // ... and prices each in every index exactly as DynamoDB's rules price the real item images.
    const realCost = costByStep(real, CURRENT_INDEXES);
    const modelCost = costByStep(model, CURRENT_INDEXES);
    for (const s of Object.keys(realCost) as WriteStep[])
      assert.deepEqual(realCost[s].indexUnits, modelCost[s].indexUnits, `index write units of ${s}`);
    for (const i of CURRENT_INDEXES) {
      assert.equal(realCost.heartbeat.indexUnits[i.name], 0, `a heartbeat writes nothing to ${i.name}`);
      assert.equal(realCost.phase.indexUnits[i.name], 0, `a phase change writes nothing to ${i.name}`);
    }
    // The table's own units: the model's typical items are at least as large as this run's.
    for (const s of Object.keys(realCost) as WriteStep[])
      assert.ok(realCost[s].tableUnits <= modelCost[s].tableUnits, `${s}: real ${realCost[s].tableUnits} ≤ model ${modelCost[s].tableUnits} table units`);

    // The same real writes on the previous indexes (items with listKey "job", ALL projected): every heartbeat wrote both.
    const old = real.map((x) => ({ ...x, ...(x.before ? { before: { ...x.before, [JOB_TABLE.listKeyAttribute]: "job" } } : {}), after: { ...x.after, [JOB_TABLE.listKeyAttribute]: "job" } }));
    for (const hb of old.filter((x) => x.step === "heartbeat")) for (const i of PREVIOUS_INDEXES) assert.ok(indexWriteUnits(hb.before, hb.after, i) >= 1, `previously a heartbeat wrote ${i.name}`);
  });

  it("docs/capacity.md shows the model's figures as the code computes them today", () => {
    const doc = readFileSync(new URL("../../../docs/capacity.md", import.meta.url), "utf8");
    const between = /<!-- capacity-report:begin -->\n([\s\S]*?)\n<!-- capacity-report:end -->/.exec(doc);
    assert.ok(between, "docs/capacity.md has the generated block");
    assert.equal(
      between[1],
      capacityReport(),
      "regenerate the block: npx tsx -e 'import(\"./core/job-table-capacity.ts\").then((m) => console.log(m.capacityReport()))'",
    );
  });
});
