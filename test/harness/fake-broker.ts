/**
 * A fake transport: an in-memory broker behind src/amqp's `OpenConnection`, so a service's whole
 * message path (BrokerConnection → setup → QueueConsumer → handler → ack/nack/dead-letter copy) runs
 * in a unit test without RabbitMQ, as jwalton/node-amqp-connection-manager tests its reconnects. It
 * does what the services rely on and no more: topic exchanges with bindings (`*` one word, `#` any),
 * the default exchange by queue name, prefetch, manual ack, nack with requeue (redelivered, at the
 * head of the queue) and without (dropped). Every settlement is recorded and announced ("settled"), so
 * tests count events instead of sleeping. The real broker is in test/integration and test/faults.
 */
import { EventEmitter } from "node:events";
import type { ChannelModel, ConsumeMessage, MessageProperties, Options } from "amqplib";
import type { OpenConnection } from "../../src/amqp/connection.js";

export type Settlement = "ack" | "requeue" | "drop";

export interface SettledDelivery {
  queue: string;
  routingKey: string;
  messageId: string | undefined;
  how: Settlement;
  redelivered: boolean;
}

/** A message as it sits in a fake queue. */
export interface FakeMessage {
  exchange: string;
  routingKey: string;
  content: Buffer;
  properties: Partial<MessageProperties>;
  redelivered: boolean;
}

interface Consumer {
  channel: FakeChannel;
  tag: string;
  onMessage: (msg: ConsumeMessage | null) => void;
}

interface FakeQueue {
  messages: FakeMessage[];
  bindings: { exchange: string; pattern: string }[];
  consumer?: Consumer;
}

/** AMQP topic matching: words split on ".", `*` matches one word, `#` zero or more. */
export function topicMatches(pattern: string, key: string): boolean {
  const p = pattern.split(".");
  const k = key.split(".");
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === "#") return match(i + 1, j) || (j < k.length && match(i, j + 1));
    return j < k.length && (p[i] === "*" || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

export class FakeBroker extends EventEmitter<{ settled: [SettledDelivery] }> {
  readonly queues = new Map<string, FakeQueue>();
  readonly settled: SettledDelivery[] = [];
  readonly connections: FakeConnection[] = [];
  #tags = 0;

  /** What a service is handed as its `transport`. */
  readonly open: OpenConnection = async () => {
    const c = new FakeConnection(this);
    this.connections.push(c);
    return c as unknown as ChannelModel;
  };

  queue(name: string): FakeQueue {
    let q = this.queues.get(name);
    if (!q) {
      q = { messages: [], bindings: [] };
      this.queues.set(name, q);
    }
    return q;
  }

  /** Messages waiting in `name` (not delivered, or requeued). */
  waiting(name: string): FakeMessage[] {
    return this.queues.get(name)?.messages ?? [];
  }

  /** Route a message as the broker would: by queue name on "", by binding on a topic exchange. */
  publish(exchange: string, routingKey: string, content: Buffer, properties: Options.Publish = {}): void {
    const targets =
      exchange === ""
        ? [routingKey].filter((q) => this.queues.has(q))
        : [...this.queues]
            .filter(([, q]) =>
              q.bindings.some((b) => b.exchange === exchange && topicMatches(b.pattern, routingKey)),
            )
            .map(([name]) => name);
    for (const name of targets) {
      this.queue(name).messages.push({
        exchange,
        routingKey,
        content,
        properties: properties as Partial<MessageProperties>,
        redelivered: false,
      });
      this.dispatch(name);
    }
  }

  /** Resolves with the first settlement `match` accepts from now on. */
  next(match: (s: SettledDelivery) => boolean): Promise<SettledDelivery> {
    return new Promise((resolve) => {
      const on = (s: SettledDelivery) => {
        if (!match(s)) return;
        this.off("settled", on);
        resolve(s);
      };
      this.on("settled", on);
    });
  }

  /** The broker lost every connection (a restart): channels close, unacked messages are requeued. */
  dropConnections(): void {
    for (const c of this.connections.splice(0)) c.drop();
  }

  dispatch(name: string): void {
    const q = this.queues.get(name);
    const consumer = q?.consumer;
    if (!q || !consumer) return;
    while (q.messages.length > 0 && consumer.channel.hasRoom()) {
      const m = q.messages.shift()!;
      const msg: ConsumeMessage = {
        content: m.content,
        fields: {
          deliveryTag: ++this.#tags,
          redelivered: m.redelivered,
          exchange: m.exchange,
          routingKey: m.routingKey,
          consumerTag: consumer.tag,
        },
        properties: { headers: {}, ...m.properties } as MessageProperties,
      };
      consumer.channel.track(name, m, msg);
      setImmediate(() => consumer.onMessage(msg));
    }
  }

  record(s: SettledDelivery): void {
    this.settled.push(s);
    this.emit("settled", s);
  }
}

class FakeConnection extends EventEmitter {
  readonly channels: FakeChannel[] = [];
  closed = false;

  constructor(readonly broker: FakeBroker) {
    super();
  }

  async createChannel(): Promise<FakeChannel> {
    const ch = new FakeChannel(this.broker);
    this.channels.push(ch);
    return ch;
  }

  async createConfirmChannel(): Promise<FakeChannel> {
    return this.createChannel();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ch of this.channels) await ch.close();
    this.emit("close");
  }

  /** As amqplib reports a lost socket: 'error', then 'close'. */
  drop(): void {
    for (const ch of this.channels) void ch.close();
    this.closed = true;
    this.emit("error", new Error("read ECONNRESET"));
    this.emit("close", new Error("read ECONNRESET"));
  }
}

class FakeChannel extends EventEmitter {
  #prefetch = 0;
  #closed = false;
  /** Delivered and not settled: tag → where it came from. */
  readonly #unacked = new Map<number, { queue: string; message: FakeMessage }>();
  readonly #consumers = new Map<string, string>();

  constructor(readonly broker: FakeBroker) {
    super();
  }

  hasRoom(): boolean {
    return !this.#closed && (this.#prefetch === 0 || this.#unacked.size < this.#prefetch);
  }

  track(queue: string, message: FakeMessage, msg: ConsumeMessage): void {
    this.#unacked.set(msg.fields.deliveryTag, { queue, message });
  }

  async prefetch(n: number): Promise<void> {
    this.#prefetch = n;
  }

  async assertExchange(exchange: string): Promise<{ exchange: string }> {
    return { exchange };
  }

  async assertQueue(queue: string): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    const q = this.broker.queue(queue);
    return { queue, messageCount: q.messages.length, consumerCount: q.consumer ? 1 : 0 };
  }

  async bindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    const q = this.broker.queue(queue);
    if (!q.bindings.some((b) => b.exchange === exchange && b.pattern === pattern))
      q.bindings.push({ exchange, pattern });
  }

  async unbindQueue(queue: string, exchange: string, pattern: string): Promise<void> {
    const q = this.broker.queue(queue);
    q.bindings = q.bindings.filter((b) => !(b.exchange === exchange && b.pattern === pattern));
  }

  async consume(
    queue: string,
    onMessage: (msg: ConsumeMessage | null) => void,
  ): Promise<{ consumerTag: string }> {
    const tag = `fake-${queue}-${Math.random().toString(36).slice(2)}`;
    this.broker.queue(queue).consumer = { channel: this, tag, onMessage };
    this.#consumers.set(tag, queue);
    this.broker.dispatch(queue);
    return { consumerTag: tag };
  }

  async cancel(tag: string): Promise<void> {
    const queue = this.#consumers.get(tag);
    this.#consumers.delete(tag);
    const q = queue === undefined ? undefined : this.broker.queues.get(queue);
    if (q?.consumer?.tag === tag) q.consumer = undefined;
  }

  publish(exchange: string, routingKey: string, content: Buffer, options?: Options.Publish): boolean {
    if (this.#closed) throw new Error("Channel closed");
    this.broker.publish(exchange, routingKey, content, options);
    return true;
  }

  sendToQueue(queue: string, content: Buffer, options?: Options.Publish): boolean {
    return this.publish("", queue, content, options);
  }

  /**
   * As RabbitMQ: the tag named must be unsettled (else PRECONDITION_FAILED); with `allUpTo` every
   * unsettled delivery of this channel up to it is acked too (rabbit_channel:collect_acks).
   */
  ack(msg: ConsumeMessage, allUpTo = false): void {
    if (allUpTo && this.#unacked.has(msg.fields.deliveryTag)) {
      const tags = [...this.#unacked.keys()].filter((t) => t < msg.fields.deliveryTag).sort((a, b) => a - b);
      for (const tag of tags) this.#settleTag(tag, "ack");
    }
    this.#settle(msg, "ack");
  }

  #settleTag(tag: number, how: Settlement): void {
    const d = this.#unacked.get(tag)!;
    this.#unacked.delete(tag);
    this.broker.record({
      queue: d.queue,
      routingKey: d.message.routingKey,
      messageId: d.message.properties.messageId as string | undefined,
      how,
      redelivered: d.message.redelivered,
    });
    this.broker.dispatch(d.queue);
  }

  nack(msg: ConsumeMessage, _allUpTo = false, requeue = true): void {
    this.#settle(msg, requeue ? "requeue" : "drop");
  }

  #settle(msg: ConsumeMessage, how: Settlement): void {
    if (this.#closed) throw new Error("Channel closed");
    const d = this.#unacked.get(msg.fields.deliveryTag);
    if (!d) throw new Error(`PRECONDITION_FAILED - unknown delivery tag ${msg.fields.deliveryTag}`);
    this.#unacked.delete(msg.fields.deliveryTag);
    if (how === "requeue") this.broker.queue(d.queue).messages.unshift({ ...d.message, redelivered: true });
    this.broker.record({
      queue: d.queue,
      routingKey: msg.fields.routingKey,
      messageId: msg.properties.messageId as string | undefined,
      how,
      redelivered: msg.fields.redelivered,
    });
    this.broker.dispatch(d.queue);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [tag] of this.#consumers) await this.cancel(tag);
    // What was delivered and not settled goes back to its queue, as the broker does on a closed channel.
    for (const { queue, message } of this.#unacked.values())
      this.broker.queue(queue).messages.unshift({ ...message, redelivered: true });
    const queues = new Set([...this.#unacked.values()].map((d) => d.queue));
    this.#unacked.clear();
    this.emit("close");
    for (const q of queues) this.broker.dispatch(q);
  }
}
