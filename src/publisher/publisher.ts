import { EventEmitter } from "node:events";
import { ConfirmPublisher } from "../amqp/confirm-publisher.js";
import { BrokerConnection, FatalSignal } from "../amqp/connection.js";
import type { ChannelModel } from "../amqp/envelope.js";
import { assertTopicExchange, DEFAULT_EXCHANGE } from "../amqp/topology.js";
import { apiTypeOf } from "../artifacts/api-type.js";
import type { GatewayApiDto } from "../artifacts/types.js";
import type { GwsyncConfig } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import { decodeGatewayReport, type GatewayReport, REPORT_ROUTING_KEY } from "../events/gateway-report.js";
import { decodeHeartbeat, HEARTBEAT_ROUTING_KEY, type Heartbeat } from "../events/heartbeat.js";
import { PublisherMetrics } from "../http/metrics.js";
import { type Logger, silentLogger } from "../log.js";
import { ArtifactSigner } from "../security/signing.js";
import { apiFiles } from "../store/api-files.js";
import { openStore } from "../store/open-store.js";
import type { ArtifactStore, NewOutboxMessage, SaveArtifactResult, StoredArtifact } from "../store/types.js";
import { type ArtifactInput, normalizeLabels, toGatewayApiDto } from "./artifact-input.js";
import { buildGatewayEvent, buildStreamEvent, inlineArtifactOption, type StreamEvent } from "./events-out.js";
import { ReportIntake } from "./gateway-reports.js";
import { RolloutIndex } from "./rollout-index.js";
import { OutboxDispatcher } from "./outbox-dispatcher.js";
import {
  type ApiHistory,
  diffRevisions,
  dtoOfRevision,
  type RevisionDiff,
  requireRevision,
} from "./revisions.js";
import { hop } from "../hops.js";

/** An API id, or `name:version` looked up in the store (of the tenant, default carbon.super). */
export async function resolveApiRef(store: ArtifactStore, ref: string, tenantDomain?: string): Promise<string> {
  const sep = ref.lastIndexOf(":");
  if (sep > 0 && !/^[0-9a-f-]{36}$/i.test(ref)) {
    const id = await store.findApiId(ref.slice(0, sep), ref.slice(sep + 1), tenantDomain);
    if (!id) {
      throw new GwsyncError(
        "GWSYNC_NOT_FOUND",
        `no API named ${ref} (name:version) of tenant ${tenantDomain ?? "carbon.super"} in the store; give the API id, or the tenant (--tenant-domain, ?tenantDomain=)`,
      );
    }
    return id;
  }
  return ref;
}

export interface DeployResult {
  apiId: string;
  name: string;
  version: string;
  revision: number;
  sha256: string;
  seq: number;
  labels: string[];
  /** False when the same artifact was already published to every label (nothing announced). */
  changed: boolean;
  /** A Git store: the commit of its repository that holds this change. */
  commit?: string;
}

/** A rollback: the new revision that republished revision `rolledBackTo`'s bytes. */
export interface RollbackResult extends DeployResult {
  rolledBackTo: number;
}

/** What `publisher.events` emits, by event name: the listener's arguments. */
export interface PublisherEvents {
  /** A gateway's heartbeat, once recorded in the store (what `gwsync status` shows). */
  heartbeat: [heartbeat: Heartbeat];
  /** A gateway's report (what it serves and refused, per API), once recorded in the store. */
  report: [report: GatewayReport];
}

export interface PublisherOptions {
  config: GwsyncConfig;
  logger?: Logger;
  /** An open store; default: opened from [database.sync_runtime_artifacts_db]. */
  store?: ArtifactStore;
}

/**
 * The control plane's plugin hook. `deployApi` / `removeApi` and the stream emitters commit the
 * artifact, its changelog rows and the event in one transaction; the outbox dispatcher announces it
 * once connected. The CLI, the REST API and the watched folder all call these methods.
 */
export class Publisher {
  readonly config: GwsyncConfig;
  readonly store: ArtifactStore;
  readonly log: Logger;
  readonly exchange: string;
  readonly metrics = new PublisherMetrics();
  /** See PublisherEvents. */
  readonly events: EventEmitter<PublisherEvents> = new EventEmitter<PublisherEvents>();
  readonly #fatal = new FatalSignal();
  readonly #confirm = new ConfirmPublisher();
  readonly #dispatcher: OutboxDispatcher;
  #connection: BrokerConnection | undefined;
  readonly #ownsStore: boolean;
  /** [gwsync.signing] private_key_file: every DEPLOY/REMOVE it announces is signed. */
  readonly signer: ArtifactSigner | undefined;
  /** The gateways' report stream, written to the store (fleet view). */
  readonly reports: ReportIntake;
  /** Which APIs' rollouts are not complete, kept up to date (the status page's filter). */
  readonly rollouts: RolloutIndex;
  /** Labels a replication agreement of this clone replicates from its master, and why (src/replication/). */
  #replicatedLabels: ReadonlyMap<string, string> = new Map();

  constructor(options: PublisherOptions) {
    this.config = options.config;
    this.log = (options.logger ?? silentLogger).child({
      component: "publisher",
      node: options.config.gwsync.nodeId,
    });
    this.#ownsStore = options.store === undefined;
    this.store =
      options.store ??
      openStore(options.config.database, { region: options.config.gwsync.region, logger: this.log });
    this.exchange = options.config.gwsync.exchange ?? DEFAULT_EXCHANGE;
    const pem = options.config.gwsync.signing.privateKeyPem;
    this.signer = pem === undefined ? undefined : new ArtifactSigner(pem);
    this.rollouts = new RolloutIndex(this.store);
    this.reports = new ReportIntake({
      store: this.store,
      logger: this.log,
      onRefused: (code) => this.metrics.rolloutRefused.inc({ code }),
      onRecorded: (report, replace) => {
        this.rollouts.noteReport(report, replace).catch(() => undefined);
      },
    });
    this.#dispatcher = new OutboxDispatcher({
      store: this.store,
      publisher: this.#confirm,
      exchange: this.exchange,
      logger: this.log,
      pollMs: options.config.gwsync.outboxPollMs,
      batchRuntimeEvents: options.config.gwsync.batchRuntimeEvents,
      maxMessageBytes: options.config.gwsync.maxMessageBytes,
      dialect: options.config.gwsync.hubDialect,
      mapFormat: options.config.gwsync.hubMapFormat,
      onSent: (rows) => {
        for (const r of rows) this.metrics.eventsPublished.inc({ stream: r.topic });
      },
    });
  }

  /** Connect to the event hub and start announcing what the outbox holds. */
  async connect(): Promise<void> {
    if (this.#connection) return;
    const conn = new BrokerConnection({
      endpoints: this.config.eventHub.eventListeningEndpoints,
      connectionName: `gwsync-publisher-${this.config.gwsync.nodeId}`,
      heartbeatSec: this.config.gwsync.heartbeatSec,
      logger: this.log,
      setup: async (model: ChannelModel) => {
        const ch = await model.createConfirmChannel();
        ch.on("error", (err: Error) => this.log.warn({ err: err.message }, "publisher channel error"));
        await assertTopicExchange(ch, this.exchange);
        this.#confirm.attach(ch);
        this.#dispatcher.wake();
        await this.#listenForHeartbeats(model);
      },
    });
    conn.on("status", (st: { state: string }) =>
      this.metrics.brokerConnected.set(st.state === "connected" ? 1 : 0),
    );
    this.#fatal.watch(conn);
    this.#connection = conn;
    await conn.start();
    this.#dispatcher.start();
    // The status page's rollout index: built now, in the background, rather than at the first request.
    this.rollouts.warm().catch((err: unknown) =>
      this.log.warn({ err: (err as Error).message }, "could not build the rollout index (built at the next request)"),
    );
  }

  /** Record every gateway's heartbeat in the store (what `gwsync status` shows). */
  async #listenForHeartbeats(model: ChannelModel): Promise<void> {
    const ch = await model.createChannel();
    ch.on("error", (err: Error) => this.log.warn({ err: err.message }, "heartbeat channel error"));
    const q = await ch.assertQueue("", {
      exclusive: true,
      autoDelete: true,
      arguments: { "x-max-length": 10_000 },
    });
    await ch.bindQueue(q.queue, this.exchange, HEARTBEAT_ROUTING_KEY);
    await ch.bindQueue(q.queue, this.exchange, REPORT_ROUTING_KEY);
    await ch.consume(
      q.queue,
      (msg) => {
        if (!msg) return;
        if (msg.fields.routingKey === REPORT_ROUTING_KEY) {
          const report = decodeGatewayReport(msg.content);
          if (!report) {
            this.log.debug({ bytes: msg.content.length }, "a gateway report that is not one: dropped");
            return;
          }
          this.reports.accept(report).then(
            () => this.events.emit("report", report),
            () => undefined, // logged by the intake
          );
          return;
        }
        const hb = decodeHeartbeat(msg.content);
        if (!hb) return;
        this.store.recordHeartbeat({ ...hb, lastSeen: Date.now() }).then(
          () => {
            this.rollouts.noteHeartbeat(hb).catch(() => undefined);
            this.events.emit("heartbeat", hb);
          },
          (err: unknown) => this.log.warn({ err: (err as Error).message }, "could not record a heartbeat"),
        );
      },
      { noAck: true },
    );
  }

  /** Rejects when the broker refuses the login (GWSYNC_BROKER_ACCESS_REFUSED): the publisher cannot go on. */
  get fatal(): Promise<never> {
    return this.#fatal.promise;
  }

  get brokerStatus(): BrokerConnection["status"] | { state: "not-started" } {
    return this.#connection?.status ?? { state: "not-started" };
  }

  /**
   * The labels this publisher's clone agreements replicate from a master (label → why). A local publish
   * or remove on one of them is refused: the master owns them (only master → clone, as OAM has it).
   */
  setReplicatedLabels(labels: ReadonlyMap<string, string>): void {
    this.#replicatedLabels = labels;
  }

  #refuseReplicated(labels: readonly string[], what: string): void {
    for (const l of labels) {
      const why = this.#replicatedLabels.get(l);
      if (why !== undefined) {
        throw new GwsyncError(
          "GWSYNC_REPLICATION_REFUSED",
          `cannot ${what} on label "${l}" here: ${why}; make the change on the master (or delete the agreement)`,
          { details: { label: l } },
        );
      }
    }
  }

  /** Publish (or update) an API to gateway labels. */
  async deployApi(
    input: ArtifactInput,
    labels: readonly string[],
    options: { tenantDomain?: string; sourceCommit?: string } = {},
  ): Promise<DeployResult> {
    const dto = toGatewayApiDto(input, options);
    const ls = normalizeLabels(labels);
    this.#refuseReplicated(ls, `publish API ${dto.name}:${dto.version}`);
    hop("publisher.validated", String(dto.id));
    // files: one file, one API (a 409 when another API owns one of them on a label).
    const result = await this.store.saveArtifact(
      { dto, labels: ls, instruction: "Publish", files: apiFiles(dto), apiType: apiTypeOf(dto), ...commitOf(options) },
      (r) => [this.#gatewayMessage("deploy", dto, ls, r)],
    );
    hop("publisher.committed", String(dto.id));
    this.#afterCommit(result, "deploy", dto);
    return this.#result(dto, result, ls);
  }

  /** Undeploy an API (by id, or `name:version`) from gateway labels. */
  async removeApi(
    ref: string,
    labels: readonly string[],
    options: { tenantDomain?: string; sourceCommit?: string } = {},
  ): Promise<DeployResult> {
    const ls = normalizeLabels(labels);
    this.#refuseReplicated(ls, `remove API ${ref}`);
    const apiId = await this.resolveApiId(ref, options.tenantDomain);
    let stored: StoredArtifact | undefined;
    for (const l of ls) {
      stored = await this.store.getArtifact(apiId, l);
      if (stored) break;
    }
    if (!stored) {
      throw new GwsyncError(
        "GWSYNC_NOT_FOUND",
        `API ${ref} is not published to ${ls.map((l) => `"${l}"`).join(", ")}`,
      );
    }
    const dto = JSON.parse(stored.artifactJson) as GatewayApiDto;
    const result = await this.store.saveArtifact(
      { dto, labels: ls, instruction: "Remove", apiType: apiTypeOf(dto), ...commitOf(options) },
      (r) => [this.#gatewayMessage("remove", dto, ls, r)],
    );
    this.#afterCommit(result, "remove", dto);
    return this.#result(dto, result, ls);
  }

  /**
   * Republish an earlier revision's exact bytes as a new revision (sha256 equal to the earlier one), to
   * the labels that revision was published to unless `labels` names others. Rolling back to the bytes
   * already published changes nothing (changed: false). A revision that removed the API is refused.
   */
  async rollbackApi(
    ref: string,
    to: number,
    options: { labels?: readonly string[]; tenantDomain?: string; sourceCommit?: string } = {},
  ): Promise<RollbackResult> {
    const apiId = await this.resolveApiId(ref, options.tenantDomain);
    const target = await requireRevision(this.store, apiId, to);
    if (target.record.instruction === "Remove") {
      throw new GwsyncError(
        "GWSYNC_USAGE",
        `revision ${to} of API ${apiId} removed it from ${target.record.labels.join(", ")}: roll back to a revision that published it (gwsync history lists them), or use gwsync remove`,
        { details: { apiId, revision: to } },
      );
    }
    const { dto, artifactJson } = dtoOfRevision(apiId, target);
    const ls = normalizeLabels(options.labels ?? target.record.labels);
    // The stored bytes as they are (not re-serialised): gateways get exactly the earlier sha256.
    const result = await this.store.saveArtifact(
      {
        dto,
        labels: ls,
        instruction: "Publish",
        artifactJson,
        files: apiFiles(dto),
        ...commitOf(options),
      },
      (r) => [this.#gatewayMessage("deploy", dto, ls, r)],
    );
    this.#afterCommit(result, "rollback", dto);
    return { ...this.#result(dto, result, ls), rolledBackTo: to };
  }

  /** The API's revisions, newest first (`gwsync history`). */
  async apiHistory(ref: string, options: { tenantDomain?: string; limit?: number } = {}): Promise<ApiHistory> {
    const apiId = await this.resolveApiId(ref, options.tenantDomain);
    const revisions = await this.store.apiHistory(apiId, options.limit);
    if (revisions.length === 0) {
      throw new GwsyncError("GWSYNC_NOT_FOUND", `API ${ref} has no revisions in the store`, {
        details: { apiId },
      });
    }
    let name = "";
    let version = "";
    for (const r of revisions) {
      if (!r.hasContent) continue;
      const stored = await this.store.getRevision(apiId, r.revision);
      if (stored?.artifactJson === undefined) continue;
      const meta = JSON.parse(stored.artifactJson) as { name?: unknown; version?: unknown };
      name = String(meta.name ?? "");
      version = String(meta.version ?? "");
      break;
    }
    return { apiId, name, version, revisions };
  }

  /** A unified diff of two revisions of an API (`gwsync diff`). */
  async diffApi(ref: string, from: number, to: number, options: { tenantDomain?: string } = {}): Promise<RevisionDiff> {
    const apiId = await this.resolveApiId(ref, options.tenantDomain);
    const a = await requireRevision(this.store, apiId, from);
    const b = await requireRevision(this.store, apiId, to);
    return diffRevisions(apiId, a, b);
  }

  /** Emit one of the other streams (token revocation, key manager, webhook subscription). */
  async emit(event: StreamEvent): Promise<{ eventId: string }> {
    return (await this.emitMany([event]))[0]!;
  }

  /** Emit several events in one transaction (one fsync for a batch of revocations). */
  async emitMany(events: readonly StreamEvent[]): Promise<{ eventId: string }[]> {
    const out = events.map((e) => buildStreamEvent(e, this.config.gwsync.region));
    await this.store.enqueue(out);
    this.#dispatcher.wake();
    return out.map((m) => ({ eventId: m.messageId }));
  }

  async resolveApiId(ref: string, tenantDomain?: string): Promise<string> {
    return resolveApiRef(this.store, ref, tenantDomain);
  }

  /** Something else committed to the store (the region ingress): announce it now, not at the next poll. */
  wakeOutbox(): void {
    this.#dispatcher.wake();
  }

  /** Send what the outbox holds now (for one-shot CLI use); returns the number of events confirmed. */
  flush(): Promise<number> {
    return this.#dispatcher.drain();
  }

  async close(): Promise<void> {
    await this.rollouts.close();
    await this.#dispatcher.stop();
    await this.#connection?.close();
    this.#connection = undefined;
    if (this.#ownsStore) await this.store.close();
  }

  #gatewayMessage(
    action: "deploy" | "remove",
    dto: GatewayApiDto,
    labels: string[],
    r: SaveArtifactResult,
  ): NewOutboxMessage {
    return buildGatewayEvent({
      action,
      dto,
      labels,
      result: r,
      region: this.config.gwsync.region,
      inlineArtifact: inlineArtifactOption(this.config),
      signer: this.signer,
    });
  }

  #afterCommit(result: SaveArtifactResult, action: string, dto: GatewayApiDto): void {
    if (result.changed) {
      this.log.info(
        {
          apiId: result.apiId,
          name: dto.name,
          version: dto.version,
          revision: result.revision,
          seq: result.seq,
          action,
          ...(result.commit === undefined ? {} : { commit: result.commit }),
        },
        "artifact committed",
      );
      this.#dispatcher.wake();
    } else {
      this.log.debug({ apiId: result.apiId, action }, "artifact unchanged; nothing announced");
    }
  }

  #result(dto: GatewayApiDto, r: SaveArtifactResult, labels: string[]): DeployResult {
    return {
      apiId: r.apiId,
      name: dto.name,
      version: dto.version,
      revision: r.revision,
      sha256: r.sha256,
      seq: r.seq,
      labels,
      changed: r.changed,
      ...(r.commit === undefined ? {} : { commit: r.commit }),
    };
  }
}

/** The sourceCommit field of a save, when the caller names the commit it publishes from. */
function commitOf(o: { sourceCommit?: string }): { sourceCommit?: string } {
  return o.sourceCommit === undefined ? {} : { sourceCommit: o.sourceCommit };
}

export function createPublisher(options: PublisherOptions): Publisher {
  return new Publisher(options);
}
