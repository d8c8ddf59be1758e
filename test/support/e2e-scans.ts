import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { seededBytes } from "../../scripts/local/sample-scan.ts";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BEHAVIOUR_OPTION } from "../../scripts/fake-medit/config.ts";
import { expectedOutputs } from "../../scripts/fake-medit/outputs.ts";
import { REPO_ROOT } from "../../scripts/local/start.ts";
import { RESULT_FILE_NAME } from "../../core/job-result.ts";

/** A scan folder held in memory: relative path → bytes. */
export type Scan = Map<string, Buffer>;

/**
 * A small deterministic scan: `files` binary files under `raw/` and a JSON sidecar, every byte
 * derived from `seed`, so each job of a suite has inputs of its own and its outputs differ.
 */
export function makeScan(seed: string, options: { files?: number; bytesPerFile?: number } = {}): Scan {
  const files = options.files ?? 2;
  const size = options.bytesPerFile ?? 4096;
  const scan: Scan = new Map();
  for (let i = 1; i <= files; i++) scan.set(`raw/scan-${String(i).padStart(4, "0")}.bin`, seededBytes(`${seed}/${i}`, size));
  scan.set("scan-info.json", Buffer.from(`${JSON.stringify({ scanner: "e2e", seed, files })}\n`));
  return scan;
}

/** Uploads a scan under `s3://bucket/prefix/`. */
export async function uploadScan(s3: S3Client, bucket: string, prefix: string, scan: Scan): Promise<void> {
  for (const [rel, body] of scan) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${rel}`, Body: body }));
}

/** Every object under `s3://bucket/prefix/`, by path relative to the prefix; spotq's own `spotq-result.json` is not an output and is left out. */
export async function readFolder(s3: S3Client, bucket: string, prefix: string): Promise<Scan> {
  const out: Scan = new Map();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (o.Key!.endsWith(`/${RESULT_FILE_NAME}`)) continue;
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
      out.set(o.Key!.slice(prefix.length + 1), Buffer.from(await got.Body!.transformToByteArray()));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/**
 * Differences between the results found and what fake-medit must write for these inputs
 * (`expectedOutputs`), as readable lines; empty when they match byte for byte, with nothing extra.
 */
export function outputProblems(found: Scan, inputs: Scan, saveSource: boolean): string[] {
  const expected = expectedOutputs(inputs, { saveSource });
  const problems: string[] = [];
  for (const [rel, body] of expected) {
    const got = found.get(rel);
    if (!got) problems.push(`${rel}: missing`);
    else if (!got.equals(body)) problems.push(`${rel}: ${got.length} bytes (sha256 ${sha256(got).slice(0, 12)}), expected ${body.length} bytes (sha256 ${sha256(body).slice(0, 12)})`);
  }
  for (const rel of found.keys()) if (!expected.has(rel)) problems.push(`${rel}: not expected`);
  return problems;
}

/** The Medit request fixture (test/fixtures/medit-request.json). */
export const MEDIT_FIXTURE = JSON.parse(readFileSync(path.join(REPO_ROOT, "test", "fixtures", "medit-request.json"), "utf8")) as Record<string, unknown>;

/** The Medit fixture pointed at a source and target in the bucket, with a fake-medit behaviour if given. */
export function meditRequest(bucket: string, source: string, target: string, behaviour?: string): Record<string, unknown> {
  return {
    ...MEDIT_FIXTURE,
    "Source Folder Path": `s3://${bucket}/${source}`,
    "Target Folder Path": `s3://${bucket}/${target}`,
    ...(behaviour ? { [BEHAVIOUR_OPTION]: behaviour } : {}),
  };
}

/** Whether the fixture asks for the inputs in the result folder (it does). */
export const SAVE_SOURCE = MEDIT_FIXTURE["Save Source To Result Folder"] === true;

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}
