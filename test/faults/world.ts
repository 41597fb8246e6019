import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import amqp from "amqplib";
import { gatewayQueueNames } from "../../src/amqp/topology.js";
import { loadConfig } from "../../src/config/load-config.js";
import type { GwsyncConfig } from "../../src/config/types.js";
import { Gateway, type GatewayOptions } from "../../src/gateway/gateway.js";
import { createLogger, type Logger, silentLogger } from "../../src/log.js";
import { PublisherService } from "../../src/publisher/service.js";
import { openStore } from "../../src/store/open-store.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import type { ArtifactStore, NewOutboxMessage } from "../../src/store/types.js";
import { cleanupBroker, testId } from "../harness/broker.js";
import {
  AppliedLog,
  checkInvariants,
  formatReport,
  type InvariantReport,
  observeGateway,
  observeStopped,
  truthFor,
} from "../harness/invariants.js";
import { ChildService } from "../harness/processes.js";
import { CHANGED, waitFor } from "../harness/wait.js";

/** GWSYNC_TEST_LOG=debug shows the in-process services' logs (children read the same variable). */
export const testLogger: Logger = process.env.GWSYNC_TEST_LOG
  ? createLogger({ level: process.env.GWSYNC_TEST_LOG, pretty: false })
  : silentLogger;

export const USER = "gwsync-test";
export const PASSWORD = "not-a-default-secret";
const q = (s: string) => JSON.stringify(s);

export interface FaultGatewaySpec {
  name: string;
  labels: string[];
  mode?: "sync" | "async";
  /** AMQP port the gateway connects to (a FaultProxy's, the fault broker's). Default 5672. */
  brokerPort?: number;
  /** Control plane URL; default the world's publisher URL. */
  serviceUrl?: string;
  heartbeatSec?: number;
  catchUpMs?: number;
  /** [gwsync] rebind_interval_ms; unset: the default (5 min). */
  rebindMs?: number;
  retryMs?: number;
  maxRetries?: number;
  maxRetryDelayMs?: number;
  queueType?: "classic" | "quorum";
  maxDeliveries?: number;
  /** accept_inline_artifacts: the gateway applies artifacts carried by events (publishInline). */
  acceptInline?: boolean;
  /** [gwsync] data_api: which control plane data API the gateway calls. Default (unset) "4.x". */
  dataApi?: "4.x" | "3.2.0";
  /** [gwsync] data_api_tenant. Default (unset) every tenant. */
  dataApiTenant?: string;
  /** save_artifacts_locally: false is the memory-only deployer (many gateways in one process). Default true. */
  saveLocally?: boolean;
  /** Brokers in failover order (AMQP ports on 127.0.0.1); default [brokerPort]. */
  brokerPorts?: number[];
}

/**
 * One fault test's world: a private exchange, temp folders, TOML config files (children read them),
 * the publisher and gateways in-process or as child processes, and the judge at the end.
 */
export class FaultWorld {
  readonly id = testId("fault");
  readonly root = mkdtempSync(join(tmpdir(), "gwsync-fault-"));
  readonly exchange = `${this.id}.topic`;
  publisherUrl = "http://127.0.0.1:1";
  publisher: PublisherService | undefined;
  readonly gateways = new Map<string, Gateway>();
  readonly logs = new Map<string, AppliedLog>();
  readonly children = new Set<ChildService>();
  /** Broker URLs the world's queues live on (cleaned at the end). */
  readonly brokerUrls = new Set<string>(["amqp://guest:guest@127.0.0.1:5672"]);
  readonly #queues = new Set<string>();
  /** A PostgreSQL/MySQL database the publishers share (several nodes); default the SQLite file. */
  database: GwsyncConfig["database"] | undefined;
  /** The publisher on the Git store (artifact_saver = "GitSaver"): its repository beside the SQLite file. */
  gitStore = false;

  constructor(readonly brokerPort = 5672) {
    this.brokerUrls.clear();
    this.brokerUrls.add(`amqp://guest:guest@127.0.0.1:${brokerPort}`);
  }

  get dbFile(): string {
    return join(this.root, "publisher", "artifacts.db");
  }

  /** The Git store's repository (gitStore). */
  get gitRepository(): string {
    return join(this.root, "publisher", "artifacts.git");
  }

  publisherToml(
    o: {
      httpPort?: number;
      brokerPort?: number;
      outboxPollMs?: number;
      heartbeatSec?: number;
      publishInline?: boolean;
      /** One publisher node among several: its node_id suffix (default "pub"). */
      node?: string;
      /** Extra lines for the [gwsync] section (data_api_max_in_flight, ...). */
      gwsyncExtra?: string;
      /** Brokers in failover order (AMQP ports on 127.0.0.1); default [brokerPort]. */
      brokerPorts?: number[];
    } = {},
  ): string {
    const db = this.database;
    const database =
      db === undefined
        ? `type = "sqlite"\nurl = ${q(this.dbFile)}`
        : [`type = ${q(db.type)}`, `url = ${q(db.url)}`]
            .concat(db.username === undefined ? [] : [`username = ${q(db.username)}`])
            .concat(db.password === undefined ? [] : [`password = ${q(db.password)}`])
            .join("\n");
    return `
[gwsync]
node_id = ${q(`${this.id}-${o.node ?? "pub"}`)}
region = "test"
data_dir = ${q(join(this.root, "publisher"))}
http_port = ${o.httpPort ?? 0}
exchange = ${q(this.exchange)}
outbox_poll_ms = ${o.outboxPollMs ?? 50}
heartbeat_sec = ${o.heartbeatSec ?? 5}
${o.gwsyncExtra ?? ""}
[gwsync.http]
username = ${q(USER)}
password = ${q(PASSWORD)}
[apim.sync_runtime_artifacts.publisher]
artifact_saver = ${q(this.gitStore ? "GitSaver" : "DBSaver")}
publish_directly_to_gateway = ${o.publishInline ?? false}
[database.sync_runtime_artifacts_db]
${database}
[apim.event_hub]
event_listening_endpoints = [${(o.brokerPorts ?? [o.brokerPort ?? this.brokerPort]).map((p) => q(`tcp://127.0.0.1:${p}`)).join(", ")}]
[apim.event_hub.jms]
username = "guest"
password = "guest"
${this.gitStore ? `[gwsync.git_store]\nrepository = ${q(this.gitRepository)}\n` : ""}`;
  }

  gatewayToml(s: FaultGatewaySpec): string {
    for (const queue of Object.values(gatewayQueueNames(this.nodeId(s.name)))) this.#queues.add(queue);
    return `
[gwsync]
node_id = ${q(this.nodeId(s.name))}
region = "test"
data_dir = ${q(this.dataDir(s.name))}
http_port = 0
exchange = ${q(this.exchange)}
catch_up_interval_ms = ${s.catchUpMs ?? 0}
${s.rebindMs === undefined ? "" : `rebind_interval_ms = ${s.rebindMs}`}
max_deliveries = ${s.maxDeliveries ?? 5}
heartbeat_sec = ${s.heartbeatSec ?? 5}
queue_type = ${q(s.queueType ?? "classic")}
${s.dataApi ? `data_api = ${q(s.dataApi)}` : ""}
${s.dataApiTenant ? `data_api_tenant = ${q(s.dataApiTenant)}` : ""}
[gwsync.http]
username = ${q(USER)}
password = ${q(PASSWORD)}
[apim.sync_runtime_artifacts.gateway]
gateway_labels = ${JSON.stringify(s.labels)}
data_retrieval_mode = ${q(s.mode ?? "sync")}
deployment_retry_duration = ${s.retryMs ?? 20}
retry_progression_factor = 2.0
max_retry_count = ${s.maxRetries ?? 3}
max_retry_delay = ${s.maxRetryDelayMs ?? 2000}
save_artifacts_locally = ${s.saveLocally ?? true}
deployment_dir = ${q(this.deploymentDir(s.name))}
accept_inline_artifacts = ${s.acceptInline ?? false}
[apim.event_hub]
service_url = ${q(s.serviceUrl ?? this.publisherUrl)}
event_listening_endpoints = [${(s.brokerPorts ?? [s.brokerPort ?? this.brokerPort]).map((p) => q(`tcp://127.0.0.1:${p}`)).join(", ")}]
username = ${q(USER)}
password = ${q(PASSWORD)}
[apim.event_hub.jms]
username = "guest"
password = "guest"
`;
  }

  nodeId(name: string): string {
    return `${this.id}-${name}`;
  }

  queueOf(name: string): string {
    return gatewayQueueNames(this.nodeId(name)).artifacts;
  }

  dataDir(name: string): string {
    return join(this.root, name, "data");
  }

  deploymentDir(name: string): string {
    return join(this.root, name, "synapse-configs", "default");
  }

  stateFile(name: string): string {
    return join(this.dataDir(name), "gateway-state.json");
  }

  appliedLogFile(name: string): string {
    return join(this.root, `${name}.applied.jsonl`);
  }

  writeConfig(file: string, text: string): string {
    const path = join(this.root, file);
    mkdirSync(this.root, { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  parse(text: string, role: "publisher" | "gateway"): GwsyncConfig {
    // Relative paths (jndi_dir) resolve in the world's own folder, never in the repository the test runs from.
    return loadConfig({ role, env: {}, text, baseDir: this.root }).config;
  }

  async startPublisher(
    o: Parameters<FaultWorld["publisherToml"]>[0] = {},
    options: { store?: SqliteArtifactStore; logger?: Logger } = {},
  ): Promise<PublisherService> {
    const svc = new PublisherService({
      config: this.parse(this.publisherToml(o), "publisher"),
      ...options,
      logger: options.logger ?? testLogger,
    });
    await svc.start();
    this.publisher = svc;
    this.publisherUrl = svc.httpUrl ?? this.publisherUrl;
    return svc;
  }

  /** An in-process gateway whose applied events are logged for the judge; resolves once connected. */
  async startGateway(
    spec: FaultGatewaySpec,
    options: Partial<GatewayOptions> = {},
    waitConnected = true,
  ): Promise<Gateway> {
    const gw = this.makeGateway(spec, options);
    await gw.start();
    if (waitConnected)
      await waitFor(
        gw.events,
        "broker",
        () => gw.brokerStatus.state === "connected",
        `${spec.name} to connect`,
      );
    return gw;
  }

  makeGateway(spec: FaultGatewaySpec, options: Partial<GatewayOptions> = {}): Gateway {
    const gw = new Gateway({
      config: this.parse(this.gatewayToml(spec), "gateway"),
      logger: testLogger,
      ...options,
    });
    const log = this.logs.get(spec.name) ?? new AppliedLog();
    log.attach(gw);
    this.logs.set(spec.name, log);
    this.gateways.set(spec.name, gw);
    return gw;
  }

  async stopGateway(name: string): Promise<void> {
    await this.gateways.get(name)?.close();
    this.gateways.delete(name);
  }

  /** A gateway in a child process (kill -9 is real); its applied log is a file shared by all its lives. */
  spawnGateway(spec: FaultGatewaySpec): ChildService {
    const file = this.writeConfig(`${spec.name}.toml`, this.gatewayToml(spec));
    const child = ChildService.gateway(file, this.appliedLogFile(spec.name));
    this.children.add(child);
    return child;
  }

  spawnPublisher(o: Parameters<FaultWorld["publisherToml"]>[0] = {}): ChildService {
    const file = this.writeConfig(`${o.node ?? "publisher"}.toml`, this.publisherToml(o));
    const child = ChildService.publisher(file);
    this.children.add(child);
    return child;
  }

  /** The store as the truth: the in-process publisher's, or the file opened read-only. */
  async withTruth<T>(fn: (store: ArtifactStore) => Promise<T>): Promise<T> {
    if (this.publisher) return fn(this.publisher.publisher.store);
    const store = this.gitStore
      ? openStore(this.parse(this.publisherToml(), "publisher").database, { readonly: true, region: "test" })
      : this.database === undefined
        ? SqliteArtifactStore.open(this.dbFile, { readonly: true })
        : openStore(this.database, { readonly: true, region: "test" });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  /** Judge an in-process gateway. */
  async judge(name: string): Promise<InvariantReport> {
    const gw = this.gateways.get(name);
    if (!gw) throw new Error(`no in-process gateway ${name}`);
    const obs = observeGateway(name, gw, this.logs.get(name)?.records ?? []);
    return this.withTruth((store) => checkInvariants(store, obs));
  }

  /** Judge a gateway that ran in child processes (stopped: its state file is final). */
  async judgeStopped(name: string, labels: string[]): Promise<InvariantReport> {
    const obs = await observeStopped({
      name,
      labels,
      stateFile: this.stateFile(name),
      deploymentDir: this.deploymentDir(name),
      appliedLogFile: this.appliedLogFile(name),
    });
    return this.withTruth((store) => checkInvariants(store, obs));
  }

  /** Waits (on the gateway's events) until it holds exactly the truth's latest sha256 of every API. */
  async waitConverged(name: string, timeoutMs = 60_000): Promise<void> {
    const gw = this.gateways.get(name);
    if (!gw) throw new Error(`no in-process gateway ${name}`);
    const truth = await this.withTruth((s) => truthFor(s, gw.config.gateway.gatewayLabels));
    const log = this.logs.get(name)!;
    // The applied log, not only deployer.get(): a deploy's record is visible before its state is
    // flushed and its "applied" event fires; converged means every apply has finished.
    const done = () => {
      const last = new Map<string, string | undefined>();
      for (const r of log.records)
        last.set(
          r.apiId,
          r.outcome === "removed" ? undefined : r.outcome === "deployed" ? r.sha256 : last.get(r.apiId),
        );
      return (
        gw.deployer.deployed().length === truth.size &&
        [...truth].every(([id, t]) => gw.deployer.get(id)?.sha256 === t.sha256 && last.get(id) === t.sha256)
      );
    };
    await waitFor(gw.events, CHANGED, done, `${name} to converge on ${truth.size} APIs`, timeoutMs).catch(
      async (err: Error) => {
        // Say what differs, not only that it timed out.
        throw new Error(`${err.message}\n${formatReport(await this.judge(name))}`);
      },
    );
  }

  async close(): Promise<void> {
    for (const c of this.children) await c.kill9().catch(() => undefined);
    for (const g of this.gateways.values()) await g.close().catch(() => undefined);
    await this.publisher?.close().catch(() => undefined);
    const queues = [...this.#queues];
    for (const url of this.brokerUrls)
      await cleanupBroker({ url, exchanges: [this.exchange], queues }).catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A small synapse API; `revision` goes into the XML so every update has new bytes. */
export function tinyApi(name: string, revision: number, pad = 0): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<api xmlns="http://ws.apache.org/ns/synapse" name="admin--${name}" context="/${name.toLowerCase()}/1.0.0" version="1.0.0" version-type="context">
  <resource methods="GET" url-mapping="/*">
    <inSequence><property name="rev" value="${revision}"/>${"x".repeat(pad)}<send/></inSequence>
  </resource>
</api>
`;
}

/** A deterministic PRNG so a failing run can be replayed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Publish outbox-shaped messages (each with its own id and headers) with confirms, in the given order. */
export async function publishMessages(
  exchange: string,
  messages: readonly NewOutboxMessage[],
  url = "amqp://guest:guest@127.0.0.1:5672",
): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    for (const m of messages) {
      const ok = ch.publish(exchange, m.topic, m.body, {
        persistent: true,
        contentType: "application/json",
        messageId: m.messageId,
        timestamp: Date.now(),
        headers: m.headers,
      });
      // publish() returning false means the socket buffer is full: wait for 'drain' (amqplib contract).
      if (!ok) await new Promise((r) => ch.once("drain", r));
    }
    await ch.waitForConfirms();
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** Fisher–Yates with a seeded PRNG. */
export function shuffle<T>(items: T[], rnd: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const POLL_MS = 50;

/**
 * For the few facts no event announces (the publisher's outbox depth): re-check every 50 ms, bounded.
 * Everything a gateway does is awaited through its events instead (waitFor).
 */
export async function pollUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
