import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketLifecycleConfiguration, type S3BucketLifecycleConfigurationRule } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA as S3BucketServerSideEncryptionConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA as S3BucketVersioning } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { Construct } from "constructs";
import { denyInsecureTransport, policyDocument, policyJson } from "./policy-document.ts";
import type { BucketRef } from "./refs.ts";

export interface SecureBucketProps {
  /** The bucket's name. */
  bucketName: string;
  /** Delete the objects with the bucket on destroy: only for buckets whose content can be rebuilt. */
  forceDestroy: boolean;
  /** Lifecycle rules; none leaves the bucket without a lifecycle configuration. */
  lifecycleRules?: S3BucketLifecycleConfigurationRule[];
  /** Keep every version of an overwritten object (until a lifecycle rule expires it). @default false */
  versioned?: boolean;
}

/**
 * An S3 bucket that is private and encrypted whatever its objects say: every public access
 * blocked, ACLs disabled (bucket owner enforced), SSE-S3 by default, and a policy refusing
 * any request not made over TLS.
 */
export class SecureBucket extends Construct {
  readonly bucket: S3Bucket;
  readonly ref: BucketRef;
  readonly policy: S3BucketPolicy;
  readonly lifecycle?: S3BucketLifecycleConfiguration;
  readonly versioning?: S3BucketVersioning;

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    this.bucket = new S3Bucket(this, "bucket", { bucket: props.bucketName, forceDestroy: props.forceDestroy });
    this.ref = { name: this.bucket.bucket, arn: this.bucket.arn };
    const publicAccess = new S3BucketPublicAccessBlock(this, "public-access", {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, "ownership", { bucket: this.bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    new S3BucketServerSideEncryptionConfiguration(this, "encryption", {
      bucket: this.bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
    });
    this.policy = new S3BucketPolicy(this, "tls-only", {
      bucket: this.bucket.id,
      policy: policyJson(policyDocument(denyInsecureTransport(this.bucket.arn))),
      // S3 refuses a bucket policy while the public access block is still being applied.
      dependsOn: [publicAccess],
    });
    if (props.versioned)
      this.versioning = new S3BucketVersioning(this, "versioning", { bucket: this.bucket.id, versioningConfiguration: { status: "Enabled" } });
    if (props.lifecycleRules && props.lifecycleRules.length > 0)
      this.lifecycle = new S3BucketLifecycleConfiguration(this, "lifecycle", {
        bucket: this.bucket.id,
        rule: props.lifecycleRules,
        // Rules on noncurrent versions need versioning in place first.
        ...(this.versioning ? { dependsOn: [this.versioning] } : {}),
      });
  }
}
