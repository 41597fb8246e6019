import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import amqp, { type ChannelModel, type ConfirmChannel } from "amqplib";
import { gatewayQueueNames } from "../../src/amqp/topology.js";
import { DEFAULT_RUNTIME_WIDE_PREFETCH } from "../../src/config/defaults.js";
import { loadConfig } from "../../src/config/load-config.js";
import { DEFAULT_PREFETCH } from "../../src/gateway/gateway.js";
import { PublisherService } from "../../src/publisher/service.js";
import { ensureKeyPair } from "../../src/security/key-files.js";
import {
  type EngineFactory,
  mysqlEngine,
  postgresEngine,
  type TestDatabase,
} from "../../test/harness/store-engines.js";
import { type BenchChild, spawnChild, stopAll } from "./children.js";

/** The machine's broker (region A in B5). */
export const BENCH_BROKER_PORT = 5672;
export const BROKER_URL = `amqp://guest:guest@127.0.0.1:${BENCH_BROKER_PORT}`;
/** The gateway label every benchmark publishes to. */
export const LABEL = "Production and Sandbox";
const HTTP_USER = "gwsync-bench";
const HTTP_PASSWORD = "bench-only-secret";
/**
 * The gateway's windows, so the raw consumers get the same pipelining: artifacts / runtime events (a
 * gateway's runtime window widens to runtime_wide_prefetch while the events are small, as B4's are).
 */
export const RAW_PREFETCH = { file: DEFAULT_PREFETCH, token: DEFAULT_RUNTIME_WIDE_PREFETCH } as const;
/**
 * How the raw consumers ack: "turn" (default) one basic.ack with `multiple` for the messages of one
 * turn of the event loop, as gwsync's consumers do (AckBatcher, src/amqp/consumer.ts): the fastest a
 * raw consumer acks, and what it costs the broker per event is then the same scheme's on both sides;
 * "each" (GWSYNC_BENCH_RAW_ACK=each) one ack per message at once, the baseline before issue 19's B4 work.
 */
export const RAW_ACK = process.env.GWSYNC_BENCH_RAW_ACK === "each" ? "each" : "turn";
/** tmpfs: fsync is free there, so seeding large stores takes seconds, not minutes. */
const SHM = "/dev/shm";

const q = (s: string) => JSON.stringify(s);

/**
 * GWSYNC_BENCH_STORE=postgresql (or mysql): the publisher stores in a fresh database of the machine's
 * PostgreSQL (MariaDB), made for the world and dropped with it; =git: the Git store (artifact_saver =
 * "GitSaver", a repository in the store folder beside the SQLite changelog); default the SQLite file.
 */
const BENCH_STORES: Record<string, EngineFactory | undefined> = {
  postgresql: postgresEngine,
  mysql: mysqlEngine,
};
export const BENCH_STORE = process.env.GWSYNC_BENCH_STORE ?? "sqlite";
/** The stores GWSYNC_BENCH_STORE may name: the embedded ones and the networked engines. */
const EMBEDDED_STORES = new Set(["sqlite", "git"]);

export interface GatewayChildSpec {
  name: string;
  mode?: "sync" | "async";
  saveLocally?: boolean;
  /** Extra node flags (e.g. --expose-gc for memory figures). */
  nodeFlags?: string[];
  /** gateway_labels; default [LABEL]. */
  labels?: string[];
}

/**
 * One benchmark's world: a private topic exchange on the real broker, a temp folder, the publisher
 * service in this process, gateways and baseline consumers as child processes. `close()` removes
 * every queue, the exchange and the folders.
 */
export class BenchWorld {
  readonly id: string;
  readonly exchange: string;
  /** This world's event hub (region B's broker in B5). */
  readonly brokerUrl: string;
  readonly region: string;
  readonly jndiDir: string | undefined;
  readonly root = mkdtempSync(join(tmpdir(), "gwsync-bench-"));
  /** The publisher's store folder: on disk, or on tmpfs where only seeding speed matters. */
  readonly storeDir: string;
  readonly inline: boolean;
  readonly batchRuntimeEvents: number;
  /**
   * GWSYNC_BENCH_SIGNED=1: signed artifacts on (docs/production.md, "Signed artifacts"): the publisher
   * signs, every gateway verifies. The key pair is made in the world's folder.
   */
  readonly signing: { privateKeyFile: string; publicKeyFile: string } | undefined;
  publisher: PublisherService | undefined;
  /** The networked database of GWSYNC_BENCH_STORE, made by startPublisher. */
  database: TestDatabase | undefined;
  readonly children = new Map<string, BenchChild>();
  readonly queues = new Set<string>();
  #amqp: ChannelModel | undefined;
  #confirm: ConfirmChannel | undefined;
  #publisherUrl: string | undefined;

  constructor(
    options: {
      storeOnTmpfs?: boolean;
      id?: string;
      brokerUrl?: string;
      region?: string;
      /** publish_directly_to_gateway: events carry the artifact, gateways skip the fetch. */
      inline?: boolean;
      /** [gwsync] batch_runtime_events of the publisher (0: WSO2's one event per message). */
      batchRuntimeEvents?: number;
      jndiDir?: string;
    } = {},
  ) {
    this.id = options.id ?? `bench-${randomBytes(4).toString("hex")}`;
    this.exchange = `${this.id}.topic`;
    this.brokerUrl = options.brokerUrl ?? BROKER_URL;
    this.region = options.region ?? "bench";
    this.jndiDir = options.jndiDir;
    this.inline = options.inline === true;
    this.batchRuntimeEvents = options.batchRuntimeEvents ?? 0;
    this.storeDir = options.storeOnTmpfs
      ? mkdtempSync(join(SHM, "gwsync-bench-store-"))
      : join(this.root, "publisher");
    mkdirSync(this.storeDir, { recursive: true });
    this.signing =
      process.env.GWSYNC_BENCH_SIGNED === "1" ? ensureKeyPair(join(this.root, "keys"), "bench") : undefined;
  }

  #signingToml(role: "publisher" | "gateway"): string {
    if (!this.signing) return "";
    return role === "publisher"
      ? `[gwsync.signing]\nprivate_key_file = ${q(this.signing.privateKeyFile)}\n`
      : `[gwsync.signing]\ntrusted_keys = [${q(this.signing.publicKeyFile)}]\n`;
  }

  get dbFile(): string {
    return join(this.storeDir, "artifacts.db");
  }

  publisherToml(): string {
    return `
[gwsync]
node_id = ${q(`${this.id}-${this.region}-pub`)}
region = ${q(this.region)}
data_dir = ${q(this.storeDir)}${this.jndiDir ? `\njndi_dir = ${q(this.jndiDir)}` : ""}
http_port = 0
exchange = ${q(this.exchange)}
batch_runtime_events = ${this.batchRuntimeEvents}
${this.#signingToml("publisher")}[gwsync.http]
username = ${q(HTTP_USER)}
password = ${q(HTTP_PASSWORD)}${process.env.GWSYNC_BENCH_HTTP_MAX_CONNECTIONS ? `\nmax_connections = ${Number(process.env.GWSYNC_BENCH_HTTP_MAX_CONNECTIONS)}` : ""}
[apim.sync_runtime_artifacts.publisher]
artifact_saver = ${q(BENCH_STORE === "git" ? "GitSaver" : "DBSaver")}
publish_directly_to_gateway = ${this.inline}
[database.sync_runtime_artifacts_db]
${this.#databaseToml()}
[apim.event_hub]
event_listening_endpoints = [${q(this.brokerUrl)}]
username = ${q(HTTP_USER)}
password = ${q(HTTP_PASSWORD)}
${BENCH_STORE === "git" ? `[gwsync.git_store]\nrepository = ${q(join(this.storeDir, "artifacts.git"))}\n` : ""}`;
  }

  #databaseToml(): string {
    const db = this.database?.config;
    if (db === undefined) return `type = "sqlite"\nurl = ${q(this.dbFile)}`;
    return [`type = ${q(db.type)}`, `url = ${q(db.url)}`]
      .concat(db.username === undefined ? [] : [`username = ${q(db.username)}`])
      .concat(db.password === undefined ? [] : [`password = ${q(db.password)}`])
      .join("\n");
  }

  /** This region's relay (B5): forwards the local hub's streams to the regions of jndi_dir. */
  relayToml(): string {
    if (!this.jndiDir) throw new Error("a relay needs the world's jndiDir");
    return `
[gwsync]
node_id = ${q(`${this.id}-${this.region}-relay`)}
region = ${q(this.region)}
data_dir = ${q(join(this.root, "relay"))}
http_port = 0
exchange = ${q(this.exchange)}
jndi_dir = ${q(this.jndiDir)}
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${q(this.dbFile)}
[apim.event_hub]
event_listening_endpoints = [${q(this.brokerUrl)}]
username = ${q(HTTP_USER)}
password = ${q(HTTP_PASSWORD)}
`;
  }

  /** The publisher service (store, outbox dispatcher, REST + data API) in this process. */
  async startPublisher(): Promise<PublisherService> {
    const engine = BENCH_STORES[BENCH_STORE];
    if (!EMBEDDED_STORES.has(BENCH_STORE) && engine === undefined) {
      throw new Error(`GWSYNC_BENCH_STORE must be sqlite, git, postgresql or mysql, got ${BENCH_STORE}`);
    }
    if (engine !== undefined && this.database === undefined) this.database = await engine.create();
    const { config } = loadConfig({ text: this.publisherToml(), role: "publisher", env: {} });
    const svc = new PublisherService({ config });
    await svc.start();
    this.publisher = svc;
    return svc;
  }

  /**
   * The publisher service in a process of its own (`bench/lib/publisher-proc.ts`), called over REST as
   * a user calls it: what a REST client sees includes HTTP, and the bench's own event loop is not the
   * publisher's. Resolves with its HTTP address.
   */
  async startPublisherProcess(): Promise<{ child: BenchChild; url: string }> {
    const engine = BENCH_STORES[BENCH_STORE];
    if (engine !== undefined && this.database === undefined) this.database = await engine.create();
    const file = join(this.root, "publisher.toml");
    writeFileSync(file, this.publisherToml());
    const child = await spawnChild("publisher", "publisher-proc", [file]);
    this.children.set("publisher", child);
    const ready = await child.request({ type: "start" }, "ready", 120_000);
    this.#publisherUrl = ready.httpUrl as string;
    return { child, url: this.#publisherUrl };
  }

  /** The publisher's REST credentials (what a clone's agreement names to reach this master). */
  get httpCredentials(): { username: string; password: string } {
    return { username: HTTP_USER, password: HTTP_PASSWORD };
  }

  /** Basic-auth header value of the publisher's REST API. */
  get authorization(): string {
    return `Basic ${Buffer.from(`${HTTP_USER}:${HTTP_PASSWORD}`).toString("base64")}`;
  }

  get publisherUrl(): string | undefined {
    return this.#publisherUrl ?? this.publisher?.httpUrl;
  }

  gatewayNodeId(name: string): string {
    return `${this.id}-${name}`;
  }

  deploymentDir(name: string): string {
    return join(this.root, name, "synapse-configs", "default");
  }

  gatewayToml(spec: GatewayChildSpec): string {
    const url = this.publisherUrl;
    if (!url) throw new Error("start the publisher before the gateways (they fetch from its data API)");
    return `
[gwsync]
node_id = ${q(this.gatewayNodeId(spec.name))}
region = ${q(this.region)}
data_dir = ${q(join(this.root, spec.name, "data"))}
http_port = 0
exchange = ${q(this.exchange)}
${this.#signingToml("gateway")}[gwsync.http]
username = ${q(HTTP_USER)}
password = ${q(HTTP_PASSWORD)}
[apim.sync_runtime_artifacts.gateway]
accept_inline_artifacts = ${this.inline}
gateway_labels = ${JSON.stringify(spec.labels ?? [LABEL])}
data_retrieval_mode = ${q(spec.mode ?? "sync")}
deployment_retry_duration = 1000
retry_progression_factor = 2.0
max_retry_count = 5
save_artifacts_locally = ${spec.saveLocally ?? true}
deployment_dir = ${q(this.deploymentDir(spec.name))}
[apim.event_hub]
service_url = ${q(url)}
event_listening_endpoints = [${q(this.brokerUrl)}]
username = ${q(HTTP_USER)}
password = ${q(HTTP_PASSWORD)}
`;
  }

  /** Spawn a gateway process (not started yet: send it "start"). */
  async spawnGateway(spec: GatewayChildSpec): Promise<BenchChild> {
    const file = join(this.root, `${spec.name}.toml`);
    writeFileSync(file, this.gatewayToml(spec));
    const nodeId = this.gatewayNodeId(spec.name);
    for (const queue of Object.values(gatewayQueueNames(nodeId))) this.queues.add(queue);
    const child = await spawnChild(
      spec.name,
      "gateway-proc",
      [file],
      spec.nodeFlags ? { nodeFlags: spec.nodeFlags } : {},
    );
    this.children.set(spec.name, child);
    return child;
  }

  /** Spawn `n` gateways and start them; resolves when all are ready. */
  async startGateways(
    n: number,
    spec: Omit<GatewayChildSpec, "name"> & { reportEach?: boolean } = {},
  ): Promise<BenchChild[]> {
    const gws: BenchChild[] = [];
    for (let i = 1; i <= n; i++) gws.push(await this.spawnGateway({ ...spec, name: `gw${i}` }));
    await Promise.all(
      gws.map((g) => g.request({ type: "start", reportEach: spec.reportEach === true }, "ready", 600_000)),
    );
    return gws;
  }

  async connection(): Promise<ChannelModel> {
    // noDelay: Nagle would hold 5 KB frames back ~40 ms (docs/architecture.md#nagle).
    this.#amqp ??= await amqp.connect(this.brokerUrl, {
      noDelay: true,
      clientProperties: { connection_name: `raw-publisher-${this.id}` },
    });
    return this.#amqp;
  }

  /** A confirm channel on this world's exchange, for the raw baselines. */
  async confirmChannel(): Promise<ConfirmChannel> {
    if (this.#confirm) return this.#confirm;
    const ch = await (await this.connection()).createConfirmChannel();
    await ch.assertExchange(this.exchange, "topic", { durable: true });
    this.#confirm = ch;
    return ch;
  }

  /**
   * `n` raw consumer processes, each on its own durable queue bound to `routingKey` (as each gateway
   * has its own queue), ready to consume.
   */
  async startRawConsumers(
    n: number,
    o: {
      routingKey: string;
      mode: "file" | "token";
      reportEach?: boolean;
      /** Queue arguments (default none; bench/b4-raw-variants.ts gives them a gateway queue's). */
      queueArguments?: Record<string, unknown>;
      /** Token mode: append each event to a journal file and fsync it before each ack (as a gateway does). */
      journal?: boolean;
      /** CPU each consumer spends per event on nothing, µs (bench/b4-raw-variants.ts). */
      burnUs?: number;
    },
  ): Promise<BenchChild[]> {
    const ch = await this.confirmChannel();
    const out: BenchChild[] = [];
    for (let i = 1; i <= n; i++) {
      const queue = `${this.id}.raw-${o.routingKey}-${i}`;
      this.queues.add(queue);
      await ch.assertQueue(queue, {
        durable: true,
        ...(o.queueArguments ? { arguments: o.queueArguments } : {}),
      });
      await ch.bindQueue(queue, this.exchange, o.routingKey);
      const name = `raw-${o.routingKey}-${i}`;
      const child = await spawnChild(name, "raw-consumer-proc", []);
      this.children.set(name, child);
      await child.request(
        {
          type: "start",
          url: this.brokerUrl,
          queue,
          dir: join(this.root, name),
          mode: o.mode,
          prefetch: RAW_PREFETCH[o.mode],
          ack: RAW_ACK,
          reportEach: o.reportEach === true,
          journal: o.journal === true,
          burnUs: o.burnUs ?? 0,
        },
        "consuming",
      );
      out.push(child);
    }
    return out;
  }

  async close(): Promise<void> {
    await stopAll(this.children.values());
    this.children.clear();
    await this.publisher?.close().catch(() => undefined);
    await this.database?.drop().catch(() => undefined);
    await this.#cleanupBroker().catch((err: unknown) =>
      process.stderr.write(`broker cleanup failed: ${(err as Error).message}\n`),
    );
    rmSync(this.root, { recursive: true, force: true });
    if (this.storeDir.startsWith(SHM)) rmSync(this.storeDir, { recursive: true, force: true });
  }

  async #cleanupBroker(): Promise<void> {
    const conn = await this.connection();
    for (const queue of this.queues) {
      const ch = await conn.createChannel();
      ch.on("error", () => undefined);
      await ch.deleteQueue(queue).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    const ch = await conn.createChannel();
    ch.on("error", () => undefined);
    await ch.deleteExchange(this.exchange).catch(() => undefined);
    await ch.close().catch(() => undefined);
    await conn.close();
    this.#amqp = undefined;
    this.#confirm = undefined;
  }
}

/** Publish one message with confirms and resolve when the broker confirmed it. */
export function confirmPublish(
  ch: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: Buffer,
  options: { messageId: string; headers?: Record<string, unknown> },
): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.publish(
      exchange,
      routingKey,
      body,
      { persistent: true, contentType: "application/xml", timestamp: Date.now(), ...options },
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

/**
 * Publish many with confirms, as fast as the channel takes them (waiting for 'drain' when the socket
 * buffer is full); resolves when all are confirmed.
 */
export async function confirmPublishAll(
  ch: ConfirmChannel,
  exchange: string,
  routingKey: string,
  messages: { body: Buffer; messageId: string; headers?: Record<string, unknown> }[],
): Promise<void> {
  const pending: Promise<void>[] = [];
  for (const m of messages) {
    let ok = true;
    pending.push(
      new Promise<void>((resolve, reject) => {
        ok = ch.publish(
          exchange,
          routingKey,
          m.body,
          {
            persistent: true,
            timestamp: Date.now(),
            messageId: m.messageId,
            ...(m.headers ? { headers: m.headers } : {}),
          },
          (err) => (err ? reject(err) : resolve()),
        );
      }),
    );
    // publish() returning false means the socket buffer is full: wait for 'drain'.
    if (!ok) await new Promise<void>((r) => ch.once("drain", () => r()));
  }
  await Promise.all(pending);
}
