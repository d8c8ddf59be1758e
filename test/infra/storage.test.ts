import assert from "node:assert/strict";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { ABORT_MULTIPART_DAYS, ARTIFACT_RETENTION, Storage } from "../../infra/constructs/storage.ts";
import { decide, ReferenceResolver, type Policy } from "./support/iam.ts";
import { ACCOUNT, assertHasResource, synthScope, TEST_ENV, testConfig, type Synth } from "./support/synth.ts";

function synthStorage(overrides: Parameters<typeof testConfig>[0] = {}): Synth {
  const config = testConfig(overrides);
  return synthScope((scope) => new Storage(scope, "storage", { config, env: TEST_ENV }));
}

/** The bucket policy of a bucket, resolved to concrete ARNs. */
function bucketPolicy(synth: Synth, hint: string): Policy {
  const policy = Object.values(synth.resources("aws_s3_bucket_policy")).find((p) => p.bucket === synth.ref("aws_s3_bucket", hint, "id"));
  assert.ok(policy, `no bucket policy on the ${hint} bucket`);
  return JSON.parse(new ReferenceResolver(synth).resolve(policy.policy)) as Policy;
}

describe("infra/constructs/storage", () => {
  const synth = synthStorage({ storage: { sourcePrefixes: ["inbox/"], targetPrefixes: ["results/"], retentionDays: 9 } });

  it("creates the data bucket named after the deployment and the account, and keeps its data on destroy", () => {
    const data = synth.resource("aws_s3_bucket", "data");
    assert.equal(data.bucket, `spotq-data-${ACCOUNT}`);
    assert.equal(data.force_destroy, false);
  });

  it("blocks every kind of public access on both buckets", () => {
    assert.equal(Object.keys(synth.resources("aws_s3_bucket_public_access_block")).length, 2);
    assertHasResource(synth, S3BucketPublicAccessBlock, { block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    for (const b of Object.values(synth.resources("aws_s3_bucket_public_access_block")))
      assert.deepEqual([b.block_public_acls, b.block_public_policy, b.ignore_public_acls, b.restrict_public_buckets], [true, true, true, true]);
  });

  it("encrypts both buckets by default and disables ACLs", () => {
    for (const hint of ["data", "artifacts"]) {
      const bucketRef = synth.ref("aws_s3_bucket", hint, "id");
      const sse = Object.values(synth.resources("aws_s3_bucket_server_side_encryption_configuration")).find((e) => e.bucket === bucketRef);
      assert.equal(sse?.rule?.[0]?.apply_server_side_encryption_by_default?.sse_algorithm, "AES256", `${hint} bucket encryption`);
      const own = Object.values(synth.resources("aws_s3_bucket_ownership_controls")).find((o) => o.bucket === bucketRef);
      assert.equal(own?.rule?.object_ownership, "BucketOwnerEnforced", `${hint} bucket ownership`);
    }
  });

  it("refuses any request without TLS, even one the caller's own policy allows", async () => {
    const allowAll: Policy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
    for (const hint of ["data", "artifacts"]) {
      const policy = bucketPolicy(synth, hint);
      const bucket = new ReferenceResolver(synth).resolve(synth.ref("aws_s3_bucket", hint, "bucket"));
      const request = (secure: string) => ({ action: "s3:GetObject", resource: `arn:aws:s3:::${bucket}/inbox/a.bin`, context: { "aws:SecureTransport": secure } });
      assert.equal(await decide([allowAll], request("false"), policy), "ExplicitlyDenied", `${hint}: plain HTTP`);
      assert.equal(await decide([allowAll], request("true"), policy), "Allowed", `${hint}: TLS`);
    }
  });

  it("expires the source and target prefixes after the configured days and aborts abandoned uploads", () => {
    const rules = synth.resource("aws_s3_bucket_lifecycle_configuration", "data").rule as Record<string, any>[];
    const expiring = rules.filter((r) => r.expiration).map((r) => [r.filter[0].prefix, r.expiration[0].days]);
    assert.deepEqual(expiring, [
      ["inbox/", 9],
      ["results/", 9],
    ]);
    const abort = rules.find((r) => r.abort_incomplete_multipart_upload);
    assert.equal(abort?.abort_incomplete_multipart_upload[0].days_after_initiation, ABORT_MULTIPART_DAYS);
    assert.deepEqual(abort?.filter, [{ prefix: "" }], "aborts uploads anywhere in the bucket (an empty prefix: `filter {}` is deprecated)");
    assert.ok(rules.every((r) => r.status === "Enabled"));
  });

  it("expires the whole bucket when sources or targets may be anywhere", () => {
    const rules = synthStorage().resource("aws_s3_bucket_lifecycle_configuration", "data").rule as Record<string, any>[];
    const expiring = rules.filter((r) => r.expiration);
    assert.equal(expiring.length, 1);
    assert.deepEqual(expiring[0]!.filter, [{ prefix: "" }]);
    assert.equal(expiring[0]!.expiration[0].days, 30);
  });

  it("expires storage.expirePrefixes instead when they are set", () => {
    const rules = synthStorage({ storage: { sourcePrefixes: ["inbox/"], targetPrefixes: ["results/"], expirePrefixes: ["tmp/"] } }).resource(
      "aws_s3_bucket_lifecycle_configuration",
      "data",
    ).rule as Record<string, any>[];
    assert.deepEqual(rules.filter((r) => r.expiration).map((r) => r.filter[0].prefix), ["tmp/"]);
  });

  it("refuses a retention shorter than 7 days", () => {
    assert.throws(() => testConfig({ storage: { retentionDays: 6 } }), /storage\.retentionDays/);
  });

  it("serves an existing bucket as it is: no policy, lifecycle or encryption of ours on it", () => {
    const s = synthStorage({ storage: { createBucket: false, bucketName: "acme-scans" } });
    assert.equal(Object.keys(s.resources("aws_s3_bucket")).length, 1, "only the artifacts bucket is created");
    assert.match(s.nameOf("aws_s3_bucket", "artifacts"), /artifacts/);
    const existing = Object.values(s.data("aws_s3_bucket"));
    assert.deepEqual(existing.map((d) => d.bucket), ["acme-scans"]);
    assert.equal(Object.keys(s.resources("aws_s3_bucket_policy")).length, 1);
  });

  it("keeps the artifacts bucket per account and region, deletable with its bundles", () => {
    const a = synth.resource("aws_s3_bucket", "artifacts");
    assert.equal(a.bucket, `spotq-artifacts-${ACCOUNT}-us-east-1`);
    assert.equal(a.force_destroy, true);
  });

  it("versions the artifacts bucket, so a deploy that replaces an artifact keeps the version older launch templates name", () => {
    const v = synth.resource("aws_s3_bucket_versioning");
    assert.equal(v.bucket, synth.ref("aws_s3_bucket", "artifacts", "id"));
    assert.deepEqual(v.versioning_configuration, { status: "Enabled" });
    assert.deepEqual(Object.keys(synth.resources("aws_s3_bucket_versioning")).length, 1, "the data bucket is not versioned (job data expires)");
    const lifecycle = synth.resource("aws_s3_bucket_lifecycle_configuration", "artifacts");
    assert.deepEqual(lifecycle.depends_on, [`aws_s3_bucket_versioning.${synth.nameOf("aws_s3_bucket_versioning")}`]);
    const rule = (lifecycle.rule as Record<string, any>[]).find((r) => r.noncurrent_version_expiration);
    assert.deepEqual(rule?.noncurrent_version_expiration, [{ noncurrent_days: ARTIFACT_RETENTION.noncurrentDays, newer_noncurrent_versions: ARTIFACT_RETENTION.keepVersions }]);
    assert.ok(ARTIFACT_RETENTION.noncurrentDays >= 7, "long enough for any deploy or instance refresh to finish");
    assert.deepEqual(rule?.filter, [{ prefix: "" }]);
    assert.equal(rule?.expiration?.[0]?.days, undefined, "current versions never expire: they are what new instances fetch");
  });
});
