import type { OutgoingMessage } from "../amqp/confirm-publisher.js";
import { HEADER_REJECT_REASON } from "../amqp/consumer.js";
import { type Channel, type ConsumeMessage, type Envelope, envelopeOf } from "../amqp/envelope.js";
import type { Lane } from "../amqp/topology.js";
import { deadLetterQueueName } from "../amqp/topology.js";
import type { Logger } from "../log.js";
import type { ForwardDecision } from "./forward-plan.js";
import type { RemoteLink } from "./remote-link.js";

/** Wait before planning a message again when the local store could not be read. */
export const DEFAULT_PLAN_RETRY_MS = 500;
const MAX_REASON_LENGTH = 1000;

interface Delivery {
  ch: Channel;
  msg: ConsumeMessage;
  env: Envelope;
}

export interface ForwardPumpOptions {
  lane: Lane;
  queue: string;
  prefetch: number;
  link: RemoteLink;
  plan: (envelope: Envelope) => Promise<ForwardDecision>;
  logger: Logger;
  planRetryMs?: number;
  /** Called per settled delivery (metrics, tests). */
  onSettled?: (decision: ForwardDecision, envelope: Envelope) => void;
}

/**
 * Moves one lane of a local relay queue to a remote region: deliveries are taken in order, in
 * batches of what has arrived, published to the remote with confirms, and acknowledged locally only
 * after the remote confirmed them. While the remote is down the batch waits (unacknowledged, at most
 * `prefetch` messages) and the rest stays in the durable queue; nothing else waits for it.
 */
export class ForwardPump {
  readonly #o: ForwardPumpOptions;
  readonly #pending: Delivery[] = [];
  readonly #closedChannels = new WeakSet<Channel>();
  readonly #stopping = new AbortController();
  #channel: Channel | undefined;
  #tag: string | undefined;
  #running: Promise<void> | undefined;
  #inFlight = 0;

  constructor(options: ForwardPumpOptions) {
    this.#o = options;
  }

  /** Deliveries taken from the queue and not yet acknowledged. */
  get unacked(): number {
    return this.#pending.length + this.#inFlight;
  }

  /** (Re)start consuming on a fresh channel (after every reconnect of the local hub). */
  async start(ch: Channel): Promise<void> {
    this.#channel = ch;
    ch.on("close", () => {
      this.#closedChannels.add(ch);
      // The broker requeues what this channel held; forget it here so it is not acked on a dead channel.
      for (let i = this.#pending.length - 1; i >= 0; i--)
        if (this.#pending[i]!.ch === ch) this.#pending.splice(i, 1);
    });
    await ch.prefetch(this.#o.prefetch);
    const reply = await ch.consume(this.#o.queue, (msg) => {
      if (msg === null) {
        // The broker cancelled the consumer (queue deleted): closing the channel, an essential one
        // (SetupLink), makes the connection set up again, which redeclares and resubscribes.
        this.#o.logger.warn({ queue: this.#o.queue }, "relay consumer cancelled by the broker");
        ch.close().catch(() => undefined);
        return;
      }
      this.#pending.push({ ch, msg, env: envelopeOf(msg) });
      this.#kick();
    });
    this.#tag = reply.consumerTag;
  }

  #kick(): void {
    if (this.#running || this.#stopping.signal.aborted) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#pending.length > 0 && !this.#stopping.signal.aborted) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0 && !this.#stopping.signal.aborted) {
      const batch = this.#pending.splice(0, this.#pending.length);
      this.#inFlight = batch.length;
      try {
        const decisions: ForwardDecision[] = [];
        for (const d of batch) decisions.push(await this.#planWithRetry(d.env));
        const out: OutgoingMessage[] = decisions.flatMap((x) => (x.kind === "forward" ? x.messages : []));
        await this.#o.link.publish(this.#o.lane, out, this.#stopping.signal);
        for (const [i, d] of batch.entries()) this.#settle(d, decisions[i]!);
      } catch (err) {
        // Only a stop interrupts a batch; its deliveries go back to the queue when the channel closes.
        if (!this.#stopping.signal.aborted)
          this.#o.logger.error({ err: (err as Error).message }, "relay batch failed");
        return;
      } finally {
        this.#inFlight = 0;
      }
    }
  }

  /** The local store may be briefly unreadable (locked, not created yet): wait and plan again, in order. */
  async #planWithRetry(msg: Envelope): Promise<ForwardDecision> {
    let logged = false;
    for (;;) {
      try {
        return await this.#o.plan(msg);
      } catch (err) {
        if (!logged) {
          this.#o.logger.warn(
            { err: (err as Error).message, messageId: msg.properties.messageId },
            "cannot plan a relayed message yet; retrying",
          );
          logged = true;
        }
        if (this.#stopping.signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, this.#o.planRetryMs ?? DEFAULT_PLAN_RETRY_MS));
      }
    }
  }

  #settle(d: Delivery, decision: ForwardDecision): void {
    if (this.#closedChannels.has(d.ch)) return;
    try {
      if (decision.kind === "reject") {
        this.#o.logger.warn(
          { queue: this.#o.queue, messageId: d.msg.properties.messageId, reason: decision.reason },
          "relay message dead-lettered",
        );
        const p = d.msg.properties;
        // The copy keeps the original's properties (a map message stays a map message).
        d.ch.sendToQueue(deadLetterQueueName(this.#o.queue), d.msg.content, {
          persistent: true,
          ...(p.contentType ? { contentType: p.contentType } : {}),
          ...(p.contentEncoding ? { contentEncoding: p.contentEncoding } : {}),
          ...(p.messageId ? { messageId: p.messageId } : {}),
          ...(typeof p.timestamp === "number" ? { timestamp: p.timestamp } : {}),
          headers: {
            ...(d.msg.properties.headers ?? {}),
            [HEADER_REJECT_REASON]: decision.reason.slice(0, MAX_REASON_LENGTH),
            "x-gwsync-stream": d.msg.fields.routingKey,
          },
        });
      }
      d.ch.ack(d.msg);
      this.#o.onSettled?.(decision, d.env);
    } catch {
      // The channel closed between publish and ack: the broker redelivers; the remote dedupes.
    }
  }

  /** Stop consuming; a batch waiting for the remote is abandoned (its deliveries are requeued). */
  async stop(): Promise<void> {
    this.#stopping.abort();
    const ch = this.#channel;
    if (ch && this.#tag) await ch.cancel(this.#tag).catch(() => undefined);
    await this.#running;
  }
}
