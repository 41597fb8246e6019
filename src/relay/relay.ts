import { EventEmitter } from "node:events";
import type { FastifyInstance } from "fastify";
import { BrokerConnection, FatalSignal } from "../amqp/connection.js";
import type { Channel, ChannelModel, Envelope } from "../amqp/envelope.js";
import { assertTopicExchange, DEFAULT_EXCHANGE, 
  DEFAULT_LANE_PREFETCH,
  DEFAULT_MAX_HOPS,
  declareRelayQueue,
  LANES,
  type Lane,
  relayQueueName,} from "../amqp/topology.js";
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
import { type ForwardDecision, planForward } from "./forward-plan.js";
import { ForwardPump } from "./forward-pump.js";
import { registerRelayRoutes } from "./relay-routes.js";
import { RemoteLink } from "./remote-link.js";

/** How often the backlog gauge reads the relay queues' depth. */
export const DEFAULT_BACKLOG_INTERVAL_MS = 5 * 1000;

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
}

interface RemoteRegion {
  link: RemoteLink;
  pumps: Record<Lane, ForwardPump>;
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
  #http: FastifyInstance | undefined;

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
    return { link, pumps: { priority: pump("priority"), artifacts: pump("artifacts") } };
  }

  /** The local publisher's store, opened on first use (the publisher may start after the relay). */
  #openStore(): ArtifactStore {
    this.#store ??= openStore(this.config.database, { readonly: true, region: this.region });
    return this.#store;
  }

  #count(region: string, lane: Lane, d: ForwardDecision, msg: Envelope): void {
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
      setup: (model) => this.#setupLocal(model),
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
    this.log.info(
      { remotes: this.remoteRegions, exchange: this.exchange },
      "relay forwarding to the remote regions",
    );
  }

  async #setupLocal(model: ChannelModel): Promise<void> {
    for (const [region, remote] of this.#remotes) {
      for (const lane of LANES) {
        const ch = await model.createChannel();
        ch.on("error", (err: Error) =>
          this.log.warn({ region, lane, err: err.message }, "relay channel error"),
        );
        await assertTopicExchange(ch, this.exchange);
        await declareRelayQueue(ch, {
          queue: relayQueueName(this.region, region, lane),
          exchange: this.exchange,
          lane,
        });
        await remote.pumps[lane].start(ch);
      }
    }
    const ch = await model.createChannel();
    ch.on("error", () => undefined);
    this.#backlogChannel = ch;
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
    if (this.#backlogTimer) clearInterval(this.#backlogTimer);
    const remotes = [...this.#remotes.values()];
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
