/**
 * Launching an instance, as EC2 answers it: injected launch failures (InsufficientInstanceCapacity for
 * a type and/or zone, the account's vCPU quota), the order in which the group tries capacity pools,
 * and the retry backoff. Pure: the group calls it with its own clock.
 */

/**
 * How an injected boot failure plays out: `user-data` dies at once (the bootstrap's failure path);
 * `hang` never starts the worker (the launch action times out).
 */
export const BOOT_FAILURE_MODES = ["user-data", "hang"] as const;
export type BootFailureMode = (typeof BOOT_FAILURE_MODES)[number];

/** The EC2 error codes the local fleet can inject into launches. */
export const LAUNCH_ERROR_CODES = ["InsufficientInstanceCapacity", "VcpuLimitExceeded"] as const;
export type LaunchErrorCode = (typeof LAUNCH_ERROR_CODES)[number];

/** A failure injected into launches: every attempt that matches fails, `count` times or until cleared. */
export interface LaunchFailureRule {
  code: LaunchErrorCode;
  /** Only this instance type (any when absent). */
  instanceType?: string;
  /** Only this zone (any when absent). VcpuLimitExceeded is an account limit, so it usually has none. */
  availabilityZone?: string;
  /** Attempts that fail before the rule clears itself; absent: until cleared. */
  remaining?: number;
}

/** A capacity pool: one instance type in one zone. */
export interface Pool {
  instanceType: string;
  availabilityZone: string;
}

/** An attempt that failed, with the message EC2 gives (the scaling activity's StatusMessage). */
export interface LaunchError {
  code: LaunchErrorCode;
  message: string;
}

/** Checks a launch into `pool` against the rules; the first rule that matches fails it (and uses up one of its count). */
export function tryLaunch(rules: LaunchFailureRule[], pool: Pool, zones: readonly string[]): LaunchError | undefined {
  const i = rules.findIndex(
    (r) => (!r.instanceType || r.instanceType === pool.instanceType) && (!r.availabilityZone || r.availabilityZone === pool.availabilityZone),
  );
  if (i < 0) return undefined;
  const rule = rules[i];
  if (rule.remaining !== undefined) {
    rule.remaining--;
    if (rule.remaining <= 0) rules.splice(i, 1);
  }
  return { code: rule.code, message: launchErrorMessage(rule.code, pool, zones) };
}

/**
 * EC2's messages, as Auto Scaling shows them in a failed activity's StatusMessage (with
 * "Launching EC2 instance failed." appended).
 */
export function launchErrorMessage(code: LaunchErrorCode, pool: Pool, zones: readonly string[]): string {
  if (code === "InsufficientInstanceCapacity") {
    const others = zones.filter((z) => z !== pool.availabilityZone);
    return (
      `We currently do not have sufficient ${pool.instanceType} capacity in the Availability Zone you requested (${pool.availabilityZone}). ` +
      `Our system will be working on provisioning additional capacity. You can currently get ${pool.instanceType} capacity by not specifying an ` +
      `Availability Zone in your request${others.length ? ` or choosing ${others.join(", ")}` : ""}. Launching EC2 instance failed.`
    );
  }
  return (
    `You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket that the specified instance type belongs to. ` +
    `Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit. Launching EC2 instance failed.`
  );
}

/**
 * The pools to try, best first: zones with the fewest instances first (Auto Scaling keeps zones
 * balanced), the configured type order within a zone (most preferred first). Pools that failed within
 * `cooldownMs` go last, the one that failed longest ago first, so a retry moves to another zone or type.
 */
export function poolOrder(options: {
  zones: readonly string[];
  instanceTypes: readonly string[];
  /** Instances (that count) per zone now. */
  perZone: ReadonlyMap<string, number>;
  /** When each pool last failed (key `type|zone`). */
  failedAt: ReadonlyMap<string, number>;
  now: number;
  cooldownMs: number;
  /** Only this zone (AZ rebalancing launches into the zone it balances). */
  zone?: string;
}): Pool[] {
  const { zones, instanceTypes, perZone, failedAt, now, cooldownMs } = options;
  const zoneOrder = [...zones]
    .filter((z) => !options.zone || z === options.zone)
    .map((z, i) => ({ z, i, n: perZone.get(z) ?? 0 }))
    .sort((a, b) => a.n - b.n || a.i - b.i)
    .map((x) => x.z);
  const pools: (Pool & { rank: number; failed?: number })[] = [];
  let rank = 0;
  for (const availabilityZone of zoneOrder)
    for (const instanceType of instanceTypes) {
      const failed = failedAt.get(poolKey({ instanceType, availabilityZone }));
      pools.push({ instanceType, availabilityZone, rank: rank++, ...(failed !== undefined && now - failed < cooldownMs ? { failed } : {}) });
    }
  return pools
    .sort((a, b) => (a.failed === undefined ? 0 : 1) - (b.failed === undefined ? 0 : 1) || (a.failed ?? 0) - (b.failed ?? 0) || a.rank - b.rank)
    .map(({ instanceType, availabilityZone }) => ({ instanceType, availabilityZone }));
}

export function poolKey(p: Pool): string {
  return `${p.instanceType}|${p.availabilityZone}`;
}

/** The wait before the n-th retry (n = 1, 2, ...): base, 2×base, 4×base ... capped. */
export function launchBackoffMs(retry: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
}
