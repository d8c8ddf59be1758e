import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { withContext } from "./clients.ts";

/** What reading an uploaded `spotq.json` found. */
export type MarkerRead =
  | { kind: "read"; body: Buffer }
  /** The object is larger than the limit: it is not read. */
  | { kind: "too-large"; bytes: number }
  /** The object was replaced since the event (another ETag): the new upload has its own event. */
  | { kind: "changed" }
  /** The object is gone. */
  | { kind: "missing" };

/** Reads the marker an event names, exactly the version the event is about. */
export interface MarkerReader {
  read(bucket: string, key: string, etag: string, maxBytes: number): Promise<MarkerRead>;
}

/** The marker on S3: a GetObject with `If-Match: <etag>`, so a later upload is never read for an earlier event. */
export class S3MarkerReader implements MarkerReader {
  readonly #s3: S3Client;

  constructor(s3: S3Client) {
    this.#s3 = s3;
  }

  async read(bucket: string, key: string, etag: string, maxBytes: number): Promise<MarkerRead> {
    let r;
    try {
      r = await this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(etag ? { IfMatch: `"${etag.replace(/"/g, "")}"` } : {}) }));
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "PreconditionFailed" || e.$metadata?.httpStatusCode === 412) return { kind: "changed" };
      if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) return { kind: "missing" };
      throw withContext(`S3 get s3://${bucket}/${key}`, err);
    }
    const bytes = r.ContentLength ?? 0;
    if (bytes > maxBytes) {
      await r.Body?.transformToByteArray().catch(() => undefined); // release the connection
      return { kind: "too-large", bytes };
    }
    return { kind: "read", body: Buffer.from((await r.Body?.transformToByteArray()) ?? new Uint8Array()) };
  }
}
