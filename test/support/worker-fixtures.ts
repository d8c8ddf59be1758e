import { createHash } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FleetConfigInput } from "../../core/fleet-config.ts";

/** The repository root. */
export const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** The stand-in processor script. */
export const FAKE_MEDIT = path.join(REPO, "scripts", "fake-medit.ts");

/**
 * `--import` with an absolute URL of tsx: the processor runs in the job folder, where a bare
 * "tsx" would not resolve.
 */
export const TSX_IMPORT = import.meta.resolve("tsx");

/** The fleet config's `processor` block that runs fake-medit with the Node 24 binary running the tests. */
export function fakeMeditProcessor(env: Record<string, string> = {}): NonNullable<FleetConfigInput["processor"]> {
  return {
    command: process.execPath,
    args: ["--import", TSX_IMPORT, FAKE_MEDIT, "--iScanComplete", "{config}"],
    env,
  };
}

/** `fleet.preflight.gpuCheck` that runs the stand-in nvidia-smi (scripts/fake-nvidia-smi.mjs) with the Node running the tests. */
export function fakeNvidiaSmi(): string[] {
  return [process.execPath, path.join(REPO, "scripts", "fake-nvidia-smi.mjs")];
}

/** The Medit request fixture (test/fixtures/medit-request.json). */
export async function meditFixture(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path.join(REPO, "test", "fixtures", "medit-request.json"), "utf8")) as Record<string, unknown>;
}

/** A fresh temporary folder. */
export function tempDir(prefix = "spotq-worker-test-"): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
