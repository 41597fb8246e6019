import { EventEmitter } from "node:events";
import { ConfirmPublisher } from "../amqp/confirm-publisher.js";
import { BrokerConnection, FatalSignal, type SetupLink } from "../amqp/connection.js";
import type { Channel, ChannelModel, ConsumeMessage } from "../amqp/envelope.js";
import { assertTopicExchange, DEFAULT_EXCHANGE } from "../amqp/topology.js";
import { apiTypeOf } from "../artifacts/api-type.js";
import type { GatewayApiDto } from "../artifacts/types.js";
import type { GwsyncConfig } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import { decodeGatewayReport, type GatewayReport, REPORT_ROUTING_KEY } from "../events/gateway-report.js";
import { decodeHeartbeat, HEARTBEAT_ROUTING_KEY, type Heartbeat } from "../events/heartbeat.js";
import { hop } from "../hops.js";
import { PublisherMetrics } from "../http/metrics.js";
import { type Logger, silentLogger } from "../log.js";
import { ArtifactSigner } from "../security/signing.js";
import { apiFiles } from "../store/api-files.js";
import { openStore } from "../store/open-store.js";
import type {
  ArtifactStore,
  NewOutboxMessage,
  OutboxMessage,
  SaveArtifactResult,
  StoredArtifact,
} from "../store/types.js";
import { type ArtifactInput, normalizeLabels, toGatewayApiDto } from "./artifact-input.js";
import { buildGatewayEvent, buildStreamEvent, inlineArtifactOption, type StreamEvent } from "./events-out.js";
import { FleetLagCache } from "./fleet-view.js";
import { ReportIntake } from "./gateway-reports.js";
import { OutboxDispatcher } from "./outbox-dispatcher.js";
import {
  type ApiHistory,
  diffRevisions,
  dtoOfRevision,
  type RevisionDiff,
  requireRevision,
} from "./revisions.js";
import { RolloutIndex } from "./rollout-index.js";

/** An API id, or `name:version` looked up in the store (of the tenant, default carbon.super). */
export async function resolveApiRef(
  store: ArtifactStore,
  ref: string,
  tenantDomain?: string,
): Promise<string> {
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
  /** A re-bind of the heartbeat and report queues ended: undefined when done, else why not (reassertBindings). */
  rebind: [error: Error | undefined];
  /**
   * Outbox rows deleted unsent because a later pending row of the same key supersedes them
   * (src/publisher/outbox-coalesce.ts), once deleted; also counted in `gwsync_outbox_coalesced_total`.
   */
  coalesced: [rows: readonly OutboxMessage[]];
}

export interface PublisherOptions {
  config: GwsyncConfig;
  logger?: Logger;
  /** An open store; default: opened from [database.sync_runtime_artifacts_db]. */
  store?: ArtifactStore;
  /** Messages the gateways' report queue holds at most (REPORT_QUEUE_MAX_LENGTH; tests make it small). */
  reportQueueMaxLength?: number;
}

/**
 * Gateway reports waiting for this publisher, at most. Beyond, the broker refuses a gateway's report
 * (`x-overflow: reject-publish`, a basic.nack on its confirm channel) and the gateway sends its whole
 * snapshot again after a jittered back-off (src/gateway/apply-report.ts): a fleet reconnecting at once
 * is paced by what this publisher ingests, and nothing is silently dropped (the old drop-head queue lost
 * parts of snapshots, and a gateway's view stayed incomplete until its next periodic snapshot).
 */
export const REPORT_QUEUE_MAX_LENGTH = 10_000;
/** Reports in this publisher's hands at once; each is acknowledged once it is in the store. */
const REPORT_PREFETCH = 32;
/** Heartbeats waiting, at most: the oldest go first (a newer heartbeat says all an older one did). */
const HEARTBEAT_QUEUE_MAX_LENGTH = 10_000;

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
  /** A channel the broker nacks every publish on is renewed with the connection (NACK_STREAK_MS). */
  readonly #confirm = new ConfirmPublisher({
    onStuckChannel: (reason) => this.#connection?.renew(reason),
  });
  readonly #dispatcher: OutboxDispatcher;
  #connection: BrokerConnection | undefined;
  /** The heartbeat and report queues of the current connection, bound again every rebind_interval_ms. */
  #bindings: Array<{ channel: Channel; queue: string; key: string }> = [];
  #rebindTimer: NodeJS.Timeout | undefined;
  #rebinding = false;
  readonly #ownsStore: boolean;
  /** [gwsync.signing] private_key_file: every DEPLOY/REMOVE it announces is signed. */
  readonly signer: ArtifactSigner | undefined;
  /** The gateways' report stream, written to the store (fleet view). */
  readonly reports: ReportIntake;
  /** Which APIs' rollouts are not complete, kept up to date (the status page's filter). */
  readonly rollouts: RolloutIndex;
  /** Each gateway's lag as /api/v1/fleet last computed it, reused while its inputs are unchanged. */
  readonly fleetLags = new FleetLagCache();
  readonly #reportQueueMaxLength: number;
  /** Labels a replication agreement of this clone replicates from its master, and why (src/replication/). */
  #replicatedLabels: ReadonlyMap<string, string> = new Map();
  /** A dispatcher wake is scheduled for the next turn (#wakeAfterAnswer). */
  #wakePending = false;

  constructor(options: PublisherOptions) {
    this.config = options.config;
    this.#reportQueueMaxLength = options.reportQueueMaxLength ?? REPORT_QUEUE_MAX_LENGTH;
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
        this.fleetLags.noteReport(report.nodeId);
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
      onCoalesced: (rows) => {
        this.metrics.outboxCoalesced.inc(rows.length);
        this.events.emit("coalesced", rows);
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
      setup: async (model: ChannelModel, link: SetupLink) => {
        const ch = await model.createConfirmChannel();
        ch.on("error", (err: Error) => this.log.warn({ err: err.message }, "publisher channel error"));
        link.essential(ch, "publisher's confirm");
        await assertTopicExchange(ch, this.exchange);
        this.#confirm.attach(ch);
        this.#dispatcher.wake();
        await this.#listenForHeartbeats(model, link);
      },
    });
    conn.on("status", (st: { state: string }) =>
      this.metrics.brokerConnected.set(st.state === "connected" ? 1 : 0),
    );
    this.#fatal.watch(conn);
    this.#connection = conn;
    await conn.start();
    this.#dispatcher.start();
    this.#scheduleRebind();
    // The status page's rollout index: built now, in the background, rather than at the first request.
    this.rollouts
      .warm()
      .catch((err: unknown) =>
        this.log.warn(
          { err: (err as Error).message },
          "could not build the rollout index (built at the next request)",
        ),
      );
  }

  /**
   * Record every gateway's heartbeat (what `gwsync status` shows) and its reports (the fleet view) in
   * the store. Two queues: heartbeats may be dropped (the next one says it all), reports may not (a lost
   * part leaves a gateway's view incomplete), so reports are acknowledged once stored, at most
   * REPORT_PREFETCH at a time, and their queue refuses what it cannot hold instead of dropping it.
   */
  async #listenForHeartbeats(model: ChannelModel, link: SetupLink): Promise<void> {
    const ch = await model.createChannel();
    ch.on("error", (err: Error) => this.log.warn({ err: err.message }, "heartbeat channel error"));
    link.essential(ch, "heartbeat consumer's");
    const q = await ch.assertQueue("", {
      exclusive: true,
      autoDelete: true,
      arguments: { "x-max-length": HEARTBEAT_QUEUE_MAX_LENGTH },
    });
    await ch.bindQueue(q.queue, this.exchange, HEARTBEAT_ROUTING_KEY);
    const bindings = [{ channel: ch as Channel, queue: q.queue, key: HEARTBEAT_ROUTING_KEY }];
    await ch.consume(
      q.queue,
      (msg) => {
        if (!msg) return;
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

    const rc = await model.createChannel();
    rc.on("error", (err: Error) => this.log.warn({ err: err.message }, "report channel error"));
    link.essential(rc, "report consumer's");
    await rc.prefetch(REPORT_PREFETCH);
    const rq = await rc.assertQueue("", {
      exclusive: true,
      autoDelete: true,
      arguments: { "x-max-length": this.#reportQueueMaxLength, "x-overflow": "reject-publish" },
    });
    await rc.bindQueue(rq.queue, this.exchange, REPORT_ROUTING_KEY);
    bindings.push({ channel: rc, queue: rq.queue, key: REPORT_ROUTING_KEY });
    this.#bindings = bindings;
    const settle = (msg: ConsumeMessage) => {
      try {
        rc.ack(msg);
      } catch {
        // The channel closed meanwhile: the queue (exclusive) went with it; the gateways' next
        // snapshots, sent on their reconnect, repair the view.
      }
    };
    await rc.consume(
      rq.queue,
      (msg) => {
        if (!msg) return;
        const report = decodeGatewayReport(msg.content);
        if (!report) {
          this.log.debug({ bytes: msg.content.length }, "a gateway report that is not one: dropped");
          settle(msg);
          return;
        }
        this.reports
          .accept(report)
          .then(
            () => this.events.emit("report", report),
            () => undefined, // logged by the intake
          )
          .finally(() => settle(msg));
      },
      { noAck: false },
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
      {
        dto,
        labels: ls,
        instruction: "Publish",
        files: apiFiles(dto),
        apiType: apiTypeOf(dto),
        ...commitOf(options),
      },
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
  async apiHistory(
    ref: string,
    options: { tenantDomain?: string; limit?: number } = {},
  ): Promise<ApiHistory> {
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
  async diffApi(
    ref: string,
    from: number,
    to: number,
    options: { tenantDomain?: string } = {},
  ): Promise<RevisionDiff> {
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

  /** The next re-bind, after rebind_interval_ms ± 50 % at random (as the gateways'). */
  #scheduleRebind(): void {
    const ms = this.config.gwsync.rebindIntervalMs;
    if (ms <= 0 || this.#connection === undefined) return;
    this.#rebindTimer = setTimeout(
      () => void this.reassertBindings().finally(() => this.#scheduleRebind()),
      Math.round(ms * (0.5 + Math.random())),
    );
    this.#rebindTimer.unref();
  }

  /**
   * Bind the heartbeat and report queues again on the live connection (idempotent). Their bindings go
   * when the exchange is deleted and declared again while the connection stays up, and then `gwsync
   * status` and the fleet view hear nothing from any gateway until the publisher reconnects, as a
   * gateway's own queues did (Gateway.reassertQueues). A failure is logged and counted and the next
   * interval tries again; a channel the broker closes for it (the exchange is gone: 404) sets the
   * connection up again, as for any essential channel. Never throws.
   */
  async reassertBindings(): Promise<void> {
    if (this.#rebinding || this.#connection?.status.state !== "connected") return;
    this.#rebinding = true;
    try {
      for (const b of this.#bindings) await b.channel.bindQueue(b.queue, this.exchange, b.key);
      this.metrics.queueReasserts.inc({ outcome: "ok" });
      this.events.emit("rebind", undefined);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.metrics.queueReasserts.inc({ outcome: "failed" });
      this.log.warn(
        { err: error.message },
        "could not bind the heartbeat and report queues again; trying again at the next interval",
      );
      this.events.emit("rebind", error);
    } finally {
      this.#rebinding = false;
    }
  }

  async close(): Promise<void> {
    if (this.#rebindTimer) clearTimeout(this.#rebindTimer);
    await this.rollouts.close();
    await this.#dispatcher.stop();
    const conn = this.#connection;
    this.#connection = undefined;
    await conn?.close();
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
      this.#wakeAfterAnswer();
    } else {
      this.log.debug({ apiId: result.apiId, action }, "artifact unchanged; nothing announced");
    }
  }

  /**
   * Wakes the outbox dispatcher once this turn is over. The commit is durable before the caller is
   * answered; the dispatcher's claim (a store read) and its publish are not part of that answer, and
   * woken in the same turn they ran before the REST reply was written (B12: ~0.5 ms of every publish
   * call, the claim and the AMQP write ahead of the socket write). A wake is only a hint: the outbox
   * row is already committed, and the poll would announce it anyway, so deferring it to the next
   * turn (one setImmediate, a few microseconds later) loses nothing.
   */
  #wakeAfterAnswer(): void {
    if (this.#wakePending) return;
    this.#wakePending = true;
    setImmediate(() => {
      this.#wakePending = false;
      this.#dispatcher.wake();
    });
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
