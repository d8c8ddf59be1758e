import type { JobAnnouncer } from "../aws/announcing-job-store.ts";
import type { FleetConfig } from "../core/fleet-config.ts";
import type { FleetControl, JobQueue, JobStore, ObjectStore } from "../core/ports.ts";
import type { ConsoleDeps } from "./console/deps.ts";
import type { ApiLog } from "./log.ts";

/** What the jobs API runs on: ports only, so tests can hand it failing or counting stand-ins. */
export interface ApiDeps {
  store: JobStore;
  queue: JobQueue;
  objects: ObjectStore;
  /** The Auto Scaling group for the submit's fast path; absent means no fast path. */
  fleet?: FleetControl;
  config: FleetConfig;
  /** The data bucket this deployment serves: both paths of a request must lie in it. */
  bucket: string;
  /** @default JSON lines on stdout */
  log?: ApiLog;
  /**
   * Announces job state changes (events, analytics lines). `store` is expected to be wrapped by
   * it already; the submit uses it to announce QUEUED once the job is enqueued. Absent: no events.
   */
  announcer?: JobAnnouncer;
  /** The web console's read routes: logs, alarms, queue depth history, the group to show. Absent: those parts are unavailable. */
  console?: ConsoleDeps;
  /**
   * With tenants behind API Gateway keys: API Gateway key id → tenant name (from
   * `SPOTQ_TENANT_KEY_IDS`, which infra sets), so the Lambda maps `requestContext.identity.apiKeyId`
   * to a tenant without holding any key's value. Unused by the local server (it reads `x-api-key`).
   */
  tenantKeyIds?: Readonly<Record<string, string>>;
  /** Time limit of the fast path's Auto Scaling call. @default 3000 */
  fastPathTimeoutMs?: number;
}
