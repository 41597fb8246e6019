import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import amqp, { type ChannelModel, type Options, type RecoveringChannelModel } from "amqplib";
import type { BrokerEndpoint } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";

/** Where a supervised connection stands; a discriminated union so callers switch on `state`. */
export type BrokerStatus =
  | { state: "connecting"; broker: string; attempt: number }
  | { state: "connected"; broker: string; since: number }
  | { state: "disconnected"; broker: string; error: string }
  | { state: "closed" };

export const DEFAULT_HEARTBEAT_SEC = 10;
export const DEFAULT_RECONNECT_INITIAL_DELAY_MS = 200;
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 10 * 1000;
/** Longest wait for the broker's CloseOk on close(). */
export const CLOSE_TIMEOUT_MS = 5 * 1000;

export interface BrokerConnectionOptions {
  /** Brokers in failover order; the connection cycles through them round-robin. */
  endpoints: BrokerEndpoint[];
  /** Shown to the broker (management UI) and in logs. */
  connectionName: string;
  heartbeatSec?: number;
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Attempts before the first successful connection (Infinity: keep trying). */
  initialMaxRetries?: number;
  /** Runs after every (re)connect: declare topology, open channels, start consumers. */
  setup: (model: ChannelModel) => Promise<void>;
  logger?: Logger;
}

export function describeEndpoint(e: BrokerEndpoint): string {
  return `${e.protocol}://${e.hostname}:${e.port}${e.vhost === "/" ? "" : `/${e.vhost}`}`;
}

/**
 * A broker's answer that no retry can change: the login refused (AMQP reply 403 ACCESS_REFUSED, which
 * amqplib reports as "403 (ACCESS-REFUSED)") or the vhost refused to this user (530 NOT_ALLOWED).
 */
const REFUSED = /\b403 \(ACCESS[-_]REFUSED\)|ACCESS_REFUSED|NOT_ALLOWED - access to vhost/;

export function isAccessRefused(err: unknown): boolean {
  return err instanceof Error && REFUSED.test(err.message);
}

/** How often the silence watchdog looks at the socket. */
const SILENCE_CHECK_MS = 250;

/**
 * amqplib declares a peer dead after two missed checks of one heartbeat each: 2 to 3 heartbeats of
 * silence (measured 2.95 s at 1 s, 6 s at 2 s). The broker sends a heartbeat every half period, so
 * 2 heartbeats without a byte is a dead link: destroy the socket then, and recovery reconnects
 * (docs/architecture.md#liveness: a silent link is noticed within 2 × heartbeat + 1 s; fault suite, connection-faults).
 */
function watchSilence(model: ChannelModel, heartbeatSec: number): void {
  // amqplib reads its socket on 'readable'; one more 'readable' listener only watches.
  const sock = (model.connection as unknown as { stream?: Socket }).stream;
  if (heartbeatSec <= 0 || !sock) return;
  let last = Date.now();
  let checked = Date.now();
  const seen = () => {
    last = Date.now();
  };
  sock.on("readable", seen);
  const timer = setInterval(() => {
    const now = Date.now();
    // The event loop itself stalled (bytes may be waiting unread): not the link's fault.
    if (now - checked > 4 * SILENCE_CHECK_MS) last = now;
    checked = now;
    if (now - last > 2 * heartbeatSec * 1000)
      sock.destroy(new Error(`no byte from the broker for ${2 * heartbeatSec} s (2 heartbeats)`));
  }, SILENCE_CHECK_MS);
  timer.unref();
  sock.once("close", () => {
    clearInterval(timer);
    sock.removeListener("readable", seen);
  });
}

function options0(o: BrokerConnectionOptions): BrokerEndpoint {
  return o.endpoints[0]!;
}

function toConnectOptions(e: BrokerEndpoint, heartbeat: number): Options.Connect {
  return {
    protocol: e.protocol,
    hostname: e.hostname,
    port: e.port,
    username: e.username,
    password: e.password,
    vhost: e.vhost,
    heartbeat,
  };
}

/**
 * A supervised AMQP connection: amqplib's opt-in recovery does the reconnecting (backoff with jitter,
 * `setup` re-run after each reconnect); this class adds broker failover by pointing the connect
 * options at the next broker after every failed attempt or lost connection.
 */
export class BrokerConnection extends EventEmitter {
  #model: RecoveringChannelModel | undefined;
  #status: BrokerStatus;
  #index = 0;
  readonly #target: Options.Connect;
  readonly #options: BrokerConnectionOptions;
  readonly #log: Logger;
  readonly #heartbeat: number;

  constructor(options: BrokerConnectionOptions) {
    super();
    if (options.endpoints.length === 0) {
      throw new GwsyncError(
        "GWSYNC_CONFIG_INVALID",
        "no broker endpoint configured (apim.event_hub.event_listening_endpoints)",
      );
    }
    this.#options = options;
    this.#log = (options.logger ?? silentLogger).child({ amqp: options.connectionName });
    this.#heartbeat = options.heartbeatSec ?? DEFAULT_HEARTBEAT_SEC;
    this.#target = toConnectOptions(options.endpoints[0]!, this.#heartbeat);
    this.#status = { state: "connecting", broker: this.currentBroker, attempt: 0 };
  }

  get status(): BrokerStatus {
    return this.#status;
  }

  get currentBroker(): string {
    return describeEndpoint(this.#options.endpoints[this.#index]!);
  }

  #setStatus(status: BrokerStatus): void {
    this.#status = status;
    this.emit("status", status);
  }

  #failover(): void {
    const n = this.#options.endpoints.length;
    if (n < 2) return;
    this.#index = (this.#index + 1) % n;
    Object.assign(this.#target, toConnectOptions(this.#options.endpoints[this.#index]!, this.#heartbeat));
  }

  /** Connect (waiting for the first connection) and keep the connection up until close(). */
  async start(): Promise<void> {
    const model = await amqp.connect(this.#target, {
      // Nagle holds back small frames ~40 ms; publish→deploy latency is the product (docs/architecture.md#nagle).
      noDelay: true,
      clientProperties: { connection_name: this.#options.connectionName },
      recovery: {
        // Qpid's per-broker connectdelay (jndi brokerlist) is the first reconnect delay when given.
        initialDelay:
          this.#options.reconnectInitialDelayMs ??
          options0(this.#options).connectDelayMs ??
          DEFAULT_RECONNECT_INITIAL_DELAY_MS,
        maxDelay: this.#options.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS,
        factor: 2,
        jitter: 0.2,
        maxRetries: Number.POSITIVE_INFINITY,
        initialMaxRetries: this.#options.initialMaxRetries ?? Number.POSITIVE_INFINITY,
        waitForConnect: false,
        setup: (m: ChannelModel) => {
          // Recovery listens for 'error' only once setup is done: a reset during setup would be an
          // unhandled 'error' event and crash the process (fault suite, connection-faults.test.ts).
          m.on("error", (err: Error) =>
            this.#log.warn({ err: err?.message }, "broker connection error during setup"),
          );
          watchSilence(m, this.#heartbeat);
          return this.#options.setup(m);
        },
      },
    });
    this.#model = model;
    model.on("connect", () => {
      this.#log.info({ broker: this.currentBroker }, "connected to broker");
      this.#setStatus({ state: "connected", broker: this.currentBroker, since: Date.now() });
      this.emit("connect");
    });
    model.on("disconnect", (err: Error) => {
      this.#log.warn({ broker: this.currentBroker, err: err?.message }, "broker connection lost");
      this.#setStatus({ state: "disconnected", broker: this.currentBroker, error: err?.message ?? "closed" });
      this.#failover();
      this.emit("disconnect", err);
    });
    model.on("connect-failed", (err: Error) => {
      if (isAccessRefused(err)) {
        void this.#refused(err);
        return;
      }
      this.#log.warn({ broker: this.currentBroker, err: err?.message }, "broker connection attempt failed");
      this.#failover();
    });
    model.on("reconnect-scheduled", (info: { attempt: number; delay: number }) => {
      this.#setStatus({ state: "connecting", broker: this.currentBroker, attempt: info.attempt });
    });
    model.on("reconnect-failed", (err: Error) => {
      this.#log.error({ err: err?.message }, "gave up connecting to the broker");
      this.emit("failed", err);
    });
    model.on("error", (err: Error) => this.#log.warn({ err: err?.message }, "broker connection error"));
    try {
      await model.waitForConnect();
    } catch (err) {
      if (this.#fatal) throw this.#fatal;
      throw new GwsyncError(
        "GWSYNC_BROKER_UNREACHABLE",
        `cannot connect to any broker (${this.#options.endpoints.map(describeEndpoint).join(", ")})`,
        { cause: err },
      );
    }
  }

  /** Set when the broker refused the login: retrying cannot help, so the connection stops for good. */
  #fatal: GwsyncError | undefined;

  /** The error that stopped this connection for good, if one did. */
  get fatalError(): GwsyncError | undefined {
    return this.#fatal;
  }

  /**
   * A refused login is a configuration error, not an outage: stop (no retry for ever), and tell the
   * owner ("fatal"), which stops the service with this message (exit code 5).
   */
  async #refused(err: Error): Promise<void> {
    if (this.#fatal) return;
    const e = this.#options.endpoints[this.#index]!;
    this.#fatal = new GwsyncError(
      "GWSYNC_BROKER_ACCESS_REFUSED",
      `the broker ${this.currentBroker} refused the login of user "${e.username}" (${err.message.includes("NOT_ALLOWED") ? "no access to its vhost" : "ACCESS_REFUSED"}): check [apim.event_hub] username and password (or password_file, GWSYNC_EVENT_HUB_PASSWORD_FILE) and the user's permissions; retrying cannot fix it`,
      { cause: err },
    );
    this.#log.error({ broker: this.currentBroker, user: e.username }, this.#fatal.message);
    this.emit("fatal", this.#fatal);
    await this.close();
  }

  async close(): Promise<void> {
    const model = this.#model;
    this.#model = undefined;
    this.#setStatus({ state: "closed" });
    if (!model) return;
    // amqplib settles close() only on the broker's CloseOk: a socket that dies (or goes silent) while
    // closing would hang a graceful shutdown forever (fault suite, connection-faults.test.ts).
    let timer: NodeJS.Timeout | undefined;
    const bounded = new Promise<void>((r) => {
      timer = setTimeout(r, CLOSE_TIMEOUT_MS);
    });
    await Promise.race([model.close().catch(() => undefined), bounded]);
    clearTimeout(timer);
  }
}

/**
 * The first fatal error (a refused login) of any connection a service watches, as one promise the CLI
 * can race against a signal. Marked handled at once: a service nobody races must not crash the process.
 */
export class FatalSignal {
  readonly promise: Promise<never>;
  #reject: (err: Error) => void = () => undefined;

  constructor() {
    this.promise = new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
    this.promise.catch(() => undefined);
  }

  watch(source: EventEmitter): void {
    source.on("fatal", (err: Error) => this.#reject(err));
  }
}
