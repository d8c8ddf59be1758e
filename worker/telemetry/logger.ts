import winston from "winston";
import type { Telemetry } from "./telemetry.ts";

/**
 * The worker's own log: readable lines on the console (the service manager's log) and JSON
 * entries to the instance's telemetry stream (CloudWatch Logs, or a file locally).
 */
export function createWorkerLogger(telemetry: Telemetry, options: { instanceId: string; level?: string }): winston.Logger {
  return winston.createLogger({
    level: options.level ?? "info",
    defaultMeta: { instanceId: options.instanceId },
    transports: [
      new winston.transports.Console({
        format: winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, message, instanceId: _i, ...meta }) => {
            const extra = Object.keys(meta).length ? ` ${JSON.stringify(meta)}` : "";
            return `${String(timestamp)} ${level} ${String(message)}${extra}`;
          }),
        ),
      }),
      telemetry.workerTransport(),
    ],
  });
}

/**
 * Ends the worker's log and waits for it to flush (at most `timeoutMs`). A line logged after that
 * (a service stop or SIGTERM arriving while the process exits) goes to stderr: on the ended stream
 * it would raise "write after end" and turn a clean stop into a crash.
 */
export function endWorkerLogger(log: winston.Logger, options: { timeoutMs?: number; stderr?: (line: string) => void } = {}): Promise<void> {
  const stderr = options.stderr ?? ((line: string) => void process.stderr.write(line));
  return new Promise<void>((resolve) => {
    log.once("finish", () => resolve());
    log.end();
    log.write = ((info: { level?: string; message?: unknown }) => {
      stderr(`${new Date().toISOString()} ${info.level ?? "info"} ${String(info.message)}\n`);
      return true;
    }) as typeof log.write;
    setTimeout(resolve, options.timeoutMs ?? 2_000).unref();
  });
}
