import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { EventEmitter } from "node:events";
import type { AddressInfo } from "node:net";

/** What the control plane does with one request. */
export type HttpFault =
  | "forward"
  /** 500 Internal Server Error. */
  | "error"
  /** 404: the API is not published to that label. */
  | "notfound"
  /** Accept the request and never answer (the client's timeout must fire). */
  | "hang"
  /** Forward after a delay (a slow control plane). */
  | { delayMs: number }
  /** Forward, and answer what `body` makes of the control plane's reply body (a 2xx JSON reply). */
  | { rewrite: (body: string) => string };

export interface SeenRequest {
  /** ms since epoch. */
  t: number;
  path: string;
  /** The first `apiId` parameter (a single-API fetch, or a batch's first). */
  apiId: string | undefined;
  /** Every `apiId` parameter: more than one is a batch (gwsync's data API, issue 20). */
  apiIds: string[];
  fault: string;
}

/**
 * A control plane with faults, per request: a forwarding HTTP proxy in front of the publisher's REST
 * API whose `rule` decides, for each request, to forward it, answer 500 or 404, hang, or answer late.
 * While `down()` it does not listen at all (connection refused). It logs every request it saw, so a
 * test can check retries and their backoff from the outside.
 */
export class FaultControlPlane extends EventEmitter {
  #server: Server | undefined;
  readonly #hanging = new Set<ServerResponse>();
  port = 0;
  rule: (req: { path: string; apiId: string | undefined; url: URL }) => HttpFault = () => "forward";
  readonly seen: SeenRequest[] = [];
  /** Requests forwarded and answered (emits "answered"). */
  answered = 0;

  /** Emits "request" (SeenRequest) for every request, so a test can act mid-work without sleeping. */
  constructor(private readonly target: () => string) {
    super();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Reserve a free port (and release it) so services can be configured before the proxy is up. */
  async reservePort(): Promise<number> {
    this.port = await freePort();
    return this.port;
  }

  /** Requests seen for one API (a single-API fetch names it in `apiId`). */
  requestsFor(apiId: string): SeenRequest[] {
    return this.seen.filter((r) => r.apiId === apiId);
  }

  async up(): Promise<void> {
    const server = createServer((req, res) => void this.#serve(req, res));
    await new Promise<void>((r) => server.listen(this.port, "127.0.0.1", () => r()));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const apiId = url.searchParams.get("apiId") ?? undefined;
    const fault = this.rule({ path: url.pathname, apiId, url });
    const seen = {
      t: Date.now(),
      path: url.pathname,
      apiId,
      apiIds: url.searchParams.getAll("apiId"),
      fault: typeof fault === "string" ? fault : "delayMs" in fault ? `delay ${fault.delayMs}` : "rewrite",
    };
    this.seen.push(seen);
    this.emit("request", seen);
    if (fault === "error") {
      res
        .writeHead(500, { "content-type": "application/json" })
        .end('{"code":"INJECTED","message":"injected 500"}');
      return;
    }
    if (fault === "notfound") {
      res
        .writeHead(404, { "content-type": "application/json" })
        .end('{"code":"GWSYNC_NOT_FOUND","message":"injected 404"}');
      return;
    }
    if (fault === "hang") {
      this.#hanging.add(res);
      res.on("close", () => this.#hanging.delete(res));
      return;
    }
    if (typeof fault === "object" && "delayMs" in fault)
      await new Promise((r) => setTimeout(r, fault.delayMs));
    try {
      const r = await fetch(this.target() + (req.url ?? "/"), {
        method: req.method ?? "GET",
        headers: { authorization: req.headers.authorization ?? "" },
      });
      let body = Buffer.from(await r.arrayBuffer());
      if (typeof fault === "object" && "rewrite" in fault && r.ok)
        body = Buffer.from(fault.rewrite(body.toString("utf8")), "utf8");
      res
        .writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json" })
        .end(body);
      this.answered++;
      this.emit("answered", seen);
    } catch {
      if (!res.headersSent) res.writeHead(502).end();
    }
  }

  async down(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    for (const res of this.#hanging) res.destroy();
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}

/** A TCP port that was free a moment ago (bound to port 0, then released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
