import assert from "node:assert/strict";
import { classifyFailure } from "../../../worker/instance-health.ts";
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

  describe("a container (docker run's exit status)", () => {
    const container = { ...rules, invalidRequestExitCodes: [2], container: true };
    const exit = (exitCode: number) => judgeProcessorOutcome("posix", { exitCode, signal: null, durationMs: 1 }, container);

    it("maps the image's exit code exactly as for Medit: 0 success, a listed code an invalid request, any other a retried failure", () => {
      assert.equal(exit(0), undefined);
      assert.equal(exit(2)!.code, "INVALID_REQUEST");
      assert.equal(exit(2)!.retryable, false);
      assert.equal(exit(1)!.code, "PROCESS_EXIT");
      assert.equal(exit(1)!.retryable, true);
    });

    it("reads docker run's own 125, 126 and 127 as a processor that could not start: the instance's fault, retried", () => {
      for (const code of [125, 126, 127]) {
        const f = exit(code)!;
        assert.equal(f.code, "PROCESS_START", String(code));
        assert.equal(f.retryable, true);
        assert.equal(f.exitCode, code);
        assert.equal(classifyFailure(f.code), "instance");
      }
      assert.match(exit(125)!.message, /^docker run exited with 125: the Docker daemon could not create or start the container/);
      assert.match(exit(127)!.message, /the image's command was not found/);
      assert.equal(judgeProcessorOutcome("posix", { exitCode: 125, signal: null, durationMs: 1 }, rules)!.code, "PROCESS_EXIT", "a plain process's 125 is its own");
    });

    it("reads 128 + n as the container's process killed by signal n: a crash", () => {
      const oom = exit(137)!;
      assert.equal(oom.code, "PROCESS_CRASH");
      assert.match(oom.message, /killed by SIGKILL \(exit code 137\) \(an out-of-memory kill ends this way too\)/);
      assert.match(exit(139)!.message, /SIGSEGV/);
      assert.equal(classifyFailure(oom.code), "instance");
      assert.equal(exit(200)!.code, "PROCESS_EXIT", "beyond the signal range: an ordinary exit code");
    });

    it("still names a timeout, whatever docker run reported after the stop", () => {
      assert.equal(judgeProcessorOutcome("posix", { exitCode: 143, signal: null, killed: "timeout", durationMs: 1 }, container)!.code, "PROCESS_TIMEOUT");
    });
  });
});
