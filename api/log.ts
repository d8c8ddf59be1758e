/** Fields of one log line: plain JSON values only. */
export type LogFields = Record<string, unknown>;

/**
 * The API's structured log: one JSON object per line, which CloudWatch Logs (through the Lambda
 * runtime) and a terminal both read well. Tests pass a capturing log to assert what was reported.
 */
export interface ApiLog {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

type Level = "info" | "warn" | "error";
const LEVELS: Record<Level, number> = { info: 0, warn: 1, error: 2 };

/**
 * A log writing JSON lines `{"time","level","event",...fields}`.
 * @param write where a line goes. @default stdout
 * @param minLevel lines below this level are dropped. @default "info"
 */
export function jsonLineLog(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`), minLevel: Level = "info"): ApiLog {
  const emit = (level: Level, event: string, fields: LogFields = {}) => {
    if (LEVELS[level] < LEVELS[minLevel]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, event, ...fields }, errorsAsJson));
  };
  return {
    info: (e, f) => emit("info", e, f),
    warn: (e, f) => emit("warn", e, f),
    error: (e, f) => emit("error", e, f),
  };
}

/** A log that drops everything (benchmarks). */
export const silentLog: ApiLog = { info() {}, warn() {}, error() {} };

/** Errors have no enumerable fields: log their name, message and stack instead of `{}`. */
function errorsAsJson(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}
