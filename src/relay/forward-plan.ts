import type { OutgoingMessage } from "../amqp/confirm-publisher.js";
import type { Envelope, PublishOptions } from "../amqp/envelope.js";
import { ingressQueueName } from "../amqp/topology.js";
import { decodeBatch, HEADER_BATCH } from "../events/batch.js";
import { decodeEvent } from "../events/decode.js";
import { encodeRegionSync, REGION_SYNC_CONTENT_TYPE, type RegionSyncChange } from "../events/region-sync.js";
import { changeClaims } from "../events/region-sync-trust.js";
import { forwardHeaders, readRelayFacts, skipReason } from "../events/relay-headers.js";
import { HEADER_HOPS, HEADER_ORIGIN, HEADER_ORIGIN_SEQ, isTopic, type Topic } from "../events/topics.js";
import type { ArtifactSigner } from "../security/signing.js";
import type { ArtifactStore } from "../store/types.js";
import { type LabelDirectory, snapshotChanges } from "./artifact-snapshot.js";

/** What to do with one message of a local relay queue. */
export type ForwardDecision =
  | {
      kind: "forward";
      stream: string;
      messages: OutgoingMessage[];
      /**
       * A region-sync of an API: the API's state up to this origin sequence has reached the remote once
       * the messages are confirmed (the catch-up does not send it again, src/relay/catch-up.ts).
       */
      covers?: { apiId: string; origin: string; originSeq: number };
    }
  /** Not for this remote region (came from elsewhere, or from there): acknowledged, not sent. */
  | { kind: "skip"; why: string }
  /** Can never be valid: dead-lettered with the reason. */
  | { kind: "reject"; reason: string };

export interface ForwardContext {
  localRegion: string;
  remoteRegion: string;
  maxHops: number;
  maxMessageBytes: number;
  /** The remote region's topic exchange. */
  remoteExchange: string;
  /** The remote region's routing key for a stream (its jndi file's topic.<stream> mapping). */
  routingKeyOf: (stream: string) => string;
  /** The local publisher's store, opened readonly (throws while it cannot be opened: retried). */
  store: () => ArtifactStore;
  labels: LabelDirectory;
  /**
   * [gwsync] relay_foreign_artifact_events: pass on DEPLOY/REMOVE events whose API the local store does
   * not hold (a WSO2 control plane whose database is replicated between regions). Default false: the
   * relay forwards only what its own store holds, so an event forged on the local hub never crosses.
   */
  forwardForeignArtifactEvents?: boolean;
  /** Signs each region-sync change ([gwsync.signing] private_key_file of the relay). */
  signer?: ArtifactSigner | undefined;
}

/**
 * Decide how one local message crosses to a remote region. The three runtime streams and the other
 * notifications go to the remote topic exchange as they are (with the origin kept and one more hop). A
 * DEPLOY/REMOVE whose API the local store holds goes, with the artifact (signed when the relay has a
 * key), to the remote region's ingress queue, so the remote publisher stores it before its gateways
 * hear of it; one whose API the store does not hold is not forwarded (forwardForeignArtifactEvents).
 */
export async function planForward(msg: Envelope, ctx: ForwardContext): Promise<ForwardDecision> {
  const stream = msg.stream;
  const headers = msg.headers as Record<string, unknown> | undefined;
  const facts = readRelayFacts(headers, ctx.localRegion);
  const why = skipReason(facts, ctx.remoteRegion, ctx.maxHops);
  if (why !== undefined) return { kind: "skip", why };
  if (!isTopic(stream))
    return {
      kind: "reject",
      reason: `routing key ${JSON.stringify(stream.slice(0, 64))} is not a relayed stream`,
    };
  const messageId = typeof msg.properties.messageId === "string" ? msg.properties.messageId : undefined;
  if (headers?.[HEADER_BATCH] !== undefined) {
    // A batch of runtime events crosses as it is, once every event in it is valid.
    const batch = decodeBatch(stream, msg.body, { maxBytes: ctx.maxMessageBytes });
    if (!batch.ok) return { kind: "reject", reason: batch.reason };
    const bad = batch.parts.find((p) => !p.result.ok);
    if (bad && !bad.result.ok)
      return { kind: "reject", reason: `event ${bad.messageId} of the batch: ${bad.result.reason}` };
    return passThrough(msg, ctx, stream, headers, facts, messageId);
  }
  const decoded = decodeEvent(stream, msg.body, {
    maxBytes: ctx.maxMessageBytes,
    ...(messageId ? { messageId } : {}),
    ...(msg.properties.contentType ? { contentType: msg.properties.contentType as string } : {}),
  });
  if (!decoded.ok) return { kind: "reject", reason: decoded.reason };
  const event = decoded.event;

  if (
    event.topic === "notification" &&
    event.payload.kind === "gateway" &&
    event.payload.gatewayLabels.length > 0
  ) {
    const apiId = event.payload.apiUuid;
    const signer = ctx.signer;
    const changes = await snapshotChanges(
      ctx.store(),
      apiId,
      await ctx.labels.labels(event.payload.gatewayLabels),
      signer === undefined ? undefined : (c, tenant) => signer.sign(changeClaims(apiId, facts.origin, tenant, c)),
    );
    if (changes.length === 0 && ctx.forwardForeignArtifactEvents !== true) return { kind: "skip", why: "not-in-store" };
    if (changes.length > 0) {
      const message = regionSyncMessage({
        remoteRegion: ctx.remoteRegion,
        origin: facts.origin,
        hops: facts.hops + 1,
        eventId: event.eventId,
        apiId,
        changes,
        timestamp: messageTimestamp(msg),
      });
      return {
        kind: "forward",
        stream: "region-sync",
        messages: [message],
        covers: { apiId, origin: facts.origin, originSeq: Math.max(...changes.map((c) => c.originSeq)) },
      };
    }
  }
  return passThrough(msg, ctx, stream, headers, facts, messageId);
}

/**
 * One API's changes as a `gwsync.region-sync` message to the remote region's ingress queue (what a live
 * DEPLOY/REMOVE becomes, and what the catch-up sends): the origin and its highest sequence in headers,
 * the message id `<origin>:<originSeq>` (the ingress dedupes by it).
 */
export function regionSyncMessage(m: {
  remoteRegion: string;
  origin: string;
  hops: number;
  eventId: string;
  apiId: string;
  changes: RegionSyncChange[];
  timestamp: number;
}): OutgoingMessage {
  const originSeq = Math.max(...m.changes.map((c) => c.originSeq));
  return {
    exchange: "",
    routingKey: ingressQueueName(m.remoteRegion),
    body: encodeRegionSync({ origin: m.origin, eventId: m.eventId, apiId: m.apiId, changes: m.changes }),
    options: {
      persistent: true,
      contentType: REGION_SYNC_CONTENT_TYPE,
      messageId: `${m.origin}:${originSeq}`,
      timestamp: m.timestamp,
      headers: {
        [HEADER_ORIGIN]: m.origin,
        [HEADER_HOPS]: m.hops,
        [HEADER_ORIGIN_SEQ]: originSeq,
      },
    },
  };
}

/**
 * The message as it is, to the remote topic exchange, with the origin kept and one more hop: body and
 * properties untouched (a WSO2 consumer picks the JMS message class by the content type, and an absent
 * one stays absent). Not copied: user-id, which RabbitMQ checks against the publishing connection's
 * user (the remote link logs in as its own), and delivery mode, always persistent on the way across.
 */
function passThrough(
  msg: Envelope,
  ctx: ForwardContext,
  stream: Topic,
  headers: Record<string, unknown> | undefined,
  facts: ReturnType<typeof readRelayFacts>,
  messageId: string | undefined,
): ForwardDecision {
  const p = msg.properties;
  const options: PublishOptions = {
    persistent: true,
    timestamp: messageTimestamp(msg),
    headers: forwardHeaders(headers, facts),
  };
  if (messageId) options.messageId = messageId;
  for (const key of FORWARDED_PROPERTIES) {
    const value = p[key];
    if (value !== undefined && value !== null) (options as Record<string, unknown>)[key] = value;
  }
  return {
    kind: "forward",
    stream,
    messages: [
      { exchange: ctx.remoteExchange, routingKey: ctx.routingKeyOf(stream), body: msg.body, options },
    ],
  };
}

/** Basic properties a relay copies as they are (the rest: see passThrough). */
const FORWARDED_PROPERTIES = [
  "contentType",
  "contentEncoding",
  "priority",
  "correlationId",
  "replyTo",
  "expiration",
  "type",
  "appId",
] as const;

/** The original JMSTimestamp (ms) travels on: remote gateways measure publish→deployed from it. */
function messageTimestamp(msg: Envelope): number {
  const ts = msg.properties.timestamp;
  return typeof ts === "number" && ts > 0 ? ts : Date.now();
}
