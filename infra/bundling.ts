import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync } from "node:fs";
import { join, resolve } from "node:path";
import { buildSync } from "esbuild";
import { SpotqError } from "../core/errors.ts";

/** The entries infra bundles, relative to the project root (contracts with the api and worker owners). */
export const ENTRIES = {
  /** API Gateway REST proxy handler: `export const handler`. */
  lambda: "api/lambda.ts",
  /** The long-running worker daemon. */
  worker: "worker/main.ts",
  /** The boot breaker's Lambda (invoked by its alarm): `export const handler`. */
  breaker: "infra/constructs/boot-breaker-handler.ts",
} as const;

/** File names inside the bundle folders; the Lambda handler string and the user data refer to them. */
export const BUNDLE_FILES = {
  lambda: "index.mjs",
  worker: "worker.mjs",
  breaker: "index.mjs",
} as const;

/**
 * The web console's files (page, scripts, styles), copied beside the Lambda's `index.mjs`: the API
 * reads them from `./static/` next to its module (api/console/assets.ts), which in the bundle is there.
 */
export const CONSOLE_ASSETS = { from: "api/console/static", to: "static" } as const;

/** The Lambda handler setting that matches {@link BUNDLE_FILES}.lambda. */
export const LAMBDA_HANDLER = "index.handler";

/** Prebuilt bundles a stack deploys: the API Lambda's folder, the worker's, and the boot breaker Lambda's. */
export interface Bundles {
  /** Folder zipped as the Lambda's code; holds {@link BUNDLE_FILES}.lambda. */
  lambdaDir: string;
  /** Folder whose {@link BUNDLE_FILES}.worker is uploaded to the artifacts bucket. */
  workerDir: string;
  /** Folder zipped as the boot breaker Lambda's code; holds {@link BUNDLE_FILES}.breaker. */
  breakerDir: string;
}

// ESM output needs `require` for the few CommonJS dependencies that load Node built-ins lazily.
const ESM_REQUIRE_SHIM = "import { createRequire as __spotqCreateRequire } from 'node:module'; const require = __spotqCreateRequire(import.meta.url);";

// A fixed mtime makes the Lambda zip byte-identical when the code is, so an unchanged API is not redeployed.
const FIXED_MTIME = new Date("2020-01-01T00:00:00Z");

/**
 * Bundles the API Lambda, the worker and the boot breaker Lambda into `outDir/lambda`,
 * `outDir/worker` and `outDir/breaker` with esbuild:
 * one ESM file each, platform node, target node22 (the oldest runtime either may run on). The
 * API Lambda's folder also gets the web console's files ({@link CONSOLE_ASSETS}).
 * Fails with a message naming the entry when an entry file is missing or does not compile.
 */
export function bundleEntries(projectRoot: string, outDir: string): Bundles {
  const bundles: Bundles = { lambdaDir: join(outDir, "lambda"), workerDir: join(outDir, "worker"), breakerDir: join(outDir, "breaker") };
  bundleOne(projectRoot, ENTRIES.lambda, join(bundles.lambdaDir, BUNDLE_FILES.lambda), "the API Lambda (exports handler)");
  copyConsoleAssets(projectRoot, bundles.lambdaDir);
  bundleOne(projectRoot, ENTRIES.worker, join(bundles.workerDir, BUNDLE_FILES.worker), "the worker daemon");
  bundleOne(projectRoot, ENTRIES.breaker, join(bundles.breakerDir, BUNDLE_FILES.breaker), "the boot breaker Lambda (exports handler)");
  return bundles;
}

function bundleOne(projectRoot: string, entry: string, outFile: string, what: string): void {
  const entryPath = resolve(projectRoot, entry);
  if (!existsSync(entryPath) || !statSync(entryPath).isFile())
    throw new SpotqError("BUNDLE_ENTRY_MISSING", `cannot bundle ${what}: its entry ${entry} does not exist in ${projectRoot}`);
  rmSync(resolve(outFile, ".."), { recursive: true, force: true });
  mkdirSync(resolve(outFile, ".."), { recursive: true });
  let result;
  try {
    result = buildSync({
      entryPoints: [entryPath],
      outfile: outFile,
      bundle: true,
      platform: "node",
      target: "node22",
      format: "esm",
      banner: { js: ESM_REQUIRE_SHIM },
      // Readable stack traces in CloudWatch beat a smaller file: Lambda and S3 do not mind a few MB.
      minify: false,
      keepNames: true,
      legalComments: "none",
      logLevel: "silent",
      absWorkingDir: projectRoot,
    });
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors ?? [];
    const detail = errors.map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text)).join("; ");
    throw new SpotqError("BUNDLE_FAILED", `cannot bundle ${what} from ${entry}: ${detail || (err as Error).message}`, { cause: err });
  }
  if (result.errors.length > 0) throw new SpotqError("BUNDLE_FAILED", `cannot bundle ${what} from ${entry}: ${result.errors.map((e) => e.text).join("; ")}`);
  utimesSync(outFile, FIXED_MTIME, FIXED_MTIME);
}

/** Copies the console's files into the Lambda's folder, with the fixed mtime (a byte-identical zip when unchanged). */
function copyConsoleAssets(projectRoot: string, lambdaDir: string): void {
  const from = resolve(projectRoot, CONSOLE_ASSETS.from);
  if (!existsSync(from) || !statSync(from).isDirectory())
    throw new SpotqError("BUNDLE_ENTRY_MISSING", `cannot bundle the web console: its folder ${CONSOLE_ASSETS.from} does not exist in ${projectRoot}`);
  const to = join(lambdaDir, CONSOLE_ASSETS.to);
  cpSync(from, to, { recursive: true });
  for (const name of readdirSync(to)) utimesSync(join(to, name), FIXED_MTIME, FIXED_MTIME);
}
