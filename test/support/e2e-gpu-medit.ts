/**
 * fake-medit on an instance whose GPU may die: the chaos e2e's processor. When the file named by
 * FAKE_NVIDIA_SMI_FAIL_FILE exists in the instance's folder (SPOTQ_WORK_ROOT; the worker passes
 * its environment on to the processor), the run aborts as Medit does when the driver is gone
 * (a signal: PROCESS_CRASH, which the worker's instance breaker counts as the machine's fault).
 * The same file makes the local preflight's GPU check (scripts/fake-nvidia-smi.mjs, run in the
 * instance's folder, so the relative name resolves there) fail. Otherwise it is fake-medit itself,
 * with the same arguments.
 *
 * Run: node --import tsx test/support/e2e-gpu-medit.ts --iScanComplete <config.json>
 */
import { existsSync } from "node:fs";
import path from "node:path";

const failFile = process.env.FAKE_NVIDIA_SMI_FAIL_FILE;
const workRoot = process.env.SPOTQ_WORK_ROOT;
if (failFile && workRoot && existsSync(path.resolve(workRoot, failFile))) {
  process.stderr.write("fake-medit: CUDA error: unspecified launch failure (the GPU is gone); aborting\n");
  process.abort();
}
await import("../../scripts/fake-medit.ts");
