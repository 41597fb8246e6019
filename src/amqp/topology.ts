import type { Channel } from "amqplib";
import { DEFAULT_EXCHANGE, DEFAULT_QUEUE_EXPIRES_MS, DEFAULT_QUEUE_MAX_LENGTH } from "../config/defaults.js";
import { ARTIFACT_TOPICS, RUNTIME_TOPICS, type Topic } from "../events/topics.js";

// WSO2's topics live on amq.topic (Qpid JNDI: "a JMS topic is implemented as an amq.topic exchange").
// The defaults are the configuration's (one source: src/config/defaults.ts).
export { DEFAULT_EXCHANGE, DEFAULT_QUEUE_EXPIRES_MS, DEFAULT_QUEUE_MAX_LENGTH };
export const DEAD_LETTER_MAX_LENGTH = 100_000;

/**
 * A gateway's queues: one for the artifact stream, one for the runtime-state streams (consumed on
 * its own channel, so revocations never wait behind deploy events retrying their fetches), and one
 * dead-letter queue that both feed.
 */
export interface GatewayQueueNames {
  artifacts: string;
  runtime: string;
  deadLetter: string;
}

export function gatewayQueueNames(nodeId: string): GatewayQueueNames {
  const artifacts = `gwsync.gateway.${nodeId}`;
  return { artifacts, runtime: `${artifacts}.runtime`, deadLetter: deadLetterQueueName(artifacts) };
}

export interface GatewayQueueOptions {
  /** Durable queue name, e.g. gwsync.gateway.<node_id>. */
  queue: string;
  exchange: string;
  routingKeys: readonly string[];
  /** Bindings removed if present (a queue declared by an older gwsync that carried more streams). */
  unbindKeys?: readonly string[];
  /** Where bad messages go; `<queue>.dead-letter` unless given (queues of one gateway share one). */
  deadLetterQueue?: string;
  /** Bind the dead-letter queue to the exchange with this key (see deadLetterRoutingKey). */
  deadLetterRoutingKey?: string;
  /** The queue is deleted after being unused this long (a gateway gone for good). */
  expiresMs: number;
  /** Oldest messages are dropped past this length; the gateway catches up from the changelog. */
  maxLength: number;
  queueType: "classic" | "quorum";
  /** Quorum queues count deliveries themselves and dead-letter past this limit. */
  deliveryLimit: number;
}

export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead-letter`;
}

/**
 * The routing key a gateway's dead-letter copies travel under on the hub exchange. A key per node, so
 * broker topic permissions can let each gateway write its own and nothing else (docs/production.md,
 * "Broker permissions").
 */
export function deadLetterRoutingKey(nodeId: string): string {
  return `gwsync.dead-letter.${nodeId}`;
}

/**
 * Declares a gateway's durable queue, its dead-letter queue and the bindings. Idempotent: runs after
 * every reconnect. Amq.* exchanges are predeclared and may not be redeclared with other arguments,
 * so only custom exchanges (tests, private hubs) are asserted.
 */
export async function declareGatewayQueue(ch: Channel, o: GatewayQueueOptions): Promise<void> {
  await assertTopicExchange(ch, o.exchange);
  const dlq = o.deadLetterQueue ?? deadLetterQueueName(o.queue);
  // Bounded too: a flood of poison must not fill the broker's disk (oldest dead letters go first).
  await ch.assertQueue(dlq, {
    durable: true,
    arguments: {
      "x-expires": o.expiresMs,
      "x-max-length": DEAD_LETTER_MAX_LENGTH,
      "x-queue-type": o.queueType,
    },
  });
  if (o.deadLetterRoutingKey !== undefined) await ch.bindQueue(dlq, o.exchange, o.deadLetterRoutingKey);
  const args: Record<string, unknown> = {
    "x-expires": o.expiresMs,
    "x-max-length": o.maxLength,
    "x-queue-type": o.queueType,
  };
  // The consumer dead-letters with a copy carrying the reason. Only quorum queues count deliveries
  // themselves and need the broker's DLX; on classic queues a DLX would also receive the messages
  // x-max-length drops, which are not poison (the changelog catch-up repairs those).
  if (o.queueType === "quorum") {
    args["x-delivery-limit"] = o.deliveryLimit;
    args["x-dead-letter-exchange"] = "";
    args["x-dead-letter-routing-key"] = dlq;
  }
  await ch.assertQueue(o.queue, { durable: true, arguments: args });
  for (const key of o.routingKeys) await ch.bindQueue(o.queue, o.exchange, key);
  // Unbinding a binding that does not exist is a no-op for RabbitMQ: safe after every reconnect.
  for (const key of o.unbindKeys ?? []) await ch.unbindQueue(o.queue, o.exchange, key);
}

export async function assertTopicExchange(ch: Channel, exchange: string): Promise<void> {
  if (exchange === "" || exchange.startsWith("amq.")) return;
  await ch.assertExchange(exchange, "topic", { durable: true });
}

// ---- The relay's queues (each remote link's lanes) and a region's ingress queue ----


/**
 * The relay's queues. Each (local region → remote region) link has two lanes, each its own durable
 * queue on the local hub consumed on its own channel, so a token revocation never waits behind a
 * burst of artifacts. Artifacts cross into a durable ingress queue on the remote hub, which the remote
 * region's publisher consumes (it stores the artifact before its gateways hear of it).
 */
export type Lane = "priority" | "artifacts";
export const LANES: readonly Lane[] = ["priority", "artifacts"];

/** Streams each lane carries: runtime state first, artifacts on their own. */
export const LANE_TOPICS: Readonly<Record<Lane, readonly Topic[]>> = {
  priority: RUNTIME_TOPICS,
  artifacts: ARTIFACT_TOPICS,
};

/** Unacked messages per lane: revocations are small and many, artifacts are large and fewer. */
export const DEFAULT_LANE_PREFETCH: Readonly<Record<Lane, number>> = { priority: 256, artifacts: 64 };

/** A full mesh: an event that already crossed one region boundary is never forwarded again. */
export const DEFAULT_MAX_HOPS = 1;

export function relayQueueName(local: string, remote: string, lane: Lane): string {
  return `gwsync.relay.${local}.to.${remote}.${lane}`;
}

export function ingressQueueName(region: string): string {
  return `gwsync.region-ingress.${region}`;
}

/**
 * A relay queue waits out a remote region's outage, however long: no expiry and no length bound
 * (dropping would lose events; the backlog gauge is the alarm). Its dead-letter queue holds the
 * messages that can never be valid.
 */
export async function declareRelayQueue(
  ch: Channel,
  o: { queue: string; exchange: string; lane: Lane },
): Promise<void> {
  await ch.assertQueue(deadLetterQueueName(o.queue), { durable: true });
  await ch.assertQueue(o.queue, { durable: true });
  for (const topic of LANE_TOPICS[o.lane]) await ch.bindQueue(o.queue, o.exchange, topic);
}

/**
 * The ingress queue of a region, declared by the remote relays that publish into it and by the
 * region's publisher that consumes it: both must declare it with the same arguments.
 */
export async function declareIngressQueue(ch: Channel, region: string): Promise<void> {
  const queue = ingressQueueName(region);
  await ch.assertQueue(deadLetterQueueName(queue), { durable: true });
  await ch.assertQueue(queue, { durable: true });
}
