import { DataAwsS3Bucket } from "@cdktf/provider-aws/lib/data-aws-s3-bucket";
import type { S3BucketLifecycleConfigurationRule } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { Construct } from "constructs";
import type { FleetConfig } from "../../core/fleet-config.ts";
import type { AwsEnv, BucketRef } from "./refs.ts";
import { SecureBucket } from "./secure-bucket.ts";

/** Days after which an unfinished multipart upload (a worker that died mid-upload) is cleaned up. */
export const ABORT_MULTIPART_DAYS = 2;

/**
 * How long a replaced worker artifact (bundle, config, service wrapper, Node.js) stays
 * fetchable after a deploy, and how many replaced versions are kept however old: instances
 * booting from an older launch template version (during a deploy or an instance refresh) still
 * fetch exactly the version their user data names.
 */
export const ARTIFACT_RETENTION = { noncurrentDays: 30, keepVersions: 5 } as const;

export interface StorageProps {
  config: FleetConfig;
  env: AwsEnv;
}

/**
 * The data bucket jobs read from and write to (created here, or an existing one the config names),
 * and the artifacts bucket that holds the worker bundle and its config.
 *
 * An existing data bucket is served as it is: its policy, encryption and lifecycle belong to its
 * owner, and S3 keeps one policy and one lifecycle configuration per bucket, so writing ours
 * would erase theirs.
 */
export class Storage extends Construct {
  readonly dataBucket: BucketRef;
  readonly artifactsBucket: BucketRef;
  /** The created data bucket; absent when the config serves an existing one. */
  readonly createdDataBucket?: SecureBucket;
  readonly artifacts: SecureBucket;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const { config, env } = props;
    const s = config.storage;
    if (s.createBucket) {
      this.createdDataBucket = new SecureBucket(this, "data", {
        bucketName: s.bucketName ?? `${config.name}-data-${env.accountId}`,
        // Job data is the user's: `cdktf destroy` must not delete it behind their back.
        forceDestroy: false,
        lifecycleRules: dataLifecycleRules(config),
      });
      this.dataBucket = this.createdDataBucket.ref;
    } else {
      const existing = new DataAwsS3Bucket(this, "data", { bucket: s.bucketName! });
      this.dataBucket = { name: existing.bucket, arn: existing.arn };
    }
    this.artifacts = new SecureBucket(this, "artifacts", {
      bucketName: `${config.name}-artifacts-${env.accountId}-${env.region}`,
      // Only what infra uploads again on every deploy.
      forceDestroy: true,
      // Each artifact has one fixed key, overwritten in place by a deploy (never deleted): the old
      // version stays, and instances fetch the version id their launch template names.
      versioned: true,
      lifecycleRules: [abortIncompleteUploads(), expireReplacedArtifacts()],
    });
    // The name through the versioning resource: whatever uploads an artifact waits for versioning,
    // so every object gets a version id (one uploaded before would have none to fetch it by).
    this.artifactsBucket = { name: this.artifacts.versioning!.bucket, arn: this.artifacts.ref.arn };
  }
}

/**
 * The prefixes whose objects expire: `storage.expirePrefixes` when set, else the source and
 * target prefixes; an empty list means the whole bucket.
 */
export function expiringPrefixes(config: FleetConfig): string[] {
  const s = config.storage;
  if (s.expirePrefixes.length > 0) return [...new Set(s.expirePrefixes)];
  // A whole-bucket source or target means the whole bucket expires.
  if (s.sourcePrefixes.length === 0 || s.targetPrefixes.length === 0) return [];
  return [...new Set([...s.sourcePrefixes, ...s.targetPrefixes])];
}

/** Expiry of job data after `storage.retentionDays`, and cleanup of abandoned multipart uploads. */
export function dataLifecycleRules(config: FleetConfig): S3BucketLifecycleConfigurationRule[] {
  const days = config.storage.retentionDays;
  const prefixes = expiringPrefixes(config);
  const expiry: S3BucketLifecycleConfigurationRule[] =
    prefixes.length === 0 || prefixes.includes("")
      ? [{ id: "expire-job-data", status: "Enabled", filter: [{ prefix: "" }], expiration: [{ days }] }]
      : prefixes.map((prefix, i) => ({ id: `expire-job-data-${i + 1}`, status: "Enabled", filter: [{ prefix }], expiration: [{ days }] }));
  return [...expiry, abortIncompleteUploads()];
}

/** Replaced artifact versions go after {@link ARTIFACT_RETENTION}; so do the delete markers a destroy leaves. */
function expireReplacedArtifacts(): S3BucketLifecycleConfigurationRule {
  return {
    id: "expire-replaced-artifacts",
    status: "Enabled",
    filter: [{ prefix: "" }],
    noncurrentVersionExpiration: [{ noncurrentDays: ARTIFACT_RETENTION.noncurrentDays, newerNoncurrentVersions: ARTIFACT_RETENTION.keepVersions }],
    expiration: [{ expiredObjectDeleteMarker: true }],
  };
}

// An empty prefix, not an empty filter: the AWS provider deprecates `filter {}`.
function abortIncompleteUploads(): S3BucketLifecycleConfigurationRule {
  return {
    id: "abort-incomplete-multipart-uploads",
    status: "Enabled",
    filter: [{ prefix: "" }],
    abortIncompleteMultipartUpload: [{ daysAfterInitiation: ABORT_MULTIPART_DAYS }],
  };
}
