import { GetObjectCommand } from "@aws-sdk/client-s3";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Problem } from "../../core/errors.ts";
import type { JobRecord } from "../../core/job.ts";
import { FolderTransfer, formatBytes } from "../../worker/transfer.ts";
import { expectedOutputs } from "../fake-medit/outputs.ts";
import { localTenant, writeSampleScan } from "./sample-scan.ts";
import type { LocalStack } from "./start.ts";
import { RESULT_FILE_NAME } from "../../core/job-result.ts";

export interface DemoResult {
  ok: boolean;
  reason?: string;
  /** Each problem the API named, when it refused the demo's request. */
  problems?: Problem[];
  /** What to do about it. */
  fix?: string;
  jobId?: string;
}

/** What `npm run demo` prints when the demo failed: the reason, each problem the API named, and the fix. */
export function demoFailureLines(r: DemoResult): string[] {
  return [`demo FAILED: ${r.reason ?? "?"}`, ...(r.problems ?? []).map((p) => `  ${p.field}: ${p.reason}`), ...(r.fix ? [`  fix: ${r.fix}`] : [])];
}

/** Where the demo puts its sample scan and results in the local bucket (under the config's first source/target prefix, if it sets any). */
export const DEMO_PREFIX = { source: "demo/src", target: "demo/target" } as const;

/**
 * The demo: upload a sample scan, submit the Medit fixture pointed at it, show the fleet going
 * 0→1, the job's progress and results, verify the outputs byte for byte, and show the idle worker
 * terminating itself back to 0.
 */
export async function runDemo(stack: LocalStack, out: (s: string) => void, o: { idleWaitSeconds?: number } = {}): Promise<DemoResult> {
  const t0 = Date.now();
  const at = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
  const say = (s: string) => out(`${at()} ${s}`);
  const bucket = stack.resources.bucket;
  const { sourcePrefixes, targetPrefixes } = stack.config.storage;
  // With tenants the demo acts as the local tenant: its key, its folders.
  const tenant = localTenant(stack.config);
  const auth: Record<string, string> = tenant ? { "x-api-key": tenant.apiKey } : {};
  const where = tenant
    ? { source: `${tenant.prefixes[0]}${DEMO_PREFIX.source}`, target: `${tenant.prefixes[0]}${DEMO_PREFIX.target}` }
    : { source: `${sourcePrefixes[0] ?? ""}${DEMO_PREFIX.source}`, target: `${targetPrefixes[0] ?? ""}${DEMO_PREFIX.target}` };
  const fleetLog = {
    desired: (e: { before: number; after: number; reason: string }) => say(`fleet: desired capacity ${e.before} -> ${e.after} (${e.reason})`),
    launched: (e: { instanceId: string }) => say(`fleet: instance ${e.instanceId} launched (booting)`),
    inService: (e: { instanceId: string }) => say(`fleet: instance ${e.instanceId} in service, worker started`),
    terminated: (e: { instanceId: string; reason: string }) => say(`fleet: instance ${e.instanceId} terminated (${e.reason})`),
  };
  stack.fleet.on("desired_changed", fleetLog.desired);
  stack.fleet.on("instance_launched", fleetLog.launched);
  stack.fleet.on("instance_in_service", fleetLog.inService);
  stack.fleet.on("instance_terminated", fleetLog.terminated);
  const scanDir = await mkdtemp(path.join(os.tmpdir(), "spotq-demo-scan-"));
  try {
    out("");
    out("demo: one Medit iScan job from zero instances and back");
    say(`fleet has ${stack.fleet.instances().length} instances, desired ${(stack.fleet.group.describe()).desiredCapacity}`);
    const files = writeSampleScan(scanDir);
    const transfer = new FolderTransfer(stack.emulators.clients.s3());
    const up = await transfer.upload({ dir: scanDir, bucket, prefix: where.source });
    say(`uploaded the sample scan: ${up.objects} files, ${formatBytes(up.bytes)} to s3://${bucket}/${where.source}`);

    const fixture = JSON.parse(readFileSync(path.join(import.meta.dirname, "..", "..", "test", "fixtures", "medit-request.json"), "utf8")) as Record<
      string,
      unknown
    >;
    const request: Record<string, unknown> = { ...fixture, "Source Folder Path": `s3://${bucket}/${where.source}`, "Target Folder Path": `s3://${bucket}/${where.target}` };
    const res = await fetch(`${stack.apiUrl}/jobs`, { method: "POST", headers: { "content-type": "application/json", ...auth }, body: JSON.stringify(request) });
    const accepted = (await res.json()) as { jobId?: string; statusUrl?: string; error?: { message: string; problems?: Problem[] } };
    if (res.status !== 202 || !accepted.jobId) {
      const problems = accepted.error?.problems ?? [];
      return {
        ok: false,
        reason: `POST /jobs answered ${res.status}: ${problems.length ? `${problems.length} problem${problems.length === 1 ? "" : "s"} with the demo's request:` : (accepted.error?.message ?? "?")}`,
        problems,
        fix: `the config (${stack.configSource}) refuses the demo's request; correct it, or unset SPOTQ_CONFIG to run on the local default`,
      };
    }
    const jobId = accepted.jobId;
    say(`POST /jobs -> 202, job ${jobId} (the Medit fixture request, pointed at the sample scan)`);

    const job = await followJob(stack.apiUrl, jobId, say, 180_000, auth);
    if (job.state !== "SUCCEEDED")
      return {
        ok: false,
        reason: `job ${jobId} ended ${job.state}${job.error ? `: ${job.error.code}: ${job.error.message}` : ""}`,
        fix:
          job.error?.code === "PROCESS_START"
            ? `processor.command (${stack.config.processor.command}) cannot run on this machine; leave "processor" out of SPOTQ_CONFIG to run the stand-in (fake-medit). The log: npm run spotq -- logs ${jobId}`
            : `read its log: npm run spotq -- logs ${jobId}`,
        jobId,
      };
    const t = job.timings ?? {};
    say(
      `job SUCCEEDED: queue wait ${ms(t.queueWaitMs)}, download ${ms(t.downloadMs)}, process ${ms(t.processMs)}, upload ${ms(t.uploadMs)}; ` +
        `${formatBytes(job.bytes?.in ?? 0)} in, ${formatBytes(job.bytes?.out ?? 0)} out`,
    );

    // Verify every result object against what the stand-in must produce from these exact inputs.
    const inputs = new Map(files.map((f) => [f.relativePath, readFileSync(path.join(scanDir, f.relativePath))]));
    const expected = expectedOutputs(inputs, { saveSource: request["Save Source To Result Folder"] === true });
    // spotq-result.json is spotq's own summary of the job, not a processor output (issue 10).
    const listed = (await transfer.list(bucket, where.target)).filter((o) => !o.key.endsWith(`/${RESULT_FILE_NAME}`));
    say(`results in s3://${bucket}/${where.target}/: ${listed.map((o) => `${o.key.slice(where.target.length + 1)} (${formatBytes(o.size)})`).join(", ")}`);
    const s3 = stack.emulators.clients.s3();
    for (const [rel, body] of expected) {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${where.target}/${rel}` })).catch(() => undefined);
      const bytes = got?.Body ? Buffer.from(await got.Body.transformToByteArray()) : undefined;
      if (!bytes || !bytes.equals(body)) return { ok: false, reason: `output ${rel} is missing or differs from the expected bytes`, jobId };
    }
    if (listed.length !== expected.size) return { ok: false, reason: `expected ${expected.size} result objects, found ${listed.length}`, jobId };
    say(`outputs verified: all ${expected.size} result objects match the sample's manifest byte for byte`);

    const idleWait = o.idleWaitSeconds ?? stack.config.fleet.idleTimeoutSeconds + 60;
    say(`waiting for the idle worker to terminate itself (idle timeout ${stack.config.fleet.idleTimeoutSeconds}s) ...`);
    const deadline = Date.now() + idleWait * 1000;
    for (;;) {
      const group = stack.fleet.group.describe();
      if (group.desiredCapacity === 0 && stack.fleet.instances().length === 0) break;
      if (Date.now() > deadline)
        return { ok: false, reason: `the fleet did not go back to 0 within ${idleWait}s (desired ${group.desiredCapacity}, ${stack.fleet.instances().length} instances)`, jobId };
      await sleep(250);
    }
    say("fleet back to 0 instances: the demo job went 0 -> 1 -> 0");
    return { ok: true, jobId };
  } finally {
    stack.fleet.off("desired_changed", fleetLog.desired);
    stack.fleet.off("instance_launched", fleetLog.launched);
    stack.fleet.off("instance_in_service", fleetLog.inService);
    stack.fleet.off("instance_terminated", fleetLog.terminated);
    await rm(scanDir, { recursive: true, force: true });
  }
}

/** Polls a job until it finishes, printing each change of state, instance or phase. */
async function followJob(apiUrl: string, jobId: string, say: (s: string) => void, timeoutMs: number, headers: Record<string, string> = {}): Promise<JobRecord> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    const job = (await (await fetch(`${apiUrl}/jobs/${jobId}`, { headers })).json()) as JobRecord;
    const p = job.progress;
    const pct = p?.bytesTotal ? ` ${Math.floor(((p.bytesDone ?? 0) / p.bytesTotal) * 100)}%` : "";
    const line = `job ${job.state}${job.instanceId ? ` on ${job.instanceId}` : ""}${job.attempts ? ` (attempt ${job.attempts})` : ""}${
      job.state === "RUNNING" && p ? `: ${p.phase}${pct}` : ""
    }`;
    if (line !== last) say(line);
    last = line;
    if (job.state === "SUCCEEDED" || job.state === "FAILED" || job.state === "CANCELLED") return job;
    if (Date.now() > deadline) return job;
    await sleep(200);
  }
}

function ms(v: number | undefined): string {
  return v === undefined ? "-" : `${(v / 1000).toFixed(2)}s`;
}

function sleep(n: number): Promise<void> {
  return new Promise((r) => setTimeout(r, n));
}
