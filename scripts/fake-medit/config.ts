import { statSync } from "node:fs";
import path from "node:path";
import { BOOLEAN_KEYS, INTEGER_KEYS, PATH_KEYS } from "../../core/request.ts";

/** The request option a deployment may declare (`jobs.extraOptions`) to steer one fake-medit run. */
export const BEHAVIOUR_OPTION = "Fake Medit Behaviour";

/** A config.json that passed the checks. */
export interface MeditConfig {
  source: string;
  target: string;
  /** Value of {@link BEHAVIOUR_OPTION}, when present. */
  behaviour?: string;
  saveSource: boolean;
  raw: Record<string, unknown>;
}

/**
 * Checks a parsed config.json the way Medit's `--iScanComplete` reads it: the two folder paths
 * are absolute paths of existing local folders (not S3 URIs), the options have Medit's types,
 * and no unknown key slips through. Returns the config, or every problem as "key: reason".
 */
export function checkMeditConfig(json: unknown): { ok: true; config: MeditConfig } | { ok: false; problems: string[] } {
  if (json === null || typeof json !== "object" || Array.isArray(json)) return { ok: false, problems: ["config: must be a JSON object"] };
  const raw = json as Record<string, unknown>;
  const problems: string[] = [];
  const known = new Set<string>([PATH_KEYS.source, PATH_KEYS.target, ...BOOLEAN_KEYS, ...INTEGER_KEYS, BEHAVIOUR_OPTION]);
  for (const key of Object.keys(raw)) if (!known.has(key)) problems.push(`${key}: unknown key`);

  for (const key of [PATH_KEYS.source, PATH_KEYS.target]) {
    const v = raw[key];
    if (typeof v !== "string" || v === "") {
      problems.push(`${key}: is required and must be a folder path string`);
      continue;
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
      problems.push(`${key}: must be a local folder, got the URI ${v}`);
      continue;
    }
    if (!path.isAbsolute(v) && !path.win32.isAbsolute(v)) {
      problems.push(`${key}: must be an absolute path, got ${v}`);
      continue;
    }
    let isDir = false;
    try {
      isDir = statSync(v).isDirectory();
    } catch {
      problems.push(`${key}: folder ${v} does not exist`);
      continue;
    }
    if (!isDir) problems.push(`${key}: ${v} is not a folder`);
  }
  for (const key of BOOLEAN_KEYS) {
    if (key in raw && typeof raw[key] !== "boolean") problems.push(`${key}: must be true or false, got ${JSON.stringify(raw[key])}`);
  }
  for (const key of INTEGER_KEYS) {
    if (!(key in raw)) continue;
    const v = raw[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) problems.push(`${key}: must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  if (BEHAVIOUR_OPTION in raw && typeof raw[BEHAVIOUR_OPTION] !== "string")
    problems.push(`${BEHAVIOUR_OPTION}: must be a string such as "sleep=2000 fail"`);

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    config: {
      source: raw[PATH_KEYS.source] as string,
      target: raw[PATH_KEYS.target] as string,
      ...(typeof raw[BEHAVIOUR_OPTION] === "string" ? { behaviour: raw[BEHAVIOUR_OPTION] } : {}),
      saveSource: raw["Save Source To Result Folder"] === true,
      raw,
    },
  };
}
