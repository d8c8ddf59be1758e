import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import type { FolderSummary, ObjectStore } from "../core/ports.ts";
import { withContext } from "./clients.ts";

export interface S3ObjectStoreOptions {
  /** Keys asked for per ListObjectsV2 page (S3 returns at most 1000). @default 1000 */
  pageSize?: number;
}

/** The data bucket on S3, as the API sees it: how much a source folder holds. */
export class S3ObjectStore implements ObjectStore {
  readonly #s3: S3Client;
  readonly #pageSize: number;

  constructor(s3: S3Client, options: S3ObjectStoreOptions = {}) {
    this.#s3 = s3;
    this.#pageSize = options.pageSize ?? 1000;
  }

  /**
   * Counts the objects and bytes under `prefix` (a trailing `/` is added when missing, so
   * `test/src` does not also count `test/src2/`), page by page, and stops as soon as the bytes
   * pass `maxBytes` (`overLimit`), so a huge folder costs one page per thousand keys at most up
   * to the limit. Zero-byte keys ending in `/` are the "folders" consoles create: not objects.
   */
  async summarizeFolder(bucket: string, prefix: string, options: { maxBytes?: number } = {}): Promise<FolderSummary> {
    const folder = prefix.endsWith("/") ? prefix : `${prefix}/`;
    const maxBytes = options.maxBytes ?? Infinity;
    let objects = 0;
    let bytes = 0;
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.#s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: folder, MaxKeys: this.#pageSize, ContinuationToken: token }),
        );
      } catch (err) {
        throw withContext(`S3 list s3://${bucket}/${folder}`, err);
      }
      for (const o of page.Contents ?? []) {
        const size = o.Size ?? 0;
        if (size === 0 && o.Key?.endsWith("/")) continue;
        objects++;
        bytes += size;
      }
      if (bytes > maxBytes) return { objects, bytes, overLimit: true };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return { objects, bytes, overLimit: false };
  }
}
