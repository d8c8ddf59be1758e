import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { Imdsv2Metadata } from "../../../aws/instance-metadata.ts";
import { startImdsServer, type ImdsServer } from "../../../scripts/local/imds-server.ts";

const INSTANCE = "i-0123456789abcdef0";

describe("IMDSv2: Imdsv2Metadata against the local IMDS server", () => {
  let imds: ImdsServer;
  beforeEach(async () => {
    imds = await startImdsServer({ instanceId: INSTANCE });
  });
  afterEach(async () => {
    await imds.stop();
  });

  const put = (headers: Record<string, string>) => fetch(`${imds.endpoint}/latest/api/token`, { method: "PUT", headers });
  const token = async () => (await put({ "X-aws-ec2-metadata-token-ttl-seconds": "60" })).text();

  it("reads the instance id with a session token", async () => {
    const md = new Imdsv2Metadata({ endpoint: imds.endpoint });
    assert.equal(await md.instanceId(), INSTANCE);
  });

  it("finds the endpoint in AWS_EC2_METADATA_SERVICE_ENDPOINT, as the SDK does", async () => {
    const md = new Imdsv2Metadata({ env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint } });
    assert.equal(md.endpoint, imds.endpoint);
    assert.equal(await md.instanceId(), INSTANCE);
  });

  it("defaults to the link-local address when nothing is configured", () => {
    assert.equal(new Imdsv2Metadata({ env: {} }).endpoint, "http://169.254.169.254");
  });

  it("reports no Spot notice until one is posted, then the action and time, and none once cleared", async () => {
    const md = new Imdsv2Metadata({ endpoint: imds.endpoint });
    assert.equal(await md.spotInterruption(), undefined);

    const posted = imds.setSpotInterruption("terminate", 120);
    const seen = await md.spotInterruption();
    assert.deepEqual(seen, posted);
    assert.equal(seen?.action, "terminate");
    assert.match(seen!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, "IMDS times are UTC to the second");
    assert.ok(Date.parse(seen!.time) > Date.now() + 60_000, "the notice lies about two minutes ahead");

    imds.clearSpotInterruption();
    assert.equal(await md.spotInterruption(), undefined);
  });

  it("serves a stop or hibernate action as posted", async () => {
    const md = new Imdsv2Metadata({ endpoint: imds.endpoint });
    imds.setSpotInterruption("hibernate", 30);
    assert.equal((await md.spotInterruption())?.action, "hibernate");
  });

  it("serves autoscaling/target-lifecycle-state as the group moves it (none until set)", async () => {
    const md = new Imdsv2Metadata({ endpoint: imds.endpoint });
    assert.equal(await md.targetLifecycleState(), undefined);
    imds.setTargetLifecycleState("InService");
    assert.equal(await md.targetLifecycleState(), "InService");
    imds.setTargetLifecycleState("Terminated");
    assert.equal(await md.targetLifecycleState(), "Terminated");
    const other = await startImdsServer({ instanceId: INSTANCE, targetLifecycleState: "InService" });
    try {
      assert.equal(await new Imdsv2Metadata({ endpoint: other.endpoint }).targetLifecycleState(), "InService");
    } finally {
      await other.stop();
    }
  });

  it("reports no rebalance recommendation until one is posted", async () => {
    const md = new Imdsv2Metadata({ endpoint: imds.endpoint });
    assert.equal(await md.rebalanceRecommendation(), undefined);
    const posted = imds.setRebalanceRecommendation();
    assert.deepEqual(await md.rebalanceRecommendation(), posted);
  });

  it("refuses a GET without a token or with an unknown token (401)", async () => {
    const bare = await fetch(`${imds.endpoint}/latest/meta-data/instance-id`);
    assert.equal(bare.status, 401);
    const forged = await fetch(`${imds.endpoint}/latest/meta-data/instance-id`, { headers: { "X-aws-ec2-metadata-token": "forged" } });
    assert.equal(forged.status, 401);
  });

  it("answers a GET with a valid token, and 404 for a path with nothing posted", async () => {
    const t = await token();
    const ok = await fetch(`${imds.endpoint}/latest/meta-data/instance-id`, { headers: { "X-aws-ec2-metadata-token": t } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), INSTANCE);
    const none = await fetch(`${imds.endpoint}/latest/meta-data/spot/instance-action`, { headers: { "X-aws-ec2-metadata-token": t } });
    assert.equal(none.status, 404);
  });

  it("refuses a token PUT without a TTL or with one outside 1..21600 (400)", async () => {
    assert.equal((await put({})).status, 400);
    assert.equal((await put({ "X-aws-ec2-metadata-token-ttl-seconds": "0" })).status, 400);
    assert.equal((await put({ "X-aws-ec2-metadata-token-ttl-seconds": "21601" })).status, 400);
    assert.equal((await put({ "X-aws-ec2-metadata-token-ttl-seconds": "ten" })).status, 400);
    const max = await put({ "X-aws-ec2-metadata-token-ttl-seconds": "21600" });
    assert.equal(max.status, 200);
    assert.equal(max.headers.get("x-aws-ec2-metadata-token-ttl-seconds"), "21600");
  });

  it("refuses a token PUT that went through a proxy (X-Forwarded-For, 403)", async () => {
    const res = await put({ "X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1" });
    assert.equal(res.status, 403);
  });

  it("refuses a token GET (the token is only handed out on PUT)", async () => {
    assert.equal((await fetch(`${imds.endpoint}/latest/api/token`)).status, 405);
  });

  it("expires tokens after their TTL, and the client fetches a new one", async function () {
    this.timeout(10_000);
    const md = new Imdsv2Metadata({ endpoint: imds.endpoint, tokenTtlSeconds: 1 });
    assert.equal(await md.instanceId(), INSTANCE);
    const shortLived = await (await put({ "X-aws-ec2-metadata-token-ttl-seconds": "1" })).text();
    await sleep(1_100); // the only way to see a TTL pass on a real clock
    const stale = await fetch(`${imds.endpoint}/latest/meta-data/instance-id`, { headers: { "X-aws-ec2-metadata-token": shortLived } });
    assert.equal(stale.status, 401, "an expired token is refused");
    assert.equal(await md.instanceId(), INSTANCE, "the client renewed its token instead of failing");
  });

  it("rejects with the endpoint named when IMDS is unreachable", async () => {
    const gone = imds.endpoint;
    await imds.stop();
    imds = await startImdsServer({ instanceId: INSTANCE }); // for afterEach
    const md = new Imdsv2Metadata({ endpoint: gone, timeoutMs: 500 });
    await assert.rejects(md.instanceId(), (e: Error) => e.message.includes(gone) && e.message.includes("/latest/api/token"));
  });

  it("refuses a token TTL outside IMDS's range at construction", () => {
    assert.throws(() => new Imdsv2Metadata({ tokenTtlSeconds: 0 }), /tokenTtlSeconds/);
    assert.throws(() => new Imdsv2Metadata({ tokenTtlSeconds: 21_601 }), /tokenTtlSeconds/);
  });
});
