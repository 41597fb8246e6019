import { EventEmitter } from "node:events";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import pRetry from "p-retry";
import { BrokerConnection, type BrokerStatus, FatalSignal, type SetupLink } from "../amqp/connection.js";
import { type Outcome, QueueConsumer, type WidenWindow } from "../amqp/consumer.js";
import type { Channel, ChannelModel, ConfirmChannel, Envelope } from "../amqp/envelope.js";
import {
  DEFAULT_EXCHANGE,
  deadLetterRoutingKey,
  declareGatewayQueue,
  type GatewayQueueNames,
  gatewayQueueNames,
} from "../amqp/topology.js";
import type { GwsyncConfig } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import { REPORT_ROUTING_KEY } from "../events/gateway-report.js";
import { HEARTBEAT_ROUTING_KEY, type Heartbeat } from "../events/heartbeat.js";
import { ARTIFACT_TOPICS, RUNTIME_TOPICS } from "../events/topics.js";
import { GatewayMetrics } from "../http/metrics.js";
import { type Logger, silentLogger } from "../log.js";
import type { TrustedKeys } from "../security/signing.js";
import { listenUrl, serveHttp, stopAll } from "../service/skeleton.js";
import { GWSYNC_VERSION } from "../version.js";
import { ApplyReporter } from "./apply-report.js";
import { fetchedArtifactRefusal } from "./artifact-trust.js";
import type { ApiDeployer } from "./deploy/deployer.js";
import { FileDeployer } from "./deploy/file-deployer.js";
import { DeploymentRestorer } from "./deploy/restore-watch.js";
import { TenantDeployer } from "./deploy/tenant-deployer.js";
import {
  DEFAULT_PREFETCH,
  type GatewayEvents,
  type GatewayOptions,
  RUNTIME_PREFETCH,
  RUNTIME_SMALL_BYTES,
  type StartupState,
} from "./gateway-types.js";
import type { DeployedApis, GatewayView, MetricsView, RuntimeView } from "./gateway-view.js";
import { GroupCommit } from "./group-commit.js";
import { deployerOf, trustPolicyOf } from "./parts.js";
import { GatewayPipeline } from "./pipeline.js";
import { Reconciler } from "./reconciler.js";
import { HttpArtifactRetriever, type RetrievedArtifact } from "./retriever.js";
import { MAX_RETRY_DELAY_MS, retryPolicyOf } from "./retry.js";
import { registerGatewayRoutes } from "./routes.js";
import { RuntimeState } from "./runtime/runtime-state.js";
import { signatureReasonLabel, type TrustPolicy } from "./trust.js";

export {
  DEFAULT_PREFETCH,
  type GatewayEvents,
  type GatewayOptions,
  type StartupState,
} from "./gateway-types.js";

/**
 * The gateway sidecar: its own durable queue bound to the four streams, a label filter, fetch with
 * retry, atomic deploy, runtime state from the other streams, and catch-up by changelog. A message is
 * acknowledged only after its effect is on disk.
 */
/** A full report snapshot every this many heartbeats (besides every connect): repairs a lost report. */
export const REPORT_FULL_EVERY_BEATS = 120;
/** The least wait between two background rounds of the startup deployment while stale. */
const MIN_STALE_RETRY_MS = 10;

export class Gateway implements GatewayView {
  readonly config: GwsyncConfig;
  readonly log: Logger;
  readonly #metrics = new GatewayMetrics();
  /** See GatewayEvents. */
  readonly events: EventEmitter<GatewayEvents> = new EventEmitter<GatewayEvents>();
  readonly #deployer: ApiDeployer;
  readonly #runtime: RuntimeState;
  readonly #reconciler: Reconciler;
  /** The artifact stream's queue (gwsync.gateway.<node_id>); see `queues` for all of them. */
  readonly queueName: string;
  readonly queues: GatewayQueueNames;
  #startup: StartupState = { phase: "loading" };
  #connection: BrokerConnection | undefined;
  #artifactConsumer: QueueConsumer | undefined;
  #runtimeConsumer: QueueConsumer | undefined;
  #http: FastifyInstance | undefined;
  readonly #shutdown = new AbortController();
  readonly #fatal = new FatalSignal();
  #watermark = 0;
  /** Background rounds of the startup deployment while stale (see #startupDeploy). */
  #staleRetry: Promise<void> | undefined;
  readonly #durable: GroupCommit;
  #catchUpTimer: NodeJS.Timeout | undefined;
  /** The next re-assert of the queues and bindings (rebind_interval_ms). */
  #rebindTimer: NodeJS.Timeout | undefined;
  #rebinding = false;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #heartbeatChannel: Channel | undefined;
  /** Reports have their own channel: a broker that refuses them (permissions of an older gwsync) closes only it. */
  #reportChannel: ConfirmChannel | undefined;
  /** The current connection's channel model: the heartbeat and report channels are reopened on it. */
  #model: ChannelModel | undefined;
  /** The broker refused this gateway's reports (403): the report channel is not reopened until a connect. */
  #reportRefused = false;
  #reopening = false;
  /** The data-API client this gateway made (not one a test passed in): its keep-alive connections close with it. */
  readonly #ownRetriever: HttpArtifactRetriever | undefined;
  #beats = 0;
  #consumeChannel: Channel | undefined;
  #consuming = false;
  #catchUpRunning: Promise<void> | undefined;
  readonly #options: GatewayOptions;
  readonly #trust: TrustPolicy;
  #background: Promise<void> | undefined;
  /** Puts back files a WSO2 gateway sharing deployment_dir deleted (file mode only). */
  #restorer: DeploymentRestorer | undefined;
  readonly #pipeline: GatewayPipeline;
  /** What this gateway serves and refused, per API, reported to the control plane (fleet view). */
  readonly reports: ApplyReporter;

  constructor(options: GatewayOptions) {
    const { config } = options;
    this.#options = options;
    this.config = config;
    this.#trust = trustPolicyOf(config);
    this.log = (options.logger ?? silentLogger).child({ component: "gateway", node: config.gwsync.nodeId });
    this.queues = gatewayQueueNames(config.gwsync.nodeId);
    this.queueName = this.queues.artifacts;
    this.#deployer = options.deployer ?? deployerOf(config);
    this.#runtime = new RuntimeState({
      dir: join(config.gwsync.dataDir, "runtime"),
      maxRevocationLifetimeMs: config.gwsync.limits.maxRevocationLifetimeMs,
      onError: (err) => {
        this.#metrics.stateSaveFailures.inc({ what: "runtime" });
        this.log.error({ err: err.message, code: err.code }, "runtime state could not be saved; retrying");
      },
    });
    this.#durable = new GroupCommit(() => this.#runtime.flush());
    this.reports = new ApplyReporter({
      nodeId: config.gwsync.nodeId,
      deployer: this.#deployer,
      send: (body, settled) => {
        const ch = this.#reportChannel;
        if (!ch) throw new Error("no report channel");
        // A confirm channel: a control plane whose report queue is full refuses (basic.nack), and the
        // reporter sends the refused part again later (src/gateway/apply-report.ts).
        ch.publish(
          config.gwsync.exchange ?? DEFAULT_EXCHANGE,
          REPORT_ROUTING_KEY,
          body,
          { contentType: "application/json" },
          (err) => settled(err === null || err === undefined),
        );
      },
    });
    const ownRetriever =
      options.retriever === undefined
        ? new HttpArtifactRetriever({
            serviceUrl: config.eventHub.serviceUrl,
            username: config.eventHub.username,
            password: config.eventHub.password,
            dataApi: config.gwsync.dataApi,
            tenantDomain: config.gwsync.dataApiTenant,
            fetchDelayMs: config.gateway.eventWaitingTimeMs,
            ...(this.#trust.keys === undefined ? {} : { refuse: this.#refuseFetched(this.#trust.keys) }),
          })
        : undefined;
    this.#ownRetriever = ownRetriever;
    const retriever = options.retriever ?? ownRetriever!;
    this.#reconciler = new Reconciler({
      labels: config.gateway.gatewayLabels,
      retriever,
      deployer: this.#deployer,
      policy: retryPolicyOf(config.gateway),
      logger: this.log,
      hooks: {
        onRetry: (err, attempt) => {
          this.#metrics.fetchRetries.inc();
          this.events.emit("fetch-retry", err, attempt);
        },
        onBusy: (waitMs) => {
          this.#metrics.fetchBusy.inc();
          this.events.emit("fetch-busy", waitMs);
        },
        onCatchUpWait: (outcome) => this.#metrics.catchUpWaits.inc({ outcome }),
        onApplied: (outcome, apiId) => {
          if (outcome === "deployed" || outcome === "removed") {
            this.#logApplied(outcome, apiId);
            this.#metrics.artifactsApplied.inc({ outcome });
            // Whichever path applied it (event, catch-up or startup), the gauge follows the deployer.
            this.#metrics.deployedApis.set(this.#deployer.size);
            this.reports.noteApplied(apiId);
          }
          this.events.emit("applied", outcome, apiId);
        },
        onRejected: (apiId, reason, detail) => {
          this.#metrics.eventsRejected.inc({ stream: "notification", reason: "GWSYNC_ARTIFACT_INVALID" });
          if (apiId !== undefined) this.reports.noteRefused(apiId, { ...detail, message: reason });
          this.events.emit("rejected", "notification", reason, apiId);
        },
      },
    });
    this.#pipeline = new GatewayPipeline({
      config,
      metrics: this.#metrics,
      runtime: this.#runtime,
      durable: this.#durable,
      reconciler: this.#reconciler,
      deployer: this.#deployer,
      trust: this.#trust,
      watermark: () => this.#watermark,
      signal: this.#shutdown.signal,
      log: this.log,
      onRuntime: (stream, result) => this.events.emit("runtime", stream, result),
      onRefused: (apiId, refusal) => this.reports.noteRefused(apiId, refusal),
    });
  }

  /**
   * Each deploy and removal at info level, as WSO2's gateway logs them; those of the startup load at
   * debug level (that load is told by its progress and its "startup deployment done" line).
   */
  #logApplied(outcome: "deployed" | "removed", apiId: string): void {
    const api = this.#deployer.get(apiId);
    const fields = api
      ? { apiId, name: api.name, version: api.version, revision: api.revision, labels: api.labels }
      : { apiId };
    if (this.#startup.phase === "loading") this.log.debug(fields, `API ${outcome} (startup load)`);
    else this.log.info(fields, `API ${outcome}`);
  }

  /** Fetched artifacts must be signed too when signing is on (counted like refused events). */
  #refuseFetched(keys: TrustedKeys) {
    return (item: RetrievedArtifact, signature: string | undefined): string | undefined => {
      const reason = fetchedArtifactRefusal(keys, item, signature);
      if (reason !== undefined) this.#metrics.signatureRejected.inc({ reason: signatureReasonLabel(reason) });
      return reason;
    };
  }

  get startup(): StartupState {
    return this.#startup;
  }

  /** Ready: async mode at once; sync mode once the startup deployment is done or its retries are spent. */
  get ready(): boolean {
    if (this.restoring) return false;
    return this.config.gateway.dataRetrievalMode === "async" || this.#startup.phase !== "loading";
  }

  /** Deployed files vanished (a WSO2 gateway's start wiped deployment_dir) and are being put back. */
  get restoring(): boolean {
    return this.#restorer?.pending ?? false;
  }

  /** Rejects when the broker refuses the login (GWSYNC_BROKER_ACCESS_REFUSED): the gateway cannot go on. */
  get fatal(): Promise<never> {
    return this.#fatal.promise;
  }

  get brokerStatus(): BrokerConnection["status"] | { state: "not-started" } {
    return this.#connection?.status ?? { state: "not-started" };
  }

  get watermark(): number {
    return this.#watermark;
  }

  /** A catch-up from the changelog is running (started by a (re)connect or the catch-up timer). */
  get catchingUp(): boolean {
    return this.#catchUpRunning !== undefined;
  }

  /** The APIs this gateway serves (read only: only the message path deploys). */
  get deployer(): DeployedApis {
    return this.#deployer;
  }

  /** The runtime state this gateway holds (read only: only the message path applies events). */
  get runtime(): RuntimeView {
    return this.#runtime;
  }

  get metrics(): MetricsView {
    return this.#metrics;
  }

  /**
   * Start: last-known-good first, then the broker (subscribing before the bulk load, so nothing
   * published meanwhile is missed), then the startup deployment in the configured mode. Resolves when
   * the gateway is ready (sync: deployed or retries spent; async: at once).
   */
  async start(): Promise<void> {
    await this.#deployer.load();
    const report = this.#runtime.load();
    this.log.info({ runtime: report }, "runtime state loaded");
    this.#metrics.deployedApis.set(this.#deployer.size);
    if (this.#options.http !== false) await this.#startHttp();
    if (this.#shutdown.signal.aborted) {
      // close() ran while the server was binding and found none to close.
      await this.#http?.close();
      this.#shutdown.signal.throwIfAborted();
    }
    this.#startBroker();
    // The super tenant's folder (a WSO2 gateway's start wipes it); tenant folders are not watched.
    const files =
      this.#deployer instanceof FileDeployer
        ? this.#deployer
        : this.#deployer instanceof TenantDeployer
          ? this.#deployer.superTenant
          : undefined;
    if (files !== undefined) {
      this.#restorer = new DeploymentRestorer({
        root: this.config.gateway.deploymentDir,
        deployer: files,
        reconcile: (apiId, labels) =>
          this.#reconciler.reconcile(apiId, labels, { supersede: false, signal: this.#shutdown.signal }),
        logger: this.log,
        onChange: () => this.events.emit("restore", this.restoring),
      });
      await this.#restorer.start();
    }
    // Stopped while starting (the broker refused the login): start nothing more, or a timer, a fetch
    // retry or a watch begun after close() would keep the process alive.
    this.#shutdown.signal.throwIfAborted();
    const load = this.#startupDeploy().finally(() => this.#startConsuming());
    if (this.config.gateway.dataRetrievalMode === "sync") await load;
    else this.#background = load;
    this.#heartbeatTimer = setInterval(() => {
      void this.#reopenSideChannels();
      this.#sendHeartbeat();
      if (++this.#beats % REPORT_FULL_EVERY_BEATS === 0) this.reports.sendFull();
      else this.reports.flush();
    }, this.config.gwsync.heartbeatIntervalMs);
    this.#heartbeatTimer.unref();
    const interval = this.config.gwsync.catchUpIntervalMs;
    if (interval > 0) {
      this.#catchUpTimer = setInterval(() => void this.catchUp(), interval);
      this.#catchUpTimer.unref();
    }
    this.#scheduleRebind();
  }

  /**
   * The next re-assert, after rebind_interval_ms ± 50 % at random: a thousand gateways started or
   * reconnected together spread theirs over the interval instead of declaring at once.
   */
  #scheduleRebind(): void {
    const ms = this.config.gwsync.rebindIntervalMs;
    if (ms <= 0 || this.#shutdown.signal.aborted) return;
    this.#rebindTimer = setTimeout(
      () => void this.reassertQueues().finally(() => this.#scheduleRebind()),
      Math.round(ms * (0.5 + Math.random())),
    );
    this.#rebindTimer.unref();
  }

  /**
   * Declare the queues and bind them again on the live connection, as its setup did (idempotent: what
   * exists is left as it is). A binding can vanish while the connection stays up — the exchange deleted
   * and re-created, a RabbitMQ 3.10 cluster's node-down clean-up racing the re-declaration after a node
   * died (docs/production.md §5) — and then the queue receives nothing until the next reconnect: the
   * catch-up repairs artifacts, but runtime events (token revocations) are lost. Runs every
   * rebind_interval_ms; skipped while not connected or while one runs. A failure is logged and counted,
   * and the next interval tries again; the broker closing the channel on it (404, 406) sets the
   * connection up again, as for any essential channel. Never throws.
   */
  async reassertQueues(): Promise<void> {
    const ch = this.#consumeChannel;
    if (ch === undefined || this.#connection?.status.state !== "connected" || this.#rebinding) return;
    this.#rebinding = true;
    try {
      await this.#declareQueues(ch);
      this.#metrics.queueReasserts.inc({ outcome: "ok" });
      this.log.debug("queues and bindings re-asserted");
      this.events.emit("rebind", undefined);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.#metrics.queueReasserts.inc({ outcome: "failed" });
      this.log.warn(
        { err: error.message },
        "could not re-assert this gateway's queues and bindings; trying again at the next interval",
      );
      this.events.emit("rebind", error);
    } finally {
      this.#rebinding = false;
    }
  }

  /** The gateway's queues, dead-letter queue and bindings: declared at every (re)connect and re-asserted. */
  async #declareQueues(ch: Channel): Promise<void> {
    const g = this.config.gwsync;
    const queueOptions = {
      exchange: g.exchange ?? DEFAULT_EXCHANGE,
      expiresMs: g.queueExpiresMs,
      maxLength: g.queueMaxLength,
      queueType: g.queueType,
      deliveryLimit: g.maxDeliveries,
      deadLetterQueue: this.queues.deadLetter,
      deadLetterRoutingKey: deadLetterRoutingKey(g.nodeId),
    };
    await declareGatewayQueue(ch, {
      ...queueOptions,
      queue: this.queues.artifacts,
      routingKeys: ARTIFACT_TOPICS,
      // A gateway of an earlier gwsync had every stream on this one queue.
      unbindKeys: RUNTIME_TOPICS,
    });
    await declareGatewayQueue(ch, {
      ...queueOptions,
      queue: this.queues.runtime,
      routingKeys: RUNTIME_TOPICS,
    });
  }

  async #startHttp(): Promise<void> {
    const g = this.config.gwsync;
    this.#http = await serveHttp(g, this.log, this.#metrics, (app) => registerGatewayRoutes(app, this));
  }

  /** The bound HTTP address (tests use port 0). */
  get httpUrl(): string | undefined {
    return listenUrl(this.#http);
  }

  #consumerFor(queue: string, prefetch: number, widen?: WidenWindow): QueueConsumer {
    const g = this.config.gwsync;
    return new QueueConsumer({
      queue,
      prefetch,
      ...(widen === undefined ? {} : { widen }),
      maxDeliveries: g.maxDeliveries,
      retryDelayMs: Math.min(this.config.gateway.deploymentRetryDurationMs, 5000),
      handle: (msg) => this.#handle(msg),
      deadLetterQueue: this.queues.deadLetter,
      deadLetterRoute: {
        exchange: g.exchange ?? DEFAULT_EXCHANGE,
        routingKey: deadLetterRoutingKey(g.nodeId),
      },
      onReject: (msg, reason) => {
        this.log.warn(
          { stream: msg.stream, messageId: msg.properties.messageId, reason },
          "message dead-lettered",
        );
        this.events.emit("rejected", msg.stream, reason);
      },
      logger: this.log,
    });
  }

  #startBroker(): void {
    const g = this.config.gwsync;
    const artifacts = this.#consumerFor(this.queues.artifacts, DEFAULT_PREFETCH);
    const wide = g.runtimeWidePrefetch;
    const runtime = this.#consumerFor(
      this.queues.runtime,
      RUNTIME_PREFETCH,
      wide > RUNTIME_PREFETCH
        ? { prefetch: wide, smallBytes: RUNTIME_SMALL_BYTES, after: RUNTIME_PREFETCH }
        : undefined,
    );
    this.#artifactConsumer = artifacts;
    this.#runtimeConsumer = runtime;
    const conn = new BrokerConnection({
      endpoints: this.config.eventHub.eventListeningEndpoints,
      connectionName: `gwsync-gateway-${g.nodeId}`,
      heartbeatSec: g.heartbeatSec,
      logger: this.log,
      ...(this.#options.transport === undefined ? {} : { open: this.#options.transport }),
      setup: async (model: ChannelModel, link: SetupLink) => {
        const ch = await model.createChannel();
        ch.on("error", (err: Error) => this.log.warn({ err: err.message }, "gateway channel error"));
        link.essential(ch, "artifact events'");
        await this.#declareQueues(ch);
        this.#consumeChannel = ch;
        // Artifact events queue up durably from the first connect, but are consumed only once the
        // startup deployment is over: then most of a backlog is recognised as already applied, without
        // a fetch. Runtime events need nothing from it and are consumed at once, on their own channel
        // (their own prefetch window: many small events, never held by a fetch).
        const closing = this.#shutdown.signal.aborted;
        if (this.#consuming && !closing) {
          // The reconnect's catch-up starts before the queued events flow (the `connect` below joins
          // it): events for the APIs it applies then wait for it instead of each fetching its API
          // (issue 20: in B9 at 500 gateways, 10,759 of 13,752 GETs were events delivered first).
          if (this.#startup.phase !== "loading") void this.catchUp();
          await artifacts.start(ch);
        }
        const rt = await model.createChannel();
        rt.on("error", (err: Error) => this.log.warn({ err: err.message }, "gateway runtime channel error"));
        link.essential(rt, "runtime events'");
        if (!closing) await runtime.start(rt);
        this.#model = model;
        this.#reportRefused = false;
        await this.#openHeartbeatChannel(model);
        this.#sendHeartbeat();
        await this.#openReportChannel(model);
        // A publisher may have missed reports while this link was down: tell it everything again.
        this.reports.sendFull();
      },
    });
    conn.on("status", (s: BrokerStatus) => {
      this.#metrics.brokerConnected.set(s.state === "connected" ? 1 : 0);
      this.events.emit("broker", s);
    });
    this.#fatal.watch(conn);
    // Every (re)connect may follow missed events (queue expired or overflowed): catch up.
    conn.on("connect", () => {
      if (this.#startup.phase !== "loading") void this.catchUp();
    });
    this.#connection = conn;
    conn
      .start()
      .catch((err: unknown) => this.log.error({ err: (err as Error).message }, "broker connection failed"));
  }

  /**
   * The startup deployment: one round (each fetch already retried by the reconciler). When the control
   * plane stays down through it, the gateway serves last-known-good (stale) and more rounds run in the
   * background, backing off between them as between fetches (p-retry: exponential from
   * deployment_retry_duration by retry_progression_factor, jittered, capped at max_retry_delay and at
   * one hour), so a fleet of stale gateways does not storm the control plane.
   */
  async #startupDeploy(): Promise<void> {
    if (await this.#startupRound()) return;
    const g = this.config.gateway;
    this.#staleRetry = pRetry(
      async () => {
        if (!(await this.#startupRound())) throw new Error("control plane still unreachable");
      },
      {
        retries: Number.POSITIVE_INFINITY,
        factor: g.retryProgressionFactor,
        minTimeout: Math.max(g.deploymentRetryDurationMs, MIN_STALE_RETRY_MS),
        maxTimeout: Math.min(g.maxRetryDelayMs, MAX_RETRY_DELAY_MS),
        randomize: true,
        unref: true,
        signal: this.#shutdown.signal,
      },
    ).catch(() => undefined);
  }

  /** One round of the startup deployment; false when the control plane could not be read (stale). */
  async #startupRound(): Promise<boolean> {
    const started = Date.now();
    const mode = this.config.gateway.dataRetrievalMode;
    this.log.info({ mode, labels: this.config.gateway.gatewayLabels }, "startup deployment begins");
    try {
      const r = await this.#reconciler.bulkLoad(this.#shutdown.signal, this.#options.onStartupProgress);
      this.#watermark = Math.max(this.#watermark, r.head);
      this.#metrics.appliedSeq.set(this.#watermark);
      this.#metrics.deployedApis.set(this.#deployer.size);
      this.#startup = { phase: "done", deployed: r.deployed, total: r.total, ms: Date.now() - started };
      this.events.emit("startup", this.#startup);
      this.log.info({ ...this.#startup, removed: r.removed }, "startup deployment done");
      return true;
    } catch (err) {
      if (this.#shutdown.signal.aborted) return true;
      const message = (err as Error).message;
      this.#startup = { phase: "stale", error: message };
      this.events.emit("startup", this.#startup);
      this.log.error(
        { err: message, deployed: this.#deployer.size },
        "control plane unreachable after the retries: serving last-known-good and retrying in the background",
      );
      return false;
    }
  }

  #startConsuming(): void {
    if (this.#consuming) return;
    this.#consuming = true;
    const ch = this.#consumeChannel;
    if (ch && this.#artifactConsumer) {
      this.#artifactConsumer
        .start(ch)
        .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, "could not start consuming"));
    }
  }

  async #openHeartbeatChannel(model: ChannelModel): Promise<void> {
    const hb = await model.createChannel();
    hb.on("error", () => undefined);
    hb.on("close", () => {
      if (this.#heartbeatChannel !== hb) return;
      this.#heartbeatChannel = undefined;
      this.events.emit("side-channel", "heartbeat", "closed");
    });
    this.#heartbeatChannel = hb;
  }

  async #openReportChannel(model: ChannelModel): Promise<void> {
    const rp = await model.createConfirmChannel();
    rp.on("error", (err: Error) => {
      // A broker that denies the routing key (403) would deny a new channel too: not reopened.
      if (/ACCESS[_-]REFUSED|\b403\b/.test(err.message)) this.#reportRefused = true;
      this.log.warn(
        { err: err.message },
        "the broker closed the report channel: the control plane's fleet view will not show this gateway's APIs (broker permissions: allow the routing key gwsync.report, deploy/rabbitmq/permissions.sh)",
      );
    });
    rp.on("close", () => {
      if (this.#reportChannel !== rp) return;
      this.#reportChannel = undefined;
      this.events.emit("side-channel", "report", "closed");
    });
    this.#reportChannel = rp;
  }

  /**
   * The heartbeat and report channels are not essential (a broker without the gwsync.report permission
   * closes the report channel, and the gateway serves on), so their loss does not set the connection up
   * again. The broker also closes them when a publish finds no exchange (404: the exchange deleted and
   * declared again), and then the control plane heard nothing from this gateway until its next
   * reconnect. At each heartbeat, a closed one is opened again on the live connection; the report
   * channel not after a permission refusal (until the next connect), and a reopened one sends the full
   * report, since parts were lost with it.
   */
  async #reopenSideChannels(): Promise<void> {
    const model = this.#model;
    if (model === undefined || this.#reopening || this.#connection?.status.state !== "connected") return;
    if (this.#heartbeatChannel !== undefined && (this.#reportChannel !== undefined || this.#reportRefused))
      return;
    this.#reopening = true;
    try {
      if (this.#heartbeatChannel === undefined) {
        await this.#openHeartbeatChannel(model);
        this.log.info("heartbeat channel opened again");
        this.events.emit("side-channel", "heartbeat", "reopened");
        this.#sendHeartbeat();
      }
      if (this.#reportChannel === undefined && !this.#reportRefused) {
        await this.#openReportChannel(model);
        this.log.info("report channel opened again: sending the full report");
        this.events.emit("side-channel", "report", "reopened");
        this.reports.sendFull();
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not open the heartbeat or report channel again");
    } finally {
      this.#reopening = false;
    }
  }

  /** Announce this gateway to the control plane (gwsync status): node, labels, applied seq, count. */
  #sendHeartbeat(final?: "stopped"): void {
    const ch = this.#heartbeatChannel;
    if (!ch) return;
    const g = this.config.gwsync;
    const hb: Heartbeat = {
      nodeId: g.nodeId,
      region: g.region,
      labels: this.config.gateway.gatewayLabels,
      appliedSeq: this.#watermark,
      deployed: this.#deployer.size,
      version: GWSYNC_VERSION,
      status: final ?? (!this.ready ? "starting" : this.#startup.phase === "stale" ? "stale" : "ready"),
      intervalMs: g.heartbeatIntervalMs,
      sentAt: Date.now(),
    };
    try {
      ch.publish(g.exchange ?? DEFAULT_EXCHANGE, HEARTBEAT_ROUTING_KEY, Buffer.from(JSON.stringify(hb)), {
        contentType: "application/json",
        // A beat older than three periods says nothing: let the broker drop it.
        expiration: String(g.heartbeatIntervalMs * 3),
      });
    } catch {
      // Channel closed: the next (re)connect sends one.
    }
  }

  /** Apply the changelog since the watermark (on reconnect and on a timer). */
  catchUp(): Promise<void> {
    // Deployed files that vanished (a missed watch event, an earlier restore that failed) are put back.
    void this.#restorer?.check();
    if (this.#catchUpRunning) return this.#catchUpRunning;
    this.#catchUpRunning = (async () => {
      try {
        const since = this.#watermark;
        const r = await this.#reconciler.catchUp(since, this.#shutdown.signal);
        this.#watermark = Math.max(this.#watermark, r.head);
        this.#metrics.appliedSeq.set(this.#watermark);
        this.#metrics.lag.set(0);
        if (r.applied > 0)
          this.log.info({ since, head: r.head, applied: r.applied }, "caught up from the changelog");
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "catch-up failed; will try again");
      } finally {
        this.#catchUpRunning = undefined;
      }
    })();
    return this.#catchUpRunning;
  }

  /** Decode, validate, filter, apply (GatewayPipeline); the returned outcome settles the delivery. */
  async #handle(msg: Envelope): Promise<Outcome> {
    const outcome = await this.#pipeline.handle(msg);
    this.events.emit("handled", msg.stream, outcome.kind, msg.properties.messageId);
    return outcome;
  }

  /** Graceful stop: no new deliveries, in-flight work finished or nacked, state flushed, channels closed. */
  async close(): Promise<void> {
    if (this.#catchUpTimer) clearInterval(this.#catchUpTimer);
    if (this.#rebindTimer) clearTimeout(this.#rebindTimer);
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    this.reports.flush();
    this.reports.close();
    // The last beat: the control plane shows this gateway stopped, not missing. Sent before the
    // connection closes, on the same socket, so it goes out first.
    this.#sendHeartbeat("stopped");
    // Abort long fetch retries first so in-flight deliveries settle (nacked, requeued) at once.
    this.#shutdown.abort(new GwsyncError("GWSYNC_SHUTTING_DOWN", "gateway is shutting down"));
    // Every step runs even when one before it failed: a state file that cannot be written must not
    // leave the HTTP server or the broker connection open (the process would never exit).
    await stopAll(this.log, [
      () => this.#restorer?.close(),
      () => this.#reconciler.abortAll(),
      () => Promise.all([this.#artifactConsumer?.stop(), this.#runtimeConsumer?.stop()]),
      () => this.#background?.catch(() => undefined),
      () => this.#staleRetry,
      () => this.#catchUpRunning,
      () => this.#connection?.close(),
      () => this.#deployer.flush(),
      () => this.#deployer.close?.(),
      () => this.#runtime.close(),
      () => this.#http?.close(),
      () => this.#ownRetriever?.close(),
    ]);
  }
}

export function createGateway(options: GatewayOptions): Gateway {
  return new Gateway(options);
}
