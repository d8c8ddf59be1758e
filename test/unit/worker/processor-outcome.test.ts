import assert from "node:assert/strict";
import { judgeProcessorOutcome } from "../../../worker/processor-outcome.ts";

const rules = { invalidRequestExitCodes: [3], timeoutSeconds: 14_400 };

describe("worker/processor-outcome", () => {
  it("is no failure for exit code 0", () => {
    assert.equal(judgeProcessorOutcome("win32", { exitCode: 0, signal: null, durationMs: 1 }, rules), undefined);
  });

  it("retries an ordinary non-zero exit, quoting the last stderr lines", () => {
    const f = judgeProcessorOutcome("posix", { exitCode: 1, signal: null, durationMs: 1 }, { ...rules, lastStderr: ["no GPU", "abort"] })!;
    assert.equal(f.code, "PROCESS_EXIT");
    assert.equal(f.retryable, true);
    assert.equal(f.exitCode, 1);
    assert.equal(f.message, "the processor exited with code 1; last stderr: no GPU | abort");
  });

  it("does not retry an exit code the deployment lists as an invalid request", () => {
    const f = judgeProcessorOutcome("win32", { exitCode: 3, signal: null, durationMs: 1 }, rules)!;
    assert.equal(f.code, "INVALID_REQUEST");
    assert.equal(f.retryable, false);
  });

  it("reads an NTSTATUS exit code on Windows as a crash, and the same number elsewhere as an exit code", () => {
    const accessViolation = 0xc0000005;
    const win = judgeProcessorOutcome("win32", { exitCode: accessViolation, signal: null, durationMs: 1 }, rules)!;
    assert.equal(win.code, "PROCESS_CRASH");
    assert.match(win.message, /exit status 0xC0000005/);
    assert.equal(judgeProcessorOutcome("win32", { exitCode: -1073741819, signal: null, durationMs: 1 }, rules)!.code, "PROCESS_CRASH");
    assert.equal(judgeProcessorOutcome("posix", { exitCode: accessViolation, signal: null, durationMs: 1 }, rules)!.code, "PROCESS_EXIT");
  });

  it("reads a signal as a crash on POSIX", () => {
    const f = judgeProcessorOutcome("posix", { exitCode: null, signal: "SIGSEGV", durationMs: 1 }, rules)!;
    assert.equal(f.code, "PROCESS_CRASH");
    assert.match(f.message, /SIGSEGV/);
  });

  it("names the timeout, and retries a command that cannot start (the processor is the instance's, not the request's)", () => {
    const t = judgeProcessorOutcome("win32", { exitCode: 1, signal: null, killed: "timeout", durationMs: 1 }, rules)!;
    assert.equal(t.code, "PROCESS_TIMEOUT");
    assert.match(t.message, /jobs.timeoutSeconds \(14400 s\)/);
    const s = judgeProcessorOutcome("win32", { exitCode: null, signal: null, startError: new Error("spawn C:\\x.exe ENOENT"), durationMs: 0 }, rules)!;
    assert.equal(s.code, "PROCESS_START");
    assert.equal(s.retryable, true);
  });
});
