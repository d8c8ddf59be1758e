import { constants } from "node:os";
import type { WorkerPlatform } from "../core/config-json.ts";
import { CONTAINER_SIGNAL_EXIT_CODES } from "../core/fleet-config.ts";
import { JobFailure } from "./errors.ts";
import type { ProcessorOutcome } from "./processor.ts";

/** Windows reports a crash as an NTSTATUS error code (0xC0000005 access violation, 0xC0000409 stack overrun...). */
const NTSTATUS_ERROR = 0xc0000000;

/**
 * What a processor run means for the job: undefined for success (exit 0), otherwise the failure
 * with its code and whether a retry could help. A run the worker aborted is not judged here.
 * - PROCESS_START: the command could not start (missing or not executable): retried, since the
 *   processor belongs to the instance (its AMI), not to the request; the instance breaker runs the
 *   preflight again, and an instance whose processor is gone hands the job back uncharged;
 * - PROCESS_TIMEOUT: killed at `jobs.timeoutSeconds`: retried;
 * - PROCESS_CRASH: ended by a signal (POSIX) or an NTSTATUS error code (Windows): retried;
 * - INVALID_REQUEST: an exit code the deployment lists in `jobs.invalidRequestExitCodes`: not retried;
 * - PROCESS_EXIT: any other non-zero exit code: retried.
 *
 * For a container (`processor.container`, `rules.container`) the outcome is that of `docker run`,
 * which passes the image's exit code through, except:
 * - 125 (the daemon could not create or start the container: a broken daemon, the GPU runtime
 *   missing, no disk for the container), 126 (the image's command cannot be invoked) and 127 (it
 *   is not found): PROCESS_START, retried and the instance's fault (the image is the deployment's,
 *   not the request's), exactly as a Medit executable missing from the AMI;
 * - 128 + n for signal n (129–159; 137 is SIGKILL, which an out-of-memory kill also gives):
 *   PROCESS_CRASH, as a signal on POSIX. `jobs.invalidRequestExitCodes` may list neither range.
 */
export function judgeProcessorOutcome(
  platform: WorkerPlatform,
  outcome: ProcessorOutcome,
  rules: { invalidRequestExitCodes: readonly number[]; timeoutSeconds: number; lastStderr?: readonly string[]; container?: boolean },
): JobFailure | undefined {
  const tail = rules.lastStderr?.length ? `; last stderr: ${rules.lastStderr.join(" | ")}` : "";
  if (outcome.startError)
    return new JobFailure("PROCESS_START", `the processor could not be started: ${outcome.startError.message}`, { retryable: true });
  if (outcome.killed === "timeout")
    return new JobFailure("PROCESS_TIMEOUT", `the processor ran longer than jobs.timeoutSeconds (${rules.timeoutSeconds} s) and was killed${tail}`, {
      retryable: true,
    });
  if (outcome.exitCode === 0) return undefined;
  if (outcome.exitCode === null)
    return new JobFailure("PROCESS_CRASH", `the processor crashed (killed by ${outcome.signal ?? "a signal"})${tail}`, { retryable: true });
  const code = outcome.exitCode;
  if (rules.container) {
    const docker = DOCKER_RUN_FAILURES[code];
    if (docker) return new JobFailure("PROCESS_START", `docker run exited with ${code}: ${docker}${tail}`, { retryable: true, exitCode: code });
  }
  if (platform === "win32" && (code < 0 || code >= NTSTATUS_ERROR)) {
    const hex = `0x${(code >>> 0).toString(16).toUpperCase().padStart(8, "0")}`;
    return new JobFailure("PROCESS_CRASH", `the processor crashed (exit status ${hex})${tail}`, { retryable: true, exitCode: code });
  }
  if (rules.invalidRequestExitCodes.includes(code))
    return new JobFailure("INVALID_REQUEST", `the processor rejected the request as invalid (exit code ${code})${tail}`, {
      retryable: false,
      exitCode: code,
    });
  if (rules.container && code >= CONTAINER_SIGNAL_EXIT_CODES.min && code <= CONTAINER_SIGNAL_EXIT_CODES.max) {
    const signal = signalName(code - 128);
    const oom = signal === "SIGKILL" ? " (an out-of-memory kill ends this way too)" : "";
    return new JobFailure("PROCESS_CRASH", `the container's process was killed by ${signal} (exit code ${code})${oom}${tail}`, { retryable: true, exitCode: code });
  }
  return new JobFailure("PROCESS_EXIT", `the processor exited with code ${code}${tail}`, { retryable: true, exitCode: code });
}

/** What `docker run`'s own exit codes mean (docs.docker.com, "docker run" exit status). */
const DOCKER_RUN_FAILURES: Readonly<Record<number, string>> = {
  125: "the Docker daemon could not create or start the container (the daemon, its GPU runtime or its disk; the image is not at fault)",
  126: "the image's command cannot be invoked (not executable)",
  127: "the image's command was not found",
};

function signalName(n: number): string {
  const found = Object.entries(constants.signals).find(([, v]) => v === n);
  return found ? found[0] : `signal ${n}`;
}
