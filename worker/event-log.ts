import type winston from "winston";
import type { Worker } from "./worker.ts";

/** Writes every worker event to the worker's log, one line each, with its fields as metadata. */
export function attachEventLog(worker: Worker, log: winston.Logger): void {
  worker.on("started", (e) => log.info(`worker started on ${e.instanceId}`, { event: "started", ...e }));
  worker.on("message_received", ({ receiptHandle: _r, ...e }) => log.info(`message for job ${e.jobId} received${e.queue && e.queue !== "normal" ? ` from the ${e.queue} queue` : ""} (receive ${e.receiveCount})`, { event: "message_received", ...e }));
  worker.on("message_returned", (e) =>
    e.failed
      ? log.warn(`message for job ${e.jobId} received as the worker ${e.why}; returning it failed (it comes back after its visibility timeout): ${e.failed}`, { event: "message_returned", ...e })
      : log.info(`message for job ${e.jobId} received as the worker ${e.why}: returned to the queue`, { event: "message_returned", ...e }),
  );
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
  worker.on("hand_back_capacity", (e) =>
    e.failed ? log.warn(`job ${e.jobId}: asking for capacity after the hand-back failed: ${e.failed}`, { event: "hand_back_capacity", ...e }) : log.info(`job ${e.jobId}: capacity after the hand-back: desired ${e.before} -> ${e.after} (wanted ${e.wanted})`, { event: "hand_back_capacity", ...e }),
  );
  worker.on("job_interrupted", (e) => log.warn(`job ${e.jobId} attempt ${e.attempt} handed back: ${e.reason}`, { event: "job_interrupted", ...e }));
  worker.on("job_cancelled", (e) => log.info(`job ${e.jobId} attempt ${e.attempt} cancelled`, { event: "job_cancelled", ...e }));
  worker.on("job_lost", (e) => log.warn(`job ${e.jobId} attempt ${e.attempt} abandoned: ${e.reason}`, { event: "job_lost", ...e }));
  worker.on("spot_notice", (e) => log.warn(`instance notice: ${e.kind}`, { event: "spot_notice", ...e }));
  worker.on("target_lifecycle", (e) => log.info(`target lifecycle state: ${e.state}`, { event: "target_lifecycle", ...e }));
  worker.on("preflight", (e) => {
    const failed = e.checks.filter((c) => !c.ok);
    const line = e.ok
      ? `preflight passed (${e.trigger}): ${e.checks.map((c) => `${c.name} ${c.skipped ? "skipped" : "ok"}`).join(", ")}`
      : `preflight FAILED (${e.trigger}): ${failed.map((c) => `${c.name}: ${c.detail}`).join("; ")}`;
    if (e.ok) log.info(line, { event: "preflight", ...e });
    else log.error(line, { event: "preflight", ...e });
  });
  worker.on("lifecycle_action", (e) => {
    const what = e.result === "heartbeat" ? `heartbeat of lifecycle hook ${e.hook}` : `lifecycle hook ${e.hook} ${e.result}`;
    if (e.outcome === "completed") log.info(`${what}: done`, { event: "lifecycle_action", ...e });
    else if (e.outcome === "no-action")
      log.info(`${what}: nothing to complete (the group has no such hook, or this instance is not waiting on it): ${e.message}`, { event: "lifecycle_action", ...e });
    else log.warn(`${what} failed: ${e.message}`, { event: "lifecycle_action", ...e });
  });
  worker.on("draining", (e) => log.warn(`taking no new jobs: ${e.detail}`, { event: "draining", ...e }));
  worker.on("instance_fault", (e) =>
    log.warn(
      `job ${e.jobId} failed with ${e.code}: ${e.repeated ? "the request's fault (it failed the same way on another instance)" : e.fault === "request" ? "the request's fault" : e.fault === "unclear" ? "maybe the instance's (preflight checked again)" : `the instance's (${e.streak} of ${e.threshold} in a row)`}${e.broken ? `; this instance is judged broken: ${e.reason}` : ""}`,
      { event: "instance_fault", ...e },
    ),
  );
  worker.on("instance_unhealthy", (e) =>
    log.error(
      `instance leaves the fleet (${e.marked === "health" ? "marked Unhealthy" : e.marked === "terminate" ? "terminated without decrement" : e.marked === "kept" ? "kept: fleet.debugKeepFailedInstances" : "could not tell Auto Scaling"}): ${e.reason}`,
      { event: "instance_unhealthy", ...e },
    ),
  );
  worker.on("terminate_refused", (e) =>
    log.warn(`Auto Scaling refused to terminate this idle instance (${e.error}); still serving, asking again in ${e.retryInSeconds} s`, {
      event: "terminate_refused",
      ...e,
    }),
  );
  worker.on("idle_check", (e) => log.info(`idle ${Math.round(e.idleSeconds)} s: ${e.decision.reason}`, { event: "idle_check", ...e }));
  worker.on("idle_terminate", (e) => log.info(`terminating this instance ${e.decrement ? "with" : "without"} decrement`, { event: "idle_terminate", ...e }));
  worker.on("leftover_removed", (e) => log.warn(`removed ${e.folder} left by an earlier worker${e.killedPid ? `; killed its processor ${e.killedPid}` : ""}`, { event: "leftover_removed", ...e }));
  worker.on("stopping", (e) => log.info(`stopping: ${e.reason}`, { event: "stopping", ...e }));
  worker.on("stopped", (e) => log.info(`stopped: ${e.reason}`, { event: "stopped", ...e }));
  worker.on("warning", ({ error, ...e }) => log.warn(e.message, { event: "warning", ...e, ...(error ? { error: error.name } : {}) }));
}
