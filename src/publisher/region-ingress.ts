import { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BrokerConnection, type SetupLink } from "../amqp/connection.js";
import { ACK, type Outcome, QueueConsumer } from "../amqp/consumer.js";
import type { ChannelModel, Envelope } from "../amqp/envelope.js";
import { deadLetterQueueName, declareIngressQueue, ingressQueueName } from "../amqp/topology.js";
import { parseGatewayApiDto, sha256Hex, validateDto } from "../artifacts/gateway-api-dto.js";
import { DEFAULT_REGION } from "../config/defaults.js";
import { GwsyncError, isGwsyncError } from "../errors.js";
import { decodeRegionSync, type RegionSyncChange, type RegionSyncMessage } from "../events/region-sync.js";
import { regionSyncRefusal } from "../events/region-sync-trust.js";
import { readRelayFacts } from "../events/relay-headers.js";
import type { Logger } from "../log.js";
import { signatureReasonLabel, TrustedKeys } from "../security/signing.js";
import { apiFiles } from "../store/api-files.js";
import { buildGatewayEvent, inlineArtifactOption } from "./events-out.js";
import type { Publisher } from "./publisher.js";

/** Region-sync messages handled at once; each is one SQLite transaction per change, done in order. */
export const DEFAULT_INGRESS_PREFETCH = 32;
/** Pause before a message whose store write failed is tried again. */
export const DEFAULT_INGRESS_RETRY_MS = 500;

/** What one change of a region-sync message did to the local store. */
export type IngressResult = "stored" | "duplicate" | "older" | "not-published-here";

/** What the ingress needs of the region's publisher (a narrow view: unit tests pass their own). */
export type IngressHost = Pick<Publisher, "config" | "store" | "metrics" | "signer" | "log"> & {
  /** Announce at once rather than at the outbox dispatcher's next poll. */
  wakeOutbox?: () => void;
};

export interface RegionIngressOptions {
  publisher: IngressHost;
  logger?: Logger;
  prefetch?: number;
  retryDelayMs?: number;
}

/**
 * The receiving end of the relay, run by a region's publisher service: consumes the region's ingress
 * queue and stores each relayed artifact with its origin (region, seq, revision). The artifact,
 * its changelog row and the local DEPLOY/REMOVE event commit in one transaction, so this region's
 * gateways hear of an API only once the store can serve it; the message is acknowledged after the
 * commit (the outbox then announces it, durably). A redelivered message is a no-op: the store knows
 * the (origin, seq) it already holds and skips revisions not above its own.
 */
export class RegionIngress {
  /** "change" (origin, apiId, result) per change handled; tests count these. */
  readonly events = new EventEmitter();
  readonly queue: string;
  readonly #o: RegionIngressOptions;
  readonly #log: Logger;
  readonly #region: string;
  readonly #trustedKeys: TrustedKeys | undefined;
  #conn: BrokerConnection | undefined;
  #consumer: QueueConsumer | undefined;
  /** The message being stored: the next one waits for it, so messages are stored in arrival order. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: RegionIngressOptions) {
    this.#o = options;
    this.#region = options.publisher.config.gwsync.region;
    const trusted = options.publisher.config.gwsync.signing.trustedKeys;
    this.#trustedKeys =
      trusted.length === 0 ? undefined : new TrustedKeys(trusted.map((k) => ({ pem: k.pem, what: k.file })));
    this.queue = ingressQueueName(this.#region);
    this.#log = (options.logger ?? options.publisher.log).child({
      component: "region-ingress",
      region: this.#region,
    });
  }

  async start(): Promise<void> {
    const { config } = this.#o.publisher;
    const consumer = new QueueConsumer({
      queue: this.queue,
      prefetch: this.#o.prefetch ?? DEFAULT_INGRESS_PREFETCH,
      maxDeliveries: config.gwsync.maxDeliveries,
      retryDelayMs: this.#o.retryDelayMs ?? DEFAULT_INGRESS_RETRY_MS,
      handle: (msg) => this.handle(msg),
      deadLetterQueue: deadLetterQueueName(this.queue),
      onReject: (msg, reason) =>
        this.#log.warn({ messageId: msg.properties.messageId, reason }, "region-sync message dead-lettered"),
      logger: this.#log,
    });
    this.#consumer = consumer;
    this.#conn = new BrokerConnection({
      endpoints: config.eventHub.eventListeningEndpoints,
      connectionName: `gwsync-region-ingress-${config.gwsync.nodeId}`,
      heartbeatSec: config.gwsync.heartbeatSec,
      logger: this.#log,
      setup: async (model: ChannelModel, link: SetupLink) => {
        const ch = await model.createChannel();
        ch.on("error", (err: Error) => this.#log.warn({ err: err.message }, "ingress channel error"));
        link.essential(ch, "region ingress consumer's");
        await declareIngressQueue(ch, this.#region);
        await consumer.start(ch);
      },
    });
    await this.#conn.start();
  }

  /**
   * One region-sync delivery → its Outcome (decode → signature → per change: dedup by origin seq,
   * sha256, validate, store with its outbox event). One message at a time, in the order they arrive
   * (the consumer hands over up to `prefetch`). Unit-tested without a broker (region-ingress.test.ts).
   */
  handle(msg: Envelope): Promise<Outcome> {
    const next = this.#tail.then(() => this.#handle(msg));
    this.#tail = next.catch(() => undefined);
    return next;
  }

  async #handle(msg: Envelope): Promise<Outcome> {
    let message: RegionSyncMessage;
    try {
      message = decodeRegionSync(msg.body, this.#o.publisher.config.gwsync.maxMessageBytes);
    } catch (err) {
      return { kind: "reject", reason: (err as Error).message };
    }
    const refusal =
      this.#trustedKeys === undefined ? undefined : regionSyncRefusal(message, this.#trustedKeys);
    if (refusal !== undefined) {
      this.#o.publisher.metrics.signatureRejected.inc({ reason: signatureReasonLabel(refusal) });
      return { kind: "reject", reason: refusal };
    }
    const hops = readRelayFacts(msg.headers, message.origin).hops;
    let stored = 0;
    try {
      for (const change of message.changes) {
        const result = await this.#apply(message, change, hops);
        if (result === "stored") stored++;
        this.events.emit("change", message.origin, message.apiId, result);
      }
    } catch (err) {
      if (isGwsyncError(err) && !err.retryable)
        return { kind: "reject", reason: `${err.code}: ${err.message}` };
      throw err;
    } finally {
      if (stored > 0) this.#wakeOutbox();
    }
    return ACK;
  }

  async #apply(m: RegionSyncMessage, c: RegionSyncChange, hops: number): Promise<IngressResult> {
    const store = this.#o.publisher.store;
    if (await store.hasOriginChange(m.origin, c.originSeq)) return "duplicate";
    if (sha256Hex(c.artifact) !== c.sha256) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `artifact of API ${m.apiId} from ${m.origin} does not match its sha256`,
      );
    }
    const dto = parseGatewayApiDto(c.artifact);
    if (dto.apiId !== m.apiId) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `artifact from ${m.origin} is API ${dto.apiId}, the message says ${m.apiId}`,
      );
    }
    validateDto(dto);
    // A Remove of a label this region never had is already applied (the deploy may have been superseded).
    const labels: string[] = [];
    for (const l of c.labels) {
      if (c.instruction === "Publish" || (await store.getArtifact(m.apiId, l)) !== undefined) labels.push(l);
    }
    if (labels.length === 0) return "not-published-here";
    const action = c.instruction === "Publish" ? "deploy" : "remove";
    try {
      const result = await store.saveArtifact(
        {
          dto,
          labels,
          instruction: c.instruction,
          artifactJson: c.artifact,
          origin: { region: m.origin, seq: c.originSeq, revision: c.revision },
          ...(c.instruction === "Publish" ? { files: apiFiles(dto) } : {}),
        },
        (r) => [
          buildGatewayEvent({
            action,
            dto,
            labels: r.labels,
            result: r,
            region: this.#region,
            originRegion: m.origin,
            originSeq: c.originSeq,
            hops,
            // This region's publish_directly_to_gateway holds for relayed artifacts too.
            inlineArtifact: inlineArtifactOption(this.#o.publisher.config),
            // Signed with this region's key: its gateways trust their own publisher (and its seq).
            signer: this.#o.publisher.signer,
          }),
        ],
      );
      if (result.changed) {
        this.#log.info(
          {
            apiId: m.apiId,
            origin: m.origin,
            originSeq: c.originSeq,
            revision: result.revision,
            seq: result.seq,
            action,
          },
          "relayed artifact committed",
        );
      }
      return result.changed ? "stored" : "older";
    } catch (err) {
      if (isGwsyncError(err, "GWSYNC_NOT_FOUND")) return "not-published-here";
      throw err;
    }
  }

  /** Announce at once rather than at the outbox dispatcher's next poll (Publisher.wakeOutbox, when present). */
  #wakeOutbox(): void {
    this.#o.publisher.wakeOutbox?.();
  }

  async close(): Promise<void> {
    await this.#consumer?.stop();
    await this.#conn?.close();
  }
}

/**
 * Whether this publisher's region takes part in a mesh: a named region (not the default) that its
 * jndi_dir lists (`<region>.properties`, the file the other regions' relays connect by). A single
 * region setup then never declares an ingress queue.
 */
export function inMesh(config: Publisher["config"]): boolean {
  const { region, jndiDir } = config.gwsync;
  return region !== DEFAULT_REGION && existsSync(join(jndiDir, `${region}.properties`));
}

/** Start the ingress of a publisher whose region is in a mesh (see inMesh); undefined otherwise. */
export async function startRegionIngress(
  publisher: Publisher,
  logger?: Logger,
): Promise<RegionIngress | undefined> {
  if (!inMesh(publisher.config)) return undefined;
  const ingress = new RegionIngress({ publisher, ...(logger ? { logger } : {}) });
  await ingress.start();
  return ingress;
}
