/**
 * An S3-like link for benchmarks: a user-space TCP proxy between an S3 client and the local emulator
 * that does to each connection what S3 does to one connection, so that a benchmark on loopback
 * cannot flatter a client that leans on one fast connection or on many tiny requests.
 *
 * - **Throughput cap per connection**, each direction: AWS's guidance is one concurrent request "for
 *   each 85–90 MB/s of desired network throughput" (Performance Design Patterns for Amazon S3,
 *   "Horizontal Scaling and Request Parallelization for High Throughput"). The default is the middle
 *   of that range, 87.5 MB/s (10^6 bytes). The guidance speaks of GETs; the link applies it to
 *   request bodies (PUTs, parts) too.
 * - **First-byte latency per request**: the first byte of every response is held back this long
 *   (on top of the emulator's own time). The same page: for small requests "median latencies are
 *   often in the tens of milliseconds range". The default is 30 ms.
 *
 * The proxy knows HTTP/1.1 only as far as turns go: the first byte the server sends after the client
 * has sent something starts a response and is delayed. An interim `100 Continue` (the SDK's
 * `Expect: 100-continue` for bodies of 2 MiB and more) is passed at once: the latency models S3's
 * work on a request, not the handshake. The SDK does not pipeline, so one connection carries one
 * request at a time and the cap per connection is a cap per request in flight.
 *
 * Kernel traffic shaping (tc/netem) is not available where these benchmarks run, hence user space.
 * Run it in its own process (`startLinkProcess`) so its timers do not share an event loop with the
 * client being measured.
 */
import { spawn } from "node:child_process";
import net from "node:net";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/** What the link does to each connection. */
export interface LinkProfile {
  /** Shown in tables: where the figures ran. */
  name: string;
  /** Held back before the first byte of each response, in ms. 0: none. */
  firstByteLatencyMs: number;
  /** Bytes per second per connection and direction. `undefined`: no cap. */
  bytesPerSecondPerConnection?: number;
}

/** Loopback as it is: the link passes everything through untouched (the proxy still costs a hop). */
export const LOOPBACK_LINK: LinkProfile = { name: "loopback", firstByteLatencyMs: 0 };

/** One S3 connection as AWS describes it: 87.5 MB/s (the middle of 85–90 MB/s) and 30 ms to first byte. */
export const S3_LIKE_LINK: LinkProfile = {
  name: "S3-like link (87.5 MB/s per connection, 30 ms first-byte latency)",
  firstByteLatencyMs: 30,
  bytesPerSecondPerConnection: 87.5e6,
};

/** Counters of a running link, for a sanity check of what it did. */
export interface LinkStats {
  connections: number;
  /** Responses whose first byte was held back. */
  responses: number;
  bytesUp: number;
  bytesDown: number;
  /** Socket errors by side and code (e.g. `upstream ECONNRESET`): a healthy run has none. */
  errors: Record<string, number>;
}

export interface RunningLink {
  /** `http://127.0.0.1:<port>`: give this to the client instead of the emulator's URL. */
  url: string;
  port: number;
  stats(): LinkStats;
  close(): Promise<void>;
}

/** Checks a profile, naming the field and the reason. */
export function checkLinkProfile(p: LinkProfile): void {
  if (!(Number.isFinite(p.firstByteLatencyMs) && p.firstByteLatencyMs >= 0 && p.firstByteLatencyMs <= 10_000))
    throw new RangeError(`link firstByteLatencyMs must be from 0 to 10000 ms, got ${p.firstByteLatencyMs}`);
  const r = p.bytesPerSecondPerConnection;
  if (r !== undefined && !(Number.isFinite(r) && r >= 1e4))
    throw new RangeError(`link bytesPerSecondPerConnection must be at least 10 kB/s (or left out for no cap), got ${r}`);
}

/**
 * Paces one direction of a connection: a token bucket of `bytesPerMs` with a burst of `burstMs`'
 * worth, so a late timer on a busy machine is made up within the burst instead of lost.
 */
class Pacer {
  #free = 0;
  constructor(
    readonly bytesPerMs: number,
    readonly burstMs = 4,
  ) {}
  /** Milliseconds to wait before sending `bytes`; books the link for them. */
  book(bytes: number, now: number): number {
    const start = Math.max(this.#free, now - this.burstMs);
    this.#free = start + bytes / this.bytesPerMs;
    return start - now;
  }
}

const CONTINUE = Buffer.from("HTTP/1.1 100");

/**
 * Starts the link in this process: listens on 127.0.0.1 and forwards each connection to `target`
 * (an `http://host:port` URL) with `profile` applied.
 */
export async function startLink(target: string, profile: LinkProfile, port = 0): Promise<RunningLink> {
  checkLinkProfile(profile);
  const to = new URL(target);
  const stats: LinkStats = { connections: 0, responses: 0, bytesUp: 0, bytesDown: 0, errors: {} };
  const sockets = new Set<net.Socket>();
  const rate = profile.bytesPerSecondPerConnection;

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    stats.connections++;
    client.setNoDelay(true);
    const upstream = net.connect({ host: to.hostname, port: Number(to.port), allowHalfOpen: true });
    upstream.setNoDelay(true);
    for (const [side, s] of [["client", client], ["upstream", upstream]] as const) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", (err: NodeJS.ErrnoException) => {
        const key = `${side} ${err.code ?? err.message}`;
        stats.errors[key] = (stats.errors[key] ?? 0) + 1;
        client.destroy();
        upstream.destroy();
      });
    }
    // An end (FIN) on one side is passed on by `forward` once the bytes before it are out: a close
    // here must not cut off a response still held back or paced.

    // Set when the client has sent bytes: the server's next bytes start a response.
    let awaitingResponse = false;
    void forward(client, upstream, rate, () => {
      awaitingResponse = true;
      return 0;
    }, (n) => (stats.bytesUp += n));
    void forward(upstream, client, rate, (chunk) => {
      if (!awaitingResponse || profile.firstByteLatencyMs === 0) return 0;
      if (chunk.subarray(0, CONTINUE.length).equals(CONTINUE)) return 0;
      awaitingResponse = false;
      stats.responses++;
      return profile.firstByteLatencyMs;
    }, (n) => (stats.bytesDown += n));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const actual = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    stats: () => ({ ...stats }),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Pipes `from` into `to` one chunk at a time: `holdFor(chunk)` may hold a chunk back (first-byte
 * latency), the pacer spaces chunks to the rate, and the writable's backpressure is honoured (the
 * async iterator reads the next chunk only when this one is out).
 */
async function forward(
  from: net.Socket,
  to: net.Socket,
  bytesPerSecond: number | undefined,
  holdFor: (chunk: Buffer) => number,
  count: (bytes: number) => void,
): Promise<void> {
  const pacer = bytesPerSecond === undefined ? undefined : new Pacer(bytesPerSecond / 1000);
  try {
    for await (const chunk of from as AsyncIterable<Buffer>) {
      const hold = holdFor(chunk);
      if (hold > 0) await sleep(hold);
      const wait = pacer ? pacer.book(chunk.length, performance.now()) : 0;
      // Waits under a millisecond are left to the burst: timers are no finer than that.
      if (wait >= 1) await sleep(wait);
      count(chunk.length);
      if (!to.write(chunk)) await drained(to);
      if (to.destroyed) return;
    }
    to.end();
  } catch {
    to.destroy();
  }
}

function drained(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off("drain", done);
      s.off("close", done);
      resolve();
    };
    s.on("drain", done);
    s.on("close", done);
  });
}

/**
 * Starts the link in a child process (this file with `--serve-link`), so its pacing does not share
 * an event loop with the client measured through it. Closing its stdin stops it.
 */
export async function startLinkProcess(target: string, profile: LinkProfile): Promise<RunningLink & { pid: number }> {
  checkLinkProfile(profile);
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--serve-link", target, JSON.stringify(profile)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let last: LinkStats = { connections: 0, responses: 0, bytesUp: 0, bytesDown: 0, errors: {} };
  const port = await new Promise<number>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the link process exited with code ${code} before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const m = /^PORT (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
      const s = /^STATS (.*)$/.exec(line);
      if (s) last = JSON.parse(s[1]!) as LinkStats;
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    stats: () => last,
    async close() {
      const exited = new Promise((r) => child.once("exit", r));
      child.stdin!.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

if (process.argv[2] === "--serve-link" && process.argv[1] === fileURLToPath(import.meta.url)) {
  const [target, profileJson] = process.argv.slice(3);
  const link = await startLink(target!, JSON.parse(profileJson!) as LinkProfile);
  // The parent may be gone already when the last report goes out.
  process.stdout.on("error", () => undefined);
  process.stdout.write(`PORT ${link.port}\n`);
  const report = setInterval(() => process.stdout.write(`STATS ${JSON.stringify(link.stats())}\n`), 1000);
  process.stdin.resume();
  process.stdin.on("end", () => {
    clearInterval(report);
    process.stdout.write(`STATS ${JSON.stringify(link.stats())}\n`);
    void link.close().then(() => process.exit(0));
  });
}
