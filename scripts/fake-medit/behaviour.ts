/** How one fake-medit run misbehaves, for tests and demos. Absent fields mean "behave". */
export interface Behaviour {
  /** Take this long (milliseconds) before writing results, printing progress each second. */
  sleepMs?: number;
  /** Exit 1 after the config check. */
  fail?: boolean;
  /** Exit 1 while the attempt number (env SPOTQ_ATTEMPT) is at most this; succeed afterwards. */
  failAttempts?: number;
  /** Abort the process (a crash: killed by SIGABRT, not a clean exit code). */
  crash?: boolean;
  /** Never finish: ignore SIGTERM, start a helper process that does the same, and wait forever. */
  hang?: boolean;
  /** Exit with this code after the config check (e.g. one the deployment lists as "invalid request"). */
  exitCode?: number;
}

/** Environment variables fake-medit reads; `processor.env` in the fleet config sets them for every job. */
export const BEHAVIOUR_ENV = {
  sleepMs: "FAKE_MEDIT_SLEEP_MS",
  fail: "FAKE_MEDIT_FAIL",
  failAttempts: "FAKE_MEDIT_FAIL_ATTEMPTS",
  crash: "FAKE_MEDIT_CRASH",
  hang: "FAKE_MEDIT_HANG",
  exitCode: "FAKE_MEDIT_EXIT_CODE",
} as const;

/**
 * Parses directives such as `"sleep=2000 fail"`, `"exit=3"`, `"fail-attempts=1"`, `"crash"`, `"hang"`
 * (separated by spaces or commas). Throws naming the directive that is not understood.
 */
export function parseBehaviour(text: string): Behaviour {
  const b: Behaviour = {};
  for (const token of text.split(/[\s,]+/).filter(Boolean)) {
    const [name, value] = token.split("=", 2) as [string, string | undefined];
    const int = (): number => {
      if (value === undefined || !/^\d+$/.test(value)) throw new Error(`behaviour "${token}": ${name} needs a non-negative integer, as in ${name}=2`);
      return Number(value);
    };
    switch (name) {
      case "sleep":
        b.sleepMs = int();
        break;
      case "fail":
        b.fail = true;
        break;
      case "fail-attempts":
        b.failAttempts = int();
        break;
      case "crash":
        b.crash = true;
        break;
      case "hang":
        b.hang = true;
        break;
      case "exit":
        b.exitCode = int();
        break;
      default:
        throw new Error(`behaviour "${token}" is not understood; use sleep=<ms>, fail, fail-attempts=<n>, crash, hang or exit=<code>`);
    }
  }
  return b;
}

/** The behaviour the environment asks for (the fleet-wide setting). */
export function behaviourFromEnv(env: NodeJS.ProcessEnv): Behaviour {
  const flag = (name: string) => ["1", "true", "yes"].includes((env[name] ?? "").toLowerCase());
  const directives: string[] = [];
  if (env[BEHAVIOUR_ENV.sleepMs]) directives.push(`sleep=${env[BEHAVIOUR_ENV.sleepMs]}`);
  if (flag(BEHAVIOUR_ENV.fail)) directives.push("fail");
  if (env[BEHAVIOUR_ENV.failAttempts]) directives.push(`fail-attempts=${env[BEHAVIOUR_ENV.failAttempts]}`);
  if (flag(BEHAVIOUR_ENV.crash)) directives.push("crash");
  if (flag(BEHAVIOUR_ENV.hang)) directives.push("hang");
  if (env[BEHAVIOUR_ENV.exitCode]) directives.push(`exit=${env[BEHAVIOUR_ENV.exitCode]}`);
  return parseBehaviour(directives.join(" "));
}
