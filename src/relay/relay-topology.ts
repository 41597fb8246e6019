import type { Channel } from "amqplib";
import { deadLetterQueueName } from "../amqp/topology.js";
import { ARTIFACT_TOPICS, RUNTIME_TOPICS, type Topic } from "../events/topics.js";

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
