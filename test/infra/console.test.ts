import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ENV } from "../../core/runtime.ts";
import { BUNDLE_FILES, bundleEntries, CONSOLE_ASSETS } from "../../infra/bundling.ts";
import { assertAllowed, assertDenied, rolePolicies, type Policy, type Request } from "./support/iam.ts";
import { ACCOUNT, synthStack, testConfig } from "./support/synth.ts";

const R = `us-east-1:${ACCOUNT}`;
const stream = (group: string, name: string) => `arn:aws:logs:${R}:log-group:${group}:log-stream:${name}`;
const alarm = (name: string) => `arn:aws:cloudwatch:${R}:alarm:${name}`;
const req = (action: string, resource: string): Request => ({ action, resource });

describe("infra: the web console on AWS", function () {
  this.timeout(120_000);

  describe("the API role's reads for the console, evaluated with an IAM simulator", () => {
    let api: Policy[];
    let fastPathOff: Policy[];
    before(() => {
      api = rolePolicies(synthStack(testConfig()), "api_role");
      fastPathOff = rolePolicies(synthStack(testConfig({ scaling: { fastPath: false } })), "api_role");
    });

    it("reads a job attempt's log, the deployment's alarms, the queue's metrics and the group (also with the fast path off)", async () => {
      const reads = [
        req("logs:GetLogEvents", stream("/spotq/spotq/jobs", "01M8SPQJAG1EJE8TBNVKY2S4XN/1")),
        req("cloudwatch:DescribeAlarms", alarm("spotq-backlog-deficit")),
        req("cloudwatch:DescribeAlarms", alarm("spotq-dlq-not-empty")),
        req("cloudwatch:GetMetricData", "*"),
        req("autoscaling:DescribeAutoScalingGroups", "*"),
      ];
      await assertAllowed(api, ...reads);
      await assertAllowed(fastPathOff, ...reads);
    });

    it("and nothing else: no other log group, no other deployment's alarms, no writes to logs or alarms", () =>
      assertDenied(
        api,
        req("logs:GetLogEvents", stream("/spotq/spotq/workers", "i-0123456789abcdef0")),
        req("logs:GetLogEvents", stream("/aws/lambda/billing", "2026/01/01/[$LATEST]abc")),
        req("logs:GetLogEvents", stream("/spotq/other/jobs", "01M8SPQJAG1EJE8TBNVKY2S4XN/1")),
        req("logs:FilterLogEvents", `arn:aws:logs:${R}:log-group:/spotq/spotq/jobs`),
        req("logs:PutLogEvents", stream("/spotq/spotq/jobs", "01M8SPQJAG1EJE8TBNVKY2S4XN/1")),
        req("logs:DeleteLogStream", stream("/spotq/spotq/jobs", "01M8SPQJAG1EJE8TBNVKY2S4XN/1")),
        req("cloudwatch:DescribeAlarms", alarm("billing-high")),
        req("cloudwatch:SetAlarmState", alarm("spotq-backlog-deficit")),
        req("cloudwatch:DeleteAlarms", alarm("spotq-backlog-deficit")),
        req("cloudwatch:PutMetricAlarm", alarm("spotq-backlog-deficit")),
        req("cloudwatch:PutMetricData", "*"),
      ));
  });

  describe("the Lambda bundle", () => {
    let out: string;
    const saved: Record<string, string | undefined> = {};
    const env: Record<string, string> = {
      [ENV.table]: "spotq-jobs",
      [ENV.queueUrl]: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs",
      [ENV.dlqUrl]: "https://sqs.us-east-1.amazonaws.com/111122223333/spotq-jobs-dlq",
      [ENV.bucket]: "spotq-data",
      AWS_REGION: "us-east-1",
      SPOTQ_LOG_LEVEL: "silent",
    };

    before(() => {
      out = mkdtempSync(join(tmpdir(), "spotq-console-bundle-"));
      bundleEntries(fileURLToPath(new URL("../../", import.meta.url)), out);
      for (const [k, v] of Object.entries(env)) {
        saved[k] = process.env[k];
        process.env[k] = v;
      }
    });
    after(() => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(out, { recursive: true, force: true });
    });

    it("carries the console's files beside index.mjs, with a fixed mtime", () => {
      const dir = join(out, "lambda", CONSOLE_ASSETS.to);
      const files = readdirSync(dir).sort();
      assert.deepEqual(files, readdirSync(fileURLToPath(new URL(`../../${CONSOLE_ASSETS.from}/`, import.meta.url))).sort());
      for (const f of files) assert.equal(statSync(join(dir, f)).mtime.toISOString(), "2020-01-01T00:00:00.000Z", f);
      assert.ok(existsSync(join(out, "lambda", BUNDLE_FILES.lambda)));
    });

    it("serves the console's page and scripts from the bundled handler, under the stage", async () => {
      const { handler } = (await import(pathToFileURL(join(out, "lambda", BUNDLE_FILES.lambda)).href)) as {
        handler: (event: unknown, context: unknown) => Promise<{ statusCode: number; headers?: Record<string, string>; multiValueHeaders?: Record<string, string[]>; body: string }>;
      };
      const event = (path: string) => ({
        resource: path === "/console" ? "/console" : "/console/{proxy+}",
        path,
        httpMethod: "GET",
        headers: { Host: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", "X-Forwarded-Proto": "https" },
        multiValueHeaders: {},
        queryStringParameters: null,
        multiValueQueryStringParameters: null,
        pathParameters: null,
        stageVariables: null,
        requestContext: { path: `/v1${path}`, stage: "v1", httpMethod: "GET", requestId: "r-1", identity: { sourceIp: "203.0.113.10" } },
        body: null,
        isBase64Encoded: false,
      });
      const context = { awsRequestId: "r-1", functionName: "spotq-api" };

      const page = await handler(event("/console"), context);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<script type="module" src="\/v1\/console\/assets\/app\.js">/);
      const script = await handler(event("/console/assets/app.js"), context);
      assert.equal(script.statusCode, 200);
      const type = script.headers?.["content-type"] ?? script.multiValueHeaders?.["content-type"]?.[0];
      assert.match(type ?? "", /^text\/javascript/, JSON.stringify(script.headers ?? script.multiValueHeaders));
      assert.match(script.body, /import .* from "\.\/api\.js";/);
    });
  });
});
