import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load-config.js";
import type { GwsyncConfig } from "../../src/config/types.js";
import { Gateway, type GatewayOptions } from "../../src/gateway/gateway.js";
import { createLogger, type Logger, silentLogger } from "../../src/log.js";
import { PublisherService } from "../../src/publisher/service.js";
import { cleanupBroker, testId } from "./broker.js";
import { waitFor } from "./wait.js";

/** Until its queue exists, a new gateway's events only reach it through catch-up: tests wait for it. */
export function waitForBroker(gw: Gateway): Promise<void> {
  return waitFor(
    gw.events,
    "broker",
    () => gw.brokerStatus.state === "connected",
    "the gateway to connect to the broker",
  );
}

/** GWSYNC_TEST_LOG=debug shows the services' logs while a test runs. */
const testLogger: Logger = process.env.GWSYNC_TEST_LOG
  ? createLogger({ level: process.env.GWSYNC_TEST_LOG, pretty: false })
  : silentLogger;

export const TEST_USER = "gwsync-test";
export const TEST_PASSWORD = "not-a-default-secret";

const q = (s: string) => JSON.stringify(s);

export interface GatewaySpec {
  name: string;
  labels: string[];
  mode?: "sync" | "async";
  saveLocally?: boolean;
  retryMs?: number;
  maxRetries?: number;
  catchUpMs?: number;
  /** Extra lines for the gateway section. */
  extra?: string;
  /** Lines for [apim.event_hub]. */
  eventHubExtra?: string;
  /** Extra lines for the [gwsync] section (limits, signing). */
  gwsyncExtra?: string;
}

/**
 * One test's world: a private topic exchange on the real broker, a publisher service with its SQLite
 * store in a temp folder, and gateways with their own queues and deployment folders. Every timing
 * knob is in milliseconds so tests run fast.
 */
export class TestCluster {
  readonly id = testId("gw");
  readonly root = mkdtempSync(join(tmpdir(), "gwsync-it-"));
  readonly exchange = `${this.id}.topic`;
  publisher: PublisherService | undefined;
  readonly gateways = new Map<string, Gateway>();
  publisherUrl = "http://127.0.0.1:1";
  /** [gwsync] region of the publisher and gateways (tests with several data centers name each). */
  readonly region: string;
  /** The publisher's store: SQLite (DBSaver) or the Git store (GitSaver, its changelog in SQLite). */
  readonly store: "sqlite" | "git";

  constructor(options: { region?: string; store?: "sqlite" | "git" } = {}) {
    this.region = options.region ?? "test";
    this.store = options.store ?? "sqlite";
  }

  /** `extra` goes into [apim.sync_runtime_artifacts.publisher], `gwsyncExtra` into [gwsync]. */
  publisherConfig(extra = "", gwsyncExtra = ""): GwsyncConfig {
    return loadConfig({
      role: "publisher",
      env: {},
      text: `
[gwsync]
node_id = ${q(`${this.id}-pub`)}
region = ${q(this.region)}
data_dir = ${q(join(this.root, "publisher"))}
http_port = 0
exchange = ${q(this.exchange)}
outbox_poll_ms = 50
${gwsyncExtra}
[gwsync.http]
username = ${q(TEST_USER)}
password = ${q(TEST_PASSWORD)}
[apim.sync_runtime_artifacts.publisher]
artifact_saver = ${q(this.store === "git" ? "GitSaver" : "DBSaver")}
${extra}
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${q(join(this.root, "publisher", "artifacts.db"))}
${this.store === "git" ? `[gwsync.git_store]\nrepository = ${q(join(this.root, "publisher", "artifacts.git"))}\n` : ""}`,
    }).config;
  }

  gatewayConfig(spec: GatewaySpec): GwsyncConfig {
    return loadConfig({
      role: "gateway",
      env: {},
      text: `
[gwsync]
node_id = ${q(`${this.id}-${spec.name}`)}
region = ${q(this.region)}
data_dir = ${q(join(this.root, spec.name, "data"))}
http_port = 0
exchange = ${q(this.exchange)}
catch_up_interval_ms = ${spec.catchUpMs ?? 0}
max_deliveries = 5
${spec.gwsyncExtra ?? ""}
[gwsync.http]
username = ${q(TEST_USER)}
password = ${q(TEST_PASSWORD)}
[apim.sync_runtime_artifacts.gateway]
gateway_labels = ${JSON.stringify(spec.labels)}
data_retrieval_mode = ${q(spec.mode ?? "sync")}
deployment_retry_duration = ${spec.retryMs ?? 20}
retry_progression_factor = 2.0
max_retry_count = ${spec.maxRetries ?? 3}
save_artifacts_locally = ${spec.saveLocally ?? true}
deployment_dir = ${q(this.deploymentDir(spec.name))}
${spec.extra ?? ""}
[apim.event_hub]
service_url = ${q(this.publisherUrl)}
username = ${q(TEST_USER)}
password = ${q(TEST_PASSWORD)}
${spec.eventHubExtra ?? ""}
# The broker has its own credentials (WSO2 4.x [apim.event_hub.jms]); the pair above is for HTTP.
[apim.event_hub.jms]
username = "guest"
password = "guest"
`,
    }).config;
  }

  deploymentDir(name: string): string {
    return join(this.root, name, "synapse-configs", "default");
  }

  async startPublisher(extra = "", gwsyncExtra = ""): Promise<PublisherService> {
    const svc = new PublisherService({
      config: this.publisherConfig(extra, gwsyncExtra),
      logger: testLogger,
    });
    await svc.start();
    this.publisher = svc;
    this.publisherUrl = svc.httpUrl ?? this.publisherUrl;
    return svc;
  }

  async startGateway(spec: GatewaySpec, options: Partial<GatewayOptions> = {}): Promise<Gateway> {
    const gw = new Gateway({ config: this.gatewayConfig(spec), logger: testLogger, ...options });
    await gw.start();
    this.gateways.set(spec.name, gw);
    await waitForBroker(gw);
    return gw;
  }

  /** Creates the gateway without starting it (tests that time start → ready themselves). */
  makeGateway(spec: GatewaySpec, options: Partial<GatewayOptions> = {}): Gateway {
    const gw = new Gateway({ config: this.gatewayConfig(spec), logger: testLogger, ...options });
    this.gateways.set(spec.name, gw);
    return gw;
  }

  /** Queues of gateways stopped during the test (a stopped gateway keeps its queues): deleted at close. */
  readonly #stoppedQueues: string[] = [];

  /** Stops the gateway as a crash or shutdown would, leaving its queues until the cluster closes. */
  async stopGateway(name: string): Promise<void> {
    const gw = this.gateways.get(name);
    if (gw === undefined) return;
    this.#stoppedQueues.push(...Object.values(gw.queues));
    await gw.close();
    this.gateways.delete(name);
  }

  async close(): Promise<void> {
    const queues = [...this.gateways.values()].flatMap((g) => Object.values(g.queues));
    queues.push(...this.#stoppedQueues);
    for (const g of this.gateways.values()) await g.close().catch(() => undefined);
    await this.publisher?.close().catch(() => undefined);
    await cleanupBroker({ exchanges: [this.exchange], queues }).catch(() => undefined);
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function authHeader(): string {
  return `Basic ${Buffer.from(`${TEST_USER}:${TEST_PASSWORD}`).toString("base64")}`;
}

/** A synapse API XML of about `size` bytes (the benchmarks' 5 KB workload by default). */
export function synapseApi(o: {
  provider?: string;
  name: string;
  version?: string;
  context?: string;
  revision?: number;
  size?: number;
}): string {
  const provider = o.provider ?? "admin";
  const version = o.version ?? "1.0.0";
  const context = o.context ?? `/${o.name.toLowerCase()}/${version}`;
  const head = `<?xml version="1.0" encoding="UTF-8"?>
<api xmlns="http://ws.apache.org/ns/synapse" name="${provider}--${o.name}" context="${context}" version="${version}" version-type="context">
  <resource methods="GET" url-mapping="/*" faultSequence="fault">
    <inSequence>
      <property name="gwsync.revision" value="${o.revision ?? 1}"/>
`;
  const tail = `      <send><endpoint key="${o.name}--v${version}_APIproductionEndpoint"/></send>
    </inSequence>
    <outSequence><send/></outSequence>
  </resource>
</api>
`;
  const target = o.size ?? 0;
  let pad = "";
  let i = 0;
  while (head.length + pad.length + tail.length < target) {
    pad += `      <property name="pad${i}" value="${"x".repeat(60)}"/>\n`;
    i++;
  }
  return head + pad + tail;
}
