import path from "node:path";
import type { WorkerPlatform } from "../core/config-json.ts";
import { SpotqError } from "../core/errors.ts";

/** Characters Windows refuses in a file name, and its reserved device names. */
const WIN32_BAD_CHARS = /[<>:"|?*\\\u0000-\u001f]/;
const WIN32_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

/** An object key that cannot become a local file safely. */
export class UnsafeKeyError extends SpotqError {
  readonly key: string;
  constructor(key: string, reason: string) {
    super("UNSAFE_KEY", `object key "${key}" ${reason}`);
    this.name = "UnsafeKeyError";
    this.key = key;
  }
}

/**
 * The `/`-separated path of an object below a folder prefix (`prefix/` included in `folderPrefix`),
 * or undefined for the folder marker objects S3 consoles create (keys ending in `/`).
 * Refuses keys that would escape the job folder (`..`, `.`, empty segments) and, on Windows,
 * names Windows cannot hold, so a hostile or odd key fails the download with its name instead
 * of writing elsewhere.
 */
export function relativePathOfKey(platform: WorkerPlatform, folderPrefix: string, key: string): string | undefined {
  if (!key.startsWith(folderPrefix)) throw new UnsafeKeyError(key, `is not under the folder prefix "${folderPrefix}"`);
  const rel = key.slice(folderPrefix.length);
  if (rel === "" || rel.endsWith("/")) return undefined;
  for (const segment of rel.split("/")) {
    if (segment === "") throw new UnsafeKeyError(key, "has an empty path segment (//)");
    if (segment === "." || segment === "..") throw new UnsafeKeyError(key, `has a "${segment}" path segment`);
    if (platform === "win32") {
      if (WIN32_BAD_CHARS.test(segment)) throw new UnsafeKeyError(key, `has a character Windows refuses in file names (<>:"|?*\\ or a control character)`);
      if (WIN32_RESERVED.test(segment)) throw new UnsafeKeyError(key, `uses the reserved Windows device name "${segment}"`);
      if (/[. ]$/.test(segment)) throw new UnsafeKeyError(key, "has a path segment ending in a dot or space, which Windows drops");
    } else if (segment.includes("\0")) throw new UnsafeKeyError(key, "has a NUL character");
  }
  return rel;
}

/** The local file of a `/`-separated relative path under `root`, with the platform's separators. */
export function localPathOf(platform: WorkerPlatform, root: string, rel: string): string {
  const p = platform === "win32" ? path.win32 : path.posix;
  return p.join(root, ...rel.split("/"));
}

/** The object key of a local relative path (already `/`-separated) under a folder prefix (without trailing `/`). */
export function keyOf(prefix: string, rel: string): string {
  return `${prefix}/${rel}`;
}

/**
 * Refuses a set of relative paths that cannot all exist as files: a file that is also a folder of
 * another (`a` and `a/b`), and on Windows two names that differ only in case.
 */
export function checkPathSet(platform: WorkerPlatform, rels: readonly string[]): void {
  const norm = (s: string) => (platform === "win32" ? s.toLowerCase() : s);
  const files = new Map<string, string>();
  for (const r of rels) {
    const other = files.get(norm(r));
    if (other !== undefined) throw new UnsafeKeyError(r, `collides with "${other}" (Windows file names ignore case)`);
    files.set(norm(r), r);
  }
  for (const r of rels) {
    const parts = r.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = files.get(norm(parts.slice(0, i).join("/")));
      if (dir !== undefined) throw new UnsafeKeyError(r, `needs "${dir}" to be a folder, but it is also an object`);
    }
  }
}
