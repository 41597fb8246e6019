import type { ConfirmChannel, Options } from "amqplib";
import { GwsyncError } from "../errors.js";

export const DEFAULT_CONFIRM_TIMEOUT_MS = 10 * 1000;

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

  constructor(options: { confirmTimeoutMs?: number } = {}) {
    this.#timeoutMs = options.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
  }

  /** Confirms awaited per channel: one 'close' listener fails them all (not one listener each). */
  readonly #pending = new Map<ConfirmChannel, Set<(err: GwsyncError) => void>>();

  attach(channel: ConfirmChannel): void {
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
   * keeps them all).
   */
  async publishAll(messages: OutgoingMessage[]): Promise<void> {
    const pending: Promise<void>[] = [];
    let failed = false;
    for (const m of messages) {
      if (this.#drain) await this.#drain;
      if (failed) break;
      const one = this.#publishOne(m);
      // Observed at once: a confirm that times out (or a channel that closes) while a later message
      // waits for 'drain' would otherwise be an unhandled rejection, and Node exits on one (B9's
      // reconnect storm stopped the publisher so). Promise.all below still reports it to the caller.
      one.catch(() => {
        failed = true;
      });
      pending.push(one);
    }
    await Promise.all(pending);
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
        if (err) {
          reject(
            err instanceof GwsyncError
              ? err
              : new GwsyncError("GWSYNC_BROKER_NACK", "broker nacked the message", { cause: err }),
          );
        } else resolve();
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
        // amqplib throws IllegalOperationError when the channel is already closed.
        finish(new GwsyncError("GWSYNC_BROKER_UNREACHABLE", "channel closed", { cause: err }));
      }
    });
  }
}
