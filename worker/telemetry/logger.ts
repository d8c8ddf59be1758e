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
