import { SpotqError } from "../core/errors.ts";
import type { InstanceMetadata } from "../core/ports.ts";

/** The link-local address of the EC2 instance metadata service. */
export const DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254";

/** The SDK's own variable for the IMDS endpoint; the local fleet sets it per instance. */
export const IMDS_ENDPOINT_ENV = "AWS_EC2_METADATA_SERVICE_ENDPOINT";

/** IMDSv2's largest token lifetime (6 h). */
export const IMDS_MAX_TOKEN_TTL_SECONDS = 21_600;

export interface Imdsv2MetadataOptions {
  /** Base URL of IMDS. @default env AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254 */
  endpoint?: string;
  /** Per-request timeout; IMDS answers in milliseconds, so a slow answer means it is unreachable. @default 2000 */
  timeoutMs?: number;
  /** Lifetime asked for each session token. @default 21600 */
  tokenTtlSeconds?: number;
  /** The environment read for the endpoint. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * Instance metadata over IMDSv2: a session token from `PUT /latest/api/token`, then GETs that carry it.
 * The token is reused and fetched again before it expires (or when IMDS says it is no longer valid).
 */
export class Imdsv2Metadata implements InstanceMetadata {
  readonly endpoint: string;
  readonly #timeoutMs: number;
  readonly #ttlSeconds: number;
  #token: { value: string; refreshAt: number } | undefined;
  #pendingToken: Promise<string> | undefined;

  constructor(options: Imdsv2MetadataOptions = {}) {
    const env = options.env ?? process.env;
    this.endpoint = (options.endpoint ?? (env[IMDS_ENDPOINT_ENV] || DEFAULT_IMDS_ENDPOINT)).replace(/\/+$/, "");
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#ttlSeconds = options.tokenTtlSeconds ?? IMDS_MAX_TOKEN_TTL_SECONDS;
    if (!Number.isInteger(this.#ttlSeconds) || this.#ttlSeconds < 1 || this.#ttlSeconds > IMDS_MAX_TOKEN_TTL_SECONDS)
      throw new SpotqError("IMDS", `tokenTtlSeconds must be an integer from 1 to ${IMDS_MAX_TOKEN_TTL_SECONDS}, got ${this.#ttlSeconds}`);
    if (!(this.#timeoutMs > 0)) throw new SpotqError("IMDS", `timeoutMs must be positive, got ${this.#timeoutMs}`);
  }

  async instanceId(): Promise<string> {
    const text = await this.#get("/latest/meta-data/instance-id");
    if (text === undefined) throw new SpotqError("IMDS", `IMDS at ${this.endpoint} has no instance-id (404)`);
    return text.trim();
  }

  async spotInterruption(): Promise<{ action: string; time: string } | undefined> {
    const text = await this.#get("/latest/meta-data/spot/instance-action");
    if (text === undefined) return undefined;
    const v = parseJson(text, "spot/instance-action") as { action?: unknown; time?: unknown };
    if (typeof v?.action !== "string" || typeof v.time !== "string")
      throw new SpotqError("IMDS", `IMDS spot/instance-action is not {action, time}: ${text.slice(0, 200)}`);
    return { action: v.action, time: v.time };
  }

  async rebalanceRecommendation(): Promise<{ noticeTime: string } | undefined> {
    const text = await this.#get("/latest/meta-data/events/recommendations/rebalance");
    if (text === undefined) return undefined;
    const v = parseJson(text, "events/recommendations/rebalance") as { noticeTime?: unknown };
    if (typeof v?.noticeTime !== "string")
      throw new SpotqError("IMDS", `IMDS events/recommendations/rebalance is not {noticeTime}: ${text.slice(0, 200)}`);
    return { noticeTime: v.noticeTime };
  }

  async targetLifecycleState(): Promise<string | undefined> {
    const text = await this.#get("/latest/meta-data/autoscaling/target-lifecycle-state");
    return text === undefined ? undefined : text.trim();
  }

  /** A metadata GET: the body, or undefined on 404 (IMDS's "nothing posted"). */
  async #get(path: string): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.#currentToken();
      const res = await this.#fetch("GET", path, { "X-aws-ec2-metadata-token": token });
      if (res.status === 200) return await res.text();
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      // 401: the token expired early or IMDS restarted; one fresh token is worth a retry.
      if (res.status === 401 && attempt === 1) {
        await res.body?.cancel();
        this.#token = undefined;
        continue;
      }
      throw new SpotqError("IMDS", `IMDS GET ${path} failed: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
    }
  }

  /** The cached token, or a new one when it is near its end; concurrent callers share one PUT. */
  async #currentToken(): Promise<string> {
    if (this.#token && Date.now() < this.#token.refreshAt) return this.#token.value;
    this.#pendingToken ??= this.#fetchToken().finally(() => (this.#pendingToken = undefined));
    return this.#pendingToken;
  }

  async #fetchToken(): Promise<string> {
    const requestedAt = Date.now();
    const res = await this.#fetch("PUT", "/latest/api/token", { "X-aws-ec2-metadata-token-ttl-seconds": String(this.#ttlSeconds) });
    const body = await res.text();
    if (res.status !== 200) throw new SpotqError("IMDS", `IMDS token PUT failed: HTTP ${res.status} ${body.slice(0, 200)}`);
    const granted = Number(res.headers.get("x-aws-ec2-metadata-token-ttl-seconds") ?? this.#ttlSeconds);
    const ttlMs = (Number.isFinite(granted) && granted > 0 ? granted : this.#ttlSeconds) * 1000;
    // Renew when 90% of the lifetime is used (at most 60 s early), so a token never expires in flight.
    const margin = Math.min(60_000, ttlMs * 0.1);
    this.#token = { value: body.trim(), refreshAt: requestedAt + ttlMs - margin };
    return this.#token.value;
  }

  async #fetch(method: "GET" | "PUT", path: string, headers: Record<string, string>): Promise<Response> {
    try {
      return await fetch(this.endpoint + path, { method, headers, signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (err) {
      const e = err as Error;
      const why = e.name === "TimeoutError" ? `no answer within ${this.#timeoutMs} ms` : ((e.cause as Error | undefined)?.message ?? e.message);
      throw new SpotqError("IMDS", `IMDS ${method} ${path} at ${this.endpoint} failed: ${why}`, { cause: err });
    }
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new SpotqError("IMDS", `IMDS ${what} is not JSON: ${text.slice(0, 200)}`);
  }
}
