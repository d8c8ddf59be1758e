import type winston from "winston";
import type { Worker } from "./worker.ts";

/** Writes every worker event to the worker's log, one line each, with its fields as metadata. */
export function attachEventLog(worker: Worker, log: winston.Logger): void {
  worker.on("started", (e) => log.info(`worker started on ${e.instanceId}`, { event: "started", ...e }));
  worker.on("message_received", ({ receiptHandle: _r, ...e }) => log.info(`message for job ${e.jobId} received (receive ${e.receiveCount})`, { event: "message_received", ...e }));
  worker.on("message_discarded", (e) => log.info(`message for job ${e.jobId} discarded: ${e.reason}`, { event: "message_discarded", ...e }));
  worker.on("protection_changed", (e) => log.info(`scale-in protection ${e.protectedFromScaleIn ? "on" : "off"}`, { event: "protection_changed", ...e }));
  worker.on("job_started", (e) => log.info(`job ${e.jobId} attempt ${e.attempt} started${e.takeover ? " (takeover of a lost attempt)" : ""}`, { event: "job_started", ...e }));
  worker.on("job_phase", (e) => log.info(`job ${e.jobId} attempt ${e.attempt}: ${e.phase}`, { event: "job_phase", ...e }));
  worker.on("processor_started", (e) => log.info(`job ${e.jobId} attempt ${e.attempt}: processor started, pid ${e.pid}`, { event: "processor_started", ...e }));
  worker.on("processor_output", (e) => log.debug(`[${e.stream}] ${e.line}`, { event: "processor_output", jobId: e.jobId, attempt: e.attempt }));
  worker.on("job_succeeded", ({ record, ...e }) =>
    log.info(`job ${e.jobId} attempt ${e.attempt} succeeded`, { event: "job_succeeded", ...e, timings: record.timings, bytes: record.bytes }),
  );
  worker.on("job_retried", (e) => log.warn(`job ${e.jobId} attempt ${e.attempt} failed (${e.error.code}); retry in ${e.delaySeconds} s: ${e.error.message}`, { event: "job_retried", ...e }));
  worker.on("job_failed", (e) => log.error(`job ${e.jobId} FAILED at attempt ${e.attempt} (${e.error.code}): ${e.error.message}`, { event: "job_failed", ...e }));
  worker.on("job_interrupted", (e) => log.warn(`job ${e.jobId} attempt ${e.attempt} handed back: ${e.reason}`, { event: "job_interrupted", ...e }));
  worker.on("job_cancelled", (e) => log.info(`job ${e.jobId} attempt ${e.attempt} cancelled`, { event: "job_cancelled", ...e }));
  worker.on("job_lost", (e) => log.warn(`job ${e.jobId} attempt ${e.attempt} abandoned: ${e.reason}`, { event: "job_lost", ...e }));
  worker.on("spot_notice", (e) => log.warn(`instance notice: ${e.kind}`, { event: "spot_notice", ...e }));
  worker.on("idle_check", (e) => log.info(`idle ${Math.round(e.idleSeconds)} s: ${e.decision.reason}`, { event: "idle_check", ...e }));
  worker.on("idle_terminate", (e) => log.info(`terminating this instance ${e.decrement ? "with" : "without"} decrement`, { event: "idle_terminate", ...e }));
  worker.on("leftover_removed", (e) => log.warn(`removed ${e.folder} left by an earlier worker${e.killedPid ? `; killed its processor ${e.killedPid}` : ""}`, { event: "leftover_removed", ...e }));
  worker.on("stopping", (e) => log.info(`stopping: ${e.reason}`, { event: "stopping", ...e }));
  worker.on("stopped", (e) => log.info(`stopped: ${e.reason}`, { event: "stopped", ...e }));
  worker.on("warning", ({ error, ...e }) => log.warn(e.message, { event: "warning", ...e, ...(error ? { error: error.name } : {}) }));
}
