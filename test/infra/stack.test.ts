import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { maxReceiveCount, type FleetConfig } from "../../core/fleet-config.ts";
import { scalingSpec } from "../../core/scaling/model.ts";
import { GROUP_TAG } from "../../core/names.ts";
import { ENV } from "../../core/runtime.ts";
import { BUNDLE_FILES, bundleEntries, CONSOLE_ASSETS, type Bundles } from "../../infra/bundling.ts";
import { loadDeployConfig } from "../../infra/deploy-config.ts";
import { App } from "../../infra/cdktf.ts";
import { SpotqStack, TERRAFORM_REQUIRED_VERSION } from "../../infra/stacks/spotq-stack.ts";
import { ReferenceResolver } from "./support/iam.ts";
import { Synth, synthStack, testConfig } from "./support/synth.ts";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));
const exampleFile = join(projectRoot, "spotq.config.example.json");

/** File names in a zip archive, from its central directory. */
function zipEntries(zip: Buffer): string[] {
  const names: string[] = [];
  for (let i = zip.indexOf("PK\u0001\u0002"); i >= 0; i = zip.indexOf("PK\u0001\u0002", i + 4)) {
    const nameLength = zip.readUInt16LE(i + 28);
    names.push(zip.toString("utf8", i + 46, i + 46 + nameLength));
  }
  return names;
}

describe("infra: the whole stack, from the example config and the real bundles", function () {
  this.timeout(120_000);
  let config: FleetConfig;
  let bundles: Bundles;
  let synth: Synth;
  let outdir: string;
  let stackDir: string;

  before(() => {
    config = loadDeployConfig(exampleFile);
    // The real entries (api/lambda.ts, worker/main.ts), bundled as `cdktf deploy` would.
    bundles = bundleEntries(projectRoot, mkdtempSync(join(tmpdir(), "spotq-bundles-")));
    synth = synthStack(config, bundles);
    outdir = mkdtempSync(join(tmpdir(), "spotq-cdktf-out-"));
    // What infra/main.ts does, into a scratch folder.
    const app = new App({ outdir });
    new SpotqStack(app, config.name, { config, bundles });
    app.synth();
    stackDir = join(outdir, "stacks", config.name);
  });

  it("synthesizes the example config as shipped into <outdir>/stacks/<name>/cdk.tf.json", () => {
    const onDisk = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8"));
    assert.deepEqual(Object.keys(onDisk.resource).sort(), Object.keys(synth.tf.resource!).sort());
    assert.ok(existsSync(join(outdir, "manifest.json")));
  });

  it("has every part: storage, queue, table, fleet, scaling, API and monitoring", () => {
    const types = new Set(synth.allResources().map(([t]) => t));
    for (const t of [
      "aws_s3_bucket",
      "aws_s3_bucket_lifecycle_configuration",
      "aws_sqs_queue",
      "aws_dynamodb_table",
      "aws_launch_template",
      "aws_autoscaling_group",
      "aws_autoscaling_policy",
      "aws_cloudwatch_metric_alarm",
      "aws_lambda_function",
      "aws_api_gateway_rest_api",
      "aws_api_gateway_usage_plan",
      "aws_sns_topic",
      "aws_sns_topic_policy",
      "aws_cloudwatch_dashboard",
      "aws_autoscaling_lifecycle_hook",
      "aws_cloudwatch_event_rule",
      "aws_cloudwatch_event_target",
      "aws_lambda_permission",
      "aws_s3_bucket_versioning",
    ])
      assert.ok(types.has(t), `missing ${t}`);
    assert.deepEqual(synth.tf.provider?.aws?.[0], { region: "us-east-1", default_tags: [{ tags: { "spotq:deployment": "spotq", "managed-by": "cdktf" } }] });
  });

  it("outputs the API URL, bucket, queue URL, group name, dashboard URL and API key id", () => {
    const out = synth.tf.output!;
    for (const k of ["api_url", "bucket", "queue_url", "group_name", "dashboard_url", "api_key_id"]) assert.ok(out[k], `missing output ${k}`);
    assert.equal(out.api_url!.value, synth.ref("aws_api_gateway_stage", "", "invoke_url"));
    assert.equal(out.queue_url!.value, synth.ref("aws_sqs_queue", "jobs", "url"));
    assert.equal(out.group_name!.value, synth.ref("aws_autoscaling_group", "", "name"));
    assert.equal(out.api_key_id!.value, synth.ref("aws_api_gateway_api_key", "", "id"));
    assert.match(out.dashboard_url!.value as string, /^https:\/\/us-east-1\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=us-east-1#dashboards:name=spotq$/);
    assert.equal(synthStack(testConfig({ api: { auth: "iam" } })).tf.output!.api_key_id, undefined, "no key with IAM auth");
  });

  it("scales the fleet from zero on Spot with IMDSv2, and wires the backlog alarm to the group's policy", () => {
    const group = synth.resource("aws_autoscaling_group");
    assert.equal(group.min_size, 0);
    assert.equal(group.mixed_instances_policy.instances_distribution.spot_allocation_strategy, "price-capacity-optimized");
    assert.equal(synth.resource("aws_launch_template").metadata_options.http_tokens, "required");
    const policy = synth.resource("aws_autoscaling_policy");
    assert.equal(policy.autoscaling_group_name, synth.ref("aws_autoscaling_group", "", "name"));
    assert.equal(policy.estimated_instance_warmup, scalingSpec(config).warmupSeconds);
    const backlog = synth.resource("aws_cloudwatch_metric_alarm", "backlog");
    assert.deepEqual(backlog.alarm_actions, [synth.ref("aws_autoscaling_policy", "", "arn")]);
    // The default (deficit) alarm reads the jobs queue and the group through metric math.
    const dims = (backlog.metric_query as { metric?: { dimensions: Record<string, string> } }[]).map((q) => q.metric?.dimensions).filter(Boolean);
    assert.ok(dims.some((d) => d!.QueueName === synth.resource("aws_sqs_queue", "jobs").name), JSON.stringify(dims));
    assert.ok(dims.some((d) => d!.AutoScalingGroupName === synth.ref("aws_autoscaling_group", "", "name")), JSON.stringify(dims));
  });

  it("redrives the jobs queue into the stack's DLQ", () => {
    const redrive = JSON.parse(synth.resource("aws_sqs_queue", "jobs").redrive_policy);
    assert.deepEqual(redrive, { deadLetterTargetArn: synth.ref("aws_sqs_queue", "dlq", "arn"), maxReceiveCount: maxReceiveCount(config) });
  });

  it("encrypts everything at rest", () => {
    const sse = Object.values(synth.resources("aws_s3_bucket_server_side_encryption_configuration")).map((e) => e.bucket);
    for (const name of Object.keys(synth.resources("aws_s3_bucket"))) assert.ok(sse.includes(`\${aws_s3_bucket.${name}.id}`), `bucket ${name} has default encryption`);
    for (const [name, q] of Object.entries(synth.resources("aws_sqs_queue"))) assert.equal(q.sqs_managed_sse_enabled, true, name);
    for (const [name, t] of Object.entries(synth.resources("aws_dynamodb_table"))) assert.deepEqual(t.server_side_encryption, { enabled: true }, name);
    for (const [name, t] of Object.entries(synth.resources("aws_sns_topic"))) assert.ok(t.kms_master_key_id, name);
    for (const lt of Object.values(synth.resources("aws_launch_template")))
      for (const m of lt.block_device_mappings as { ebs: { encrypted: string } }[]) assert.equal(m.ebs.encrypted, "true");
  });

  it("refuses plain HTTP on every bucket and queue", () => {
    const tlsDenied = (policy: string) => JSON.parse(policy).Statement.some((s: Record<string, any>) => s.Effect === "Deny" && s.Condition?.Bool?.["aws:SecureTransport"] === "false");
    const bucketPolicies = Object.values(synth.resources("aws_s3_bucket_policy"));
    assert.equal(bucketPolicies.length, Object.keys(synth.resources("aws_s3_bucket")).length);
    assert.ok(bucketPolicies.every((p) => tlsDenied(p.policy)));
    const queuePolicies = Object.values(synth.resources("aws_sqs_queue_policy"));
    assert.equal(queuePolicies.length, Object.keys(synth.resources("aws_sqs_queue")).length);
    assert.ok(queuePolicies.every((p) => tlsDenied(p.policy)));
  });

  it("opens no inbound path to the fleet", () => {
    assert.deepEqual(Object.keys(synth.resources("aws_vpc_security_group_ingress_rule")), []);
    assert.deepEqual(Object.values(synth.resources("aws_security_group_rule")).filter((r) => r.type === "ingress"), []);
    for (const sg of Object.values(synth.resources("aws_security_group"))) assert.equal(sg.ingress, undefined);
    assert.equal(synth.resource("aws_launch_template").key_name, undefined, "no SSH key pair");
  });

  it("sets retention on every log group", () => {
    const groups = Object.values(synth.resources("aws_cloudwatch_log_group"));
    assert.deepEqual(groups.map((g) => g.name).sort(), ["/aws/lambda/spotq-api", "/aws/lambda/spotq-boot-breaker", "/aws/lambda/spotq-returned-jobs", "/spotq/spotq/boot", "/spotq/spotq/jobs", "/spotq/spotq/workers"]);
    for (const g of groups) assert.equal(g.retention_in_days, config.monitoring.logRetentionDays, g.name);
  });

  it("tags the group and its instances with the tag the IAM conditions check", () => {
    const group = synth.resource("aws_autoscaling_group");
    const tag = (group.tag as { key: string; value: string; propagate_at_launch: boolean }[]).find((t) => t.key === GROUP_TAG);
    assert.deepEqual(tag, { key: GROUP_TAG, value: group.name, propagate_at_launch: true });
  });

  it("gives the worker the stack's own names through its user data", () => {
    const ud = synth.resource("aws_launch_template").user_data as string;
    assert.ok(ud.includes(`"queue_url" = ${synth.ref("aws_sqs_queue", "jobs", "url").slice(2, -1)}`));
    assert.ok(ud.includes(`"dlq_url" = ${synth.ref("aws_sqs_queue", "dlq", "url").slice(2, -1)}`));
    assert.ok(ud.includes(`"table" = ${synth.ref("aws_dynamodb_table", "", "name").slice(2, -1)}`));
    assert.ok(ud.includes(`"artifacts_bucket" = ${synth.ref("aws_s3_bucket_versioning", "", "bucket").slice(2, -1)}`), "through the versioning resource");
    // Every artifact is uploaded after versioning is on, so each has a version id to be fetched by.
    for (const [name, o] of Object.entries(synth.resources("aws_s3_object"))) assert.equal(o.bucket, synth.ref("aws_s3_bucket_versioning", "", "bucket"), name);
    assert.ok(ud.includes(`"bucket" = ${synth.ref("aws_s3_bucket", "data", "bucket").slice(2, -1)}`));
  });

  it("writes the Lambda zip, the worker bundle and the user data template as assets", () => {
    const assets = join(stackDir, "assets");
    const find = (dirPrefix: string, file: string) => {
      const dir = readdirSync(assets).find((d) => d.startsWith(dirPrefix));
      assert.ok(dir, `no asset ${dirPrefix}`);
      const [hash] = readdirSync(join(assets, dir));
      return join(assets, dir, hash!, file);
    };
    const lambdaZip = zipEntries(readFileSync(find("api_code_", "archive.zip")));
    assert.deepEqual(lambdaZip.filter((e) => !e.startsWith(`${CONSOLE_ASSETS.to}/`)), [BUNDLE_FILES.lambda]);
    for (const f of ["index.html", "app.js", "console.css"]) assert.ok(lambdaZip.includes(`${CONSOLE_ASSETS.to}/${f}`), `the web console's ${f} is in the Lambda's zip`);
    assert.deepEqual(readFileSync(find("fleet_worker-bundle-file_", BUNDLE_FILES.worker)), readFileSync(join(bundles.workerDir, BUNDLE_FILES.worker)));
    const template = readFileSync(find("fleet_user-data-template_", "user-data.ps1.tpl"), "utf8");
    assert.match(template, /^<powershell>/);
    assert.match(template, /\$\{queue_url\}/);
  });

  it("the Lambda bundle answers a bad request with 400, running with the environment Terraform gives it", () => {
    const resolver = new ReferenceResolver(synth);
    const vars = synth.resource("aws_lambda_function", "api_").environment.variables as Record<string, string>;
    const env: Record<string, string> = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolver.resolve(v)]));
    // Terraform un-escapes the config's template sequences; the example has none.
    assert.deepEqual(JSON.parse(env[ENV.configJson]!), config);
    const runner = join(mkdtempSync(join(tmpdir(), "spotq-lambda-")), "invoke.mjs");
    const event = {
      resource: "/jobs",
      path: "/jobs",
      httpMethod: "POST",
      headers: { "content-type": "application/json", "x-api-key": "k" },
      multiValueHeaders: { "content-type": ["application/json"], "x-api-key": ["k"] },
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      requestContext: { resourcePath: "/jobs", httpMethod: "POST", path: "/v1/jobs", stage: "v1", requestId: "r-1", accountId: "111122223333", apiId: "abc123", identity: { sourceIp: "203.0.113.9" } },
      body: JSON.stringify({ "Source Folder Path": "http://not-s3/x", "Target Folder Path": "s3://x" }),
      isBase64Encoded: false,
    };
    writeFileSync(
      runner,
      `const { handler } = await import(${JSON.stringify(pathToFileURL(join(bundles.lambdaDir, BUNDLE_FILES.lambda)).href)});\n` +
        `const r = await handler(${JSON.stringify(event)}, { awsRequestId: "r-1", functionName: "spotq-api", getRemainingTimeInMillis: () => 29000 });\n` +
        `process.stdout.write(JSON.stringify(r));\n`,
    );
    const r = spawnSync(process.execPath, [runner], {
      env: { PATH: process.env.PATH ?? "", AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", SPOTQ_LOG_LEVEL: "silent", ...env },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const response = JSON.parse(r.stdout) as { statusCode: number; body: string };
    assert.equal(response.statusCode, 400, response.body);
    assert.match(response.body, /Source Folder Path/);
  });

  it("every alarm outside the scaling policy has the threshold and comparison it was designed with", () => {
    const b = config.fleet.bootBreaker;
    const expected: Record<string, [number, string]> = {
      "spotq-dlq-not-empty": [1, "GreaterThanOrEqualToThreshold"],
      "spotq-oldest-job-age": [config.monitoring.oldestMessageAlarmSeconds, "GreaterThanThreshold"],
      "spotq-jobs-failed": [1, "GreaterThanOrEqualToThreshold"],
      "spotq-api-errors": [1, "GreaterThanOrEqualToThreshold"],
      "spotq-api-5xx": [1, "GreaterThanOrEqualToThreshold"],
      "spotq-bootstrap-failed": [1, "GreaterThanOrEqualToThreshold"],
      "spotq-worker-crash-loop": [1, "GreaterThanOrEqualToThreshold"],
      "spotq-boot-breaker": [b.failures, "GreaterThanOrEqualToThreshold"],
    };
    const alarms = Object.entries(synth.resources("aws_cloudwatch_metric_alarm")).filter(([name]) => !name.startsWith("scaling_"));
    assert.deepEqual(Object.fromEntries(alarms.map(([, a]) => [a.alarm_name, [a.threshold, a.comparison_operator]])), expected);
  });

  it("the boot breaker bundle loads, and ignores an alarm that returns to OK, with the environment Terraform gives it", () => {
    const resolver = new ReferenceResolver(synth);
    const vars = synth.resource("aws_lambda_function", "boot-breaker").environment.variables as Record<string, string>;
    const env: Record<string, string> = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolver.resolve(v)]));
    const runner = join(mkdtempSync(join(tmpdir(), "spotq-breaker-")), "invoke.mjs");
    const event = { alarmData: { alarmName: "spotq-boot-breaker", state: { value: "OK", reason: "back to normal" } } };
    writeFileSync(
      runner,
      `const { handler } = await import(${JSON.stringify(pathToFileURL(join(bundles.breakerDir, BUNDLE_FILES.breaker)).href)});\n` +
        `process.stdout.write(JSON.stringify(await handler(${JSON.stringify(event)})));\n`,
    );
    const r = spawnSync(process.execPath, [runner], { env: { PATH: process.env.PATH ?? "", AWS_REGION: "us-east-1", ...env }, encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    // The handler logs its outcome (to CloudWatch in Lambda), then the runner prints what it returned.
    assert.match(r.stdout, /"alarm":"spotq-boot-breaker"/);
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1)!), { tripped: false, why: "the alarm is OK, not ALARM" });
  });

  it("the returned-jobs function runs the real bundle with the environment Terraform gives it, and resolves when SQS is unreachable", () => {
    const resolver = new ReferenceResolver(synth);
    const fn = synth.resource("aws_lambda_function", "returned-jobs");
    const vars = fn.environment.variables as Record<string, string>;
    const env: Record<string, string> = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolver.resolve(v)]));
    const exported = String(fn.handler).replace(/^index\./, "");
    const at = (group: string) => ({ source: "aws.autoscaling", "detail-type": "EC2 Instance Terminate Successful", detail: { AutoScalingGroupName: group, EC2InstanceId: "i-0123456789abcdef0" } });
    const runner = join(mkdtempSync(join(tmpdir(), "spotq-returned-jobs-")), "invoke.mjs");
    writeFileSync(
      runner,
      `const { ${exported}: handler } = await import(${JSON.stringify(pathToFileURL(join(bundles.lambdaDir, BUNDLE_FILES.lambda)).href)});\n` +
        `const out = [await handler(${JSON.stringify(at("web-servers"))}), await handler(${JSON.stringify(at(vars[ENV.group]!))})];\n` +
        `process.stdout.write("RESULT " + JSON.stringify(out) + "\\n");\n`,
    );
    // Nothing listens on port 9: the queue depth cannot be read.
    const r = spawnSync(process.execPath, [runner], {
      env: { PATH: process.env.PATH ?? "", AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_LAMBDA_FUNCTION_NAME: "spotq-returned-jobs", _HANDLER: String(fn.handler), SPOTQ_ENDPOINT_SQS: "http://127.0.0.1:9", SPOTQ_ENDPOINT_AUTOSCALING: "http://127.0.0.1:9", ...env },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const [other, own] = JSON.parse(r.stdout.split("\n").find((l) => l.startsWith("RESULT "))!.slice(7));
    assert.deepEqual([other.action, own.action, own.group, own.failed], ["ignored", "covered", "spotq-workers", true]);
    assert.match(own.reason, /queue depth unknown/);
    // One JSON line per event in the function's log.
    assert.deepEqual(r.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l).event), ["returned jobs: nothing to do", "returned jobs: fast path failed; the queue-depth alarms will scale the fleet"]);
  });

  it("the worker bundle is a module Node.js can load", () => {
    const r = spawnSync(process.execPath, ["--check", join(bundles.workerDir, BUNDLE_FILES.worker)], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  });

  it("requires the Terraform version its state locking needs", () => {
    assert.equal(synth.tf.terraform?.required_version, TERRAFORM_REQUIRED_VERSION);
    assert.equal(TERRAFORM_REQUIRED_VERSION, ">= 1.10.0");
    const onDisk = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8"));
    assert.equal(onDisk.terraform.required_version, ">= 1.10.0");
  });

  it("keeps its state in S3, locked, when the config names a state bucket", () => {
    const remote = synthStack(testConfig({ state: { bucket: "acme-tfstate" } }));
    assert.deepEqual(remote.tf.terraform?.backend, {
      s3: { bucket: "acme-tfstate", key: "spotq/spotq/terraform.tfstate", region: "us-east-1", encrypt: true, use_lockfile: true },
    });
    const onDisk = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8"));
    assert.deepEqual(Object.keys(onDisk.terraform.backend), ["local"], "a local state file without one");
  });

  it("bundling names a missing entry", () => {
    const empty = mkdtempSync(join(tmpdir(), "spotq-noentries-"));
    assert.throws(() => bundleEntries(empty, join(empty, "out")), /cannot bundle the API Lambda \(exports handler\): its entry api\/lambda\.ts does not exist/);
  });
});
