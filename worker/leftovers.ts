import { readFile, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { WorkerPlatform } from "../core/config-json.ts";
import { killPlan, runKillAction } from "./kill-tree.ts";

/** Job folders are `<jobId>-<attempt>` (core/config-json.ts); nothing else in the work root is touched. */
const JOB_FOLDER = /^[0-9A-HJKMNP-TV-Z]{26}-\d+$/;

/** Written into a job folder while its processor runs. */
const PROCESSOR_FILE = "processor.json";

interface ProcessorRecord {
  pid: number;
  /** Epoch ms of the machine's boot: a pid from an earlier boot means nothing now. */
  bootTime: number;
  startedAt: string;
}

function bootTime(): number {
  return Date.now() - os.uptime() * 1000;
}

/** Records the running processor in its job folder, so a worker restarted after a crash can stop it. */
export async function recordProcessor(jobRoot: string, pid: number): Promise<void> {
  const record: ProcessorRecord = { pid, bootTime: bootTime(), startedAt: new Date().toISOString() };
  await writeFile(path.join(jobRoot, PROCESSOR_FILE), JSON.stringify(record));
}

/**
 * Cleans up after a worker process that died mid-job on this instance (crash, kill): its processor
 * tree is killed if it still runs (it leads its own process group, so the service manager's kill of
 * the worker did not reach it) and its job folders are removed. Only `<jobId>-<attempt>` folders are
 * touched; a pid recorded before the last boot is ignored.
 */
export async function sweepLeftovers(
  workRoot: string,
  platform: WorkerPlatform,
  onRemoved: (e: { folder: string; killedPid?: number }) => void = () => undefined,
): Promise<void> {
  let entries;
  try {
    entries = await readdir(workRoot, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  for (const e of entries) {
    if (!e.isDirectory() || !JOB_FOLDER.test(e.name)) continue;
    const folder = path.join(workRoot, e.name);
    let killedPid: number | undefined;
    try {
      const rec = JSON.parse(await readFile(path.join(folder, PROCESSOR_FILE), "utf8")) as ProcessorRecord;
      // The processor may be gone (e.g. killed by a broken pipe once its worker died) while its helpers
      // still run in its process group: on POSIX the group is what is checked and killed.
      if (Math.abs(rec.bootTime - bootTime()) < 10_000 && (isAlive(rec.pid) || (platform !== "win32" && isAlive(-rec.pid)))) {
        await runKillAction(killPlan(platform, rec.pid).force);
        killedPid = rec.pid;
      }
    } catch {
      // No record (the processor never started) or unreadable: just the folder to remove.
    }
    await rm(folder, { recursive: true, force: true, maxRetries: 3 });
    onRemoved(killedPid !== undefined ? { folder, killedPid } : { folder });
  }
}

/** Whether a process with this pid runs (a negative pid: any process of that process group) (EPERM: it runs, as another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
