import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { AwsClients } from "../../../aws/clients.ts";
import { DEFAULT_HOURLY_USD } from "../../../core/fleet-config.ts";
import { analyticsReport, ANALYTICS_TABLE, daysBetween, parseSince, type AnalyticsLine, type AnalyticsReport } from "../../../core/job-result.ts";
import { forEachBounded } from "../../../worker/bounded-pool.ts";
import { CliError } from "../cli-error.ts";
import { formatDuration } from "../format.ts";
import { need, type Target } from "../target.ts";

export interface ReportOptions {
  /** `7d`, `24h`, `30m` or a date. @default "7d" */
  since?: string;
  /** `analytics.prefix` of the deployment. @default "analytics/jobs/" */
  prefix?: string;
  /** `type=usd` hourly prices over the defaults. */
  prices?: string[];
  json?: boolean;
  now?: Date;
}

/**
 * `spotq report [--since 7d]`: throughput per day, failure reasons and cost per job, from the
 * analytics lines in the data bucket (the same figures as the README's Athena queries), for the
 * local stack and a deployment alike.
 */
export async function report(target: Target, o: ReportOptions, out: (s: string) => void): Promise<AnalyticsReport> {
  const now = o.now ?? new Date();
  const since = parseSince(o.since ?? "7d", now);
  if (!since) throw new CliError(`--since ${o.since}: not a window`, "use 7d, 24h, 30m or a date such as 2025-03-01");
  const prices = { ...DEFAULT_HOURLY_USD, ...parsePrices(o.prices ?? []) };
  const bucket = need(target, "bucket", "spotq report");
  const prefix = o.prefix ?? "analytics/jobs/";
  const clients = new AwsClients(target.aws);
  try {
    const lines = await readLines(clients, bucket, prefix, daysBetween(since, now));
    const r = analyticsReport(lines, since, prices);
    if (o.json) out(JSON.stringify(r, null, 2));
    else printReport(r, out, `s3://${bucket}/${prefix}`);
    return r;
  } finally {
    clients.destroy();
  }
}

function parsePrices(pairs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of pairs) {
    const m = /^([a-z][a-z0-9-]*\.[a-z0-9]+)=(\d+(?:\.\d+)?)$/.exec(p);
    if (!m) throw new CliError(`--price ${p}: expected type=usd-per-hour`, "for example --price g4dn.xlarge=0.21");
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function readLines(clients: AwsClients, bucket: string, prefix: string, days: string[]): Promise<AnalyticsLine[]> {
  const s3 = clients.s3();
  const keys: string[] = [];
  try {
    for (const day of days) {
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}${ANALYTICS_TABLE.partitionKey}=${day}/`, ContinuationToken: token }));
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    }
  } catch (err) {
    throw new CliError(`cannot list s3://${bucket}/${prefix}: ${(err as Error).message}`, "check the deployment's bucket and your AWS credentials (--profile, --region)");
  }
  const lines: AnalyticsLine[] = [];
  await forEachBounded(keys, 16, async (Key) => {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
    for (const l of ((await r.Body?.transformToString()) ?? "").split("\n")) if (l.trim()) lines.push(JSON.parse(l) as AnalyticsLine);
  });
  return lines;
}

function table(rows: string[][], out: (s: string) => void): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) out(`  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")}`);
}

function printReport(r: AnalyticsReport, out: (s: string) => void, where: string): void {
  out(`${r.jobs} finished job(s) since ${r.since} (${where})`);
  out("throughput per day");
  if (r.days.length === 0) out("  no jobs");
  else table([["day", "finished", "succeeded", "failed", "cancelled", "avg process"], ...r.days.map((d) => [d.day, String(d.finished), String(d.succeeded), String(d.failed), String(d.cancelled), d.avgProcessSeconds === null ? "-" : formatDuration(d.avgProcessSeconds * 1000)])], out);
  out("failure reasons");
  if (r.failures.length === 0) out("  none");
  else table([["code", "jobs", "last message"], ...r.failures.map((f) => [f.code, String(f.jobs), f.lastMessage.length > 80 ? `${f.lastMessage.slice(0, 77)}...` : f.lastMessage])], out);
  out("cost per job (instance time of download + process + upload, at the hourly price)");
  if (r.costs.length === 0) out("  no job ran on a known instance type");
  else
    table(
      [["instance type", "jobs", "hours", "cost USD", "per job USD"], ...r.costs.map((c) => [c.instanceType, String(c.jobs), c.hours.toFixed(3), c.costUsd === null ? "no price" : c.costUsd.toFixed(4), c.costPerJobUsd === null ? "-" : c.costPerJobUsd.toFixed(4)])],
      out,
    );
}
