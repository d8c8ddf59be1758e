import path from "node:path";
import { PATH_KEYS, type JobRequest } from "./request.ts";

/** The platforms the worker distinguishes; anything not win32 uses POSIX paths. */
export type WorkerPlatform = "win32" | "posix";

export function platformOf(p: NodeJS.Platform | string): WorkerPlatform {
  return p === "win32" ? "win32" : "posix";
}

/** The local folders of one job attempt on an instance. */
export interface JobFolders {
  /** The attempt's own folder; removed after the attempt. */
  root: string;
  /** Where the source prefix is downloaded; config.json is written here, as Medit expects. */
  source: string;
  /** Where the processor writes results; uploaded to the target prefix. */
  target: string;
  /** Path of config.json. */
  config: string;
}

/**
 * The folder layout of a job attempt under the worker's work root, for the given platform.
 * `<work>/<jobId>-<attempt>/{source,target}`, config.json inside source.
 */
export function jobFolders(platform: WorkerPlatform, workRoot: string, jobId: string, attempt: number): JobFolders {
  const p = platform === "win32" ? path.win32 : path.posix;
  const root = p.join(workRoot, `${jobId}-${attempt}`);
  const source = p.join(root, "source");
  return { root, source, target: p.join(root, "target"), config: p.join(source, "config.json") };
}

/**
 * Where a containerised processor (`processor.container`) sees the job's folders: the worker mounts
 * the source folder (with config.json in it) read-only at `/spotq/source` and the target folder
 * writable at `/spotq/target`. config.json and the argument template are rendered with these paths,
 * the same way as with the instance's own folders.
 */
export const CONTAINER_FOLDERS: Readonly<JobFolders> = Object.freeze({
  root: "/spotq",
  source: "/spotq/source",
  target: "/spotq/target",
  config: "/spotq/source/config.json",
});

/** The job's folders as the processor sees them: the instance's own, or the container's mount points. */
export function processorFolders(host: JobFolders, inContainer: boolean): JobFolders {
  return inContainer ? { ...CONTAINER_FOLDERS } : host;
}

/**
 * The config.json the processor reads: the request with the two S3 paths replaced by the
 * folders of this job as the processor sees them (Windows paths on Windows, the mount points in a
 * container: {@link processorFolders}). Every other key passes through unchanged, in order.
 */
export function renderConfigJson(request: JobRequest, folders: Pick<JobFolders, "source" | "target">): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(request)) {
    if (k === PATH_KEYS.source) out[k] = folders.source;
    else if (k === PATH_KEYS.target) out[k] = folders.target;
    else out[k] = v;
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

/**
 * Substitutes `{config}`, `{source}`, `{target}` and `{jobId}` in the processor's argument
 * template. Each argument stays one argument: nothing is split or passed through a shell.
 */
export function renderArgs(template: readonly string[], values: { config: string; source: string; target: string; jobId: string }): string[] {
  return template.map((a) =>
    a.replace(/\{(config|source|target|jobId)\}/g, (_, k: keyof typeof values) => values[k]),
  );
}
