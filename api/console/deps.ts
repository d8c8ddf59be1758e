import type { AlarmStates, JobLogReader, QueueDepthHistory } from "../../core/console-ports.ts";
import type { FleetControl } from "../../core/ports.ts";

/**
 * What the web console's read routes run on (`GET /jobs/{id}/logs`, `GET /fleet`): ports, each
 * with an AWS adapter and a local stand-in (api/console/compose.ts picks). A part left out makes
 * its piece of the answer "unavailable", with the reason, instead of failing the route.
 */
export interface ConsoleDeps {
  /** The Auto Scaling group the fleet view describes. @default ApiDeps.fleet (the fast path's) */
  group?: FleetControl;
  /** Job attempt logs: CloudWatch Logs, or the local stack's telemetry files. */
  logs?: JobLogReader;
  /** The deployment's alarms: CloudWatch, or the local fleet's queue-depth alarm. */
  alarms?: AlarmStates;
  /** The jobs queue's depth over the last hour: CloudWatch metrics, or a local sampler. */
  queueHistory?: QueueDepthHistory;
  /** Starts what runs in the background (the local queue-depth sampler); the local server calls it. */
  start?(): void;
  /** Stops it. */
  close?(): void;
}
