import { formatBytes } from "./format.ts";

export interface ProgressSnapshot {
  bytesDone: number;
  bytesTotal: number;
  objectsDone: number;
  objectsTotal: number;
}

/**
 * A one-line progress bar on a terminal (redrawn at most 10 times a second); elsewhere (CI, pipes)
 * a line at every tenth of the way, so logs stay short.
 */
export class ProgressBar {
  readonly #label: string;
  readonly #tty: boolean;
  readonly #write: (s: string) => void;
  readonly #start = Date.now();
  #lastDraw = 0;
  #lastTenth = -1;

  constructor(label: string, o: { tty?: boolean; write?: (s: string) => void } = {}) {
    this.#label = label;
    this.#tty = o.tty ?? Boolean(process.stderr.isTTY);
    this.#write = o.write ?? ((s) => process.stderr.write(s));
  }

  update(p: ProgressSnapshot): void {
    const now = Date.now();
    const fraction = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.objectsTotal > 0 ? p.objectsDone / p.objectsTotal : 1;
    if (this.#tty) {
      if (now - this.#lastDraw < 100 && fraction < 1) return;
      this.#lastDraw = now;
      this.#write(`\r\x1b[2K${this.line(p, now)}`);
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth === this.#lastTenth) return;
    this.#lastTenth = tenth;
    this.#write(`${this.line(p, now)}\n`);
  }

  /** Ends the bar's line on a terminal. */
  done(): void {
    if (this.#tty) this.#write("\n");
  }

  line(p: ProgressSnapshot, now = Date.now()): string {
    const fraction = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const seconds = Math.max(0.001, (now - this.#start) / 1000);
    return (
      `${this.#label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ` +
      `${formatBytes(p.bytesDone)} / ${formatBytes(p.bytesTotal)}  ${p.objectsDone}/${p.objectsTotal} files  ${formatBytes(p.bytesDone / seconds)}/s`
    );
  }
}
