import assert from "node:assert/strict";
import type { JobRecord } from "../../../core/job.ts";
import { fixtureRequest, postJob, useApiHarness, type ErrorAnswer } from "./api-harness.ts";

describe("api: job names and tags (issue 11 §3): given in headers, stored, listed, filtered", () => {
  const h = useApiHarness();

  async function submit(headers: Record<string, string>): Promise<string> {
    const res = await postJob(h().app(), fixtureRequest(), headers);
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { jobId: string }).jobId;
  }
  const list = async (q: string) => {
    const res = await h().app().request(`/jobs?${q}`);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { jobs: JobRecord[]; next?: string };
  };

  it("keeps the Medit body as sent and records the name and tags beside it", async () => {
    const jobId = await submit({ "Spotq-Job-Name": "case 4711", "Spotq-Job-Tags": "clinic=north,urgent=yes" });
    const job = (await (await h().app().request(`/jobs/${jobId}`)).json()) as JobRecord;
    assert.equal(job.name, "case 4711");
    assert.deepEqual(job.tags, { clinic: "north", urgent: "yes" });
    assert.deepEqual(job.request, fixtureRequest(), "the request is exactly the body");
  });

  it("refuses bad headers with 400 naming each, together with the body's problems, storing nothing", async () => {
    const items = await h().jobItems();
    const res = await postJob(h().app(), { ...fixtureRequest(), "Use GPU": "yes" }, { "Spotq-Job-Name": "bad*name", "Spotq-Job-Tags": "nokey" });
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as ErrorAnswer;
    assert.deepEqual(error.problems?.map((p) => p.field).sort(), ["Spotq-Job-Name", "Spotq-Job-Tags", "Use GPU"]);
    assert.equal(await h().jobItems(), items);
  });

  it("filters GET /jobs by name, name prefix and tags, with the state, newest first and paged", async () => {
    const run = `run${Date.now()}`;
    const ids = [
      await submit({ "Spotq-Job-Name": `${run}-a`, "Spotq-Job-Tags": "site=x" }),
      await submit({ "Spotq-Job-Name": `${run}-b`, "Spotq-Job-Tags": "site=y,prio=1" }),
      await submit({ "Spotq-Job-Name": `${run}-c`, "Spotq-Job-Tags": "site=x" }),
      await submit({ "Spotq-Job-Name": "other" }),
    ];
    await h().app().request(`/jobs/${ids[2]}`, { method: "DELETE" });
    const names = (r: { jobs: JobRecord[] }) => r.jobs.map((j) => j.name);
    assert.deepEqual(names(await list(`name=${run}-b`)), [`${run}-b`]);
    assert.deepEqual(names(await list(`name=${run}-*`)), [`${run}-c`, `${run}-b`, `${run}-a`]);
    assert.deepEqual(names(await list(`name=${run}-*&tag=site=x`)), [`${run}-c`, `${run}-a`]);
    assert.deepEqual(names(await list(`name=${run}-*&tag=prio`)), [`${run}-b`]);
    assert.deepEqual(names(await list(`name=${run}-*&tag=site=x&state=CANCELLED`)), [`${run}-c`]);

    const seen: string[] = [];
    let next: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await list(`name=${run}-*&limit=1${next ? `&next=${next}` : ""}`);
      seen.push(...names(page).map(String));
      next = page.next;
      if (!next) break;
    }
    assert.deepEqual(seen, [`${run}-c`, `${run}-b`, `${run}-a`]);
    const mixed = await h().app().request(`/jobs?name=${run}-a&limit=1&next=${(await list(`name=${run}-*&limit=1`)).next}`);
    assert.equal(mixed.status, 400, "a cursor of another filter is refused");
  });

  it("treats the same Idempotency-Key with another name as another request (422)", async () => {
    const key = { "Idempotency-Key": `labels-${Date.now()}` };
    await submit({ ...key, "Spotq-Job-Name": "first" });
    const again = await postJob(h().app(), fixtureRequest(), { ...key, "Spotq-Job-Name": "first" });
    assert.equal(again.headers.get("Idempotent-Replayed"), "true");
    const other = await postJob(h().app(), fixtureRequest(), { ...key, "Spotq-Job-Name": "second" });
    assert.equal(other.status, 422);
  });
});
