/**
 * A plain HTTP forwarding proxy that adds a fixed delay to every request, like the round trip and
 * service time of an in-region AWS call (bench/worker-chain.ts). It is not a link model: no
 * throughput cap, no per-connection limits (the transfer benchmarks have their own link proxy).
 *
 * Each request is read whole, held `delayMs`, then forwarded over a keep-alive connection to the
 * upstream (fauxqs, dynalite, the local Auto Scaling endpoint); the answer is passed back as it
 * comes. Every call is recorded with its AWS operation name and its start and end times, so a
 * benchmark can count the calls on each side of a point in time.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One forwarded request. */
export interface ProxiedCall {
  /** The proxy's label, e.g. "sqs". */
  service: string;
  /** The AWS operation, e.g. "ReceiveMessage", "UpdateItem", "PutObject". */
  op: string;
  /** performance.now() when the request arrived at the proxy, and when its answer was complete. */
  startMs: number;
  endMs: number;
  status: number;
}

export interface CallLatencyProxy {
  /** The URL to give the SDK client as its endpoint. */
  endpoint: string;
  /** Finished calls, in the order their answers completed. */
  readonly calls: ProxiedCall[];
  /** Every request as it arrived (a long poll shows here while it waits). */
  readonly started: { service: string; op: string; startMs: number }[];
  /** The delay added to each request from now on (ms). */
  delayMs: number;
  stop(): Promise<void>;
}

export interface CallLatencyProxyOptions {
  /** The upstream, e.g. "http://127.0.0.1:4566". */
  target: string;
  /** Added to each request. @default 0 */
  delayMs?: number;
  /** A label for the calls. */
  service: string;
}

/** Starts a proxy on a free loopback port. */
export async function startCallLatencyProxy(o: CallLatencyProxyOptions): Promise<CallLatencyProxy> {
  const target = new URL(o.target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const calls: ProxiedCall[] = [];
  const started: CallLatencyProxy["started"] = [];
  const proxy: CallLatencyProxy = { endpoint: "", calls, started, delayMs: o.delayMs ?? 0, stop: async () => undefined };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const startMs = performance.now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const op = operationOf(req, body);
    started.push({ service: o.service, op, startMs });
    if (proxy.delayMs > 0) await new Promise((r) => setTimeout(r, proxy.delayMs));
    const headers = { ...req.headers, host: target.host };
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on("end", () => calls.push({ service: o.service, op, startMs, endMs: performance.now(), status: answer.statusCode ?? 0 }));
      },
    );
    up.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`proxy: ${err.message}`);
    });
    up.end(body);
  };

  const server = http.createServer((req, res) => void handle(req, res).catch((err: Error) => res.destroy(err)));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = async () => {
    agent.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

/** The AWS operation of a request: JSON protocols name it in X-Amz-Target, query protocols in Action, S3 by method and query. */
export function operationOf(req: Pick<IncomingMessage, "method" | "url" | "headers">, body: Buffer): string {
  const amzTarget = req.headers["x-amz-target"];
  if (typeof amzTarget === "string") return amzTarget.slice(amzTarget.lastIndexOf(".") + 1);
  const contentType = String(req.headers["content-type"] ?? "");
  if (contentType.startsWith("application/x-www-form-urlencoded")) {
    const action = new URLSearchParams(body.toString("utf8")).get("Action");
    if (action) return action;
  }
  const url = new URL(req.url ?? "/", "http://x");
  const parts = url.pathname.split("/").filter(Boolean);
  const q = url.searchParams;
  switch (req.method) {
    case "GET":
      if (q.has("list-type") || parts.length <= 1) return "ListObjects";
      return "GetObject";
    case "HEAD":
      return parts.length <= 1 ? "HeadBucket" : "HeadObject";
    case "PUT":
      if (q.has("partNumber")) return "UploadPart";
      return parts.length <= 1 ? "CreateBucket" : "PutObject";
    case "POST":
      if (q.has("uploads")) return "CreateMultipartUpload";
      if (q.has("uploadId")) return "CompleteMultipartUpload";
      if (q.has("delete")) return "DeleteObjects";
      return "POST";
    case "DELETE":
      return "DeleteObject";
    default:
      return req.method ?? "?";
  }
}
