import { EventEmitter } from "node:events";
import { Socket } from "node:net";
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Options } from "amqplib";
import { DEFAULT_HEARTBEAT_SEC } from "../config/defaults.js";
import type { BrokerEndpoint } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";

/** Where a supervised connection stands; a discriminated union so callers switch on `state`. */
export type BrokerStatus =
  | { state: "connecting"; broker: string; attempt: number }
  | { state: "connected"; broker: string; since: number }
  | { state: "disconnected"; broker: string; error: string }
  | { state: "closed" };

export { DEFAULT_HEARTBEAT_SEC };
export const DEFAULT_RECONNECT_INITIAL_DELAY_MS = 200;
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 10 * 1000;
/** Longest wait for the broker's CloseOk on close(). */
export const CLOSE_TIMEOUT_MS = 5 * 1000;
/**
 * A connection's setup (declarations, channels, consumers) that has not finished after this long is
 * given up and the next broker tried: an RPC the broker never answers (a cluster still settling after a
 * node died) would otherwise hold the reconnect, and everything waiting on it (the outbox), for ever.
 */
export const DEFAULT_SETUP_TIMEOUT_MS = 60 * 1000;

/**
 * A renewed connection that lived less than this is a renewal in a row: the reconnect waits grow with
 * the streak (a channel the broker closes at once every time backs off as a dead broker does).
 */
export const RENEW_STREAK_WINDOW_MS = 60 * 1000;

/** What a setup gets besides the connection (BrokerConnectionOptions.setup). */
export interface SetupLink {
  /**
   * A channel the connection cannot work without (a consumer's, the publisher's confirm channel). When
   * the broker closes it while the connection stays up (a channel error, a consumer it cancelled
   * because the queue was deleted), the connection is closed and set up again on the same broker:
   * amqplib never reopens a channel, and a connection that looks connected with its consumer or
   * confirm channel gone would stall for ever. A channel that may close on its own without harm (one
   * the broker's permissions may refuse) is not marked.
   */
  essential(channel: Channel | ConfirmChannel, what: string): void;
}

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
  setup: (model: ChannelModel, link: SetupLink) => Promise<void>;
  logger?: Logger;
  /** How a connection is opened (amqplib's connect unless a test passes a fake). */
  open?: OpenConnection;
  /** DEFAULT_SETUP_TIMEOUT_MS unless set (tests). */
  setupTimeoutMs?: number;
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
 * The socket of an amqplib connection. amqplib keeps it in `connection.stream`, a private field: the
 * dependency is pinned to one version (package.json) and this read fails loudly, never silently, if an
 * upgrade moved it (test/integration/transport.test.ts proves the field on the real broker).
 */
export function socketOf(model: ChannelModel): Socket {
  const sock = (model.connection as unknown as { stream?: unknown }).stream;
  if (!(sock instanceof Socket)) {
    throw new Error(
      "amqplib's connection has no socket in connection.stream: the silence watchdog cannot watch it (was amqplib upgraded past the pinned version?)",
    );
  }
  return sock;
}

/**
 * amqplib declares a peer dead after two missed checks of one heartbeat each: 2 to 3 heartbeats of
 * silence (measured 2.95 s at 1 s, 6 s at 2 s). The broker sends a heartbeat every half period, so
 * 2 heartbeats without a byte is a dead link: destroy the socket then, and recovery reconnects
 * (docs/architecture.md#liveness: a silent link is noticed within 2 × heartbeat + 1 s; fault suite, connection-faults).
 */
function watchSilence(model: ChannelModel, heartbeatSec: number): void {
  if (heartbeatSec <= 0) return;
  // amqplib reads its socket on 'readable'; one more 'readable' listener only watches.
  const sock = socketOf(model);
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

/** amqplib's connect options for one broker: a fresh object per attempt, never changed afterwards. */
export function connectOptions(e: BrokerEndpoint, heartbeat: number): Options.Connect {
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

export interface ReconnectPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** ± this fraction of the delay, at random. */
  jitter: number;
}

/**
 * The wait before reconnect attempt `attempt` (1-based): initial × factor^(attempt-1), ± jitter, never
 * above the maximum (the base is capped at max / (1 + jitter), so jitter never piles delays onto the cap).
 */
export function reconnectDelay(
  p: ReconnectPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const cappedBase = p.maxDelayMs / (1 + p.jitter);
  const base = Math.min(cappedBase, p.initialDelayMs * p.factor ** (attempt - 1));
  const spread = base * p.jitter;
  return Math.max(0, Math.round(base + (spread > 0 ? random() * spread * 2 - spread : 0)));
}

/** How a connection is opened: amqplib's connect, or a fake in unit tests (test/unit/amqp-connection.test.ts). */
export type OpenConnection = (
  target: Options.Connect,
  socketOptions: { noDelay: boolean; clientProperties: Record<string, unknown> },
) => Promise<ChannelModel>;

const openWithAmqplib: OpenConnection = (target, socketOptions) => amqp.connect(target, socketOptions);

/**
 * A supervised AMQP connection over an explicit list of brokers: each attempt opens the next broker of
 * the list with its own options (round-robin after every failed attempt or lost connection), runs
 * `setup` on the new connection (declare topology, open channels, start consumers), and a lost
 * connection is reopened after an exponential, jittered wait. No state is shared with amqplib between
 * attempts.
 */
export class BrokerConnection extends EventEmitter {
  #model: ChannelModel | undefined;
  #status: BrokerStatus;
  #index = 0;
  #attempt = 0;
  #connectedOnce = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #initial: { resolve: () => void; reject: (err: Error) => void } | undefined;
  /** Connections closed by renew(): their loss reconnects to the same broker (no failover). */
  readonly #renewed = new WeakMap<ChannelModel, string>();
  /** Renewals in a row (each connection lived less than RENEW_STREAK_WINDOW_MS). */
  #renewStreak = 0;
  #connectedAt = 0;
  readonly #options: BrokerConnectionOptions;
  readonly #log: Logger;
  readonly #heartbeat: number;
  readonly #policy: ReconnectPolicy;
  readonly #open: OpenConnection;

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
    this.#open = options.open ?? openWithAmqplib;
    this.#policy = {
      // Qpid's per-broker connectdelay (jndi brokerlist) is the first reconnect delay when given.
      initialDelayMs:
        options.reconnectInitialDelayMs ??
        options.endpoints[0]!.connectDelayMs ??
        DEFAULT_RECONNECT_INITIAL_DELAY_MS,
      maxDelayMs: options.reconnectMaxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS,
      factor: 2,
      jitter: 0.2,
    };
    this.#policy.maxDelayMs = Math.max(this.#policy.maxDelayMs, this.#policy.initialDelayMs);
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
  }

  /** Connect (waiting for the first connection) and keep the connection up until close(). */
  async start(): Promise<void> {
    const first = new Promise<void>((resolve, reject) => {
      this.#initial = { resolve, reject };
    });
    void this.#connect();
    try {
      await first;
    } catch (err) {
      if (this.#fatal) throw this.#fatal;
      throw new GwsyncError(
        "GWSYNC_BROKER_UNREACHABLE",
        `cannot connect to any broker (${this.#options.endpoints.map(describeEndpoint).join(", ")})`,
        { cause: err },
      );
    }
  }

  #settleInitial(err?: Error): void {
    const initial = this.#initial;
    this.#initial = undefined;
    if (!initial) return;
    if (err) initial.reject(err);
    else initial.resolve();
  }

  /** One attempt on the current broker: open, watch, set up; a failure schedules the next attempt. */
  async #connect(): Promise<void> {
    if (this.#stopped) return;
    let model: ChannelModel | undefined;
    try {
      model = await this.#open(connectOptions(this.#options.endpoints[this.#index]!, this.#heartbeat), {
        // Nagle holds back small frames ~40 ms; publish→deploy latency is the product (docs/architecture.md#nagle).
        noDelay: true,
        clientProperties: { connection_name: this.#options.connectionName },
      });
      // From the first moment: a reset during setup must never be an unhandled 'error' event that
      // crashes the process (fault suite, connection-faults.test.ts); 'close' follows and reconnects.
      model.on("error", (err: Error) => this.#log.warn({ err: err?.message }, "broker connection error"));
      if (!this.#stopped) {
        watchSilence(model, this.#heartbeat);
        await this.#setupWithin(model);
      }
      if (this.#stopped) {
        await closeQuietly(model);
        return;
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (model) await closeQuietly(model);
      this.#connectFailed(error);
      this.#scheduleReconnect(error);
      return;
    }
    this.#model = model;
    this.#attempt = 0;
    this.#connectedOnce = true;
    this.#connectedAt = Date.now();
    model.once("close", (err?: Error) => this.#lost(model, err ?? new Error("Connection closed")));
    this.#log.info({ broker: this.currentBroker }, "connected to broker");
    this.#setStatus({ state: "connected", broker: this.currentBroker, since: Date.now() });
    this.emit("connect");
    this.#settleInitial();
  }

  /** Runs setup, bounded by the setup timeout (the late setup's own failure is then ignored). */
  async #setupWithin(model: ChannelModel): Promise<void> {
    const ms = this.#options.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS;
    let closedDuringSetup: string | undefined;
    const link: SetupLink = {
      essential: (channel, what) =>
        this.#watchEssential(model, channel, what, (reason) => {
          closedDuringSetup ??= reason;
        }),
    };
    const setup = this.#options.setup(model, link).then(() => {
      if (closedDuringSetup !== undefined) throw new Error(closedDuringSetup);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new GwsyncError(
              "GWSYNC_BROKER_TIMEOUT",
              `the broker ${this.currentBroker} did not finish setting up the connection (declarations, channels, consumers) within ${ms} ms`,
            ),
          ),
        ms,
      );
    });
    try {
      await Promise.race([setup, timeout]);
    } finally {
      clearTimeout(timer);
      setup.catch(() => undefined);
    }
  }

  /**
   * Watches an essential channel of `model`: closed by the broker while `model` is this connection's
   * current one → renew; closed during the setup → the setup fails (`duringSetup`).
   */
  #watchEssential(
    model: ChannelModel,
    channel: Channel | ConfirmChannel,
    what: string,
    duringSetup: (reason: string) => void,
  ): void {
    let error: string | undefined;
    channel.on("error", (err: Error) => {
      error ??= err?.message;
    });
    channel.once("close", () => {
      const reason = `the broker closed the ${what} channel${error ? ` (${error})` : ""}`;
      // Deferred: a channel that closes because its connection did is the connection's loss (#lost
      // runs first and this connection is no longer the current one).
      setImmediate(() => {
        if (this.#stopped) return;
        if (this.#model === model) this.#renew(model, reason);
        else if (this.#model === undefined && !this.#renewed.has(model)) duringSetup(reason);
      });
    });
  }

  /**
   * Set the current connection up again on the same broker (its channels are in a state only a new
   * one clears: ConfirmPublisher's stuck channel). No-op when not connected.
   */
  renew(reason: string): void {
    const model = this.#model;
    if (model === undefined || this.#stopped) return;
    this.#renew(model, reason);
  }

  /** Close `model` so that it is set up again, on the same broker, after the reconnect wait. */
  #renew(model: ChannelModel, reason: string): void {
    if (this.#renewed.has(model)) return;
    this.#renewed.set(model, reason);
    this.#renewStreak = Date.now() - this.#connectedAt < RENEW_STREAK_WINDOW_MS ? this.#renewStreak + 1 : 1;
    this.#log.warn(
      { broker: this.currentBroker, reason, renewals: this.#renewStreak },
      "a channel this connection needs is gone: reconnecting to set it up again",
    );
    void closeQuietly(model).then(() => {
      // No CloseOk within the bound: the socket goes, and its 'close' is the loss.
      if (this.#model === model) {
        try {
          socketOf(model).destroy();
        } catch {
          // A fake connection (unit tests) has no socket; its close() already reported the loss.
        }
      }
    });
  }

  #connectFailed(err: Error): void {
    if (isAccessRefused(err)) {
      void this.#refused(err);
      return;
    }
    if (this.#stopped) return;
    this.#log.warn({ broker: this.currentBroker, err: err.message }, "broker connection attempt failed");
    this.#failover();
  }

  #lost(model: ChannelModel, err: Error): void {
    if (this.#model !== model) return;
    this.#model = undefined;
    if (this.#stopped) return;
    const renewed = this.#renewed.get(model);
    if (renewed === undefined) {
      this.#renewStreak = 0;
      this.#log.warn({ broker: this.currentBroker, err: err.message }, "broker connection lost");
      this.#failover();
    }
    const error = renewed === undefined ? err : new Error(renewed);
    this.#setStatus({ state: "disconnected", broker: this.currentBroker, error: error.message });
    this.emit("disconnect", error);
    // A renewal in a row waits as a failed attempt would: 1, 2, 3… renewals → attempt 1, 2, 3…
    if (renewed !== undefined) this.#attempt = Math.max(this.#attempt, this.#renewStreak - 1);
    this.#scheduleReconnect(error);
  }

  #scheduleReconnect(err: Error): void {
    if (this.#stopped || this.#timer) return;
    const maxRetries = this.#connectedOnce
      ? Number.POSITIVE_INFINITY
      : (this.#options.initialMaxRetries ?? Number.POSITIVE_INFINITY);
    if (this.#attempt >= maxRetries) {
      this.#stopped = true;
      this.#log.error({ err: err.message }, "gave up connecting to the broker");
      this.emit("failed", err);
      this.#settleInitial(err);
      return;
    }
    this.#attempt += 1;
    const delay = reconnectDelay(this.#policy, this.#attempt);
    this.#setStatus({ state: "connecting", broker: this.currentBroker, attempt: this.#attempt });
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
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
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#settleInitial(new Error("Connection closed"));
    const model = this.#model;
    this.#model = undefined;
    this.#setStatus({ state: "closed" });
    if (!model) return;
    await closeQuietly(model);
  }
}

/**
 * amqplib settles close() only on the broker's CloseOk: a socket that dies (or goes silent) while
 * closing would hang a graceful shutdown forever (fault suite, connection-faults.test.ts).
 */
async function closeQuietly(model: ChannelModel): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bounded = new Promise<void>((r) => {
    timer = setTimeout(r, CLOSE_TIMEOUT_MS);
  });
  await Promise.race([model.close().catch(() => undefined), bounded]);
  clearTimeout(timer);
}

/** One short-lived connection and channel for an administrative task (the demo deletes its queues). */
export async function withBrokerChannel<T>(
  endpoint: BrokerEndpoint,
  task: (ch: Channel) => Promise<T>,
): Promise<T> {
  const model = await amqp.connect(connectOptions(endpoint, 0));
  try {
    const ch = await model.createChannel();
    const result = await task(ch);
    await ch.close();
    return result;
  } finally {
    await closeQuietly(model);
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
