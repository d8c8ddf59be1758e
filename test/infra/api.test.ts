import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import type { FleetConfigInput } from "../../core/fleet-config.ts";
import { silentLog } from "../../api/log.ts";
import { triggerDepsFromEnv } from "../../api/trigger-lambda.ts";
import { ENV } from "../../core/runtime.ts";
import { Api, API_ROUTES, CONSOLE_PAGE_ROUTES } from "../../infra/constructs/api.ts";
import { fillTemplate } from "../../infra/user-data/template.ts";
import { ReferenceResolver } from "./support/iam.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
import { ACCOUNT, assertHasResource, FIXTURE_BUNDLES, synthScope, synthStack, TEST_ENV, testConfig, unsafeTestConfig, type Synth } from "./support/synth.ts";

function apiOf(overrides: FleetConfigInput = {}, lambdaBundleDir = FIXTURE_BUNDLES.lambdaDir, makeConfig = testConfig): { synth: Synth; api: Api } {
  const config = makeConfig(overrides);
  let api: Api | undefined;
  const synth = synthScope((scope) => {
    api = new Api(scope, "api", {
      config,
      env: TEST_ENV,
      lambdaBundleDir,
      table: { name: "spotq-jobs", arn: `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/spotq-jobs` },
      queues: {
        jobs: { name: "spotq-jobs", arn: `arn:aws:sqs:us-east-1:${ACCOUNT}:spotq-jobs`, url: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs` },
        dlq: { name: "spotq-jobs-dlq", arn: `arn:aws:sqs:us-east-1:${ACCOUNT}:spotq-jobs-dlq`, url: `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs-dlq` },
      },
      dataBucket: { name: "spotq-data", arn: "arn:aws:s3:::spotq-data" },
      group: { name: "spotq-workers", arn: `arn:aws:autoscaling:us-east-1:${ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/spotq-workers` },
    });
  });
  return { synth, api: api! };
}

/** Route "METHOD path" of each API Gateway method, from its resource's path part. */
function routes(synth: Synth): Record<string, Record<string, any>> {
  const resources = synth.resources("aws_api_gateway_resource");
  const pathOf = (ref: string): string => {
    const name = /\.([^.]+)\.id\}$/.exec(ref)?.[1];
    const r = name ? resources[name] : undefined;
    if (!r) return "";
    return `${pathOf(r.parent_id)}/${r.path_part}`;
  };
  return Object.fromEntries(Object.values(synth.resources("aws_api_gateway_method")).map((m) => [`${m.http_method} ${pathOf(m.resource_id)}`, m]));
}

describe("infra/constructs/api", () => {
  const { synth } = apiOf({ api: { throttleRateLimit: 15, throttleBurstLimit: 30, quotaPerDay: 5000 }, monitoring: { logRetentionDays: 14 } });
  const fn = synth.resource("aws_lambda_function");

  describe("Lambda", () => {
    it("runs the esbuild bundle on nodejs24.x (arm64) as one handler for every route", () => {
      assertHasResource(synth, LambdaFunction, { function_name: "spotq-api", runtime: "nodejs24.x", handler: "index.handler", architectures: ["arm64"] });
      assert.match(fn.filename, /^assets\/api_code_[^/]+\/[0-9A-F]+\/archive\.zip$/);
      assert.equal(fn.source_code_hash, `\${filebase64sha256("${fn.filename}")}`);
    });

    it("takes nodejs22.x where a region has no nodejs24.x", () => {
      assert.equal(apiOf({ api: { lambdaRuntime: "nodejs22.x" } }).synth.resource("aws_lambda_function").runtime, "nodejs22.x");
    });

    it("gets the environment contract of core/runtime.ts, with the validated config inline", () => {
      const vars = fn.environment.variables as Record<string, string>;
      assert.equal(vars[ENV.table], "spotq-jobs");
      assert.equal(vars[ENV.queueUrl], `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs`);
      assert.equal(vars[ENV.dlqUrl], `https://sqs.us-east-1.amazonaws.com/${ACCOUNT}/spotq-jobs-dlq`);
      assert.equal(vars[ENV.bucket], "spotq-data");
      assert.equal(vars[ENV.group], "spotq-workers");
      const config = JSON.parse(vars[ENV.configJson]!);
      assert.equal(config.api.quotaPerDay, 5000);
      assert.equal(config.fleet.amiId, "ami-0123456789abcdef0");
    });

    it("passes a config holding Terraform template sequences through unchanged (synth refuses them; this is the second line of defence)", () => {
      const vars = apiOf({ processor: { env: { TOKEN: "${x}%{y}" } } }, FIXTURE_BUNDLES.lambdaDir, unsafeTestConfig).synth.resource("aws_lambda_function").environment.variables;
      // What Terraform makes of the escaped text is the original.
      const applied = fillTemplate(vars[ENV.configJson], {} as never);
      assert.equal(JSON.parse(applied).processor.env.TOKEN, "${x}%{y}");
    });

    it("skips the fast path without a group name when scaling.fastPath is off", () => {
      const vars = apiOf({ scaling: { fastPath: false } }).synth.resource("aws_lambda_function").environment.variables;
      assert.equal(vars[ENV.group], undefined);
    });

    it("logs to its own group with retention, created before the function", () => {
      const group = synth.resource("aws_cloudwatch_log_group");
      assert.deepEqual([group.name, group.retention_in_days], ["/aws/lambda/spotq-api", 14]);
      assert.equal(fn.logging_config.log_group, synth.ref("aws_cloudwatch_log_group", "", "name"));
      assert.ok((fn.depends_on as string[]).includes(`aws_cloudwatch_log_group.${synth.nameOf("aws_cloudwatch_log_group")}`));
      assert.ok((fn.depends_on as string[]).includes(`aws_iam_role_policy.${synth.nameOf("aws_iam_role_policy", "role-policy")}`));
      assert.ok((fn.depends_on as string[]).includes(`aws_iam_role_policy.${synth.nameOf("aws_iam_role_policy", "console-policy")}`));
    });

    it("names the missing bundle", () => {
      const empty = mkdtempSync(join(tmpdir(), "spotq-nolambda-"));
      assert.throws(() => apiOf({}, empty), /lambdaBundleDir: .* holds no index\.mjs: bundle api\/lambda\.ts first/);
    });

    it("refuses a config too large for Lambda's 4 KB environment, saying what to shorten", () => {
      const env = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`VARIABLE_${i}`, "x".repeat(40)]));
      assert.throws(() => apiOf({ processor: { env } }), /Lambda allows 4096 bytes of environment .*shorten processor\.env/);
    });
  });

  describe("API Gateway", () => {
    it("serves POST/GET /jobs, GET/DELETE /jobs/{id} and the console's routes through one Lambda proxy integration", () => {
      assert.deepEqual(Object.keys(routes(synth)).sort(), [
        "DELETE /jobs/{id}",
        "GET /console",
        "GET /console/{proxy+}",
        "GET /fleet",
        "GET /jobs",
        "GET /jobs/{id}",
        "GET /jobs/{id}/logs",
        "POST /jobs",
        "POST /jobs/{id}/redrive",
      ]);
      const integrations = Object.values(synth.resources("aws_api_gateway_integration"));
      assert.equal(integrations.length, API_ROUTES.length + CONSOLE_PAGE_ROUTES.length);
      for (const i of integrations) {
        assert.equal(i.type, "AWS_PROXY");
        assert.equal(i.integration_http_method, "POST");
        assert.equal(i.uri, synth.ref("aws_lambda_function", "", "invoke_arn"));
      }
      assert.deepEqual(synth.resource("aws_api_gateway_rest_api").endpoint_configuration, { types: ["REGIONAL"] });
    });

    it("requires an API key on every route by default, but the console's page (which holds no data)", () => {
      for (const [route, m] of Object.entries(routes(synth))) {
        assert.equal(m.api_key_required, !route.startsWith("GET /console"), route);
        assert.equal(m.authorization, "NONE", route);
      }
    });

    it("binds the key to a usage plan with the configured throttle and daily quota on the stage", () => {
      const plan = synth.resource("aws_api_gateway_usage_plan");
      assert.deepEqual(plan.throttle_settings, { rate_limit: 15, burst_limit: 30 });
      assert.deepEqual(plan.quota_settings, { limit: 5000, period: "DAY" });
      assert.deepEqual(plan.api_stages, [{ api_id: synth.ref("aws_api_gateway_rest_api", "", "id"), stage: synth.ref("aws_api_gateway_stage", "", "stage_name") }]);
      const key = synth.resource("aws_api_gateway_usage_plan_key");
      assert.equal(key.key_id, synth.ref("aws_api_gateway_api_key", "", "id"));
      assert.equal(key.usage_plan_id, synth.ref("aws_api_gateway_usage_plan", "", "id"));
      assert.equal(synth.resource("aws_api_gateway_api_key").enabled, true);
    });

    it("throttles the whole stage in either auth mode", () => {
      for (const s of [synth, apiOf({ api: { auth: "iam", throttleRateLimit: 15, throttleBurstLimit: 30 } }).synth]) {
        const settings = s.resource("aws_api_gateway_method_settings");
        assert.equal(settings.method_path, "*/*");
        assert.deepEqual(settings.settings, { throttling_rate_limit: 15, throttling_burst_limit: 30 });
      }
    });

    it("uses IAM (SigV4) instead, without keys or a usage plan, when the config says so", () => {
      const iam = apiOf({ api: { auth: "iam" } });
      for (const [route, m] of Object.entries(routes(iam.synth))) {
        assert.equal(m.authorization, route.startsWith("GET /console") ? "NONE" : "AWS_IAM", route);
        assert.equal(m.api_key_required, false, route);
      }
      assert.deepEqual(Object.keys(iam.synth.resources("aws_api_gateway_api_key")), []);
      assert.deepEqual(Object.keys(iam.synth.resources("aws_api_gateway_usage_plan")), []);
      assert.equal(iam.api.apiKey, undefined);
      const redeploy = (s: Synth) => s.resource("aws_api_gateway_deployment").triggers.redeployment;
      assert.notEqual(redeploy(iam.synth), redeploy(synth), "switching auth deploys the API again");
    });

    it("lets only this API invoke the Lambda", () => {
      const permission = synth.resource("aws_lambda_permission");
      assert.equal(permission.principal, "apigateway.amazonaws.com");
      assert.equal(permission.source_arn, `${synth.ref("aws_api_gateway_rest_api", "", "execution_arn")}/*/*/*`);
      assert.equal(permission.function_name, synth.ref("aws_lambda_function", "", "function_name"));
    });

    it("deploys to the v1 stage after every route exists", () => {
      const deployment = synth.resource("aws_api_gateway_deployment");
      assert.equal((deployment.depends_on as string[]).length, 2 * (API_ROUTES.length + CONSOLE_PAGE_ROUTES.length));
      assert.deepEqual(deployment.lifecycle, { create_before_destroy: true });
      assert.equal(synth.resource("aws_api_gateway_stage").stage_name, "v1");
    });
  });

  describe("tenants (api.tenants)", () => {
    const tenants = [
      { name: "lab-a", apiKey: "labAkey0123456789abcdefXYZ", prefixes: ["labs/a/"], quotaPerDay: 200, throttleRateLimit: 3, throttleBurstLimit: 6 },
      { name: "lab-b", prefixes: ["labs/b/"] },
      { name: "lab-c", apiKey: "labCkey0123456789abcdefXYZ", prefixes: ["labs/c/"] },
    ];
    const { synth: t, api } = apiOf({ api: { tenants, throttleRateLimit: 15, throttleBurstLimit: 30, quotaPerDay: 5000 } });

    it("gives each tenant one API key, one usage plan of its own on the stage, and one plan key binding them; no default key", () => {
      const keys = t.resources("aws_api_gateway_api_key");
      const plans = t.resources("aws_api_gateway_usage_plan");
      const planKeys = Object.values(t.resources("aws_api_gateway_usage_plan_key"));
      assert.deepEqual(Object.values(keys).map((k) => k.name).sort(), ["spotq-lab-a", "spotq-lab-b", "spotq-lab-c"]);
      assert.deepEqual(Object.values(plans).map((p) => p.name).sort(), ["spotq-lab-a", "spotq-lab-b", "spotq-lab-c"]);
      assert.equal(planKeys.length, 3);
      assert.equal(api.apiKey, undefined);
      assert.deepEqual(Object.keys(api.tenantKeys).sort(), ["lab-a", "lab-b", "lab-c"]);
      for (const tenant of tenants) {
        const keyName = Object.entries(keys).find(([, k]) => k.name === `spotq-${tenant.name}`)![0];
        const planName = Object.entries(plans).find(([, p]) => p.name === `spotq-${tenant.name}`)![0];
        const bindings = planKeys.filter((b) => b.key_id === `\${aws_api_gateway_api_key.${keyName}.id}`);
        assert.equal(bindings.length, 1, `${tenant.name}: its key is in one plan`);
        assert.equal(bindings[0]!.usage_plan_id, `\${aws_api_gateway_usage_plan.${planName}.id}`, `${tenant.name}: its own plan`);
        assert.equal(bindings[0]!.key_type, "API_KEY");
        assert.deepEqual(plans[planName]!.api_stages, [{ api_id: t.ref("aws_api_gateway_rest_api", "", "id"), stage: t.ref("aws_api_gateway_stage", "", "stage_name") }]);
      }
    });

    it("takes a tenant's key value from the config, or lets API Gateway generate it", () => {
      const byName = Object.fromEntries(Object.values(t.resources("aws_api_gateway_api_key")).map((k) => [k.name, k]));
      assert.equal(byName["spotq-lab-a"]!.value, "labAkey0123456789abcdefXYZ");
      assert.equal(byName["spotq-lab-b"]!.value, undefined);
    });

    it("applies each tenant's throttle and quota, the api.* values otherwise", () => {
      const byName = Object.fromEntries(Object.values(t.resources("aws_api_gateway_usage_plan")).map((p) => [p.name, p]));
      assert.deepEqual([byName["spotq-lab-a"]!.throttle_settings, byName["spotq-lab-a"]!.quota_settings], [{ rate_limit: 3, burst_limit: 6 }, { limit: 200, period: "DAY" }]);
      assert.deepEqual([byName["spotq-lab-b"]!.throttle_settings, byName["spotq-lab-b"]!.quota_settings], [{ rate_limit: 15, burst_limit: 30 }, { limit: 5000, period: "DAY" }]);
    });

    it("gives the Lambda the key id → tenant map from the keys it creates, and no key value at all", () => {
      const f = t.resource("aws_lambda_function");
      const vars = f.environment.variables as Record<string, string>;
      const keyRef = (tenant: string) => `aws_api_gateway_api_key.${Object.entries(t.resources("aws_api_gateway_api_key")).find(([, k]) => k.name === `spotq-${tenant}`)![0]}.id`;
      assert.equal(vars[ENV.tenantKeyIds], `\${jsonencode(zipmap([${["lab-a", "lab-b", "lab-c"].map(keyRef).join(", ")}], ["lab-a", "lab-b", "lab-c"]))}`);
      const config = JSON.parse(vars[ENV.configJson]!);
      assert.deepEqual(config.api.tenants.map((x: { name: string; apiKey?: string }) => [x.name, x.apiKey]), [["lab-a", undefined], ["lab-b", undefined], ["lab-c", undefined]]);
      assert.deepEqual(config.api.tenants[0].prefixes, ["labs/a/"], "the rest of the tenant is there");
      const text = JSON.stringify(f);
      for (const k of ["labAkey0123456789abcdefXYZ", "labCkey0123456789abcdefXYZ"]) assert.ok(!text.includes(k), "no key value in the function");
    });

    it("the S3 and Kafka trigger functions compose on Lambda from the environment infra gives them, without the API's key id map", () => {
      // They deploy the API's bundle with another handler; only the HTTP API maps key ids to tenants.
      const stack = synthStack(
        testConfig({ api: { tenants }, triggers: { s3: { enabled: true }, kafka: { mskClusterArn: "arn:aws:kafka:us-east-1:123456789012:cluster/scans/0a1b2c3d-4e5f-6789-abcd-ef0123456789-1", topic: "scans" } } }),
      );
      const resolver = new ReferenceResolver(stack);
      for (const name of ["s3-function", "kafka-function"]) {
        const f = stack.resource("aws_lambda_function", name);
        const vars = f.environment.variables as Record<string, string>;
        assert.equal(vars[ENV.tenantKeyIds], undefined, name);
        const env = { ...Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, k === ENV.configJson ? v : resolver.resolve(v)])), AWS_LAMBDA_FUNCTION_NAME: `spotq-${name}`, AWS_REGION: "us-east-1", _HANDLER: f.handler };
        const deps = triggerDepsFromEnv(env, undefined, silentLog);
        assert.deepEqual(deps.config.api.tenants.map((x) => x.name), ["lab-a", "lab-b", "lab-c"], name);
        // The bundle's entry loads under the trigger's handler (the API is built on first use only),
        // and under the API's own handler fails at init, naming the variable the API needs.
        const load = (handler: string) =>
          spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", `await import(${JSON.stringify(pathToFileURL(join(REPO, "api", "lambda.ts")).href)});`], {
            env: { PATH: process.env.PATH ?? "", ...env, _HANDLER: handler },
            encoding: "utf8",
            cwd: REPO,
            timeout: 60_000,
          });
        const asTrigger = load(String(f.handler));
        assert.equal(asTrigger.status, 0, `${name}: ${asTrigger.stderr}`);
        if (name === "s3-function") assert.match(load("index.handler").stderr, /SPOTQ_TENANT_KEY_IDS is required/);
      }
    });

    it("in the whole stack, a key value appears in its API Gateway key and nowhere else (no Lambda, trigger or worker config)", () => {
      const stack = synthStack(testConfig({ api: { tenants }, triggers: { s3: { enabled: true } } }));
      const where: string[] = [];
      for (const [type, byName] of Object.entries(stack.tf.resource as Record<string, Record<string, unknown>>))
        for (const [name, r] of Object.entries(byName)) if (JSON.stringify(r).includes("labAkey0123456789abcdef")) where.push(`${type}.${name}`);
      assert.equal(where.length, 1, where.join(", "));
      assert.match(where[0]!, /^aws_api_gateway_api_key\./);
      const outputs = (stack.tf as { output?: Record<string, { value: Record<string, string> }> }).output ?? {};
      assert.ok(outputs.tenant_api_key_ids, "the stack outputs each tenant's key id");
      assert.deepEqual(Object.keys(outputs.tenant_api_key_ids.value).sort(), ["lab-a", "lab-b", "lab-c"]);
    });

    it("with IAM auth maps principals through the config: no keys, no plans, no key id map", () => {
      const iam = apiOf({ api: { auth: "iam", tenants: [{ name: "lab-a", prefixes: ["labs/a/"], principals: ["arn:aws:iam::123456789012:user/alice"] }] } }).synth;
      assert.deepEqual(Object.keys(iam.resources("aws_api_gateway_api_key")), []);
      assert.deepEqual(Object.keys(iam.resources("aws_api_gateway_usage_plan")), []);
      const vars = iam.resource("aws_lambda_function").environment.variables as Record<string, string>;
      assert.equal(vars[ENV.tenantKeyIds], undefined);
      assert.deepEqual(JSON.parse(vars[ENV.configJson]!).api.tenants[0].principals, ["arn:aws:iam::123456789012:user/alice"]);
    });
  });
});
