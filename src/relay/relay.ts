import { EventEmitter } from "node:events";
import { type FSWatcher, watch } from "node:fs";
import type { FastifyInstance } from "fastify";
import { BrokerConnection, FatalSignal, type SetupLink } from "../amqp/connection.js";
import type { Channel, ChannelModel, Envelope } from "../amqp/envelope.js";
import {
  assertTopicExchange,
  DEFAULT_EXCHANGE,
  DEFAULT_LANE_PREFETCH,
  DEFAULT_MAX_HOPS,
  declareRelayQueue,
  LANES,
  type Lane,
  relayQueueName,
} from "../amqp/topology.js";
import { type RelayDestination, relayDestinations } from "../config/relay-destinations.js";
import type { GwsyncConfig } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import { RelayMetrics } from "../http/metrics.js";
import { type Logger, silentLogger } from "../log.js";
import { ArtifactSigner } from "../security/signing.js";
import { listenUrl, serveHttp, stopAll } from "../service/skeleton.js";
import { openStore } from "../store/open-store.js";
import type { ArtifactStore } from "../store/types.js";
import { DEFAULT_LABEL_REFRESH_MS, LabelDirectory } from "./artifact-snapshot.js";
import { type CatchUpReport, RelayCatchUp, RelayCursors } from "./catch-up.js";
import { type ForwardDecision, planForward } from "./forward-plan.js";
import { ForwardPump } from "./forward-pump.js";
import { registerRelayRoutes } from "./relay-routes.js";
import { RemoteLink } from "./remote-link.js";

/** How often the backlog gauge reads the relay queues' depth. */
export const DEFAULT_BACKLOG_INTERVAL_MS = 5 * 1000;
/** How often jndi_dir is read again for regions added to it (a file watch also triggers a read). */
export const DEFAULT_JNDI_RESCAN_MS = 10 * 1000;
/** Wait before a catch-up that failed (the store not readable yet) is tried again. */
export const DEFAULT_CATCH_UP_RETRY_MS = 2 * 1000;

export interface RelayOptions {
  config: GwsyncConfig;
  logger?: Logger;
  /** Region boundaries an event may cross; 1 (default) is right for a full mesh. */
  maxHops?: number;
  /** Start the HTTP server (health, metrics) on [gwsync] http_port. Default true. */
  http?: boolean;
  /** The local publisher's store; default: [database.sync_runtime_artifacts_db] opened readonly. */
  store?: ArtifactStore;
  prefetch?: Partial<Record<Lane, number>>;
  backlogIntervalMs?: number;
  /** Wait between attempts to publish to a remote region that did not confirm, ms. */
  republishDelayMs?: number;
  labelRefreshMs?: number;
  /** Longest wait between two reconnect attempts to a broker, ms (tests shorten outages). */
  reconnectMaxDelayMs?: number;
  /** Periodic catch-up pass, ms; default [gwsync] catch_up_interval_ms (0: only at start and for a new region). */
  catchUpIntervalMs?: number;
  catchUpRetryMs?: number;
  /** Changelog rows per catch-up page. */
  catchUpPage?: number;
  jndiRescanMs?: number;
}

interface RemoteRegion {
  link: RemoteLink;
  pumps: Record<Lane, ForwardPump>;
  catchUp: RelayCatchUp;
  /** The local connection the region's queues and pumps were last set up on. */
  setupOn?: ChannelModel;
  /** The first full catch-up began (it runs once the region's queues exist) / ended. */
  fullStarted: boolean;
  fullDone: boolean;
}

/**
 * The relay of one region (`gwsync relay`): forwards the four streams from the local event hub to
 * every remote region named in jndi_dir, one durable queue pair, one connection and one set of
 * pumps per remote region, so a region that is down only makes its own backlog grow.
 */
/** What `relay.events` emits, by event name: the listener's arguments. */
export interface RelayEvents {
  /** Per message acknowledged locally: forwarded to `region` (confirmed there), skipped or refused. */
  settled: [region: string, lane: Lane, decision: ForwardDecision, message: Envelope];
  /** A catch-up pass from the local changelog ended for a remote region. */
  caughtUp: [report: CatchUpReport];
  /** A region was added to jndi_dir while the relay ran: it is relayed to from now on. */
  regionAdded: [region: string];
}

export class Relay {
  readonly config: GwsyncConfig;
  readonly log: Logger;
  readonly metrics = new RelayMetrics();
  /** See RelayEvents. Tests count these. */
  readonly events: EventEmitter<RelayEvents> = new EventEmitter<RelayEvents>();
  readonly region: string;
  readonly #o: RelayOptions;
  readonly #remotes = new Map<string, RemoteRegion>();
  readonly #fatal = new FatalSignal();
  readonly #labels: LabelDirectory;
  /** [gwsync.signing] private_key_file: region-sync changes are signed for the receiving ingresses. */
  readonly #signer: ArtifactSigner | undefined;
  #store: ArtifactStore | undefined;
  readonly #ownsStore: boolean;
  #local: BrokerConnection | undefined;
  #backlogChannel: Channel | undefined;
  #backlogTimer: NodeJS.Timeout | undefined;
  #catchUpTimer: NodeJS.Timeout | undefined;
  #jndiTimer: NodeJS.Timeout | undefined;
  #jndiWatch: FSWatcher | undefined;
  #jndiDebounce: NodeJS.Timeout | undefined;
  #jndiProblem: string | undefined;
  #http: FastifyInstance | undefined;
  readonly #cursors: RelayCursors;
  /** The local connection being set up or in use (a region added meanwhile is set up on it). */
  #currentModel: ChannelModel | undefined;
  /** The current connection's SetupLink: a region added later marks its channels essential too. */
  #currentLink: SetupLink | undefined;
  /** Setting up regions on the local connection, one at a time. */
  #setupTail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: RelayOptions) {
    this.#o = options;
    this.config = options.config;
    this.region = options.config.gwsync.region;
    this.log = (options.logger ?? silentLogger).child({ component: "relay", region: this.region });
    this.#store = options.store;
    this.#ownsStore = options.store === undefined;
    const pem = options.config.gwsync.signing.privateKeyPem;
    this.#signer = pem === undefined ? undefined : new ArtifactSigner(pem);
    this.#labels = new LabelDirectory(
      () => this.#openStore(),
      options.labelRefreshMs ?? DEFAULT_LABEL_REFRESH_MS,
    );
    this.#cursors = new RelayCursors(options.config.gwsync.dataDir, this.region, this.log);
    for (const d of relayDestinations(options.config.gwsync.jndiDir, this.region)) {
      this.#remotes.set(d.region, this.#makeRemote(d));
    }
    if (this.#remotes.size === 0) {
      throw new GwsyncError(
        "GWSYNC_CONFIG_INVALID",
        `jndi_dir ${options.config.gwsync.jndiDir} names no region other than ${this.region}: nothing to relay to`,
      );
    }
  }

  /** Rejects when a broker (local or a remote region's) refuses the login: the relay cannot go on. */
  get fatal(): Promise<never> {
    return this.#fatal.promise;
  }

  /** The remote regions, by name. */
  get remoteRegions(): string[] {
    return [...this.#remotes.keys()];
  }

  get exchange(): string {
    return this.config.gwsync.exchange ?? DEFAULT_EXCHANGE;
  }

  #makeRemote({ region, brokers, topics }: RelayDestination): RemoteRegion {
    const g = this.config.gwsync;
    const link = new RemoteLink({
      region,
      endpoints: brokers,
      exchange: this.exchange,
      connectionName: `gwsync-relay-${this.region}-to-${region}`,
      heartbeatSec: g.heartbeatSec,
      ...(this.#o.republishDelayMs ? { republishDelayMs: this.#o.republishDelayMs } : {}),
      ...(this.#o.reconnectMaxDelayMs ? { reconnectMaxDelayMs: this.#o.reconnectMaxDelayMs } : {}),
      logger: this.log,
    });
    const ctx = {
      localRegion: this.region,
      remoteRegion: region,
      maxHops: this.#o.maxHops ?? DEFAULT_MAX_HOPS,
      maxMessageBytes: g.maxMessageBytes,
      remoteExchange: this.exchange,
      routingKeyOf: (stream: string) => topics[stream] ?? stream,
      store: () => this.#openStore(),
      labels: this.#labels,
      forwardForeignArtifactEvents: g.relayForeignArtifactEvents,
      signer: this.#signer,
    };
    const pump = (lane: Lane) =>
      new ForwardPump({
        lane,
        queue: relayQueueName(this.region, region, lane),
        prefetch: this.#o.prefetch?.[lane] ?? DEFAULT_LANE_PREFETCH[lane],
        link,
        plan: (msg) => planForward(msg, ctx),
        logger: this.log,
        onSettled: (d, msg) => this.#count(region, lane, d, msg),
      });
    const catchUp = new RelayCatchUp({
      localRegion: this.region,
      remoteRegion: region,
      store: () => this.#openStore(),
      labels: this.#labels,
      cursors: this.#cursors,
      publish: (messages, signal) => link.publish("artifacts", messages, signal),
      signer: this.#signer,
      ...(this.#o.catchUpPage ? { pageSize: this.#o.catchUpPage } : {}),
      logger: this.log,
      onReport: (r) => {
        this.metrics.catchUpForwarded.inc({ region }, r.forwarded);
        this.metrics.catchUpCursor.set({ region }, r.to);
        this.events.emit("caughtUp", r);
      },
    });
    return {
      link,
      pumps: { priority: pump("priority"), artifacts: pump("artifacts") },
      catchUp,
      fullStarted: false,
      fullDone: false,
    };
  }

  /** The local publisher's store, opened on first use (the publisher may start after the relay). */
  #openStore(): ArtifactStore {
    this.#store ??= openStore(this.config.database, { readonly: true, region: this.region });
    return this.#store;
  }

  #count(region: string, lane: Lane, d: ForwardDecision, msg: Envelope): void {
    if (d.kind === "forward" && d.covers !== undefined && d.covers.origin === this.region)
      this.#remotes.get(region)?.catchUp.covered(d.covers.apiId, d.covers.originSeq);
    if (d.kind === "forward") this.metrics.relayForwarded.inc({ region, stream: d.stream });
    else if (d.kind === "skip") this.metrics.eventsSkipped.inc({ stream: lane, why: d.why });
    else this.metrics.eventsRejected.inc({ stream: lane, reason: "GWSYNC_EVENT_INVALID" });
    this.events.emit("settled", region, lane, d, msg);
  }

  /** Start the HTTP server, the remote links (in the background) and the local consumers. */
  async start(): Promise<void> {
    const g = this.config.gwsync;
    if (this.#o.http !== false) {
      this.#http = await serveHttp(g, this.log, this.metrics, (app) => registerRelayRoutes(app, this));
    }
    for (const { link } of this.#remotes.values()) {
      this.#fatal.watch(link);
      link.start();
    }
    const local = new BrokerConnection({
      endpoints: this.config.eventHub.eventListeningEndpoints,
      connectionName: `gwsync-relay-${this.region}`,
      heartbeatSec: g.heartbeatSec,
      ...(this.#o.reconnectMaxDelayMs ? { reconnectMaxDelayMs: this.#o.reconnectMaxDelayMs } : {}),
      logger: this.log,
      setup: (model, link) => this.#setupLocal(model, link),
    });
    local.on("status", (s: { state: string }) =>
      this.metrics.brokerConnected.set(s.state === "connected" ? 1 : 0),
    );
    this.#local = local;
    this.#fatal.watch(local);
    await local.start();
    const interval = this.#o.backlogIntervalMs ?? DEFAULT_BACKLOG_INTERVAL_MS;
    this.#backlogTimer = setInterval(() => void this.backlog(), interval);
    this.#backlogTimer.unref();
    const catchUpMs = this.#o.catchUpIntervalMs ?? g.catchUpIntervalMs;
    if (catchUpMs > 0) {
      this.#catchUpTimer = setInterval(() => void this.#checkPass(catchUpMs), catchUpMs);
      this.#catchUpTimer.unref();
    }
    this.#watchJndi();
    this.log.info(
      { remotes: this.remoteRegions, exchange: this.exchange },
      "relay forwarding to the remote regions",
    );
  }

  #serialSetup<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#setupTail.catch(() => undefined).then(fn);
    this.#setupTail = next;
    return next;
  }

  async #setupLocal(model: ChannelModel, link: SetupLink): Promise<void> {
    this.#currentModel = model;
    this.#currentLink = link;
    await this.#serialSetup(async () => {
      for (const [region, remote] of this.#remotes) await this.#setupRemote(model, region, remote, link);
      const ch = await model.createChannel();
      ch.on("error", () => undefined);
      this.#backlogChannel = ch;
    });
  }

  /**
   * Declare the region's relay queues on the local hub and start its pumps; the first time, then
   * catch the region up from the changelog: the queue exists before the catch-up reads the head, so a
   * change is either at or below that head (the catch-up sends it) or its event reaches the queue.
   */
  async #setupRemote(
    model: ChannelModel,
    region: string,
    remote: RemoteRegion,
    link: SetupLink | undefined,
  ): Promise<void> {
    if (remote.setupOn === model) return;
    for (const lane of LANES) {
      const ch = await model.createChannel();
      ch.on("error", (err: Error) =>
        this.log.warn({ region, lane, err: err.message }, "relay channel error"),
      );
      link?.essential(ch, `relay queue ${region}/${lane} consumer's`);
      await assertTopicExchange(ch, this.exchange);
      await declareRelayQueue(ch, {
        queue: relayQueueName(this.region, region, lane),
        exchange: this.exchange,
        lane,
      });
      await remote.pumps[lane].start(ch);
    }
    remote.setupOn = model;
    if (!remote.fullStarted) {
      remote.fullStarted = true;
      this.#fullPass(region, remote);
    }
  }

  /** The first catch-up of a region (start, or added to jndi_dir), tried again until it succeeds. */
  #fullPass(region: string, remote: RemoteRegion): void {
    remote.catchUp.run("full").then(
      () => {
        remote.fullDone = true;
      },
      (err: unknown) => {
        if (this.#closed) return;
        this.log.warn({ region, err: (err as Error).message }, "relay catch-up failed; trying again");
        const t = setTimeout(
          () => this.#fullPass(region, remote),
          this.#o.catchUpRetryMs ?? DEFAULT_CATCH_UP_RETRY_MS,
        );
        t.unref();
      },
    );
  }

  /**
   * The periodic pass: moves each region's cursor over what crossed live, and sends what did not cross
   * within one interval while the link was up and the region's queue empty (an event that never reached
   * the relay's queue). Skipped for a region whose pass still runs.
   */
  async #checkPass(intervalMs: number): Promise<void> {
    for (const [region, remote] of this.#remotes) {
      if (!remote.fullDone || remote.catchUp.running || this.#closed) continue;
      const idle =
        this.#local?.status.state === "connected" &&
        remote.link.connected &&
        (await this.#backlogOf(region, remote)) === 0;
      const before = idle ? Date.now() - intervalMs : Number.NEGATIVE_INFINITY;
      await remote.catchUp.run("check", before).catch((err: unknown) => {
        if (!this.#closed)
          this.log.warn({ region, err: (err as Error).message }, "relay catch-up check failed");
      });
    }
  }

  /** Read jndi_dir again when it changes (and every jndiRescanMs): a region added is relayed to at once. */
  #watchJndi(): void {
    const dir = this.config.gwsync.jndiDir;
    const soon = () => {
      clearTimeout(this.#jndiDebounce);
      this.#jndiDebounce = setTimeout(() => this.#rescanJndi(), 200);
      this.#jndiDebounce.unref();
    };
    try {
      this.#jndiWatch = watch(dir, soon);
      this.#jndiWatch.on("error", () => undefined);
      this.#jndiWatch.unref();
    } catch (err) {
      this.log.warn(
        { jndiDir: dir, err: (err as Error).message },
        "cannot watch jndi_dir; reading it on a timer",
      );
    }
    this.#jndiTimer = setInterval(() => this.#rescanJndi(), this.#o.jndiRescanMs ?? DEFAULT_JNDI_RESCAN_MS);
    this.#jndiTimer.unref();
  }

  #rescanJndi(): void {
    if (this.#closed) return;
    let found: RelayDestination[];
    try {
      found = relayDestinations(this.config.gwsync.jndiDir, this.region);
    } catch (err) {
      // A file being written is read again on its next change; say once what is wrong.
      const problem = (err as Error).message;
      if (problem !== this.#jndiProblem)
        this.log.warn({ err: problem }, "jndi_dir unreadable; regions unchanged");
      this.#jndiProblem = problem;
      return;
    }
    this.#jndiProblem = undefined;
    for (const d of found) if (!this.#remotes.has(d.region)) this.#addRemote(d);
  }

  /** A region added to jndi_dir: its link, queues and pumps, then a catch-up of everything (it was never served). */
  #addRemote(d: RelayDestination): void {
    const remote = this.#makeRemote(d);
    this.#remotes.set(d.region, remote);
    this.#fatal.watch(remote.link);
    remote.link.start();
    this.log.info(
      { region: d.region, cursor: this.#cursors.get(d.region) ?? 0 },
      "region added to jndi_dir: relaying to it, catching it up from the changelog",
    );
    this.events.emit("regionAdded", d.region);
    void this.#serialSetup(async () => {
      const model = this.#currentModel;
      // A connection that died meanwhile fails here; its reconnect sets up every region.
      if (model !== undefined) await this.#setupRemote(model, d.region, remote, this.#currentLink);
    }).catch((err: unknown) =>
      this.log.warn({ region: d.region, err: (err as Error).message }, "region set up at the next reconnect"),
    );
  }

  /** What one region's catch-up has reached: its cursor and its last pass. */
  catchUpStatus(): Record<string, { cursor: number | undefined; last?: CatchUpReport }> {
    return Object.fromEntries(
      [...this.#remotes].map(([region, r]) => [
        region,
        { cursor: r.catchUp.cursor, ...(r.catchUp.lastReport ? { last: r.catchUp.lastReport } : {}) },
      ]),
    );
  }

  /** Messages waiting to cross, per remote region (queued plus taken but not yet confirmed). */
  async backlog(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [region, remote] of this.#remotes) {
      let n = 0;
      for (const lane of LANES) {
        n += remote.pumps[lane].unacked;
        const ch = this.#backlogChannel;
        if (!ch) continue;
        try {
          n += (await ch.checkQueue(relayQueueName(this.region, region, lane))).messageCount;
        } catch {
          // Not connected to the local hub right now; the in-memory part is still right.
        }
      }
      out[region] = n;
      this.metrics.relayBacklog.set({ region }, n);
    }
    return out;
  }

  /** One region's backlog, or undefined when the local hub cannot say. */
  async #backlogOf(region: string, remote: RemoteRegion): Promise<number | undefined> {
    const ch = this.#backlogChannel;
    if (!ch) return undefined;
    let n = 0;
    for (const lane of LANES) {
      n += remote.pumps[lane].unacked;
      try {
        n += (await ch.checkQueue(relayQueueName(this.region, region, lane))).messageCount;
      } catch {
        return undefined;
      }
    }
    return n;
  }

  /** Each remote region's connection state. */
  links(): Record<string, string> {
    return Object.fromEntries([...this.#remotes].map(([region, r]) => [region, r.link.status.state]));
  }

  get localStatus(): BrokerConnection["status"] | { state: "not-started" } {
    return this.#local?.status ?? { state: "not-started" };
  }

  get httpUrl(): string | undefined {
    return listenUrl(this.#http);
  }

  /** Graceful stop: no new deliveries, waiting batches given back to the queue, connections closed. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#backlogTimer) clearInterval(this.#backlogTimer);
    clearInterval(this.#catchUpTimer);
    clearInterval(this.#jndiTimer);
    clearTimeout(this.#jndiDebounce);
    this.#jndiWatch?.close();
    const remotes = [...this.#remotes.values()];
    for (const r of remotes) r.catchUp.stop();
    await stopAll(this.log, [
      () => Promise.all(remotes.flatMap((r) => LANES.map((l) => r.pumps[l].stop()))),
      () => this.#local?.close(),
      () => Promise.all(remotes.map((r) => r.link.close())),
      () => this.#http?.close(),
      () => (this.#ownsStore ? this.#store?.close() : undefined),
    ]);
  }
}

export function createRelay(options: RelayOptions): Relay {
  return new Relay(options);
}
