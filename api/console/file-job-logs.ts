import { open } from "node:fs/promises";
import path from "node:path";
import { LogCursorError, type JobLogReader, type LogLine, type LogLineSource, type LogPage } from "../../core/console-ports.ts";
import type { LogLocation } from "../../core/job.ts";

/** The most a page reads from a file. */
const MAX_PAGE_BYTES = 256 * 1024;

/** The file name part of a local job log location: `<jobId>/<attempt>.log` (worker/telemetry/files.ts). */
const LOCAL_STREAM = /^[0-9A-HJKMNP-TV-Z]{26}\/\d{1,6}\.log$/;

/**
 * The local stand-in of CloudWatch Logs: a job attempt's log is the file the worker's files
 * telemetry wrote (`path.join(group, stream)`, as `spotq logs` reads it), one
 * `<ISO time> [<source>] <text>` line per event. The cursor is the byte offset after the last
 * whole line read, so a follower only ever gets whole lines, each once.
 *
 * Only locations shaped as the worker writes them are read (an absolute folder ending in `jobs`,
 * a `<jobId>/<attempt>.log` stream), and, when `root` is given, only files under it.
 */
export class FileJobLogReader implements JobLogReader {
  readonly #root: string | undefined;

  constructor(options: { root?: string } = {}) {
    this.#root = options.root ? path.resolve(options.root) : undefined;
  }

  async read(location: LogLocation, options: { after?: string; limit: number }): Promise<LogPage> {
    const file = this.#file(location);
    const start = options.after === undefined ? 0 : parseCursor(options.after);
    let handle;
    try {
      handle = await open(file, "r");
    } catch (err) {
      // The worker creates the file when the attempt starts: until then the log is empty.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { lines: [], next: cursor(start), atEnd: true };
      throw err;
    }
    try {
      const size = (await handle.stat()).size;
      if (start >= size) return { lines: [], next: cursor(Math.min(start, size)), atEnd: true };
      const buffer = Buffer.alloc(Math.min(MAX_PAGE_BYTES, size - start));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
      const chunk = buffer.subarray(0, bytesRead);
      const lines: LogLine[] = [];
      let offset = 0;
      while (lines.length < options.limit) {
        const nl = chunk.indexOf(0x0a, offset);
        if (nl < 0) break;
        lines.push(parseLogLine(chunk.subarray(offset, nl).toString("utf8")));
        offset = nl + 1;
      }
      // A single line longer than a page is cut rather than never delivered.
      if (lines.length === 0 && offset === 0 && chunk.length === MAX_PAGE_BYTES) {
        lines.push(parseLogLine(chunk.toString("utf8")));
        offset = chunk.length;
      }
      const next = start + offset;
      // At the end: nothing left, or only the start of a line still being written.
      const onlyPartialLeft = start + chunk.length >= size && chunk.indexOf(0x0a, offset) < 0;
      return { lines, next: cursor(next), atEnd: next >= size || onlyPartialLeft };
    } finally {
      await handle.close();
    }
  }

  #file(location: LogLocation): string {
    if (!path.isAbsolute(location.group) || path.basename(location.group) !== "jobs" || !LOCAL_STREAM.test(location.stream))
      throw new Error(`not a local job log location: ${JSON.stringify(location)}`);
    const file = path.resolve(location.group, location.stream);
    if (this.#root && !file.startsWith(`${this.#root}${path.sep}`)) throw new Error(`job log ${file} is outside the local stack's folder ${this.#root}`);
    return file;
  }
}

/** `<ISO time> [<source>] <text>` (worker/telemetry/files.ts); anything else is kept as text. */
export function parseLogLine(raw: string): LogLine {
  const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
  const m = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (?:\[(stdout|stderr|spotq)\] )?(.*)$/s.exec(line);
  if (!m) return { text: line };
  return { at: m[1]!, ...(m[2] ? { source: m[2] as LogLineSource } : {}), text: m[3]! };
}

function cursor(offset: number): string {
  return `b${offset}`;
}

function parseCursor(after: string): number {
  const m = /^b(\d{1,15})$/.exec(after);
  if (!m) throw new LogCursorError("is not a cursor from an earlier page of this log");
  return Number(m[1]);
}
