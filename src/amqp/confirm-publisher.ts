import type { Channel, ConfirmChannel, Options } from "amqplib";
import { GwsyncError } from "../errors.js";

export const DEFAULT_CONFIRM_TIMEOUT_MS = 10 * 1000;
/**
 * A channel whose publishes the broker has nacked for this long, at least NACK_STREAK_MIN times and
 * with no confirm in between, is reported stuck (onStuckChannel). Seen in the quorum-cluster fault
 * test on RabbitMQ 3.10: after a node died, one publishing channel had every publish nacked for minutes
 * while every queue it routed to was online with a leader; the quorum queue client's per-channel
 * enqueue state (rabbitmq-server#3671 describes its resend and re-sequencing protocol) is only reset
 * by a new channel.
 */
export const NACK_STREAK_MS = 5 * 1000;
export const NACK_STREAK_MIN = 3;

export interface OutgoingMessage {
  exchange: string;
  routingKey: string;
  body: Buffer;
  options: Options.Publish;
}

/**
 * Publishes with publisher confirms on whichever confirm channel the connection's setup attached.
 * A publish resolves only when the broker confirmed it; a nack, a closed channel or a confirm that
 * does not come within the timeout rejects with a retryable GwsyncError (the caller's outbox keeps
 * the message). `publish()` returning false means the socket buffer is full: wait for 'drain'.
 */
export class ConfirmPublisher {
  #channel: ConfirmChannel | undefined;
  #drain: Promise<void> | undefined;
  readonly #timeoutMs: number;

  readonly #onStuck: ((reason: string) => void) | undefined;
  readonly #nackStreakMs: number;
  /** Nacks in a row on the current channel: since when, how many (reset by any confirm). */
  #nacks: { channel: ConfirmChannel; since: number; count: number; reported: boolean } | undefined;

  constructor(
    options: {
      confirmTimeoutMs?: number;
      /**
       * Called once per channel whose publishes have all been nacked for NACK_STREAK_MS (at least
       * NACK_STREAK_MIN of them): the owner renews the connection (BrokerConnection.renew).
       */
      onStuckChannel?: (reason: string) => void;
      /** NACK_STREAK_MS unless set (tests). */
      nackStreakMs?: number;
    } = {},
  ) {
    this.#timeoutMs = options.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
    this.#onStuck = options.onStuckChannel;
    this.#nackStreakMs = options.nackStreakMs ?? NACK_STREAK_MS;
  }

  /** Counts a confirm (ack or nack) on `channel` towards the nack streak; reports a stuck channel once. */
  #noteConfirm(channel: ConfirmChannel, nacked: boolean): void {
    if (!nacked) {
      if (this.#nacks?.channel === channel) this.#nacks = undefined;
      return;
    }
    const now = Date.now();
    if (this.#nacks?.channel !== channel) this.#nacks = { channel, since: now, count: 0, reported: false };
    const streak = this.#nacks;
    streak.count++;
    if (
      !streak.reported &&
      this.#channel === channel &&
      streak.count >= NACK_STREAK_MIN &&
      now - streak.since >= this.#nackStreakMs
    ) {
      streak.reported = true;
      this.#onStuck?.(
        `the broker nacked every publish on this channel for ${now - streak.since} ms (${streak.count} nacks, no confirm in between)`,
      );
    }
  }

  /** Confirms awaited per channel: one 'close' listener fails them all (not one listener each). */
  readonly #pending = new Map<ConfirmChannel, Set<(err: GwsyncError) => void>>();

  attach(channel: ConfirmChannel): void {
    coalesceSocketWrites(channel);
    this.#channel = channel;
    this.#drain = undefined;
    const waiting = new Set<(err: GwsyncError) => void>();
    this.#pending.set(channel, waiting);
    channel.on("close", () => {
      if (this.#channel === channel) this.#channel = undefined;
      this.#pending.delete(channel);
      const err = new GwsyncError("GWSYNC_BROKER_UNREACHABLE", "channel closed before confirm");
      for (const fail of waiting) fail(err);
      waiting.clear();
    });
  }

  get ready(): boolean {
    return this.#channel !== undefined;
  }

  /**
   * Publish every message; resolves when all are confirmed (order of confirms is the order sent), and
   * rejects with the first failure. Once one has failed, the rest are not sent (the caller's outbox
   * keeps them all). Waiting for 'drain' is bounded too: by the first failed confirm of this call, and
   * otherwise by the confirm timeout (a socket the broker stops reading — flow control, a node going
   * away without a close — would hold the caller for ever, and with it the outbox's rounds).
   */
  async publishAll(messages: OutgoingMessage[]): Promise<void> {
    const pending: Promise<void>[] = [];
    let failed = false;
    let stopped: GwsyncError | undefined;
    let onFailure: () => void = () => undefined;
    const failure = new Promise<void>((resolve) => {
      onFailure = resolve;
    });
    for (const m of messages) {
      if (this.#drain && !failed) {
        const drained = await this.#drainedWithin(this.#drain, failure);
        if (!drained && !failed) {
          stopped = new GwsyncError(
            "GWSYNC_BROKER_TIMEOUT",
            `the broker connection did not take more data within ${this.#timeoutMs} ms (socket buffer full)`,
          );
          break;
        }
      }
      if (failed) break;
      const one = this.#publishOne(m);
      // Observed at once: a confirm that times out (or a channel that closes) while a later message
      // waits for 'drain' would otherwise be an unhandled rejection, and Node exits on one (B9's
      // reconnect storm stopped the publisher so). Promise.all below still reports it to the caller.
      one.catch(() => {
        failed = true;
        onFailure();
      });
      pending.push(one);
    }
    await Promise.all(pending);
    if (stopped) throw stopped;
  }

  /** Whether `drain` came before this call's first failure and before the confirm timeout. */
  async #drainedWithin(drain: Promise<void>, failure: Promise<void>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.#timeoutMs);
    });
    try {
      return await Promise.race([drain.then(() => true), failure.then(() => false), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  publish(message: OutgoingMessage): Promise<void> {
    return this.publishAll([message]);
  }

  #publishOne(m: OutgoingMessage): Promise<void> {
    const channel = this.#channel;
    if (!channel) {
      return Promise.reject(new GwsyncError("GWSYNC_BROKER_UNREACHABLE", "no broker channel: not connected"));
    }
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(
        () =>
          finish(
            new GwsyncError("GWSYNC_BROKER_TIMEOUT", `no publisher confirm within ${this.#timeoutMs} ms`),
          ),
        this.#timeoutMs,
      );
      const waiting = this.#pending.get(channel);
      const finish = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        waiting?.delete(finish);
        const error = err ? confirmError(err) : undefined;
        // A timeout or a closed channel is not the broker's answer: only acks and nacks count.
        if (!error || error.code === "GWSYNC_BROKER_NACK") this.#noteConfirm(channel, error !== undefined);
        if (error) reject(error);
        else resolve();
      };
      waiting?.add(finish);
      try {
        const ok = channel.publish(m.exchange, m.routingKey, m.body, m.options, (err) => finish(err));
        if (!ok && !this.#drain) {
          this.#drain = new Promise<void>((r) => {
            const done = () => {
              channel.removeListener("drain", done);
              channel.removeListener("close", done);
              this.#drain = undefined;
              r();
            };
            channel.once("drain", done);
            channel.once("close", done);
          });
        }
      } catch (err) {
        // amqplib throws IllegalOperationError when the channel or its connection is closing or closed
        // ("Channel closing", "Connection closing": a renew() closed it and its CloseOk has not come).
        // Its 'close' comes only with that frame or the socket's end, both read by the event loop: until
        // then the channel is not ready, so a caller that retries while `ready` does not spin on it
        // without a turn of the loop (the publisher froze so once, in the quorum-cluster fault test).
        if (this.#channel === channel) this.#channel = undefined;
        finish(new GwsyncError("GWSYNC_BROKER_UNREACHABLE", "channel closed", { cause: err }));
      }
    });
  }
}

/**
 * What amqplib's confirm callback was given, as the caller's error: "message nacked" is the broker's
 * nack; "channel closed" is a channel (or connection) that closed with the confirm outstanding, which
 * says nothing about the broker's view of the message and must not read as a nack in the logs.
 */
export function confirmError(err: unknown): GwsyncError {
  if (err instanceof GwsyncError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (message === "message nacked")
    return new GwsyncError("GWSYNC_BROKER_NACK", "broker nacked the message", { cause: err });
  return new GwsyncError("GWSYNC_BROKER_UNREACHABLE", `no confirm: ${message}`, { cause: err });
}

/** Set on an amqplib muxer whose passes coalesceSocketWrites already wrapped. */
const COALESCED = Symbol("gwsync.coalescedSocketWrites");

/** What coalesceSocketWrites reaches into: amqplib 2.x's connection, its frame muxer and its socket. */
interface MuxInternals {
  connection?: {
    muxer?: { _readIncoming?: () => void; [COALESCED]?: true };
    stream?: { cork?: () => void; uncork?: () => void };
  };
}

/**
 * Makes each of the connection's write passes one socket write. amqplib queues every frame a channel
 * sends and its muxer writes them to the socket on the next turn, one `socket.write` each; with
 * `noDelay` (docs/architecture.md#nagle) every one of those is its own write(2) and its own TCP
 * segment, so a round of 256 publishes was 256 syscalls here and ~6 small reads on the broker, which
 * read gwsync's publisher in ~1,100 reads where a raw publisher that fills the socket needs ~20
 * (BENCHMARKS.md, B4). Corking the socket for the pass sends what the pass wrote as one writev; the
 * muxer still stops at the socket's high-water mark and goes on at 'drain', so a pass is at most
 * ~64 KB. Nothing is held past the pass: a single publish still leaves at once. Once per connection;
 * a no-op where amqplib's internals are not what this expects (returns false).
 */
export function coalesceSocketWrites(channel: Channel): boolean {
  const connection = (channel as unknown as MuxInternals).connection;
  const muxer = connection?.muxer;
  const socket = connection?.stream;
  const pass = muxer?._readIncoming;
  if (muxer === undefined || typeof pass !== "function") return false;
  if (typeof socket?.cork !== "function" || typeof socket.uncork !== "function") return false;
  if (muxer[COALESCED]) return true;
  const cork = socket.cork.bind(socket);
  const uncork = socket.uncork.bind(socket);
  muxer._readIncoming = function (this: unknown): void {
    cork();
    try {
      pass.call(this);
    } finally {
      uncork();
    }
  };
  muxer[COALESCED] = true;
  return true;
}
