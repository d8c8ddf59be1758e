import assert from "node:assert/strict";
import { assertAllowed, assertDenied, GROUP_ID, ReferenceResolver, rolePolicies, type Policy, type Request } from "./support/iam.ts";
import { ACCOUNT, synthStack, testConfig, type Synth } from "./support/synth.ts";
import { WORKER_LOG_ACTIONS } from "../../infra/constructs/worker-policy.ts";

const R = `us-east-1:${ACCOUNT}`;
const DATA = `arn:aws:s3:::spotq-data-${ACCOUNT}`;
const ARTIFACTS = `arn:aws:s3:::spotq-artifacts-${ACCOUNT}-us-east-1`;
const OTHER_BUCKET = "arn:aws:s3:::someone-elses-bucket";
const JOBS = `arn:aws:sqs:${R}:spotq-jobs`;
const DLQ = `arn:aws:sqs:${R}:spotq-jobs-dlq`;
const OTHER_QUEUE = `arn:aws:sqs:${R}:billing-events`;
const TABLE = `arn:aws:dynamodb:${R}:table/spotq-jobs`;
const OTHER_TABLE = `arn:aws:dynamodb:${R}:table/customers`;
const GROUP = `arn:aws:autoscaling:${R}:autoScalingGroup:${GROUP_ID}:autoScalingGroupName/spotq-workers`;
const OTHER_GROUP = `arn:aws:autoscaling:${R}:autoScalingGroup:0a1b2c3d-0000-4000-8000-000000000000:autoScalingGroupName/web-servers`;
const ownGroup = { "autoscaling:ResourceTag/spotq:group": "spotq-workers" };
const otherGroup = { "autoscaling:ResourceTag/spotq:group": "web-servers" };
const stream = (group: string, name: string) => `arn:aws:logs:${R}:log-group:${group}:log-stream:${name}`;

const req = (action: string, resource: string, context?: Request["context"]): Request => ({ action, resource, ...(context ? { context } : {}) });

/** The trust policy of a role: who may assume it. */
function trustOf(synth: Synth, hint: string): { Statement: { Principal: unknown; Condition?: unknown }[] } {
  return JSON.parse(new ReferenceResolver(synth).resolve(synth.resource("aws_iam_role", hint).assume_role_policy));
}

describe("infra IAM, evaluated with an IAM simulator on the synthesized policies", () => {
  const synth = synthStack(testConfig({ storage: { sourcePrefixes: ["inbox/"], targetPrefixes: ["results/"] } }));

  describe("worker role (instance profile of the fleet)", () => {
    let worker: Policy[];
    before(() => {
      worker = rolePolicies(synth, "fleet_role");
    });

    it("may be assumed by EC2 only", () => {
      assert.deepEqual(trustOf(synth, "fleet_role").Statement.map((s) => s.Principal), [{ Service: "ec2.amazonaws.com" }]);
    });

    it("reads the sources and writes the targets of its bucket", () =>
      assertAllowed(
        worker,
        req("s3:GetObject", `${DATA}/inbox/case-1/scan.dcm`),
        req("s3:ListBucket", DATA, { "s3:prefix": "inbox/case-1/" }),
        req("s3:ListBucket", DATA, { "s3:prefix": "results/case-1/" }),
        req("s3:PutObject", `${DATA}/results/case-1/mesh.stl`),
        req("s3:AbortMultipartUpload", `${DATA}/results/case-1/mesh.stl`),
        req("s3:ListMultipartUploadParts", `${DATA}/results/case-1/mesh.stl`),
      ));

    it("does not overwrite sources, read other folders, delete anything, or touch another bucket", () =>
      assertDenied(
        worker,
        req("s3:PutObject", `${DATA}/inbox/case-1/scan.dcm`),
        req("s3:GetObject", `${DATA}/private/payroll.csv`),
        req("s3:ListBucket", DATA, { "s3:prefix": "private/" }),
        req("s3:ListBucket", DATA),
        req("s3:DeleteObject", `${DATA}/results/case-1/mesh.stl`),
        req("s3:GetObject", `${OTHER_BUCKET}/inbox/a`),
        req("s3:PutObject", `${OTHER_BUCKET}/results/a`),
        req("s3:ListBucket", OTHER_BUCKET, { "s3:prefix": "inbox/" }),
        req("s3:PutBucketPolicy", DATA),
      ));

    it("works its own queue and dead-letters into its own DLQ", () =>
      assertAllowed(
        worker,
        ...["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:SendMessage"].map((a) => req(a, JOBS)),
        req("sqs:SendMessage", DLQ),
      ));

    it("is denied another queue, and cannot purge or delete its own", () =>
      assertDenied(
        worker,
        req("sqs:ReceiveMessage", OTHER_QUEUE),
        req("sqs:SendMessage", OTHER_QUEUE),
        req("sqs:PurgeQueue", JOBS),
        req("sqs:DeleteQueue", JOBS),
        req("sqs:ReceiveMessage", DLQ),
      ));

    it("reads and writes job records in its own table only", async () => {
      await assertAllowed(
        worker,
        ...["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"].map((a) => req(a, TABLE)),
        req("dynamodb:Query", `${TABLE}/index/byState`),
      );
      await assertDenied(worker, req("dynamodb:DeleteItem", TABLE), req("dynamodb:Scan", TABLE), req("dynamodb:DeleteTable", TABLE), req("dynamodb:GetItem", OTHER_TABLE));
    });

    it("fetches its artifacts, at the version its launch template names, but cannot replace or delete them", async () => {
      await assertAllowed(worker, req("s3:GetObject", `${ARTIFACTS}/worker/worker.mjs`), req("s3:GetObjectVersion", `${ARTIFACTS}/worker/worker.mjs`));
      await assertDenied(
        worker,
        req("s3:PutObject", `${ARTIFACTS}/worker/worker.mjs`),
        req("s3:DeleteObjectVersion", `${ARTIFACTS}/worker/worker.mjs`),
        req("s3:GetObjectVersion", `${OTHER_BUCKET}/worker/worker.mjs`),
      );
    });

    it("writes its logs, its boot evidence and its spotq metrics, nothing else", async () => {
      await assertAllowed(
        worker,
        req("logs:CreateLogStream", stream("/spotq/spotq/jobs", "01JOB/1")),
        req("logs:PutLogEvents", stream("/spotq/spotq/jobs", "01JOB/1")),
        req("logs:PutLogEvents", stream("/spotq/spotq/workers", "i-0123456789abcdef0")),
        req("logs:CreateLogStream", stream("/spotq/spotq/boot", "i-0123456789abcdef0")),
        req("logs:PutLogEvents", stream("/spotq/spotq/boot", "i-0123456789abcdef0/service")),
        req("cloudwatch:PutMetricData", "*", { "cloudwatch:namespace": "spotq" }),
      );
      await assertDenied(
        worker,
        req("logs:PutLogEvents", stream("/aws/lambda/billing", "x")),
        req("logs:DeleteLogGroup", `arn:aws:logs:${R}:log-group:/spotq/spotq/jobs`),
        req("cloudwatch:PutMetricData", "*", { "cloudwatch:namespace": "AWS/EC2" }),
        req("logs:GetLogEvents", stream("/spotq/spotq/boot", "i-0123456789abcdef0")),
        req("logs:DeleteLogStream", stream("/spotq/spotq/boot", "i-0123456789abcdef0")),
        req("logs:PutRetentionPolicy", `arn:aws:logs:${R}:log-group:/spotq/spotq/boot`),
        req("logs:CreateLogGroup", `arn:aws:logs:${R}:log-group:/spotq/spotq/other`),
      );
    });

    it("is granted exactly the allowlisted CloudWatch Logs actions, with no wildcard (a widening to logs:* fails here)", () => {
      const granted = worker.flatMap((p) => p.Statement as { Effect: string; Action: string | string[] }[]).filter((st) => st.Effect === "Allow").flatMap((st) => [st.Action].flat());
      const logActions = granted.filter((a) => a.toLowerCase().startsWith("logs:") || a === "*");
      assert.deepEqual([...new Set(logActions)].sort(), [...WORKER_LOG_ACTIONS].sort());
      assert.deepEqual([...WORKER_LOG_ACTIONS].sort(), ["logs:CreateLogStream", "logs:PutLogEvents"]);
      assert.ok(granted.every((a) => !a.includes("*")), `no wildcard actions: ${granted.filter((a) => a.includes("*"))}`);
    });

    it("protects, terminates, marks unhealthy and completes lifecycle actions of instances of its own group only", async () => {
      await assertAllowed(
        worker,
        req("autoscaling:SetInstanceProtection", GROUP, ownGroup),
        req("autoscaling:TerminateInstanceInAutoScalingGroup", GROUP, ownGroup),
        req("autoscaling:CompleteLifecycleAction", GROUP, ownGroup),
        req("autoscaling:RecordLifecycleActionHeartbeat", GROUP, ownGroup),
        req("autoscaling:SetInstanceHealth", GROUP, ownGroup),
        req("autoscaling:DescribeAutoScalingGroups", "*"),
        req("autoscaling:DescribeAutoScalingInstances", "*"),
      );
      await assertDenied(
        worker,
        ...["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth"].flatMap((a) => [
          req(a, OTHER_GROUP, otherGroup),
          req(a, GROUP, otherGroup),
        ]),
        req("autoscaling:SuspendProcesses", GROUP, ownGroup),
        req("autoscaling:ResumeProcesses", GROUP, ownGroup),
        req("autoscaling:CreateOrUpdateTags", GROUP, ownGroup),
        req("autoscaling:PutLifecycleHook", GROUP, ownGroup),
        req("autoscaling:DeleteLifecycleHook", GROUP, ownGroup),
      );
      await assertDenied(
        worker,
        req("autoscaling:TerminateInstanceInAutoScalingGroup", OTHER_GROUP, otherGroup),
        req("autoscaling:SetInstanceProtection", OTHER_GROUP, otherGroup),
        // A group of the same name that lost its tag is not ours either.
        req("autoscaling:TerminateInstanceInAutoScalingGroup", GROUP, otherGroup),
        req("autoscaling:SetDesiredCapacity", GROUP, ownGroup),
        req("autoscaling:UpdateAutoScalingGroup", GROUP, ownGroup),
        req("ec2:TerminateInstances", `arn:aws:ec2:${R}:instance/i-0123456789abcdef0`),
      );
    });

    it("has no IAM or STS power", () =>
      assertDenied(
        worker,
        req("iam:CreateUser", `arn:aws:iam::${ACCOUNT}:user/mallory`),
        req("iam:PassRole", `arn:aws:iam::${ACCOUNT}:role/spotq-worker`),
        req("iam:PutRolePolicy", `arn:aws:iam::${ACCOUNT}:role/spotq-worker`),
        req("iam:AttachRolePolicy", `arn:aws:iam::${ACCOUNT}:role/spotq-worker`),
        req("sts:AssumeRole", `arn:aws:iam::${ACCOUNT}:role/admin`),
      ));
  });

  describe("worker role options: the auto-logon password and Session Manager", () => {
    const PARAM = `arn:aws:ssm:${R}:parameter/spotq/medit-password`;
    const sessionActions = ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"];

    it("reads the auto-logon password parameter only in an interactive session, and no other parameter", async () => {
      const interactive = rolePolicies(
        synthStack(testConfig({ processor: { session: "interactive", autoLogon: { user: "medit", passwordParameter: "/spotq/medit-password" } } })),
        "fleet_role",
      );
      await assertAllowed(interactive, req("ssm:GetParameters", PARAM), req("ssm:GetParameter", PARAM));
      await assertDenied(interactive, req("ssm:GetParameters", `arn:aws:ssm:${R}:parameter/prod/db-password`), req("ssm:PutParameter", PARAM), ...sessionActions.map((a) => req(a, "*")));
      await assertDenied(rolePolicies(synth, "fleet_role"), req("ssm:GetParameters", PARAM));
    });

    it("takes Session Manager sessions only when fleet.sessionManager is on", async () => {
      await assertDenied(rolePolicies(synth, "fleet_role"), ...sessionActions.map((a) => req(a, "*")));
      const withShell = rolePolicies(synthStack(testConfig({ fleet: { sessionManager: true } })), "fleet_role");
      await assertAllowed(withShell, ...sessionActions.map((a) => req(a, "*")));
      await assertDenied(withShell, req("ssm:SendCommand", `arn:aws:ec2:${R}:instance/i-0123456789abcdef0`), req("ssm:GetParameters", PARAM));
    });
  });

  describe("API role (the Lambda's)", () => {
    let api: Policy[];
    before(() => {
      api = rolePolicies(synth, "api_role");
    });

    it("may be assumed by Lambda of this account only", () => {
      const [s] = trustOf(synth, "api_role").Statement;
      assert.deepEqual(s!.Principal, { Service: "lambda.amazonaws.com" });
      assert.deepEqual(s!.Condition, { StringEquals: { "aws:SourceAccount": ACCOUNT } });
    });

    it("does what the API does: records, enqueue, source listing, the fast path, its logs", () =>
      assertAllowed(
        api,
        ...["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"].map((a) => req(a, TABLE)),
        ...["jobsByTime", "jobsByState", "tenantJobsByTime", "tenantJobsByState"].map((i) => req("dynamodb:Query", `${TABLE}/index/${i}`)),
        req("sqs:SendMessage", JOBS),
        req("sqs:GetQueueAttributes", JOBS),
        req("s3:ListBucket", DATA, { "s3:prefix": "inbox/case-1/" }),
        req("autoscaling:SetDesiredCapacity", GROUP, ownGroup),
        req("autoscaling:DescribeAutoScalingGroups", "*"),
        req("logs:PutLogEvents", stream("/aws/lambda/spotq-api", "2025/01/01/[$LATEST]abc")),
      ));

    it("and nothing more: no object data, no consuming the queue, no other group, no IAM", () =>
      assertDenied(
        api,
        req("s3:GetObject", `${DATA}/inbox/case-1/scan.dcm`),
        req("s3:PutObject", `${DATA}/results/case-1/x`),
        req("s3:ListBucket", DATA, { "s3:prefix": "results/" }),
        req("s3:ListBucket", OTHER_BUCKET, { "s3:prefix": "inbox/" }),
        req("sqs:ReceiveMessage", JOBS),
        req("sqs:DeleteMessage", JOBS),
        req("sqs:SendMessage", DLQ),
        req("sqs:SendMessage", OTHER_QUEUE),
        req("dynamodb:Scan", TABLE),
        req("dynamodb:Query", TABLE),
        req("dynamodb:Query", `${TABLE}/index/someOtherIndex`),
        req("dynamodb:BatchWriteItem", TABLE),
        req("dynamodb:GetItem", OTHER_TABLE),
        req("dynamodb:BatchGetItem", OTHER_TABLE),
        req("autoscaling:SetDesiredCapacity", OTHER_GROUP, otherGroup),
        req("autoscaling:TerminateInstanceInAutoScalingGroup", GROUP, ownGroup),
        req("autoscaling:UpdateAutoScalingGroup", GROUP, ownGroup),
        req("logs:PutLogEvents", stream("/spotq/spotq/jobs", "01JOB/1")),
        req("iam:CreateUser", `arn:aws:iam::${ACCOUNT}:user/mallory`),
        req("iam:PassRole", `arn:aws:iam::${ACCOUNT}:role/spotq-worker`),
        req("lambda:UpdateFunctionCode", `arn:aws:lambda:${R}:function:spotq-api`),
      ));

    it("cannot change the group when the fast path is off (the console still describes it)", async () => {
      const off = synthStack(testConfig({ scaling: { fastPath: false } }));
      await assertDenied(rolePolicies(off, "api_role"), req("autoscaling:SetDesiredCapacity", GROUP, ownGroup));
    });
  });

  describe("with whole-bucket defaults (no source or target prefixes)", () => {
    const whole = synthStack(testConfig());

    it("the worker reads and writes anywhere in its bucket, and still nowhere else", async () => {
      const worker = rolePolicies(whole, "fleet_role");
      await assertAllowed(worker, req("s3:GetObject", `${DATA}/any/where.bin`), req("s3:PutObject", `${DATA}/any/where.out`), req("s3:ListBucket", DATA, { "s3:prefix": "any/" }));
      await assertDenied(worker, req("s3:GetObject", `${OTHER_BUCKET}/any/where.bin`), req("s3:DeleteObject", `${DATA}/any/where.bin`));
    });

    it("an existing bucket named in the config is the one served", async () => {
      const existing = synthStack(testConfig({ storage: { createBucket: false, bucketName: "acme-scans" } }));
      const worker = rolePolicies(existing, "fleet_role");
      await assertAllowed(worker, req("s3:GetObject", "arn:aws:s3:::acme-scans/case/1.dcm"));
      await assertDenied(worker, req("s3:GetObject", `${DATA}/case/1.dcm`));
    });
  });

  describe("worker role with the container profile (processor.container)", () => {
    const REPO = `arn:aws:ecr:${R}:repository/medit-iscan`;
    const OTHER_REPO = `arn:aws:ecr:${R}:repository/billing-service`;
    const PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"];
    const containerStack = (image: string) =>
      synthStack(testConfig({ fleet: { platform: "linux", bootSeconds: 240 }, processor: { container: { image, gpus: "all" } } }));
    let worker: Policy[];
    let created: Synth;
    before(() => {
      created = containerStack("medit-iscan:v3");
      worker = rolePolicies(created, "fleet_role");
    });

    it("the instance can pull its own repository, and log in to the registry (GetAuthorizationToken is account-wide by AWS design)", async () => {
      assert.equal(new ReferenceResolver(created).resolve(created.resource("aws_ecr_repository").name), "medit-iscan");
      await assertAllowed(worker, ...PULL.map((a) => req(a, REPO)), req("ecr:GetAuthorizationToken", "*"));
    });

    it("and nothing else: no other repository, no push, no deletes, no repository or registry settings", () =>
      assertDenied(
        worker,
        ...PULL.map((a) => req(a, OTHER_REPO)),
        req("ecr:BatchGetImage", "arn:aws:ecr:eu-west-1:444455556666:repository/medit-iscan"),
        ...["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:BatchDeleteImage", "ecr:DeleteRepository", "ecr:SetRepositoryPolicy", "ecr:PutLifecyclePolicy", "ecr:DescribeImages", "ecr:ListImages"].map((a) =>
          req(a, REPO),
        ),
        req("ecr:PutRegistryPolicy", "*"),
        req("ecr:CreateRepository", `arn:aws:ecr:${R}:repository/new`),
      ));

    it("an existing repository given by URI is the one it may pull, even in another account", async () => {
      const existing = rolePolicies(containerStack("444455556666.dkr.ecr.eu-west-1.amazonaws.com/lab/medit:v1"), "fleet_role");
      await assertAllowed(existing, ...PULL.map((a) => req(a, "arn:aws:ecr:eu-west-1:444455556666:repository/lab/medit")));
      await assertDenied(existing, ...PULL.map((a) => req(a, REPO)), req("ecr:BatchGetImage", "arn:aws:ecr:eu-west-1:444455556666:repository/lab/other"));
    });

    it("without a container profile the instance has no ECR permission at all", () =>
      assertDenied(rolePolicies(synth, "fleet_role"), req("ecr:GetAuthorizationToken", "*"), ...PULL.map((a) => req(a, REPO))));
  });
});
