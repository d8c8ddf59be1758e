import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A started local HTTP endpoint. */
export interface LoopbackServer {
  /** `http://host:port` */
  endpoint: string;
  /** Ends open connections and stops listening. */
  stop(): Promise<void>;
}

/** Serves `handler` on a local address (a free port unless one is given): the shared start of every local AWS stand-in. */
export async function listenLoopback(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: { host?: string; port?: number } = {},
): Promise<LoopbackServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    endpoint: `http://${host}:${addr.port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
