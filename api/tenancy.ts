import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import type { Problem } from "../core/errors.ts";
import type { TenantConfig } from "../core/fleet-config.ts";
import type { JobRecord } from "../core/job.ts";
import type { JobListQuery } from "../core/ports.ts";
import type { ValidatedRequest } from "../core/request.ts";
import { PATH_KEYS } from "../core/request.ts";
import { folderKeyPrefix, parseS3Uri } from "../core/s3-uri.ts";
import type { ApiDeps } from "./deps.ts";
import { ApiError, ApiErrorCode } from "./http-errors.ts";
import type { ApiLog } from "./log.ts";
import { jobNotFound, readJob } from "./read-job.ts";

/**
 * Tenants (issue 11 §2): who a request acts for, and what that lets it see.
 *
 * - **Authentication** ({@link authenticate}, a middleware on every route but the public ones):
 *   on Lambda, the tenant comes from what API Gateway vouches for in the request context (the API
 *   key's id, mapped through `SPOTQ_TENANT_KEY_IDS`; with `api.auth` "iam", the caller's ARN
 *   matched against `principals`); locally, from the `x-api-key` header compared with the config's
 *   keys. No tenants in the config: every request is let through as the one operator.
 * - **Authorization**: a tenant sees, cancels and redrives only its own jobs; any other job answers
 *   404 exactly as an unknown id does ({@link readJobFor}). It submits only sources and targets
 *   under its prefixes ({@link tenantFolderProblems}), lists only its own index ({@link listScope}).
 *
 * Every refusal is logged (`event: "refused"`) with the tenant and the reason, never a key's value.
 */

/** The header API Gateway reads the key from, and the local server too. */
export const API_KEY_HEADER = "x-api-key";

/** Paths served without authentication: the console's page and assets (the page asks for the key). */
export const PUBLIC_PATH_PREFIXES: readonly string[] = ["/console"];

/** Who a request acts for. */
export interface Caller {
  /** The tenant; absent when the deployment has no tenants (one operator sees everything). */
  tenant?: TenantConfig;
}

/** Hono variables this module sets (merged into the app's `ApiEnv`). */
export type TenancyVariables = { caller: Caller };

/** The request context fields API Gateway fills in (REST payload 1.0; HTTP API 2.0 where it differs). */
interface GatewayContext {
  identity?: { apiKeyId?: string | null; userArn?: string | null; caller?: string | null };
  authorizer?: { iam?: { userArn?: string | null } } | null;
}

/** Why a request is not let in, for the log; the answer itself says only what to send. */
type Identified = { ok: true; caller: Caller } | { ok: false; reason: string; fields?: Record<string, unknown> };

/**
 * Who the request acts for: the operator (no tenants configured), a tenant, or nobody (refused).
 * On Lambda only the request context counts (API Gateway checked the key or the signature); the
 * local server, which has no API Gateway in front, compares the `x-api-key` header.
 */
export function identifyCaller(deps: Pick<ApiDeps, "config" | "tenantKeyIds">, c: Context): Identified {
  const tenants = deps.config.api.tenants;
  if (tenants.length === 0) return { ok: true, caller: {} };
  const gateway = (c.env as { requestContext?: GatewayContext } | undefined)?.requestContext;
  if (gateway) {
    if (deps.config.api.auth === "iam") {
      const arn = gateway.identity?.userArn ?? gateway.authorizer?.iam?.userArn ?? undefined;
      if (!arn) return { ok: false, reason: "no caller ARN in the request context (is the method's authorization AWS_IAM?)" };
      const tenant = tenants.find((t) => t.principals.some((p) => principalMatches(p, arn)));
      return tenant ? { ok: true, caller: { tenant } } : { ok: false, reason: "the caller's principal is no tenant's", fields: { principal: arn } };
    }
    const keyId = gateway.identity?.apiKeyId ?? undefined;
    if (!keyId) return { ok: false, reason: "no API key id in the request context (is the method's apiKeyRequired on?)" };
    const name = deps.tenantKeyIds?.[keyId];
    const tenant = name === undefined ? undefined : tenants.find((t) => t.name === name);
    return tenant ? { ok: true, caller: { tenant } } : { ok: false, reason: "the API key is no tenant's", fields: { apiKeyId: keyId } };
  }
  const key = c.req.header(API_KEY_HEADER);
  if (!key) return { ok: false, reason: `no ${API_KEY_HEADER} header` };
  const tenant = tenants.find((t) => t.apiKey !== undefined && sameSecret(t.apiKey, key));
  return tenant ? { ok: true, caller: { tenant } } : { ok: false, reason: `the ${API_KEY_HEADER} header is no tenant's key` };
}

/**
 * The middleware that sets the request's {@link Caller} (read it with {@link callerOf}), or answers
 * 403 as API Gateway does for a missing or unknown key. Paths under {@link PUBLIC_PATH_PREFIXES}
 * pass without a caller. Mounted once, before every route, so a new route is authenticated
 * without doing anything.
 */
export function authenticate(deps: Pick<ApiDeps, "config" | "tenantKeyIds">, log: ApiLog): MiddlewareHandler<{ Variables: TenancyVariables }> {
  return async (c, next) => {
    if (PUBLIC_PATH_PREFIXES.some((p) => c.req.path === p || c.req.path.startsWith(`${p}/`))) return next();
    const who = identifyCaller(deps, c);
    if (!who.ok) {
      log.warn("refused", { reason: who.reason, method: c.req.method, path: c.req.path, ...who.fields });
      throw new ApiError(403, ApiErrorCode.forbidden, `forbidden: send a tenant's API key in the ${API_KEY_HEADER} header`);
    }
    c.set("caller", who.caller);
    await next();
  };
}

/** The caller {@link authenticate} found (the operator when it did not run: public paths, tests of a bare route). */
export function callerOf(c: Context): Caller {
  return (c.get("caller") as Caller | undefined) ?? {};
}

/** Whether the caller may see this job: the operator sees all, a tenant only its own. */
export function mayAccess(caller: Caller, job: Pick<JobRecord, "tenant">): boolean {
  return caller.tenant === undefined || job.tenant === caller.tenant.name;
}

/**
 * **The authorization every route about one job calls** (GET, DELETE, and the console's logs and
 * redrive): the job, or the same 404 `NOT_FOUND` an unknown id gets when it is another tenant's
 * (so ids cannot be probed). The refusal is logged with the tenant, the reason and the owner.
 */
export async function readJobFor(deps: Pick<ApiDeps, "store">, log: ApiLog, caller: Caller, rawId: string): Promise<JobRecord> {
  const job = await readJob(deps.store, rawId);
  assertMayAccess(log, caller, job, rawId);
  return job;
}

/** {@link readJobFor} for a job already read: throws the 404 of an unknown id when the caller may not see it. */
export function assertMayAccess(log: ApiLog, caller: Caller, job: JobRecord, rawId: string = job.jobId): void {
  if (mayAccess(caller, job)) return;
  log.warn("refused", { tenant: caller.tenant?.name, reason: "the job belongs to another tenant", jobId: job.jobId, owner: job.tenant ?? null });
  throw jobNotFound(rawId);
}

/** What a listing is confined to: a tenant lists its own index only. */
export function listScope(caller: Caller): Pick<JobListQuery, "tenant"> {
  return caller.tenant ? { tenant: caller.tenant.name } : {};
}

/**
 * A tenant's sources and targets must lie under one of its prefixes (as folders: `labs/a/` holds
 * `labs/a/case-1` but not `labs/ab`). Checked before the source folder is listed, so a tenant
 * cannot learn whether another tenant's folder exists.
 */
export function tenantFolderProblems(tenant: TenantConfig | undefined, request: ValidatedRequest): Problem[] {
  if (!tenant) return [];
  const problems: Problem[] = [];
  const allowed = tenant.prefixes.map((p) => `s3://${request.source.bucket}/${p}`).join(", ");
  for (const [field, uri] of [
    [PATH_KEYS.source, request.source],
    [PATH_KEYS.target, request.target],
  ] as const) {
    const folder = `${folderKeyPrefix(uri)}`;
    if (!tenant.prefixes.some((p) => folder.startsWith(p))) problems.push({ field, reason: `must lie under one of tenant ${tenant.name}'s prefixes: ${allowed}` });
  }
  return problems;
}

/**
 * The tenant whose prefixes hold a folder key prefix (`labs/a/case-1/`): how a job that came from
 * an upload or a Kafka record finds its tenant. Prefixes of different tenants never overlap (the
 * config refuses it), so at most one does.
 */
export function tenantOfFolder(tenants: readonly TenantConfig[], folder: string): TenantConfig | undefined {
  const f = folder.endsWith("/") ? folder : `${folder}/`;
  return tenants.find((t) => t.prefixes.some((p) => f.startsWith(p)));
}

/** The tenant of a request body's source folder, when it names one in the served bucket. */
export function tenantOfRequestBody(tenants: readonly TenantConfig[], bucket: string, body: unknown): TenantConfig | undefined {
  if (tenants.length === 0 || body === null || typeof body !== "object") return undefined;
  const source = (body as Record<string, unknown>)[PATH_KEYS.source];
  if (typeof source !== "string") return undefined;
  const uri = parseS3Uri(source);
  if (!uri.ok || uri.value.bucket !== bucket) return undefined;
  return tenantOfFolder(tenants, folderKeyPrefix(uri.value));
}

/** Logs a refused submit with the tenant and every reason (the 400 answer lists them too). */
export function logRefusedSubmit(log: ApiLog, tenant: TenantConfig | undefined, problems: readonly Problem[]): void {
  if (tenant) log.warn("refused", { tenant: tenant.name, reason: "submit outside the tenant's prefixes", problems });
}

/** An IAM principal pattern: the exact ARN, or a prefix when it ends in `*`. */
export function principalMatches(pattern: string, arn: string): boolean {
  return pattern.endsWith("*") ? arn.startsWith(pattern.slice(0, -1)) : arn === pattern;
}

/** Compares two secrets in constant time (their digests, so lengths leak nothing either). */
function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(h(a), h(b));
}
