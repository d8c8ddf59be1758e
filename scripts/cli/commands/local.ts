import { findLocalStack, localStackDir, readLocalState } from "../../local/state.ts";
import { CliError } from "../cli-error.ts";
import type { Target } from "../target.ts";

interface InstanceView {
  instanceId: string;
  state?: string;
  lifecycleState?: string;
  protected?: boolean;
  protectedFromScaleIn?: boolean;
  healthStatus?: string;
  availabilityZone?: string;
  launchTemplateVersion?: string;
  pid?: number;
  restarts?: number;
  bootFailure?: string;
}

interface GroupView {
  name: string;
  desiredCapacity: number;
  minSize: number;
  maxSize: number;
  launchTemplateVersion?: string;
  capacityRebalance?: boolean;
  lifecycleHooks?: { name: string; heartbeatTimeoutSeconds: number; defaultResult: string }[];
  suspendedProcesses?: { processName: string; suspensionReason: string }[];
  breaker?: { open: boolean; trip?: { trippedAt: string; reason: string }; failuresInWindow: number; failures: number; windowSeconds: number };
  instanceRefresh?: { instanceRefreshId: string; status: string; percentageComplete: number; instancesToUpdate: number };
}

function controlUrl(target: Target): string {
  if (target.kind !== "local" || !target.controlUrl)
    throw new CliError("this command drives the local fleet, and no local stack is running", "start it with `npm start` (or `spotq local up`)");
  return target.controlUrl;
}

async function control<T>(target: Target, method: string, route: string, body?: unknown): Promise<T> {
  const url = `${controlUrl(target)}${route}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new CliError(`cannot reach the local fleet at ${url}: ${(err as Error).message}`, "is `npm start` still running?");
  }
  const json = (await res.json().catch(() => ({}))) as T & { error?: { message?: string } };
  if (!res.ok) throw new CliError(`local fleet refused ${method} ${route}: ${json.error?.message ?? res.statusText}`, "check the instance id with `spotq local instances`");
  return json;
}

export async function instances(target: Target, out: (s: string) => void): Promise<void> {
  const group = await control<{ desiredCapacity: number; minSize: number; maxSize: number }>(target, "GET", "/group");
  const r = await control<{ instances: InstanceView[] } | InstanceView[]>(target, "GET", "/instances");
  const list = Array.isArray(r) ? r : r.instances;
  out(`group: desired ${group.desiredCapacity}, min ${group.minSize}, max ${group.maxSize}, ${list.length} instance(s)`);
  for (const i of list) {
    const prot = i.protectedFromScaleIn ?? i.protected;
    out(
      `  ${i.instanceId}  ${(i.lifecycleState ?? i.state ?? "?").padEnd(20)} ${(i.healthStatus ?? "").padEnd(9)} ${prot ? "protected  " : "unprotected"}  ` +
        `${(i.availabilityZone ?? "").padEnd(11)} v${i.launchTemplateVersion ?? "?"}  pid ${i.pid ?? "-"}  restarts ${i.restarts ?? 0}` +
        (i.bootFailure ? `  boot failed: ${i.bootFailure}` : ""),
    );
  }
}

/** The local group: sizes, template version, hooks, suspended processes, the breaker and the instance refresh. */
export async function group(target: Target, out: (s: string) => void): Promise<void> {
  const g = await control<GroupView>(target, "GET", "/group");
  out(`group ${g.name}: desired ${g.desiredCapacity} (min ${g.minSize}, max ${g.maxSize}), launch template version ${g.launchTemplateVersion ?? "?"}`);
  out(`capacity rebalancing: ${g.capacityRebalance ? "on" : "off"}; lifecycle hooks: ${g.lifecycleHooks?.length ? g.lifecycleHooks.map((h) => `${h.name} (${h.heartbeatTimeoutSeconds} s, default ${h.defaultResult})`).join(", ") : "none"}`);
  const suspended = g.suspendedProcesses ?? [];
  out(`suspended processes: ${suspended.length ? suspended.map((p) => p.processName).join(", ") : "none"}`);
  const b = g.breaker;
  if (b) out(b.open && b.trip ? `boot breaker: OPEN since ${b.trip.trippedAt}: ${b.trip.reason}` : `boot breaker: closed, ${b.failuresInWindow} of ${b.failures} failed boots in the last ${b.windowSeconds} s`);
  const r = g.instanceRefresh;
  if (r) out(`instance refresh ${r.instanceRefreshId}: ${r.status} ${r.percentageComplete}%, ${r.instancesToUpdate} to update`);
}

/** Options of the local fleet's chaos commands, as parsed by the CLI. */
export interface LocalOptions {
  count?: string;
  code?: string;
  type?: string;
  az?: string;
  mode?: string;
  "min-healthy"?: string;
  "skip-matching"?: boolean;
  protected?: string;
  warmup?: string;
}

const LAUNCH_CODES: Record<string, string> = { ice: "InsufficientInstanceCapacity", vcpu: "VcpuLimitExceeded" };

/**
 * The local fleet's Auto Scaling chaos commands (group, rebalance, unhealthy, kill-instance, fail-launches,
 * fail-boots, bump-template, refresh). Returns the exit code.
 */
export async function localCommand(getTarget: () => Target, sub: string, args: string[], o: LocalOptions, out: (s: string) => void): Promise<number> {
  const known = ["group", "rebalance", "unhealthy", "kill-instance", "fail-launches", "fail-boots", "bump-template", "refresh"];
  if (!known.includes(sub))
    throw new CliError(
      `unknown local command "${sub}"`,
      `use one of: up, down, instances, interrupt <id>, kill <id>, ${known.join(", ")}`,
      2,
    );
  const target = getTarget();
  const id = (usage: string) => {
    const v = args[0];
    if (!v) throw new CliError("missing instance id", `usage: spotq local ${usage} <instanceId>`, 2);
    return encodeURIComponent(v);
  };
  const num = (v: string | undefined, name: string, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new CliError(`--${name} ${v}: must be a number of at least ${min}`, undefined, 2);
    return n;
  };
  switch (sub) {
    case "group":
      await group(target, out);
      return 0;
    case "rebalance": {
      const r = await control<{ noticeTime: string }>(target, "POST", `/instances/${id("rebalance")}/rebalance`);
      out(`posted a rebalance recommendation to ${args[0]} at ${r.noticeTime}; with Capacity Rebalancing the group launches a replacement, then terminates it`);
      return 0;
    }
    case "unhealthy":
      await control(target, "POST", `/instances/${id("unhealthy")}/health`, { status: "Unhealthy" });
      out(`marked ${args[0]} Unhealthy; the group terminates it (through its terminate hook) and launches a replacement`);
      return 0;
    case "kill-instance":
      await control(target, "POST", `/instances/${id("kill-instance")}/kill-instance`);
      out(`killed instance ${args[0]} outright; the group replaces it`);
      return 0;
    case "fail-launches": {
      if (args[0] === "clear") {
        await control(target, "DELETE", "/launch-failures");
        out("cleared injected launch failures; the next retry launches");
        return 0;
      }
      const code = LAUNCH_CODES[(o.code ?? "ice").toLowerCase()] ?? o.code ?? "";
      const body = {
        code,
        ...(o.type ? { instanceType: o.type } : {}),
        ...(o.az ? { availabilityZone: o.az } : {}),
        ...(o.count ? { count: num(o.count, "count", 1) } : {}),
      };
      await control(target, "POST", "/launch-failures", body);
      out(`launches${o.type ? ` of ${o.type}` : ""}${o.az ? ` in ${o.az}` : ""} now fail with ${code}${o.count ? ` (${o.count} times)` : " until `spotq local fail-launches clear`"}`);
      return 0;
    }
    case "fail-boots": {
      if (args[0] === "clear") {
        await control(target, "DELETE", "/boot-failures");
        out("cleared injected boot failures");
        return 0;
      }
      const count = num(o.count ?? args[0], "count", 1) ?? 1;
      await control(target, "POST", "/boot-failures", { count, mode: o.mode ?? "user-data" });
      out(`the next ${count} launch(es) fail to boot (${o.mode ?? "user-data"}); each counts in the boot breaker`);
      return 0;
    }
    case "bump-template": {
      const r = await control<{ before: string; after: string }>(target, "POST", "/launch-template");
      out(`launch template version ${r.before} -> ${r.after}; new instances get ${r.after} (spotq local refresh rolls it out)`);
      return 0;
    }
    case "refresh": {
      if (args[0] === "cancel") {
        const r = await control<{ instanceRefreshId: string }>(target, "DELETE", "/instance-refresh");
        out(`cancelling instance refresh ${r.instanceRefreshId}`);
        return 0;
      }
      const body = {
        ...(o["min-healthy"] !== undefined ? { minHealthyPercentage: num(o["min-healthy"], "min-healthy", 0) } : {}),
        ...(o.warmup !== undefined ? { instanceWarmup: num(o.warmup, "warmup", 0) } : {}),
        ...(o["skip-matching"] ? { skipMatching: true } : {}),
        ...(o.protected ? { scaleInProtectedInstances: o.protected } : {}),
      };
      const r = await control<{ instanceRefreshId: string }>(target, "POST", "/instance-refresh", body);
      out(`started instance refresh ${r.instanceRefreshId}; follow it with \`spotq local group\` or \`spotq fleet\``);
      return 0;
    }
  }
  return 0;
}

export async function interrupt(target: Target, instanceId: string, out: (s: string) => void): Promise<void> {
  await control(target, "POST", `/instances/${encodeURIComponent(instanceId)}/interrupt`);
  out(`posted a Spot interruption notice to ${instanceId}; it will be terminated when the notice runs out`);
}

export async function kill(target: Target, instanceId: string, out: (s: string) => void): Promise<void> {
  await control(target, "POST", `/instances/${encodeURIComponent(instanceId)}/kill`);
  out(`sent SIGKILL to the worker on ${instanceId}; its service manager restarts it and its job returns after the visibility timeout`);
}

/** Stops the local stack running from this folder, or else the one the user's home records (SPOTQ_HOME). */
export async function down(out: (s: string) => void): Promise<void> {
  const found = findLocalStack(localStackDir());
  if (!found) {
    out("no local stack is running (none in this folder, none recorded under SPOTQ_HOME)");
    return;
  }
  const { state } = found;
  const dir = state.dir;
  process.kill(state.pid, "SIGTERM");
  for (let i = 0; i < 100 && readLocalState(dir); i++) await new Promise((r) => setTimeout(r, 100));
  out(readLocalState(dir) ? `sent SIGTERM to the local stack (pid ${state.pid}); it is still stopping` : "local stack stopped");
}
