import { serve } from "@hono/node-server";
import { realpathSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { AwsClients, awsSettingsFromEnv } from "../aws/clients.ts";
import { createApi } from "./app.ts";
import { apiDepsFromEnv } from "./compose.ts";
import type { ApiDeps } from "./deps.ts";

/** The local API's port unless `SPOTQ_PORT` says otherwise. */
export const DEFAULT_API_PORT = 8787;

export interface ApiServerOptions {
  /** The ports to serve; absent means the AWS adapters wired from `env`. */
  deps?: ApiDeps;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** 0 picks a free port. @default SPOTQ_PORT, else 8787 */
  port?: number;
  /** @default SPOTQ_HOST, else "127.0.0.1" */
  host?: string;
}

export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, ends open connections, and closes the SDK clients it made. */
  close(): Promise<void>;
}

/**
 * Serves the jobs API over HTTP with @hono/node-server: the same app as the Lambda. The local
 * stack calls this (with its own deps or the environment it set up); `tsx api/server.ts` runs it
 * alone from the environment.
 */
export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  const env = options.env ?? process.env;
  const ownClients = options.deps ? undefined : new AwsClients(awsSettingsFromEnv(env));
  const deps = options.deps ?? apiDepsFromEnv(env, ownClients);
  const port = options.port ?? (env.SPOTQ_PORT ? parsePort(env.SPOTQ_PORT) : DEFAULT_API_PORT);
  const host = options.host ?? env.SPOTQ_HOST ?? "127.0.0.1";
  const app = createApi(deps);
  // The deps this server composed run their background work while it serves (the console's sampler).
  if (!options.deps) deps.console?.start?.();

  const server = serve({ fetch: app.fetch, port, hostname: host });
  await new Promise<void>((resolve, reject) => {
    if (server.listening) return resolve();
    server.once("listening", resolve);
    server.once("error", (err) => {
      if (!options.deps) deps.console?.close?.();
      ownClients?.destroy();
      reject(new Error(`the API cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    port: addr.port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      if (!options.deps) deps.console?.close?.();
      ownClients?.destroy();
    },
  };
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65_535) throw new Error(`SPOTQ_PORT must be a port number (0-65535), got ${JSON.stringify(v)}`);
  return n;
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return pathToFileURL(realpathSync(entry)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isMain()) {
  try {
    const server = await startApiServer();
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: "info", event: "api listening", url: server.url })}\n`);
    const stop = () => void server.close().then(() => process.exit(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  } catch (err) {
    process.stderr.write(`spotq api: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
