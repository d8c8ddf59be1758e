/**
 * IAM policy documents as plain objects. Resources may hold Terraform references; the document is
 * serialized with `JSON.stringify`, and cdktf turns the references into interpolations inside the
 * JSON string, which tests resolve to concrete ARNs and evaluate with an IAM simulator.
 */

/** An IAM condition block: operator → key → value(s). */
export type Condition = Record<string, Record<string, string | string[]>>;

/** One statement of an IAM policy document. */
export interface PolicyStatement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action: string | string[];
  /** Absent only in a trust policy, where IAM refuses it. */
  Resource?: string | string[];
  Principal?: "*" | Record<string, string | string[]>;
  Condition?: Condition;
}

/** An IAM policy document. */
export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/** A policy document from its statements. */
export function policyDocument(...statements: PolicyStatement[]): PolicyDocument {
  return { Version: "2012-10-17", Statement: statements };
}

/** The trust policy that lets an AWS service assume a role. */
export function assumeRolePolicy(service: string, sourceAccount?: string): PolicyDocument {
  return policyDocument({
    Effect: "Allow",
    Principal: { Service: service },
    Action: "sts:AssumeRole",
    ...(sourceAccount ? { Condition: { StringEquals: { "aws:SourceAccount": sourceAccount } } } : {}),
  });
}

/** Serializes a document for a Terraform `policy` or `assume_role_policy` argument. */
export function policyJson(doc: PolicyDocument): string {
  return JSON.stringify(doc);
}

/** ARNs of the objects under some key prefixes of a bucket; no prefixes means every object. */
export function objectArns(bucketArn: string, prefixes: readonly string[]): string[] {
  return prefixes.length === 0 ? [`${bucketArn}/*`] : prefixes.map((p) => `${bucketArn}/${p}*`);
}

/**
 * The `s3:prefix` condition that limits ListBucket to some key prefixes, or none for the whole
 * bucket. A listing of the prefix itself without the slash (`inbox`) is not needed by the worker.
 */
export function listPrefixCondition(prefixes: readonly string[]): Condition | undefined {
  return prefixes.length === 0 ? undefined : { StringLike: { "s3:prefix": prefixes.map((p) => `${p}*`) } };
}

/** The bucket-policy statement that refuses every request not made over TLS. */
export function denyInsecureTransport(bucketArn: string): PolicyStatement {
  return {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
}
