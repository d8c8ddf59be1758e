import assert from "node:assert/strict";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import type { MSKEvent, S3Event } from "aws-lambda";
import { readFileSync } from "node:fs";
import { tenantKeyIdsFromEnv } from "../../../api/compose.ts";
import { S3MarkerReader } from "../../../aws/marker-reader.ts";
import { handleKafkaEvent } from "../../../api/trigger-kafka.ts";
import { handleS3Event, type S3TriggerDeps } from "../../../api/trigger-s3.ts";
import { readJobFor } from "../../../api/tenancy.ts";
import { fleetConfig, type FleetConfigInput } from "../../../core/fleet-config.ts";
import type { JobRecord } from "../../../core/job.ts";
import { ENV } from "../../../core/runtime.ts";
import { BUCKET, captureLog, FIXTURE, postJob, useApiHarness, type ErrorAnswer } from "./api-harness.ts";

const KEY_A = "labAkey0123456789abcdefXYZ";
const KEY_B = "labBkey0123456789abcdefXYZ";
const TENANTS = [
  { name: "lab-a", apiKey: KEY_A, prefixes: ["labs/a/", "inbox/lab-a/", "results/lab-a/"], principals: ["arn:aws:sts::123456789012:assumed-role/LabA/*"] },
  { name: "lab-b", apiKey: KEY_B, prefixes: ["labs/b/", "inbox/lab-b/", "results/lab-b/"], principals: ["arn:aws:iam::123456789012:user/bob"] },
];
const CONFIG: FleetConfigInput = { name: "tenants", api: { tenants: TENANTS }, triggers: { s3: { enabled: true } } };

const A = { "x-api-key": KEY_A };
const B = { "x-api-key": KEY_B };
/** A Medit request of one tenant's folders. */
const request = (lab: "a" | "b", overrides: Record<string, unknown> = {}) => ({
  ...FIXTURE,
  "Source Folder Path": `s3://${BUCKET}/labs/${lab}/case-1`,
  "Target Folder Path": `s3://${BUCKET}/results/lab-${lab}/case-1`,
  ...overrides,
});
const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")) as T;

describe("api: tenants (issue 11 §2) through every route, on the emulators", () => {
  const h = useApiHarness(CONFIG);
  const app = () => h().app();

  before(async () => {
    for (const lab of ["a", "b"]) await h().upload({ [`labs/${lab}/case-1/scan.ply`]: "s".repeat(100), [`labs/${lab}/case-2/scan.ply`]: "t".repeat(50) });
  });

  async function submitAs(headers: Record<string, string>, body: unknown, extra: Record<string, string> = {}): Promise<Response> {
    return postJob(app(), body, { ...headers, ...extra });
  }
  async function jobOf(headers: Record<string, string>, lab: "a" | "b", extra: Record<string, string> = {}): Promise<string> {
    const res = await submitAs(headers, request(lab), extra);
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { jobId: string }).jobId;
  }

  describe("authentication", () => {
    it("answers 403 FORBIDDEN on every route without a key or with a key no tenant has, and logs why (never the key)", async () => {
      const a = await app();
      const routes: [string, string][] = [
        ["POST", "/jobs"],
        ["GET", "/jobs"],
        ["GET", "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV"],
        ["DELETE", "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV"],
        ["GET", "/no-such-route"],
      ];
      for (const headers of [{}, { "x-api-key": "notAKeyOfAnyTenant000000" }, { "x-api-key": KEY_A.toLowerCase() }]) {
        for (const [method, path] of routes) {
          const res = await a.request(path, { method, headers, ...(method === "POST" ? { body: JSON.stringify(request("a")) } : {}) });
          assert.equal(res.status, 403, `${method} ${path} ${JSON.stringify(headers)}`);
          const { error } = (await res.json()) as ErrorAnswer;
          assert.equal(error.code, "FORBIDDEN");
          assert.match(error.message, /x-api-key/);
        }
      }
      const refused = a.log.lines.filter((l) => l.event === "refused");
      assert.equal(refused.length, 15);
      assert.ok(refused.every((l) => typeof l.reason === "string" && l.tenant === undefined));
      assert.ok(!JSON.stringify(a.log.lines).includes("notAKeyOfAnyTenant"), "no key value in the log");
      assert.equal(await h().jobItems(), 0, "nothing was submitted");
    });

    it("takes each tenant's key and records the job as that tenant's", async () => {
      const jobId = await jobOf(A, "a");
      assert.equal((await h().deps.store.get(jobId))?.tenant, "lab-a");
      const res = await app().request(`/jobs/${jobId}`, { headers: A });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as JobRecord).tenant, "lab-a");
    });
  });

  describe("a tenant sees, cancels and lists only its own jobs: another's answers 404, as an unknown id", () => {
    it("GET /jobs/{id} of another tenant's job: 404 with the body of an unknown id, and a refusal log line", async () => {
      const bJob = await jobOf(B, "b");
      const unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
      const a = app();
      const [foreign, missing] = [await a.request(`/jobs/${bJob}`, { headers: A }), await a.request(`/jobs/${unknown}`, { headers: A })];
      assert.equal(foreign.status, 404);
      assert.equal(missing.status, 404);
      const body = (await foreign.json()) as ErrorAnswer;
      assert.deepEqual(body, JSON.parse(JSON.stringify(await missing.json()).replaceAll(unknown, bJob)), "indistinguishable from an unknown id");
      assert.deepEqual(Object.keys(body.error).sort(), ["code", "jobId", "message"]);
      const line = a.log.lines.find((l) => l.event === "refused");
      assert.deepEqual(line && { tenant: line.tenant, jobId: line.jobId, owner: line.owner }, { tenant: "lab-a", jobId: bJob, owner: "lab-b" });
      assert.match(String(line?.reason), /another tenant/);
      // And B still reads it.
      assert.equal((await app().request(`/jobs/${bJob}`, { headers: B })).status, 200);
    });

    it("DELETE /jobs/{id} of another tenant's job: 404, and the job is left as it was", async () => {
      const bJob = await jobOf(B, "b");
      const res = await app().request(`/jobs/${bJob}`, { method: "DELETE", headers: A });
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as ErrorAnswer).error.code, "NOT_FOUND");
      assert.equal((await h().deps.store.get(bJob))?.state, "QUEUED");
      assert.equal((await app().request(`/jobs/${bJob}`, { method: "DELETE", headers: B })).status, 200, "its own tenant cancels it");
    });

    it("every route with a job id answers 404 for another tenant's job and changes nothing (routes added at merge included)", async () => {
      const bJob = await jobOf(B, "b");
      const a = app();
      const idRoutes = a.routes.filter((r) => r.path.includes(":id") && r.method !== "ALL");
      assert.ok(idRoutes.length >= 2, "GET and DELETE /jobs/:id at least");
      for (const r of idRoutes) {
        const path = r.path.replace(":id", bJob);
        const res = await a.request(path, { method: r.method, headers: { ...A, "content-type": "application/json" }, ...(["POST", "PUT", "PATCH"].includes(r.method) ? { body: "{}" } : {}) });
        assert.equal(res.status, 404, `${r.method} ${r.path}`);
        assert.ok(!(await res.text()).includes("lab-b"), `${r.method} ${r.path} says nothing of the owner`);
      }
      const after = await h().deps.store.get(bJob);
      assert.equal(after?.state, "QUEUED");
      assert.equal(after?.attempts, 0);
    });

    it("the authorization helper other routes call (readJobFor) refuses another tenant's job as not found, and lets the operator through", async () => {
      const bJob = await jobOf(B, "b");
      const log = captureLog();
      const [tenantA, tenantB] = fleetConfig(CONFIG).api.tenants;
      await assert.rejects(readJobFor(h().deps, log, { tenant: tenantA! }, bJob), (e: Error & { status?: number }) => e.status === 404);
      assert.equal((await readJobFor(h().deps, log, { tenant: tenantB! }, bJob)).jobId, bJob);
      assert.equal((await readJobFor(h().deps, log, {}, bJob)).jobId, bJob, "no tenant: the operator of a deployment without tenants");
      assert.equal(log.lines.filter((l) => l.event === "refused").length, 1);
    });

    it("GET /jobs lists the caller's jobs only, with every filter, and a cursor of one tenant is refused to another", async () => {
      const mine = [await jobOf(A, "a"), await jobOf(A, "a")];
      const theirs = await jobOf(B, "b");
      const list = async (headers: Record<string, string>, q = "") => {
        const res = await app().request(`/jobs${q}`, { headers });
        assert.equal(res.status, 200, await res.clone().text());
        return (await res.json()) as { jobs: JobRecord[]; next?: string };
      };
      const a = await list(A, "?limit=100");
      assert.ok(a.jobs.every((j) => j.tenant === "lab-a"));
      assert.ok(mine.every((id) => a.jobs.some((j) => j.jobId === id)));
      assert.ok(!a.jobs.some((j) => j.jobId === theirs));
      const queued = await list(B, "?state=QUEUED&limit=100");
      assert.ok(queued.jobs.some((j) => j.jobId === theirs) && queued.jobs.every((j) => j.tenant === "lab-b"));

      const page = await list(A, "?limit=1");
      assert.ok(page.next);
      const stolen = await app().request(`/jobs?limit=1&next=${page.next}`, { headers: B });
      assert.equal(stolen.status, 400);
      assert.deepEqual((await stolen.json() as ErrorAnswer).error.problems, [{ field: "next", reason: "is not a cursor from a previous page of GET /jobs" }]);
      const followed = await list(A, `?limit=1&next=${page.next}`);
      assert.equal(followed.jobs.length, 1);
      assert.equal(followed.jobs[0]!.tenant, "lab-a");
    });
  });

  describe("a tenant submits only under its own prefixes", () => {
    it("refuses a source or target in another tenant's folders or outside every tenant's (400 naming the field), storing nothing", async () => {
      const items = await h().jobItems();
      const messages = await h().queuedMessages();
      const cases: [Record<string, unknown>, string[]][] = [
        [request("a", { "Source Folder Path": `s3://${BUCKET}/labs/b/case-1` }), ["Source Folder Path"]],
        [request("a", { "Target Folder Path": `s3://${BUCKET}/results/lab-b/case-1` }), ["Target Folder Path"]],
        [request("a", { "Source Folder Path": `s3://${BUCKET}/scans/case-1`, "Target Folder Path": `s3://${BUCKET}/results/case-1` }), ["Source Folder Path", "Target Folder Path"]],
        // A look-alike folder is not under the prefix: labs/ab is not labs/a/.
        [request("a", { "Source Folder Path": `s3://${BUCKET}/labs/ab` }), ["Source Folder Path"]],
      ];
      const a = app();
      for (const [body, fields] of cases) {
        const res = await postJob(a, body, A);
        assert.equal(res.status, 400, JSON.stringify(body));
        const { error } = (await res.json()) as ErrorAnswer;
        assert.deepEqual(error.problems?.map((p) => p.field), fields);
        assert.match(error.problems![0]!.reason, /must lie under one of tenant lab-a's prefixes: s3:\/\/spotq-api-test\/labs\/a\//);
        assert.ok(!JSON.stringify(error).includes("labs/b/"), "the answer does not name another tenant's prefixes");
      }
      assert.equal(await h().jobItems(), items);
      assert.equal(await h().queuedMessages(), messages);
      const refusals = a.log.lines.filter((l) => l.event === "refused");
      assert.equal(refusals.length, cases.length);
      assert.ok(refusals.every((l) => l.tenant === "lab-a" && /prefixes/.test(String(l.reason))));
    });

    it("does not tell whether another tenant's folder exists: the same answer for a full and an empty foreign folder", async () => {
      const full = await postJob(app(), request("a", { "Source Folder Path": `s3://${BUCKET}/labs/b/case-1` }), A);
      const empty = await postJob(app(), request("a", { "Source Folder Path": `s3://${BUCKET}/labs/b/nothing-here` }), A);
      const reasons = async (r: Response) => ((await r.json()) as ErrorAnswer).error.problems?.map((p) => p.reason);
      assert.deepEqual(await reasons(full), await reasons(empty));
    });

    it("keeps Idempotency-Keys per tenant: the same key in two tenants makes two jobs; each retry returns its own", async () => {
      const key = { "Idempotency-Key": "shared-key-1" };
      const first = await submitAs(A, request("a"), key);
      const other = await submitAs(B, request("b"), key);
      assert.equal(first.status, 202);
      assert.equal(other.status, 202, "B's submit is not refused as a reuse of A's key");
      const [a1, b1] = [((await first.json()) as { jobId: string }).jobId, ((await other.json()) as { jobId: string }).jobId];
      assert.notEqual(a1, b1);
      const againA = await submitAs(A, request("a"), key);
      assert.equal(againA.headers.get("Idempotent-Replayed"), "true");
      assert.equal(((await againA.json()) as { jobId: string }).jobId, a1);
      const againB = await submitAs(B, request("b"), key);
      assert.equal(((await againB.json()) as { jobId: string }).jobId, b1);
    });
  });

  describe("on Lambda: the tenant comes from what API Gateway vouches for, not from headers", () => {
    /** A REST API (payload 1.0) request context, as hono/aws-lambda hands it to the app. */
    const gateway = (identity: Record<string, unknown>) => ({ requestContext: { identity } });

    it("maps the API key id to its tenant through SPOTQ_TENANT_KEY_IDS; an unmapped id is refused even with a valid x-api-key header", async () => {
      const a = h().app({ tenantKeyIds: { k0a1: "lab-a", k0b2: "lab-b" } });
      const bJob = await jobOf(B, "b");
      const asA = await a.request(`/jobs/${bJob}`, { headers: {} }, gateway({ apiKeyId: "k0a1" }));
      assert.equal(asA.status, 404);
      const asB = await a.request(`/jobs/${bJob}`, {}, gateway({ apiKeyId: "k0b2" }));
      assert.equal(asB.status, 200);
      const unmapped = await a.request(`/jobs/${bJob}`, { headers: B }, gateway({ apiKeyId: "default-key" }));
      assert.equal(unmapped.status, 403);
      assert.ok(a.log.lines.some((l) => l.event === "refused" && l.apiKeyId === "default-key"));
    });

    it("with api.auth iam, maps the caller's principal ARN (exact or a trailing * pattern) to its tenant", async () => {
      const config = fleetConfig({ ...CONFIG, api: { auth: "iam", tenants: TENANTS } });
      const a = h().app({ config });
      const bJob = await jobOf(B, "b");
      const ask = (userArn: string | null) => a.request(`/jobs/${bJob}`, {}, gateway({ userArn, caller: "AROAEXAMPLE:session" }));
      assert.equal((await ask("arn:aws:iam::123456789012:user/bob")).status, 200);
      assert.equal((await ask("arn:aws:sts::123456789012:assumed-role/LabA/alice")).status, 404, "lab-a's role: not its job");
      assert.equal((await ask("arn:aws:iam::123456789012:user/bobby")).status, 403, "a look-alike user is no tenant's");
      assert.equal((await ask(null)).status, 403);
    });

    it("reads the key id map from the environment, refusing to start on Lambda without it", () => {
      const config = fleetConfig(CONFIG);
      assert.deepEqual(tenantKeyIdsFromEnv({ [ENV.tenantKeyIds]: '{"k1":"lab-a"}' }, config), { k1: "lab-a" });
      assert.throws(() => tenantKeyIdsFromEnv({ AWS_LAMBDA_FUNCTION_NAME: "spotq-api" }, config), /SPOTQ_TENANT_KEY_IDS is required/);
      assert.throws(() => tenantKeyIdsFromEnv({ [ENV.tenantKeyIds]: '{"k1":"lab-z"}' }, config), /tenants the config does not have: lab-z/);
      assert.equal(tenantKeyIdsFromEnv({}, config), undefined, "the local server needs none");
    });
  });

  describe("jobs from uploads and Kafka belong to the tenant whose prefixes hold the folder", () => {
    let deps: S3TriggerDeps;
    before(() => {
      deps = { ...h().deps, markers: new S3MarkerReader(h().aws.emulators.clients.s3()), log: captureLog() };
    });
    async function markerEvent(folder: string, marker: object): Promise<S3Event> {
      await h().upload({ [`${folder}/scan.ply`]: "x".repeat(64), [`${folder}/spotq.json`]: JSON.stringify(marker) });
      const head = await h().aws.emulators.clients.s3().send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${folder}/spotq.json` }));
      const event = fixture<S3Event>("s3-put-marker.json");
      event.Records[0]!.s3.bucket.name = BUCKET;
      event.Records[0]!.s3.object.key = `${folder}/spotq.json`;
      event.Records[0]!.s3.object.eTag = head.ETag!.replace(/"/g, "");
      return event;
    }

    it("an upload into a tenant's inbox is its job, named after the folder; one outside every tenant's is FAILED with the reason and no tenant", async () => {
      const [ok] = await handleS3Event(deps, deps.log!, await markerEvent("inbox/lab-a/case-7", { "Use GPU": true }));
      assert.ok(ok && "jobId" in ok, JSON.stringify(ok));
      const job = (await h().deps.store.get(ok.jobId))!;
      assert.deepEqual([job.state, job.tenant, job.name, job.request["Target Folder Path"]], ["QUEUED", "lab-a", "lab-a/case-7", `s3://${BUCKET}/results/lab-a/case-7`]);

      const [orphan] = await handleS3Event(deps, deps.log!, await markerEvent("inbox/nobody/case-1", { "Use GPU": true }));
      assert.ok(orphan && "jobId" in orphan);
      const failed = (await h().deps.store.get(orphan.jobId))!;
      assert.equal(failed.state, "FAILED");
      assert.equal(failed.tenant, undefined);
      assert.match(failed.error!.message, /Source Folder Path: s3:\/\/spotq-api-test\/inbox\/nobody\/case-1\/ lies under no tenant's prefixes/);
      // Neither tenant sees it.
      for (const headers of [A, B]) assert.equal((await app().request(`/jobs/${orphan.jobId}`, { headers })).status, 404);
    });

    it("a marker in one tenant's inbox that points at another tenant's folder is that tenant's FAILED job, not the other's", async () => {
      const [r] = await handleS3Event(deps, deps.log!, await markerEvent("inbox/lab-a/case-8", { "Source Folder Path": `s3://${BUCKET}/labs/b/case-1` }));
      assert.ok(r && "jobId" in r);
      const job = (await h().deps.store.get(r.jobId))!;
      assert.deepEqual([job.state, job.tenant], ["FAILED", "lab-a"]);
      assert.match(job.error!.message, /must lie under one of tenant lab-a's prefixes/);
    });

    it("a Kafka record is the job of the tenant holding its source, named and tagged by its headers", async () => {
      const event = fixture<MSKEvent>("msk-event.json");
      const [records] = Object.values(event.records);
      const hdr = (k: string, v: string) => ({ [k]: [...Buffer.from(v)] });
      const base = records![0]!;
      const record = (offset: number, body: unknown, headers: Record<string, number[]>[] = []) => ({ ...base, offset, value: Buffer.from(JSON.stringify(body)).toString("base64"), headers });
      event.records = {
        "jobs-0": [
          record(900, request("b"), [hdr("spotq-job-name", "kafka case"), hdr("spotq-job-tags", "clinic=south")]),
          record(901, { ...request("b"), "Source Folder Path": `s3://${BUCKET}/scans/case-1` }),
          record(902, request("a"), [hdr("spotq-job-tags", "bad tag=1")]),
        ],
      };
      const { outcomes, batchItemFailures } = await handleKafkaEvent(deps, deps.log!, event);
      assert.deepEqual(batchItemFailures, []);
      const jobs = await Promise.all(outcomes.map(async (o) => ("jobId" in o ? h().deps.store.get(o.jobId) : undefined)));
      assert.deepEqual(
        jobs.map((j) => [j?.state, j?.tenant, j?.name, j?.tags]),
        [
          ["QUEUED", "lab-b", "kafka case", { clinic: "south" }],
          ["FAILED", undefined, undefined, undefined],
          ["FAILED", "lab-a", undefined, undefined],
        ],
      );
      assert.match(jobs[1]!.error!.message, /lies under no tenant's prefixes/);
      assert.match(jobs[2]!.error!.message, /spotq-job-tags header: tag key "bad tag"/);
    });
  });
});
