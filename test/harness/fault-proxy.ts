import { createServer, type Server, type Socket, connect } from "node:net";
import type { AddressInfo } from "node:net";

/** How the proxy treats bytes: forward them, drop them silently, or refuse connections outright. */
export type ProxyMode = "forward" | "blackhole" | "refuse";

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  /** Set once the pair was blackholed: its AMQP stream lost frames and can never be trusted again. */
  dropping: boolean;
}

/**
 * A TCP proxy between a service and RabbitMQ, so a test can break the network the way networks
 * break: `cut()` resets every connection (RST, like a rebooted router), `blackhole()` keeps the sockets
 * open but silently drops every byte both ways (like a pulled cable or a firewall that drops), and
 * `refuse()` answers new connections with a reset (the broker is gone). `heal()` forwards again.
 */
export class FaultProxy {
  #server: Server | undefined;
  readonly #pairs = new Set<Pair>();
  port = 0;
  mode: ProxyMode = "forward";
  /** Connections accepted so far (reconnects show up here). */
  accepted = 0;

  constructor(
    private readonly target: { host: string; port: number },
    private readonly listenPort = 0,
  ) {}

  async start(): Promise<void> {
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.listenPort, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  get openConnections(): number {
    return this.#pairs.size;
  }

  #accept(client: Socket): void {
    this.accepted++;
    client.setNoDelay(true);
    if (this.mode === "refuse") {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: undefined, dropping: this.mode === "blackhole" };
    this.#pairs.add(pair);
    const drop = () => {
      this.#pairs.delete(pair);
      client.destroy();
      pair.upstream?.destroy();
    };
    client.on("error", () => undefined);
    client.on("close", () => {
      // A blackholed link tells the other side nothing.
      if (!pair.dropping) drop();
      else this.#pairs.delete(pair);
    });
    if (pair.dropping) {
      // A new connection into a blackhole: the SYN is answered (by a middlebox) and then silence.
      client.on("data", () => undefined);
      return;
    }
    const upstream = connect({ host: this.target.host, port: this.target.port });
    upstream.setNoDelay(true);
    pair.upstream = upstream;
    upstream.on("error", () => undefined);
    upstream.on("close", () => {
      if (!pair.dropping) drop();
    });
    forward(client, upstream, pair);
    forward(upstream, client, pair);
  }

  /** Reset every open connection (the peers see ECONNRESET at once). */
  cut(): void {
    for (const p of [...this.#pairs]) {
      this.#pairs.delete(p);
      p.client.resetAndDestroy();
      p.upstream?.resetAndDestroy();
    }
  }

  /** From now on drop every byte both ways, on open and new connections, and tell nobody. */
  blackhole(): void {
    this.mode = "blackhole";
    for (const p of this.#pairs) p.dropping = true;
  }

  /** Answer new connections with a reset, and reset the open ones (the broker went away). */
  refuse(): void {
    this.mode = "refuse";
    this.cut();
  }

  /**
   * Forward again. Connections that lived through a blackhole lost bytes mid-stream, so they are
   * reset (as the peer's TCP stack would once packets flow again); new ones are forwarded.
   */
  heal(): void {
    this.mode = "forward";
    for (const p of [...this.#pairs]) {
      if (!p.dropping) continue;
      this.#pairs.delete(p);
      p.client.resetAndDestroy();
      p.upstream?.resetAndDestroy();
    }
  }

  async stop(): Promise<void> {
    this.cut();
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

/** Copy bytes from `from` to `to` with backpressure, unless the pair is dropping them. */
function forward(from: Socket, to: Socket, pair: Pair): void {
  from.on("data", (chunk: Buffer) => {
    if (pair.dropping || to.destroyed) return;
    if (!to.write(chunk)) {
      from.pause();
      to.once("drain", () => from.resume());
    }
  });
}
