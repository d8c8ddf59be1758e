import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Context as LambdaContext } from "aws-lambda";
import { startApiServer, type ApiServer } from "../../../api/server.ts";
import { awsSettingsToEnv } from "../../../aws/clients.ts";
import type { JobRecord } from "../../../core/job.ts";
import { deploymentToEnv, ENV } from "../../../core/runtime.ts";
import { startAutoScalingServer, type AutoScalingServer } from "../../../scripts/local/autoscaling-server.ts";
import { BUCKET, captureLog, fixtureRequest, useApiHarness, type ErrorAnswer } from "./api-harness.ts";

type LambdaResult = { statusCode: number; body: string; headers?: Record<string, string>; multiValueHeaders?: Record<string, string[]> };

function event(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")) as Record<string, unknown>;
}

describe("api: the two entries, the local HTTP server and the Lambda handler", () => {
  const h = useApiHarness();
  /** The environment a deployment gives the API: names, config, and the emulators' endpoints. */
  const deploymentEnv = (): Record<string, string> => ({
    ...awsSettingsToEnv(h().aws.emulators.settings),
    ...deploymentToEnv({ ...h().aws.resources, bucket: BUCKET }),
    [ENV.configJson]: JSON.stringify({ scaling: { fastPath: true } }),
    SPOTQ_LOG_LEVEL: "silent",
  });

  describe("startApiServer (HTTP over loopback)", () => {
    let server: ApiServer | undefined;
    let autoscaling: AutoScalingServer | undefined;
    afterEach(async () => {
      await server?.close();
      await autoscaling?.stop();
      server = autoscaling = undefined;
    });

    it("serves a submit and its status over HTTP from the ports it is given", async () => {
      server = await startApiServer({ deps: { ...h().deps, log: captureLog() }, port: 0 });
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);

      const res = await fetch(`${server.url}/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(fixtureRequest()) });

      assert.equal(res.status, 202);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      const { jobId, statusUrl } = (await res.json()) as { jobId: string; statusUrl: string };
      assert.equal(statusUrl, `${server.url}/jobs/${jobId}`);
      assert.equal(res.headers.get("location"), statusUrl);
      assert.equal(res.headers.get("idempotent-replayed"), null);
      const status = await fetch(statusUrl);
      assert.equal(((await status.json()) as JobRecord).state, "QUEUED");
    });

    it("answers a replayed Idempotency-Key over HTTP with the first job, its Location and Idempotent-Replayed", async () => {
      server = await startApiServer({ deps: { ...h().deps, log: captureLog() }, port: 0 });
      const submit = () =>
        fetch(`${server!.url}/jobs`, { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": "entries-replay-1" }, body: JSON.stringify(fixtureRequest()) });
      const first = await submit();
      const again = await submit();
      assert.deepEqual([first.status, again.status], [202, 202]);
      const [a, b] = [(await first.json()) as { jobId: string }, (await again.json()) as { jobId: string }];
      assert.equal(b.jobId, a.jobId);
      assert.equal(again.headers.get("location"), `${server.url}/jobs/${a.jobId}`);
      assert.equal(again.headers.get("idempotent-replayed"), "true");
      assert.equal(first.headers.get("idempotent-replayed"), null);
    });

    it("refuses an oversized body with 413 before reading it", async () => {
      server = await startApiServer({ deps: { ...h().deps, log: captureLog() }, port: 0 });
      const res = await fetch(`${server.url}/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "x".repeat(100_000) });
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as ErrorAnswer).error.problems?.[0]?.field, "body");
    });

    it("reads a chunked body (no Content-Length) as it streams: a submit within the limit, 413 past it", async () => {
      server = await startApiServer({ deps: { ...h().deps, log: captureLog() }, port: 0 });
      const chunked = (text: string) => {
        const bytes = new TextEncoder().encode(text);
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            for (let i = 0; i < bytes.length; i += 1000) c.enqueue(bytes.slice(i, i + 1000));
            c.close();
          },
        });
        return fetch(`${server!.url}/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body, duplex: "half" } as RequestInit);
      };
      const ok = await chunked(JSON.stringify(fixtureRequest()));
      assert.equal(ok.status, 202, await ok.clone().text());
      const tooLarge = await chunked(`"${"x".repeat(100_000)}"`);
      assert.equal(tooLarge.status, 413);
      assert.equal(((await tooLarge.json()) as ErrorAnswer).error.problems?.[0]?.field, "body");
    });

    it("wires the AWS adapters from the environment, the fast path included when SPOTQ_GROUP is set", async () => {
      autoscaling = await startAutoScalingServer({ group: { name: "spotq-workers", minSize: 0, maxSize: 5, desiredCapacity: 0 } });
      const env = { ...deploymentEnv(), [ENV.group]: "spotq-workers", SPOTQ_ENDPOINT_AUTOSCALING: autoscaling.endpoint };
      server = await startApiServer({ env, port: 0 });

      const res = await fetch(`${server.url}/jobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(fixtureRequest()) });

      assert.equal(res.status, 202, await res.clone().text());
      assert.ok(autoscaling.group.desiredCapacity >= 1, "the submit raised desired capacity");
    });

    it("refuses to start without the deployment's names, naming the missing variable", async () => {
      const { [ENV.queueUrl]: _dropped, ...env } = deploymentEnv();
      await assert.rejects(startApiServer({ env, port: 0 }), /SPOTQ_QUEUE_URL is required/);
    });
  });

  describe("the Lambda handler (API Gateway proxy events)", () => {
    let handler: (event: unknown, context: LambdaContext) => Promise<LambdaResult>;
    const saved = { ...process.env };
    const context = { awsRequestId: "8f5e2c1a-0000-4000-8000-000000000001", functionName: "spotq-api" } as LambdaContext;

    before(async () => {
      Object.assign(process.env, deploymentEnv());
      ({ handler } = (await import("../../../api/lambda.ts")) as unknown as { handler: typeof handler });
    });
    after(() => {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    });

    it("submits from a REST API event: 202 with the stage in the status URL", async () => {
      const result = await handler(event("apigw-rest-post-jobs.json"), context);

      assert.equal(result.statusCode, 202, result.body);
      const { jobId, state, statusUrl } = JSON.parse(result.body) as { jobId: string; state: string; statusUrl: string };
      assert.equal(state, "QUEUED");
      assert.equal(statusUrl, `https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/jobs/${jobId}`);
      assert.equal((await h().deps.store.get(jobId))?.request["Target Folder Path"], `s3://${BUCKET}/results/lambda`);

      // The event carries an Idempotency-Key: API Gateway retrying the same event gets the same job.
      const again = await handler(event("apigw-rest-post-jobs.json"), context);
      assert.equal(JSON.parse(again.body).jobId, jobId);
    });

    it("routes an HTTP API event of a named stage, and answers 404 JSON for an unknown job", async () => {
      const result = await handler(event("apigw-http-get-job.json"), context);
      assert.equal(result.statusCode, 404, result.body);
      assert.equal((JSON.parse(result.body) as ErrorAnswer).error.code, "NOT_FOUND");
    });

    it("shows and cancels a job through HTTP API events, keeping the stage in the status URL", async () => {
      const submitted = await h().app().request("/jobs", { method: "POST", body: JSON.stringify(fixtureRequest()), headers: { "content-type": "application/json" } });
      const { jobId } = (await submitted.json()) as { jobId: string };
      const e = event("apigw-http-get-job.json") as { rawPath: string; requestContext: { http: { path: string } } };
      e.rawPath = e.requestContext.http.path = `/v1/jobs/${jobId}`;

      const result = await handler(e, context);

      assert.equal(result.statusCode, 200, result.body);
      assert.equal((JSON.parse(result.body) as JobRecord).state, "QUEUED");

      (e as unknown as { requestContext: { http: { method: string } } }).requestContext.http.method = "DELETE";
      const cancelled = await handler(e, context);
      assert.equal(cancelled.statusCode, 200, cancelled.body);
      assert.deepEqual(JSON.parse(cancelled.body), {
        jobId,
        state: "CANCELLED",
        statusUrl: `https://f6g7h8i9j0.execute-api.us-east-1.amazonaws.com/v1/jobs/${jobId}`,
      });
    });
  });
});
