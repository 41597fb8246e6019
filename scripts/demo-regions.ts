/**
 * `npm run demo:regions`: the two-region topology of docker-compose.yml without Docker, in one
 * process. Region A's hub is the machine's RabbitMQ (5672), region B's a second node on 5673 (started
 * here when nothing listens there; docs/architecture.md#test-machine). Each region runs a publisher, a relay and a gateway,
 * wired by the repo's jndi/ files. An API published in region A is shown deployed in region B, with
 * the time it took; then everything shuts down and the demo's queues are deleted.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import amqp from "amqplib";
import { deadLetterQueueName, ingressQueueName, LANES, relayQueueName } from "../src/amqp/topology.js";
import { loadConfig } from "../src/config/load-config.js";
import type { GwsyncConfig, Role } from "../src/config/types.js";
import { Gateway } from "../src/gateway/gateway.js";
import { PublisherService } from "../src/publisher/service.js";
import { Relay } from "../src/relay/relay.js";
import { SecondBroker } from "../test/harness/second-broker.js";

const JNDI_DIR = fileURLToPath(new URL("../jndi", import.meta.url));
const LABEL = "Production and Sandbox";
const REGIONS = [
  { name: "region-a", port: 5672 },
  { name: "region-b", port: 5673 },
] as const;
/** Updates timed after the first publish, for a median. */
const UPDATES = 10;
const DEPLOY_TIMEOUT_MS = 60 * 1000;
/** The publisher announces relayed artifacts at its next outbox poll. */
const OUTBOX_POLL_MS = 20;

const q = (s: string) => JSON.stringify(s);

interface Region {
  name: string;
  port: number;
  publisher: PublisherService;
  relay: Relay;
  gateway: Gateway;
}

function config(role: Role, region: string, port: number, dir: string, serviceUrl = "http://127.0.0.1:1"): GwsyncConfig {
  const text = `
[gwsync]
node_id = ${q(`demo-${region}-${role}`)}
region = ${q(region)}
data_dir = ${q(join(dir, region, role))}
http_port = 0
jndi_dir = ${q(JNDI_DIR)}
outbox_poll_ms = ${OUTBOX_POLL_MS}
[apim.sync_runtime_artifacts.publisher]
artifact_saver = "DBSaver"
[apim.sync_runtime_artifacts.gateway]
gateway_labels = [${q(LABEL)}]
deployment_dir = ${q(join(dir, region, "gateway", "synapse-configs", "default"))}
deployment_retry_duration = 100
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${q(join(dir, region, "artifacts.db"))}
[apim.event_hub]
service_url = ${q(serviceUrl)}
event_listening_endpoints = ["tcp://127.0.0.1:${port}"]
`;
  return loadConfig({ text, role, env: {} }).config;
}

function pizzaXml(revision: number): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<api xmlns="http://ws.apache.org/ns/synapse" name="admin--PizzaShackAPI" context="/pizzashack/1.0.0" version="1.0.0" version-type="context">
  <resource methods="GET" url-mapping="/menu">
    <inSequence>
      <property name="demo.revision" value="${revision}"/>
      <send><endpoint><http uri-template="https://localhost:9443/am/sample/pizzashack/v1/api/menu"/></endpoint></send>
    </inSequence>
    <outSequence><send/></outSequence>
  </resource>
</api>
`;
}

async function startRegion(name: string, port: number, dir: string): Promise<Region> {
  const publisher = new PublisherService({ config: config("publisher", name, port, dir) });
  await publisher.start();
  const relay = new Relay({ config: config("relay", name, port, dir) });
  await relay.start();
  const gateway = new Gateway({ config: config("gateway", name, port, dir, publisher.httpUrl) });
  await gateway.start();
  console.log(`  ${name}: hub 127.0.0.1:${port}, publisher ${publisher.httpUrl}, relay ${relay.httpUrl}, gateway ${gateway.httpUrl}`);
  return { name, port, publisher, relay, gateway };
}

/** Resolves with the ms from `since` to the gateway holding the artifact (counted on its events). */
function deployedOn(gw: Gateway, apiId: string, sha256: string, since: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!gw.deployer.deployed().some((d) => d.apiId === apiId && d.sha256 === sha256)) return;
      clearTimeout(timer);
      gw.events.removeListener("applied", check);
      resolve(performance.now() - since);
    };
    const timer = setTimeout(() => {
      gw.events.removeListener("applied", check);
      reject(new Error(`not deployed in region B within ${DEPLOY_TIMEOUT_MS} ms`));
    }, DEPLOY_TIMEOUT_MS);
    gw.events.on("applied", check);
    check();
  });
}

/** The demo's durable queues: nothing it declared stays on the brokers. */
async function deleteQueues(): Promise<void> {
  for (const r of REGIONS) {
    const others = REGIONS.filter((o) => o.name !== r.name);
    const queues = [
      ingressQueueName(r.name),
      `gwsync.gateway.demo-${r.name}-gateway`,
      ...others.flatMap((o) => LANES.map((lane) => relayQueueName(r.name, o.name, lane))),
    ];
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${r.port}`);
    for (const queue of [...queues, ...queues.map(deadLetterQueueName)]) {
      const ch = await conn.createChannel();
      ch.on("error", () => undefined);
      await ch.deleteQueue(queue).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    await conn.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "gwsync-demo-regions-"));
  const broker = new SecondBroker({ port: 5673, name: "regionb" });
  const regions: Region[] = [];
  try {
    console.log("gwsync two-region demo");
    console.log("  starting region B's broker on 5673 (if not already running)...");
    await broker.start();
    for (const r of REGIONS) regions.push(await startRegion(r.name, r.port, dir));
    const [a, b] = regions as [Region, Region];

    const first = performance.now();
    const r = await a.publisher.publisher.deployApi(pizzaXml(1), [LABEL]);
    const ms = await deployedOn(b.gateway, r.apiId, r.sha256, first);
    const stored = (await b.publisher.publisher.store.changesSince(0, [LABEL])).find(
      (c) => c.apiId === r.apiId,
    );
    console.log(`\nPizzaShackAPI ${r.apiId} published in ${a.name} (revision ${r.revision}, seq ${r.seq})`);
    console.log(`  → stored in ${b.name} with origin ${stored?.originRegion} seq ${stored?.originSeq}`);
    console.log(`  → deployed on ${b.name}'s gateway after ${ms.toFixed(1)} ms`);

    const samples: number[] = [];
    for (let i = 2; i <= UPDATES + 1; i++) {
      const t = performance.now();
      const u = await a.publisher.publisher.deployApi(pizzaXml(i), [LABEL]);
      samples.push(await deployedOn(b.gateway, u.apiId, u.sha256, t));
    }
    samples.sort((x, y) => x - y);
    const median = samples[Math.floor(samples.length / 2)] ?? 0;
    console.log(`  ${UPDATES} updates A → B: median ${median.toFixed(1)} ms, max ${(samples.at(-1) ?? 0).toFixed(1)} ms`);
  } finally {
    console.log("\nshutting down...");
    for (const r of regions.reverse()) {
      await r.gateway.close().catch(() => undefined);
      await r.relay.close().catch(() => undefined);
      await r.publisher.close().catch(() => undefined);
    }
    await deleteQueues().catch((err: unknown) => console.error(`could not delete the demo's queues: ${(err as Error).message}`));
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
    console.log("done");
  }
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
