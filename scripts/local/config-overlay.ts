import { readFileSync } from "node:fs";
import path from "node:path";
import { ValidationError } from "../../core/errors.ts";
import { fleetConfig, type FleetConfig, type FleetConfigInput } from "../../core/fleet-config.ts";
import { ENV } from "../../core/runtime.ts";
import { localDefaultConfigInput } from "./local-config.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Lays `overlay` over `base`: objects merge key by key, at every depth; anything else in the
 * overlay (a number, a string, true/false, null, and **a list, which replaces the base's list
 * whole**) wins. Keys the overlay does not name keep the base's value. Neither input is changed.
 */
export function layConfig<T>(base: T, overlay: unknown): T {
  if (!isObject(base) || !isObject(overlay)) return (overlay === undefined ? base : overlay) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    // Own data keys only: a "__proto__" key in a JSON file must not reach the prototype.
    Object.defineProperty(out, key, { value: layConfig(out[key], value), enumerable: true, writable: true, configurable: true });
  }
  return out as T;
}

/**
 * The local stack's config: the embedded local default (scripts/local/local-config.ts) with the
 * user's config laid over it, from `SPOTQ_CONFIG_JSON` (inline JSON) or `SPOTQ_CONFIG` (a file),
 * so a file holding only `{"fleet": {"maxSize": 2}}` or only `api.tenants` is enough. See
 * {@link layConfig} for how objects and lists merge. Validated once, after the merge; a problem
 * names the key and where the value came from.
 */
export function localStackConfig(repoRoot: string, env: NodeJS.ProcessEnv = process.env): { config: FleetConfig; source: string } {
  const base = localDefaultConfigInput(repoRoot);
  const inline = env[ENV.configJson];
  const file = env[ENV.config];
  let overlay: Json | undefined;
  let source = "the local default config";
  if (inline) {
    source = `${ENV.configJson} laid over the local default config`;
    try {
      overlay = JSON.parse(inline) as Json;
    } catch (err) {
      throw new ValidationError(`${ENV.configJson} is not valid JSON`, [{ field: ENV.configJson, reason: (err as Error).message }]);
    }
  } else if (file) {
    const full = path.resolve(file);
    source = `${ENV.config}=${file} laid over the local default config`;
    let text: string;
    try {
      text = readFileSync(full, "utf8");
    } catch (err) {
      throw new ValidationError(`cannot read ${ENV.config}=${file}`, [{ field: ENV.config, reason: (err as NodeJS.ErrnoException).code === "ENOENT" ? `no file at ${full}` : (err as Error).message }]);
    }
    try {
      overlay = JSON.parse(text) as Json;
    } catch (err) {
      throw new ValidationError(`${ENV.config}=${file} is not valid JSON`, [{ field: "file", reason: (err as Error).message }]);
    }
  }
  if (overlay !== undefined && !isObject(overlay))
    throw new ValidationError(`invalid ${source}`, [{ field: "(root)", reason: "must be a JSON object such as {\"fleet\": {\"maxSize\": 2}}" }]);
  const merged = overlay === undefined ? base : layConfig<FleetConfigInput>(base, overlay);
  return { config: fleetConfig(merged, source), source };
}
