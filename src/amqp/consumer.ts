import type { Channel, ConsumeMessage, Options } from "amqplib";
import { HEADER_BATCH } from "../events/batch.js";
import { CONTENT_TYPE_TEXT, TEXT_ENCODING } from "../events/wire-format.js";
import { hop } from "../hops.js";
import type { Logger } from "../log.js";
import { type Envelope, envelopeOf } from "./envelope.js";

/** One event of a batch message that cannot be valid: dead-lettered on its own, the rest applied. */
export interface DeadLetterPart {
  body: Buffer;
  messageId: string;
  timestamp: number;
  reason: string;
}

/** What a handler decided about one delivery. */
export type Outcome =
  | { kind: "ack"; deadLetters?: DeadLetterPart[] }
  /** Cannot ever be valid: straight to the dead-letter queue with the reason. */
  | { kind: "reject"; reason: string }
  /** Might work later: requeue, up to the delivery limit, then dead-letter. */
  | { kind: "retry"; reason: string };

export const ACK: Outcome = { kind: "ack" };

/**
 * A wider window for a queue of small messages: after `after` deliveries in a row of at most
 * `smallBytes` bytes each, the consumer consumes again with `prefetch` unacked messages instead of its
 * base window; the first larger delivery takes it back to the base window. RabbitMQ applies a
 * consumer's prefetch when the consumer is created (basic.qos, global = false), so each change is a
 * basic.cancel, basic.qos and basic.consume on the same channel: the deliveries already made stay
 * unacked on the channel and are acked as before, in order. A gwsync batch (HEADER_BATCH) counts as
 * large whatever its size: batches already carry many events each, and a window of them is what the
 * base window bounds.
 */
export interface WidenWindow {
  prefetch: number;
  smallBytes: number;
  after: number;
}

export interface ConsumerOptions {
  queue: string;
  prefetch: number;
  /** Widen the window while every message is small (the runtime streams: issue 19, B4). */
  widen?: WidenWindow;
  /** Deliveries of one message before it is dead-lettered. */
  maxDeliveries: number;
  /** Pause before a retried message is requeued, so a poison message cannot spin the CPU. */
  retryDelayMs: number;
  handle: (envelope: Envelope) => Promise<Outcome>;
  onReject?: (envelope: Envelope, reason: string) => void;
  /** Queue that receives a copy of each rejected message with its reason in `x-gwsync-reason`. */
  deadLetterQueue?: string;
  /**
   * Publish the copies through this exchange and routing key (bound to the dead-letter queue) instead
   * of the default exchange: a broker user that may write to the default exchange may write to every
   * queue of the vhost, so gateways get a routing key of their own on the hub exchange instead
   * (docs/production.md, "Broker permissions").
   */
  deadLetterRoute?: { exchange: string; routingKey: string };
  logger: Logger;
}

/**
 * The acks of one channel, sent together. A delivery whose handler decided "ack" is not acked at once
 * but on the next turn of the event loop, with every other delivery decided meanwhile: the deliveries
 * of one socket read settle together (the gateway's runtime events all wait for one journal fsync), and
 * the longest run of decided deliveries at the head of the channel's unsettled ones goes out as ONE
 * basic.ack with `multiple` (its last delivery tag). Decided deliveries behind an undecided one (a
 * deploy event still retrying its fetch) are acked one by one in that same turn, so no ack waits
 * longer than one turn for another delivery. A `multiple` ack never covers an undecided delivery:
 * the broker acks every unsettled tag up to the one named (AMQP 0-9-1 basic.ack), so only a run of
 * decided ones from the head is acked so.
 *
 * Why: each basic.ack is a frame the broker's channel process handles and a message to the queue
 * process; in B4 (one message per event, 4 gateways) per-message acks cost the broker ~70–90 µs of CPU
 * per event more than one ack per group (BENCHMARKS.md, "Issue 19: B4 on the WSO2 wire").
 */
export class AckBatcher {
  readonly #ch: Channel;
  /** Delivered and not yet settled with the broker, in delivery order: tag → delivery, decided. */
  readonly #open = new Map<number, { msg: ConsumeMessage; stream: string; decided: boolean }>();
  #decided = 0;
  #scheduled: NodeJS.Immediate | undefined;
  readonly #onError: (err: unknown) => void;

  constructor(ch: Channel, onError: (err: unknown) => void) {
    this.#ch = ch;
    this.#onError = onError;
  }

  /** A delivery arrived (call in delivery order: tags increase on a channel). */
  delivered(msg: ConsumeMessage): void {
    this.#open.set(msg.fields.deliveryTag, { msg, stream: msg.fields.routingKey, decided: false });
  }

  /** Its handler is done and the delivery may be acked: it is, on the next turn. */
  ack(msg: ConsumeMessage): void {
    const entry = this.#open.get(msg.fields.deliveryTag);
    if (entry === undefined || entry.decided) return;
    entry.decided = true;
    this.#decided++;
    this.#scheduled ??= setImmediate(() => this.flush());
  }

  /**
   * Settled some other way (nack, requeue): no longer unsettled at the broker. Call after the nack
   * was sent; decided deliveries behind it may now be acked as a run.
   */
  settled(msg: ConsumeMessage): void {
    const entry = this.#open.get(msg.fields.deliveryTag);
    if (entry === undefined) return;
    this.#open.delete(msg.fields.deliveryTag);
    if (entry.decided) this.#decided--;
  }

  /** Unsettled deliveries (decided or not) this channel holds. */
  get unsettled(): number {
    return this.#open.size;
  }

  /** Sends every decided ack now: one `multiple` ack for the run at the head, single ones after it. */
  flush(): void {
    if (this.#scheduled !== undefined) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    if (this.#decided === 0) return;
    let last: ConsumeMessage | undefined;
    let run = 0;
    const streams: string[] = [];
    for (const [tag, entry] of this.#open) {
      if (!entry.decided) break;
      this.#open.delete(tag);
      last = entry.msg;
      run++;
      streams.push(entry.stream);
    }
    this.#decided -= run;
    try {
      if (last !== undefined) this.#ch.ack(last, run > 1);
      for (const stream of streams) hop("gateway.acked", stream);
      if (this.#decided === 0) return;
      for (const [tag, entry] of this.#open) {
        if (!entry.decided) continue;
        this.#open.delete(tag);
        this.#decided--;
        this.#ch.ack(entry.msg);
        hop("gateway.acked", entry.stream);
      }
    } catch (err) {
      // The channel closed under us: the broker redelivers the unacked messages on the next connection.
      this.#open.clear();
      this.#decided = 0;
      this.#onError(err);
    }
  }
}

/** Header carrying why a message was dead-lettered (the broker's x-death only says "rejected"). */
export const HEADER_REJECT_REASON = "x-gwsync-reason";
const MAX_REASON_LENGTH = 1000;

/**
 * Consumes a queue with manual acknowledgements: a message is acked only after its handler finished.
 * Redeliveries are counted per message id (classic queues carry no delivery count) and a message that
 * keeps failing is dead-lettered after `maxDeliveries`. A handler that throws counts as a retry.
 */
export class QueueConsumer {
  readonly #o: ConsumerOptions;
  readonly #deliveries = new Map<string, number>();
  #channel: Channel | undefined;
  #acks: AckBatcher | undefined;
  #tag: string | undefined;
  #inFlight = new Set<Promise<void>>();
  #stopping = false;
  /** The window the current consumer was created with. */
  #window = 0;
  /** Small deliveries in a row (WidenWindow). */
  #smallRun = 0;
  /** A change of window under way (cancel, qos, consume), and the window wanted after it. */
  #switching: Promise<void> | undefined;
  #wanted = 0;
  #onMessage: ((msg: ConsumeMessage | null) => void) | undefined;

  constructor(options: ConsumerOptions) {
    this.#o = options;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** The prefetch window of the current consumer (WidenWindow changes it). */
  get window(): number {
    return this.#window;
  }

  async start(ch: Channel): Promise<void> {
    this.#channel = ch;
    // Delivery tags are the channel's: a new channel (a reconnect) starts a new run of them.
    const acks = new AckBatcher(ch, (err) => this.#couldNotSettle(err));
    this.#acks = acks;
    this.#stopping = false;
    this.#smallRun = 0;
    this.#switching = undefined;
    this.#onMessage = (msg) => {
      if (msg === null) {
        // null means the broker cancelled the consumer (queue deleted): closing the channel, an essential
        // one (SetupLink), makes the connection set up again, which redeclares the queue and resubscribes.
        this.#o.logger.warn({ queue: this.#o.queue }, "consumer cancelled by the broker");
        ch.close().catch(() => undefined);
        return;
      }
      acks.delivered(msg);
      if (this.#o.widen !== undefined) {
        const batch = msg.properties.headers?.[HEADER_BATCH] !== undefined;
        this.#sized(ch, batch ? Number.POSITIVE_INFINITY : msg.content.length, this.#o.widen);
      }
      const p = this.#process(ch, acks, msg, envelopeOf(msg)).finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    };
    this.#wanted = this.#o.prefetch;
    await this.#consume(ch, this.#o.prefetch);
  }

  async #consume(ch: Channel, window: number): Promise<void> {
    await ch.prefetch(window);
    const reply = await ch.consume(this.#o.queue, this.#onMessage!);
    if (this.#channel !== ch) return; // a reconnect meanwhile: the new channel's consumer is the current one
    this.#tag = reply.consumerTag;
    this.#window = window;
  }

  /** WidenWindow: counts small deliveries in a row and changes the window when it should. */
  #sized(ch: Channel, bytes: number, widen: WidenWindow): void {
    if (bytes <= widen.smallBytes) this.#smallRun++;
    else this.#smallRun = 0;
    const wanted =
      bytes > widen.smallBytes
        ? this.#o.prefetch
        : this.#smallRun >= widen.after
          ? widen.prefetch
          : this.#wanted;
    if (wanted === this.#wanted) return;
    this.#wanted = wanted;
    if (this.#switching !== undefined) return; // the running change takes the new wish too
    const switching: Promise<void> = this.#switchWindow(ch).finally(() => {
      // A reconnect may have started another change meanwhile: only this one is cleared.
      if (this.#switching === switching) this.#switching = undefined;
    });
    this.#switching = switching;
  }

  /** Re-consumes with the wanted window until the consumer has it (it may change again meanwhile). */
  async #switchWindow(ch: Channel): Promise<void> {
    try {
      while (!this.#stopping && this.#channel === ch && this.#window !== this.#wanted) {
        const window = this.#wanted;
        if (this.#tag !== undefined) await ch.cancel(this.#tag);
        // After a reconnect meanwhile, the tag is the new channel's consumer's: not ours to forget.
        if (this.#channel !== ch) return;
        this.#tag = undefined;
        if (this.#stopping) return;
        await this.#consume(ch, window);
        this.#o.logger.debug({ queue: this.#o.queue, prefetch: window }, "consumer window changed");
      }
    } catch (err) {
      // The channel is closing: the connection sets it up again and start() consumes anew.
      this.#o.logger.debug(
        { queue: this.#o.queue, err: (err as Error).message },
        "could not change the consumer window",
      );
    }
  }

  /** Stop taking new deliveries and wait for the ones in progress to finish (ack or nack). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#switching;
    const ch = this.#channel;
    if (ch && this.#tag) await ch.cancel(this.#tag).catch(() => undefined);
    await Promise.allSettled([...this.#inFlight]);
    // What the handlers decided goes out now, before the caller closes the connection.
    this.#acks?.flush();
  }

  #couldNotSettle(err: unknown): void {
    this.#o.logger.debug(
      { err: (err as Error).message },
      "could not settle a delivery; it will be redelivered",
    );
  }

  /**
   * With a dead-letter queue: publish a copy carrying the reason, then ack (same channel, so the
   * broker sees the copy first). Without one: nack without requeue (the queue's DLX takes it).
   */
  #deadLetter(ch: Channel, acks: AckBatcher, msg: ConsumeMessage, env: Envelope, reason: string): void {
    this.#o.onReject?.(env, reason);
    const dlq = this.#o.deadLetterQueue;
    if (!dlq) {
      ch.nack(msg, false, false);
      acks.settled(msg);
      return;
    }
    const p = msg.properties;
    // The copy keeps the original's properties: a dead letter can be replayed as it came.
    this.#sendCopy(ch, dlq, msg, msg.content, reason, {
      ...(p.contentType ? { contentType: p.contentType } : {}),
      ...(p.contentEncoding ? { contentEncoding: p.contentEncoding } : {}),
      ...(p.messageId ? { messageId: p.messageId } : {}),
      ...(typeof p.timestamp === "number" ? { timestamp: p.timestamp } : {}),
      ...(p.type ? { type: p.type } : {}),
      headers: p.headers ?? {},
    });
    // Acked after the copy, on the same channel: the broker has the copy before it drops the original.
    acks.ack(msg);
  }

  /** A copy of one bad event of a batch, in WSO2's single-event form, with its reason. */
  #deadLetterPart(ch: Channel, msg: ConsumeMessage, env: Envelope, part: DeadLetterPart): void {
    this.#o.onReject?.(env, part.reason);
    const dlq = this.#o.deadLetterQueue;
    if (!dlq) {
      this.#o.logger.error(
        { messageId: part.messageId, reason: part.reason },
        "invalid event of a batch dropped (no dead-letter queue)",
      );
      return;
    }
    const { [HEADER_BATCH]: _count, ...headers } = msg.properties.headers ?? {};
    this.#sendCopy(ch, dlq, msg, part.body, part.reason, {
      // One event of a batch is a WSO2 4.x text message on its own.
      contentType: CONTENT_TYPE_TEXT,
      contentEncoding: TEXT_ENCODING,
      messageId: part.messageId,
      timestamp: part.timestamp,
      headers,
    });
  }

  /** Publishes `body` to the dead-letter queue, its reason and stream added to `props.headers`. */
  #sendCopy(
    ch: Channel,
    dlq: string,
    msg: ConsumeMessage,
    body: Buffer,
    reason: string,
    props: Options.Publish & { headers: Record<string, unknown> },
  ): void {
    const options = {
      ...props,
      persistent: true,
      headers: {
        ...props.headers,
        [HEADER_REJECT_REASON]: reason.slice(0, MAX_REASON_LENGTH),
        "x-gwsync-stream": msg.fields.routingKey,
      },
    };
    const route = this.#o.deadLetterRoute;
    if (route) ch.publish(route.exchange, route.routingKey, body, options);
    else ch.sendToQueue(dlq, body, options);
  }

  async #process(ch: Channel, acks: AckBatcher, msg: ConsumeMessage, env: Envelope): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.#o.handle(env);
    } catch (err) {
      outcome = { kind: "retry", reason: err instanceof Error ? err.message : String(err) };
    }
    const id =
      msg.properties.messageId ?? `${msg.fields.routingKey}:${msg.content.length}:${msg.fields.deliveryTag}`;
    try {
      if (outcome.kind === "ack") {
        this.#deliveries.delete(id);
        for (const part of outcome.deadLetters ?? []) this.#deadLetterPart(ch, msg, env, part);
        // Decided only: AckBatcher sends it on the next turn, with the others of this turn.
        acks.ack(msg);
      } else if (outcome.kind === "reject") {
        this.#deliveries.delete(id);
        this.#deadLetter(ch, acks, msg, env, outcome.reason);
      } else {
        const n = (this.#deliveries.get(id) ?? 0) + 1;
        if (n >= this.#o.maxDeliveries) {
          this.#deliveries.delete(id);
          this.#deadLetter(ch, acks, msg, env, `gave up after ${n} deliveries: ${outcome.reason}`);
        } else {
          this.#deliveries.set(id, n);
          if (!this.#stopping) await new Promise((r) => setTimeout(r, this.#o.retryDelayMs));
          ch.nack(msg, false, true);
          acks.settled(msg);
        }
      }
    } catch (err) {
      // The channel closed under us: the broker redelivers the message on the next connection.
      acks.settled(msg);
      this.#couldNotSettle(err);
    }
  }
}
