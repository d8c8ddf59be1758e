import { localStackDir, readLocalState } from "../../local/state.ts";
import { CliError } from "../cli-error.ts";
import type { Target } from "../target.ts";

interface InstanceView {
  instanceId: string;
  state?: string;
  lifecycleState?: string;
  protected?: boolean;
  protectedFromScaleIn?: boolean;
  pid?: number;
  restarts?: number;
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
      `  ${i.instanceId}  ${(i.lifecycleState ?? i.state ?? "?").padEnd(12)} ${prot ? "protected  " : "unprotected"}  pid ${i.pid ?? "-"}  restarts ${i.restarts ?? 0}`,
    );
  }
}

export async function interrupt(target: Target, instanceId: string, out: (s: string) => void): Promise<void> {
  await control(target, "POST", `/instances/${encodeURIComponent(instanceId)}/interrupt`);
  out(`posted a Spot interruption notice to ${instanceId}; it will be terminated when the notice runs out`);
}

export async function kill(target: Target, instanceId: string, out: (s: string) => void): Promise<void> {
  await control(target, "POST", `/instances/${encodeURIComponent(instanceId)}/kill`);
  out(`sent SIGKILL to the worker on ${instanceId}; its service manager restarts it and its job returns after the visibility timeout`);
}

/** Stops the local stack running from this folder. */
export async function down(out: (s: string) => void): Promise<void> {
  const dir = localStackDir();
  const state = readLocalState(dir);
  if (!state) {
    out("no local stack is running here");
    return;
  }
  process.kill(state.pid, "SIGTERM");
  for (let i = 0; i < 100 && readLocalState(dir); i++) await new Promise((r) => setTimeout(r, 100));
  out(readLocalState(dir) ? `sent SIGTERM to the local stack (pid ${state.pid}); it is still stopping` : "local stack stopped");
}
