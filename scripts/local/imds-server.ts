import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { listenLoopback } from "./loopback-server.ts";

/** What EC2 posts under `spot/instance-action`. */
export type SpotAction = "terminate" | "stop" | "hibernate";

export interface ImdsServerOptions {
  instanceId: string;
  /** @default "g4dn.xlarge" */
  instanceType?: string;
  /** @default "us-east-1a" */
  availabilityZone?: string;
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** `autoscaling/target-lifecycle-state` at start; absent: 404 until set. */
  targetLifecycleState?: string;
}

/** One instance's IMDSv2 endpoint, with the notices tests and the local fleet can post. */
export interface ImdsServer {
  /** Base URL, the value for `AWS_EC2_METADATA_SERVICE_ENDPOINT`. */
  readonly endpoint: string;
  readonly instanceId: string;
  /** Posts a Spot interruption notice for `inSeconds` from now (AWS gives 120 s) and returns it. */
  setSpotInterruption(action?: SpotAction, inSeconds?: number): { action: SpotAction; time: string };
  clearSpotInterruption(): void;
  /** Posts a rebalance recommendation (notice time now) and returns it. */
  setRebalanceRecommendation(): { noticeTime: string };
  /** Sets `autoscaling/target-lifecycle-state` ("InService", "Terminated", ...), as Auto Scaling updates it. */
  setTargetLifecycleState(state: string): void;
  stop(): Promise<void>;
}

const TOKEN_PATH = "/latest/api/token";
const TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN_HEADER = "x-aws-ec2-metadata-token";
const MAX_TTL = 21_600;

/**
 * Starts an IMDS endpoint that enforces IMDSv2 as an instance with `HttpTokens: required` does:
 * - `PUT /latest/api/token` needs `X-aws-ec2-metadata-token-ttl-seconds` of 1..21600 (else 400),
 *   and is refused with 403 when it carries `X-Forwarded-For` (IMDS rejects proxied token requests);
 * - every GET needs a valid, unexpired `X-aws-ec2-metadata-token` (else 401);
 * - a path with nothing posted is 404 (how `spot/instance-action` says "no notice");
 * - `autoscaling/target-lifecycle-state` is the state Auto Scaling moves the instance to (InService
 *   from its launch, Terminated once its termination starts).
 */
export async function startImdsServer(options: ImdsServerOptions): Promise<ImdsServer> {
  const instanceId = options.instanceId;
  const instanceType = options.instanceType ?? "g4dn.xlarge";
  const az = options.availabilityZone ?? "us-east-1a";
  const region = az.replace(/[a-z]$/, "");
  const tokens = new Map<string, number>();
  let spotAction: { action: SpotAction; time: string } | undefined;
  let rebalance: { noticeTime: string } | undefined;
  let targetState = options.targetLifecycleState;

  const documents = (): Record<string, () => { type: string; body: string } | undefined> => ({
    "/latest/meta-data/instance-id": () => text(instanceId),
    "/latest/meta-data/instance-type": () => text(instanceType),
    "/latest/meta-data/instance-life-cycle": () => text("spot"),
    "/latest/meta-data/placement/availability-zone": () => text(az),
    "/latest/meta-data/placement/region": () => text(region),
    "/latest/meta-data/spot/instance-action": () => (spotAction ? json(spotAction) : undefined),
    "/latest/meta-data/spot/termination-time": () => (spotAction ? text(spotAction.time) : undefined),
    "/latest/meta-data/events/recommendations/rebalance": () => (rebalance ? json(rebalance) : undefined),
    "/latest/meta-data/autoscaling/target-lifecycle-state": () => (targetState ? text(targetState) : undefined),
    "/latest/dynamic/instance-identity/document": () =>
      json({ instanceId, instanceType, availabilityZone: az, region, accountId: "000000000000", imageId: "ami-00000000000000000" }),
  });

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://imds").pathname;
    if (path === TOKEN_PATH) {
      if (req.method !== "PUT") return send(res, 405, "Method Not Allowed");
      if (req.headers["x-forwarded-for"] !== undefined) return send(res, 403, "Forbidden");
      const raw = req.headers[TTL_HEADER];
      const ttl = typeof raw === "string" && /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
      if (!(ttl >= 1 && ttl <= MAX_TTL)) return send(res, 400, "Bad Request");
      const token = randomBytes(42).toString("base64");
      tokens.set(token, Date.now() + ttl * 1000);
      res.setHeader("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", String(ttl));
      return send(res, 200, token);
    }
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "Method Not Allowed");
    const token = req.headers[TOKEN_HEADER];
    const expiresAt = typeof token === "string" ? tokens.get(token) : undefined;
    if (expiresAt === undefined || expiresAt <= Date.now()) {
      if (typeof token === "string") tokens.delete(token);
      return send(res, 401, "Unauthorized");
    }
    const doc = documents()[path.replace(/\/+$/, "")]?.();
    if (!doc) return send(res, 404, "Not Found");
    res.setHeader("Content-Type", doc.type);
    send(res, 200, doc.body);
  };

  const server = await listenLoopback(handle, options);

  return {
    endpoint: server.endpoint,
    instanceId,
    setSpotInterruption(action = "terminate", inSeconds = 120) {
      spotAction = { action, time: imdsTime(Date.now() + inSeconds * 1000) };
      return spotAction;
    },
    clearSpotInterruption() {
      spotAction = undefined;
    },
    setRebalanceRecommendation() {
      rebalance = { noticeTime: imdsTime(Date.now()) };
      return rebalance;
    },
    setTargetLifecycleState(state: string) {
      targetState = state;
    },
    async stop() {
      await server.stop();
    },
  };
}

/** IMDS notice times are UTC to the second: `2017-09-18T08:22:00Z`. */
export function imdsTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function text(body: string) {
  return { type: "text/plain", body };
}

function json(value: unknown) {
  return { type: "text/plain", body: JSON.stringify(value) };
}

function send(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}
