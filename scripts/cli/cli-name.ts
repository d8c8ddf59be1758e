import { readdirSync } from "node:fs";
import path from "node:path";

/**
 * How the user runs the CLI on this machine, for the commands that hints and errors print:
 * `npm run spotq --` when it was started through npm (or `spotq` is not installed), `spotq` when
 * it was started as the installed bin or `spotq` is on the PATH (`npm link`).
 */
export function cliName(env: NodeJS.ProcessEnv = process.env, argv1: string | undefined = process.argv[1]): string {
  if (env.npm_lifecycle_event === "spotq") return "npm run spotq --";
  if (argv1 && /(?:^|[\\/])(?:spotq|spotq\.mjs|spotq\.cmd)$/.test(argv1)) return "spotq";
  return spotqOnPath(env) ? "spotq" : "npm run spotq --";
}

/** Whether a `spotq` command is on the PATH. */
export function spotqOnPath(env: NodeJS.ProcessEnv = process.env): boolean {
  const names = process.platform === "win32" ? ["spotq.cmd", "spotq.exe", "spotq.ps1"] : ["spotq"];
  for (const folder of (env.PATH ?? "").split(path.delimiter)) {
    if (!folder) continue;
    try {
      const here = readdirSync(folder);
      if (names.some((n) => here.includes(n))) return true;
    } catch {
      // An unreadable or missing PATH entry.
    }
  }
  return false;
}
