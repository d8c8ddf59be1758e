import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The folder of the console's files, next to this module: `api/console/static/` in the source
 * tree; in the Lambda bundle (one `index.mjs`), the `static/` folder infra/bundling.ts copies
 * beside it. esbuild leaves `new URL(…, import.meta.url)` as it is, so both resolve.
 */
export const CONSOLE_STATIC_DIR = "static";

/** The page template: the rest of the folder is served as assets. */
export const CONSOLE_PAGE = "index.html";

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".html": "text/html; charset=utf-8",
};

/** One file of the console, ready to serve. */
export interface ConsoleAsset {
  body: string;
  contentType: string;
  /** A strong validator of the content, quoted. */
  etag: string;
}

/** The console's files: the page template and the assets by file name. */
export interface ConsoleAssets {
  page: string;
  assets: ReadonlyMap<string, ConsoleAsset>;
}

export function defaultConsoleDir(): string {
  return fileURLToPath(new URL(`./${CONSOLE_STATIC_DIR}/`, import.meta.url));
}

/**
 * Reads the console's files once: only the files in the folder itself with a known type (no
 * sub-folders), so a request can name nothing else. Throws naming the folder when the page is missing.
 */
export function loadConsoleAssets(dir: string = defaultConsoleDir()): ConsoleAssets {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name);
  } catch (err) {
    throw new Error(`the console's files are missing: cannot read ${dir} (${(err as Error).message}); a Lambda bundle must carry ${CONSOLE_STATIC_DIR}/ (infra/bundling.ts)`, { cause: err });
  }
  if (!names.includes(CONSOLE_PAGE)) throw new Error(`the console's page ${CONSOLE_PAGE} is missing from ${dir}`);
  const assets = new Map<string, ConsoleAsset>();
  for (const name of names) {
    const contentType = TYPES[path.extname(name)];
    if (!contentType || name === CONSOLE_PAGE) continue;
    const body = readFileSync(path.join(dir, name), "utf8");
    assets.set(name, { body, contentType, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` });
  }
  return { page: readFileSync(path.join(dir, CONSOLE_PAGE), "utf8"), assets };
}

/** The page for a base path (the API Gateway stage, e.g. `/v1`, or nothing): every `{{base}}` filled in, HTML-escaped. */
export function renderConsolePage(template: string, basePath: string): string {
  const escaped = basePath.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return template.replaceAll("{{base}}", escaped);
}
