import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** A live process found in the process table. */
export interface LiveProcess {
  pid: number;
  command: string;
}

/**
 * Live processes that belong to a stack: the given pids (its workers), and any process whose
 * command line, working folder or environment names the stack's folder (processors run in job
 * folders under it; workers get `SPOTQ_WORK_ROOT` under it; a processor's helpers inherit its
 * folder). Zombies are dead and left out. Linux /proc; elsewhere only the given pids are checked.
 */
export function processesOf(dir: string, pids: readonly number[] = []): LiveProcess[] {
  const wanted = new Set(pids);
  const out: LiveProcess[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return pids.filter(isAlive).map((pid) => ({ pid, command: "?" }));
  }
  for (const e of entries) {
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      const cwd = safe(() => readlinkSync(`/proc/${pid}/cwd`));
      const environ = safe(() => readFileSync(`/proc/${pid}/environ`, "utf8"));
      if (wanted.has(pid) || command.includes(dir) || cwd.startsWith(dir) || environ.includes(dir)) out.push({ pid, command });
    } catch {
      // The process ended while being read.
    }
  }
  return out;
}

/**
 * What outlived a stopped stack: {@link processesOf}, looked at for up to `graceMs` so a process
 * that is just ending (SIGKILL delivered, not yet reaped) is not reported.
 */
export async function processesLeftBy(dir: string, pids: readonly number[], graceMs = 5_000): Promise<LiveProcess[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left = processesOf(dir, pids);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** True while a process with this pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

function safe(read: () => string): string {
  try {
    return read();
  } catch {
    return "";
  }
}
