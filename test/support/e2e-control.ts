import type { FleetInstanceView } from "../../scripts/local/fleet.ts";
import type { ApiAnswer } from "./e2e-jobs.ts";

/**
 * The local fleet's HTTP control surface (docs/local-fleet.md), as an operator or the CLI uses
 * it: instances, desired capacity, Spot notices and worker kills.
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

  async #call<T>(method: string, route: string, body?: unknown): Promise<ApiAnswer<T>> {
    const res = await fetch(`${this.#url}${route}`, {
      method,
      ...(body !== undefined ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as T };
  }
}
