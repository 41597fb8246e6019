import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A control plane that can be "down": a forwarding HTTP proxy in front of the publisher's REST API.
 * While down it is not listening at all (connection refused), like a stopped control plane; `mode`
 * "error" answers 500 instead. Counts the requests it saw.
 */
export class FlakyControlPlane {
  #server: Server | undefined;
  port = 0;
  requests = 0;
  mode: "forward" | "error" = "forward";

  constructor(private readonly target: () => string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Reserve a free port (and release it) so the gateway can be configured before the proxy is up. */
  async reservePort(): Promise<number> {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
    this.port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return this.port;
  }

  async up(): Promise<void> {
    const server = createServer(async (req, res) => {
      this.requests++;
      if (this.mode === "error") {
        res.writeHead(500).end();
        return;
      }
      try {
        const r = await fetch(this.target() + (req.url ?? "/"), {
          method: req.method ?? "GET",
          headers: { authorization: req.headers.authorization ?? "" },
        });
        res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json" });
        res.end(Buffer.from(await r.arrayBuffer()));
      } catch {
        res.writeHead(502).end();
      }
    });
    await new Promise<void>((r) => server.listen(this.port, "127.0.0.1", () => r()));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async down(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}
