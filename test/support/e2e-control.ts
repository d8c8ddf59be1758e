import type { FleetInstanceView } from "../../scripts/local/fleet.ts";
import type { ApiAnswer } from "./e2e-jobs.ts";

/**
 * The local fleet's HTTP control surface (docs/local-fleet.md), as an operator or the CLI uses
 * it: instances, desired capacity, Spot notices, rebalance recommendations, health, worker kills,
 * injected launch and boot failures, the boot breaker, template versions and instance refreshes.
 */
export class FleetControlClient {
  readonly #url: string;

  constructor(controlUrl: string) {
    if (!controlUrl) throw new Error("the stack has no control surface");
    this.#url = controlUrl;
  }

  async instances(): Promise<FleetInstanceView[]> {
    const a = await this.#call<{ instances: FleetInstanceView[] }>("GET", "/instances");
    if (a.status !== 200) throw new Error(`GET /instances answered ${a.status}: ${JSON.stringify(a.body)}`);
    return a.body.instances;
  }

  /** `POST /desired`; expects 200. */
  async setDesired(desired: number): Promise<{ before: number; after: number }> {
    const a = await this.#call<{ before: number; after: number }>("POST", "/desired", { desired });
    if (a.status !== 200) throw new Error(`POST /desired answered ${a.status}: ${JSON.stringify(a.body)}`);
    return a.body;
  }

  /** `POST /instances/{id}/kill`: SIGKILL the worker; 202 with its pid, 409 when no worker runs, 404 when gone. */
  kill(instanceId: string): Promise<ApiAnswer<{ killedPid?: number; error?: { code: string; message: string } }>> {
    return this.#call("POST", `/instances/${instanceId}/kill`);
  }

  /** `POST /instances/{id}/kill-instance`: the instance dies at once (no notice, no grace); 202. */
  killInstance(instanceId: string): Promise<ApiAnswer<{ instanceId?: string; error?: { code: string; message: string } }>> {
    return this.#call("POST", `/instances/${instanceId}/kill-instance`);
  }

  /** `POST /instances/{id}/interrupt`: a Spot notice; 202, 409 when the instance is terminating, 404 when gone. */
  interrupt(instanceId: string, noticeSeconds?: number): Promise<ApiAnswer<{ time?: string; error?: { code: string; message: string } }>> {
    return this.#call("POST", `/instances/${instanceId}/interrupt`, noticeSeconds !== undefined ? { noticeSeconds } : {});
  }

  /** `POST /instances/{id}/rebalance`: a rebalance recommendation; 202, 409 when the instance is terminating, 404 when gone. */
  rebalance(instanceId: string): Promise<ApiAnswer<{ noticeTime?: string; error?: { code: string; message: string } }>> {
    return this.#call("POST", `/instances/${instanceId}/rebalance`);
  }

  /** `POST /instances/{id}/health`: SetInstanceHealth, as an EC2 status check would; 202, 404 when gone. */
  setHealth(instanceId: string, status: "Healthy" | "Unhealthy"): Promise<ApiAnswer<{ healthStatus?: string; error?: { code: string; message: string } }>> {
    return this.#call("POST", `/instances/${instanceId}/health`, { status });
  }

  /** `POST /launch-failures`: the next matching launches fail with an EC2 error; expects 201. */
  async injectLaunchFailure(rule: { code: "InsufficientInstanceCapacity" | "VcpuLimitExceeded"; instanceType?: string; availabilityZone?: string; count?: number }): Promise<void> {
    await this.#expect("POST", "/launch-failures", 201, rule);
  }

  /** `GET /launch-failures`: the injected rules still in force. */
  async launchFailures(): Promise<{ code: string; remaining?: number; availabilityZone?: string; instanceType?: string }[]> {
    return (await this.#expect<{ rules: { code: string; remaining?: number }[] }>("GET", "/launch-failures", 200)).rules;
  }

  /** `DELETE /launch-failures`: capacity is back. */
  async clearLaunchFailures(): Promise<void> {
    await this.#expect("DELETE", "/launch-failures", 200);
  }

  /** `POST /boot-failures`: the next `count` launches fail to boot; returns what is pending. */
  async injectBootFailures(count: number, mode: "user-data" | "hang" = "user-data"): Promise<{ mode: string; remaining: number }[]> {
    return (await this.#expect<{ pending: { mode: string; remaining: number }[] }>("POST", "/boot-failures", 201, { count, mode })).pending;
  }

  /** `GET /boot-failures`: injected boot failures not used yet. */
  async bootFailures(): Promise<{ mode: string; remaining: number }[]> {
    return (await this.#expect<{ pending: { mode: string; remaining: number }[] }>("GET", "/boot-failures", 200)).pending;
  }

  /** `DELETE /boot-failures`: the cause of the failed boots is fixed. */
  async clearBootFailures(): Promise<void> {
    await this.#expect("DELETE", "/boot-failures", 200);
  }

  /** `GET /breaker`. */
  breaker(): Promise<{ open: boolean; failuresInWindow: number; failures: number; trip?: { failures: number; reason: string } }> {
    return this.#expect("GET", "/breaker", 200);
  }

  /** `POST /launch-template`: a deploy of a changed launch template. */
  bumpLaunchTemplate(): Promise<{ before: string; after: string }> {
    return this.#expect("POST", "/launch-template", 200);
  }

  /** `POST /instance-refresh`: StartInstanceRefresh; returns its id. */
  async startInstanceRefresh(preferences: { minHealthyPercentage?: number; instanceWarmup?: number; skipMatching?: boolean; scaleInProtectedInstances?: "Wait" | "Ignore" | "Refresh" }): Promise<string> {
    return (await this.#expect<{ instanceRefreshId: string }>("POST", "/instance-refresh", 201, preferences)).instanceRefreshId;
  }

  /** `GET /group`: sizes, zones, suspended processes, breaker, refresh. */
  group(): Promise<{ desiredCapacity: number; maxSize: number; instances: number; availabilityZones: string[]; suspendedProcesses: { processName: string }[] }> {
    return this.#expect("GET", "/group", 200);
  }

  async #expect<T>(method: string, route: string, status: number, body?: unknown): Promise<T> {
    const a = await this.#call<T>(method, route, body);
    if (a.status !== status) throw new Error(`${method} ${route} answered ${a.status}: ${JSON.stringify(a.body)}`);
    return a.body;
  }

  async #call<T>(method: string, route: string, body?: unknown): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.#url}${route}`, {
      method,
      ...(body !== undefined ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as T };
  }
}
