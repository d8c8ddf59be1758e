#!/usr/bin/env node
// A stand-in for `nvidia-smi` on machines without an NVIDIA GPU: the local stack's
// `fleet.preflight.gpuCheck` runs it, so the worker's preflight path is exercised locally.
// Plain JavaScript (no tsx): it starts in a few tens of milliseconds, like the real tool.
//
// It prints a short GPU table and exits 0, or fails as nvidia-smi does when the driver is gone
// (exit 9) when either is set:
//   FAKE_NVIDIA_SMI_FAIL=1                 always fail;
//   FAKE_NVIDIA_SMI_FAIL_FILE=<path>       fail while that file exists (a test can break the GPU mid-life).
import { existsSync } from "node:fs";

const failFile = process.env.FAKE_NVIDIA_SMI_FAIL_FILE;
if (process.env.FAKE_NVIDIA_SMI_FAIL === "1" || (failFile && existsSync(failFile))) {
  process.stderr.write("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n");
  process.exit(9);
}
process.stdout.write(
  [
    "+-----------------------------------------------------------------------------+",
    "| NVIDIA-SMI 550.00 (fake)   Driver Version: 550.00   CUDA Version: 12.4      |",
    "|   0  Tesla T4 (fake)        On   | 00000000:00:1E.0 Off |                  0 |",
    "+-----------------------------------------------------------------------------+",
    "",
  ].join("\n"),
);
