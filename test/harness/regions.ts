import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deadLetterQueueName, gatewayQueueNames, ingressQueueName, LANES, relayQueueName } from "../../src/amqp/topology.js";
import { loadConfig } from "../../src/config/load-config.js";
import type { GwsyncConfig } from "../../src/config/types.js";
import { Gateway } from "../../src/gateway/gateway.js";
import { PublisherService } from "../../src/publisher/service.js";
import { Relay, type RelayOptions } from "../../src/relay/relay.js";
import { cleanupBroker, testId } from "./broker.js";
import { tempDir } from "./temp-dir.js";

const q = (s: string) => JSON.stringify(s);

/** Where a region's event hub is: a broker port and a vhost. */
export interface HubSpec {
  port: number;
  vhost: string;
}

/**
 * Regions of a test, each started piece by piece (publisher, relay, gateways) so a test can publish
 * before any relay runs, or add a region to jndi_dir later. Region names and the exchange are unique
 * per run; close() stops everything it started and deletes every queue a region could have.
 */
export class Regions {
  readonly id = testId("rg");
  readonly root = tempDir("gwsync-regions-");
  readonly jndiDir = join(this.root, "jndi");
  readonly exchange = `${this.id}.topic`;
  readonly hubs = new Map<string, HubSpec>();
  readonly publishers = new Map<string, PublisherService>();
  readonly relays = new Map<string, Relay>();
  readonly gateways = new Map<string, Gateway>();
  readonly #gatewayRegion = new Map<string, string>();

  constructor() {
    mkdirSync(this.jndiDir);
  }

  name(key: string): string {
    return `${this.id}-${key}`;
  }

  /** Write the region's jndi file: the relays of the other regions forward to it from now on. */
  addToJndi(key: string, hub: HubSpec): void {
    this.hubs.set(key, hub);
    const path = hub.vhost === "/" ? "" : encodeURIComponent(hub.vhost);
    const file = join(this.jndiDir, `${this.name(key)}.properties`);
    // Written whole under another name first: a relay watching the folder never reads half a file.
    writeFileSync(
      `${file}.tmp`,
      `connectionfactory.TopicConnectionFactory = amqp://guest:guest@clientid/${path}?brokerlist='tcp://127.0.0.1:${hub.port}'\n` +
        "topic.notification = notification\ntopic.tokenRevocation = tokenRevocation\n" +
        "topic.keyManager = keyManager\ntopic.asyncWebhooksData = asyncWebhooksData\n",
    );
    renameSync(`${file}.tmp`, file);
  }

  #hub(key: string): HubSpec {
    const h = this.hubs.get(key);
    if (!h) throw new Error(`region ${key} has no hub: addToJndi first`);
    return h;
  }

  #eventHub(key: string, serviceUrl = "http://127.0.0.1:1"): string {
    const h = this.#hub(key);
    return `
[apim.event_hub]
service_url = ${q(serviceUrl)}
event_listening_endpoints = ["tcp://127.0.0.1:${h.port}"]
vhost = ${q(h.vhost)}
username = "guest"
password = "guest"
`;
  }

  #gwsync(key: string, node: string, extra = ""): string {
    return `
[gwsync]
node_id = ${q(`${this.name(key)}-${node}`)}
region = ${q(this.name(key))}
data_dir = ${q(join(this.root, key, node))}
http_port = 0
exchange = ${q(this.exchange)}
jndi_dir = ${q(this.jndiDir)}
outbox_poll_ms = 50
${extra}
`;
  }

  #database(key: string): string {
    return `
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${q(join(this.root, key, "publisher", "artifacts.db"))}
`;
  }

  #load(role: "publisher" | "gateway" | "relay", text: string): GwsyncConfig {
    return loadConfig({ role, env: {}, text }).config;
  }

  async startPublisher(key: string): Promise<PublisherService> {
    const p = new PublisherService({
      config: this.#load(
        "publisher",
        `${this.#gwsync(key, "publisher")}\n[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "DBSaver"\n${this.#database(key)}${this.#eventHub(key)}`,
      ),
    });
    await p.start();
    this.publishers.set(key, p);
    return p;
  }

  relayConfig(key: string, catchUpIntervalMs = 0): GwsyncConfig {
    return this.#load(
      "relay",
      `${this.#gwsync(key, "relay", `catch_up_interval_ms = ${catchUpIntervalMs}`)}${this.#database(key)}${this.#eventHub(key)}`,
    );
  }

  /** A relay, not started (a test subscribes to its events first). */
  relay(key: string, o: Partial<RelayOptions> & { catchUpIntervalMs?: number } = {}): Relay {
    const relay = new Relay({
      config: this.relayConfig(key, o.catchUpIntervalMs ?? 0),
      reconnectMaxDelayMs: 1000,
      republishDelayMs: 100,
      backlogIntervalMs: 500,
      jndiRescanMs: 1000,
      ...o,
    });
    this.relays.set(key, relay);
    return relay;
  }

  async startGateway(key: string, node: string, labels: string[]): Promise<Gateway> {
    const publisher = this.publishers.get(key);
    if (!publisher) throw new Error(`region ${key} has no publisher`);
    const gw = new Gateway({
      config: this.#load(
        "gateway",
        `${this.#gwsync(key, node, "catch_up_interval_ms = 0")}
[apim.sync_runtime_artifacts.gateway]
gateway_labels = ${JSON.stringify(labels)}
data_retrieval_mode = "sync"
deployment_retry_duration = 20
max_retry_count = 3
deployment_dir = ${q(join(this.root, key, node, "synapse-configs", "default"))}
${this.#eventHub(key, publisher.httpUrl)}`,
      ),
    });
    await gw.start();
    this.gateways.set(`${key}/${node}`, gw);
    this.#gatewayRegion.set(`${key}/${node}`, key);
    return gw;
  }

  async close(): Promise<void> {
    for (const gw of this.gateways.values()) await gw.close().catch(() => undefined);
    for (const r of this.relays.values()) await r.close().catch(() => undefined);
    for (const p of this.publishers.values()) await p.close().catch(() => undefined);
    for (const [key, hub] of this.hubs) {
      const name = this.name(key);
      const queues = [ingressQueueName(name)];
      for (const other of this.hubs.keys()) {
        if (other !== key) for (const lane of LANES) queues.push(relayQueueName(name, this.name(other), lane));
      }
      for (const [gwKey, region] of this.#gatewayRegion) {
        if (region !== key) continue;
        const qs = gatewayQueueNames(`${name}-${gwKey.split("/")[1]}`);
        queues.push(qs.artifacts, qs.runtime);
      }
      const url = `amqp://guest:guest@127.0.0.1:${hub.port}/${encodeURIComponent(hub.vhost)}`;
      await cleanupBroker({
        url,
        exchanges: [this.exchange],
        queues: [...queues, ...queues.map(deadLetterQueueName)],
      }).catch(() => undefined);
    }
  }
}
