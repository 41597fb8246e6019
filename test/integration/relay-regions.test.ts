import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import amqp from "amqplib";
import type { Envelope } from "../../src/amqp/envelope.js";
import { deadLetterQueueName, gatewayQueueNames, ingressQueueName, LANES, relayQueueName } from "../../src/amqp/topology.js";
import { loadConfig } from "../../src/config/load-config.js";
import type { GwsyncConfig } from "../../src/config/types.js";
import { decodeEvent } from "../../src/events/decode.js";
import { HEADER_ORIGIN } from "../../src/events/topics.js";
import { Gateway } from "../../src/gateway/gateway.js";
import { PublisherService } from "../../src/publisher/service.js";
import type { ForwardDecision } from "../../src/relay/forward-plan.js";
import { Relay } from "../../src/relay/relay.js";
import { cleanupBroker, testId } from "../harness/broker.js";
import { synapseApi } from "../harness/cluster.js";
import { TEST_PORT_OFFSET } from "../harness/rabbit-node.js";
import { REGION_B_PORT, SecondBroker } from "../harness/second-broker.js";
import { tempDir } from "../harness/temp-dir.js";
import { waitFor } from "../harness/wait.js";

const q = (s: string) => JSON.stringify(s);
const LABEL_P = "Production and Sandbox";
const LABEL_I = "Internal";
/** The issue's outage: region B's broker away for 30 s while region A publishes 1,000 times. */
const OUTAGE_MS = 30_000;
const OUTAGE_PUBLISHES = 1000;
const OUTAGE_APIS = 100;
const CONVERGE_TIMEOUT_MS = 90_000;
/** Brokers reconnect quickly in tests (the default backoff tops out at 10 s). */
const RECONNECT_MAX_DELAY_MS = 1000;

interface RegionSpec {
  key: "a" | "b" | "c";
  port: number;
  vhost: string;
  gateways: { name: string; labels: string[] }[];
  /** publish_directly_to_gateway of the region's publisher. */
  inline?: boolean;
}

interface RegionRun {
  name: string;
  spec: RegionSpec;
  publisher: PublisherService;
  relay: Relay;
  gateways: Map<string, Gateway>;
  /** (apiId@revision) deployed per gateway, in order: the "applied twice" evidence. */
  deploys: Map<string, string[]>;
  settled: { remote: string; decision: ForwardDecision; origin: unknown }[];
}

/**
 * Three regions, each with its publisher, relay and gateways: A on the machine's broker (5672), B on
 * a second node (5673), C in its own vhost on that node. Region names and the exchange are unique per
 * run, so the durable queues of other tests are never touched.
 */
class Mesh {
  readonly id = testId("rg");
  readonly root = tempDir("gwsync-regions-");
  readonly jndiDir = join(this.root, "jndi");
  readonly exchange = `${this.id}.topic`;
  readonly regions = new Map<string, RegionRun>();

  constructor(readonly specs: RegionSpec[]) {
    mkdirSync(this.jndiDir);
    for (const s of specs) {
      const path = s.vhost === "/" ? "" : encodeURIComponent(s.vhost);
      writeFileSync(
        join(this.jndiDir, `${this.regionName(s.key)}.properties`),
        `connectionfactory.TopicConnectionFactory = amqp://guest:guest@clientid/${path}?brokerlist='tcp://127.0.0.1:${s.port}'\n` +
          "topic.notification = notification\ntopic.tokenRevocation = tokenRevocation\n" +
          "topic.keyManager = keyManager\ntopic.asyncWebhooksData = asyncWebhooksData\n",
      );
    }
  }

  regionName(key: string): string {
    return `${this.id}-${key}`;
  }

  #eventHub(s: RegionSpec, serviceUrl = "http://127.0.0.1:1"): string {
    return `
[apim.event_hub]
service_url = ${q(serviceUrl)}
event_listening_endpoints = ["tcp://127.0.0.1:${s.port}"]
vhost = ${q(s.vhost)}
username = "guest"
password = "guest"
`;
  }

  #gwsync(s: RegionSpec, node: string): string {
    return `
[gwsync]
node_id = ${q(`${this.regionName(s.key)}-${node}`)}
region = ${q(this.regionName(s.key))}
data_dir = ${q(join(this.root, s.key, node))}
http_port = 0
exchange = ${q(this.exchange)}
jndi_dir = ${q(this.jndiDir)}
outbox_poll_ms = 50
catch_up_interval_ms = 0
`;
  }

  #database(s: RegionSpec): string {
    return `
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${q(join(this.root, s.key, "publisher", "artifacts.db"))}
`;
  }

  #load(role: "publisher" | "gateway" | "relay", text: string): GwsyncConfig {
    return loadConfig({ role, env: {}, text }).config;
  }

  async start(): Promise<void> {
    for (const s of this.specs) {
      const publisher = new PublisherService({
        config: this.#load(
          "publisher",
          `${this.#gwsync(s, "publisher")}\n[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "DBSaver"\npublish_directly_to_gateway = ${s.inline === true}\n${this.#database(s)}${this.#eventHub(s)}`,
        ),
      });
      await publisher.start();
      const run: RegionRun = {
        name: this.regionName(s.key),
        spec: s,
        publisher,
        relay: new Relay({
          config: this.#load("relay", `${this.#gwsync(s, "relay")}${this.#database(s)}${this.#eventHub(s)}`),
          reconnectMaxDelayMs: RECONNECT_MAX_DELAY_MS,
          republishDelayMs: 100,
          backlogIntervalMs: 500,
        }),
        gateways: new Map(),
        deploys: new Map(),
        settled: [],
      };
      run.relay.events.on(
        "settled",
        (remote: string, _lane: string, decision: ForwardDecision, msg: Envelope) =>
          run.settled.push({ remote, decision, origin: msg.properties.headers?.[HEADER_ORIGIN] }),
      );
      await run.relay.start();
      for (const g of s.gateways) {
        const gw = new Gateway({
          config: this.#load(
            "gateway",
            `${this.#gwsync(s, g.name)}
[apim.sync_runtime_artifacts.gateway]
gateway_labels = ${JSON.stringify(g.labels)}
data_retrieval_mode = "sync"
deployment_retry_duration = 20
max_retry_count = 3
deployment_dir = ${q(join(this.root, s.key, g.name, "synapse-configs", "default"))}
accept_inline_artifacts = ${s.inline === true}
${this.#eventHub(s, publisher.httpUrl)}`,
          ),
        });
        const deploys: string[] = [];
        gw.events.on("applied", (outcome: string, apiId: string) => {
          if (outcome === "deployed")
            deploys.push(`${apiId}@${gw.deployer.deployed().find((d) => d.apiId === apiId)?.revision}`);
        });
        await gw.start();
        run.gateways.set(g.name, gw);
        run.deploys.set(g.name, deploys);
      }
      this.regions.set(s.key, run);
    }
  }

  region(key: "a" | "b" | "c"): RegionRun {
    const r = this.regions.get(key);
    assert.ok(r, `region ${key} is running`);
    return r;
  }

  async close(): Promise<void> {
    for (const r of this.regions.values()) {
      for (const gw of r.gateways.values()) await gw.close().catch(() => undefined);
      await r.relay.close().catch(() => undefined);
      await r.publisher.close().catch(() => undefined);
    }
    for (const s of this.specs) {
      const name = this.regionName(s.key);
      const queues = [ingressQueueName(name)];
      for (const other of this.specs) {
        if (other !== s)
          for (const lane of LANES) queues.push(relayQueueName(name, this.regionName(other.key), lane));
      }
      for (const g of s.gateways) {
        const q = gatewayQueueNames(`${name}-${g.name}`);
        queues.push(q.artifacts, q.runtime);
      }
      const url = `amqp://guest:guest@127.0.0.1:${s.port}/${encodeURIComponent(s.vhost)}`;
      await cleanupBroker({
        url,
        exchanges: [this.exchange],
        queues: [...queues, ...queues.map(deadLetterQueueName)],
      }).catch(() => undefined);
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

function gatewayHas(gw: Gateway, apiId: string, sha256: string): boolean {
  return gw.deployer.deployed().some((d) => d.apiId === apiId && d.sha256 === sha256);
}

function duplicates(list: string[]): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const x of list) {
    if (seen.has(x)) twice.push(x);
    seen.add(x);
  }
  return twice;
}

describe("relay: regions A (5672), B (5673) and C (a vhost on 5673) in a full mesh", () => {
  const brokerB = new SecondBroker({ port: REGION_B_PORT, name: TEST_PORT_OFFSET === 0 ? "regionb" : `regionb${REGION_B_PORT}` });
  const vhostC = `${testId("vh")}`;
  let mesh: Mesh;

  before(async () => {
    await brokerB.start();
    await brokerB.addVhost(vhostC);
    mesh = new Mesh([
      { key: "a", port: 5672, vhost: "/", gateways: [{ name: "a1", labels: [LABEL_P] }] },
      {
        key: "b",
        port: REGION_B_PORT,
        vhost: "/",
        gateways: [
          { name: "b1", labels: [LABEL_P] },
          { name: "b2", labels: [LABEL_I] },
        ],
      },
      {
        key: "c",
        port: REGION_B_PORT,
        vhost: vhostC,
        inline: true,
        gateways: [{ name: "c1", labels: [LABEL_P, LABEL_I] }],
      },
    ]);
    await mesh.start();
  });

  after(async () => {
    await mesh?.close();
    await brokerB.deleteVhost(vhostC);
    await brokerB.stop();
  });

  test("an API published in A is deployed on B's and C's gateways, and their stores hold it with origin A first", async (t) => {
    const a = mesh.region("a");
    const b = mesh.region("b");
    const c = mesh.region("c");
    // Region C's publisher has publish_directly_to_gateway: what it announces must carry the artifact.
    const cUrl = `amqp://guest:guest@127.0.0.1:${c.spec.port}/${encodeURIComponent(c.spec.vhost)}`;
    const observerConn = await amqp.connect(cUrl);
    const observer = await observerConn.createChannel();
    const seen = (await observer.assertQueue("", { exclusive: true })).queue;
    await observer.bindQueue(seen, mesh.exchange, "notification");
    const started = performance.now();
    const r = await a.publisher.publisher.deployApi(synapseApi({ name: "Pizza", size: 2000 }), [
      LABEL_P,
      LABEL_I,
    ]);
    const b1 = b.gateways.get("b1")!;
    await waitFor(b1.events, "applied", async () => gatewayHas(b1, r.apiId, r.sha256), "b1 to deploy Pizza");
    const elapsed = performance.now() - started;
    t.diagnostic(`A publish → deployed on B's gateway: ${elapsed.toFixed(1)} ms`);
    const b2 = b.gateways.get("b2")!;
    const c1 = c.gateways.get("c1")!;
    await waitFor(b2.events, "applied", async () => gatewayHas(b2, r.apiId, r.sha256), "b2 to deploy Pizza");
    await waitFor(c1.events, "applied", () => gatewayHas(c1, r.apiId, r.sha256), "c1 to deploy Pizza");
    const announced = await observer.get(seen, { noAck: true });
    await observerConn.close();
    assert.ok(announced, "region C announced the relayed API");
    const decoded = decodeEvent("notification", announced.content);
    assert.ok(
      decoded.ok && decoded.event.topic === "notification" && decoded.event.payload.kind === "gateway",
    );
    assert.equal(decoded.event.payload.apiUuid, r.apiId);
    assert.ok(decoded.event.payload.artifact !== undefined, "the relayed artifact rides inline in region C");

    for (const region of [b, c]) {
      for (const label of [LABEL_P, LABEL_I]) {
        const stored = await region.publisher.publisher.store.getArtifact(r.apiId, label);
        assert.ok(stored, `${region.name} stores Pizza on ${label}`);
        assert.equal(stored.sha256, r.sha256, "the same bytes in every region");
        assert.equal(stored.revision, r.revision, "the origin's revision is adopted");
      }
      const changes = (await region.publisher.publisher.store.changesSince(0, [LABEL_P, LABEL_I])).filter(
        (ch) => ch.apiId === r.apiId,
      );
      assert.equal(changes.length, 2, `${region.name} changelog: one row per label`);
      for (const ch of changes) {
        assert.equal(ch.originRegion, a.name);
        assert.equal(ch.originSeq, r.seq);
      }
    }
    // The gateway deployed it only after its own region's store had it: it fetched it from there.
    assert.equal(b1.deployer.deployed().find((d) => d.apiId === r.apiId)?.revision, r.revision);
  });

  test("a full mesh never loops: a publish reaches each other region exactly once and nothing comes back", async () => {
    const a = mesh.region("a");
    const b = mesh.region("b");
    const c = mesh.region("c");
    const before = { a: a.settled.length, b: b.settled.length, c: c.settled.length };
    const headA = await a.publisher.publisher.store.headSeq();
    const r = await b.publisher.publisher.deployApi(synapseApi({ name: "FromB", size: 1000 }), [LABEL_P]);
    const a1 = a.gateways.get("a1")!;
    const c1 = c.gateways.get("c1")!;
    await waitFor(a1.events, "applied", async () => gatewayHas(a1, r.apiId, r.sha256), "a1 to deploy FromB");
    await waitFor(c1.events, "applied", async () => gatewayHas(c1, r.apiId, r.sha256), "c1 to deploy FromB");
    // A and C announced it locally with hops 1: their relays must settle it, for both remotes, as skipped.
    for (const region of [a, c]) {
      await waitFor(
        region.relay.events,
        "settled",
        () =>
          region.settled
            .slice(before[region.spec.key])
            .filter((s) => s.decision.kind === "skip" && s.origin === b.name).length >= 2,
        `${region.name}'s relay to see the relayed announcement`,
      );
    }
    const forwarded = (region: RegionRun) =>
      region.settled
        .slice(before[region.spec.key])
        .filter((s) => s.decision.kind === "forward" && s.origin === b.name);
    assert.deepEqual(
      forwarded(b)
        .map((s) => s.remote)
        .sort(),
      [a.name, c.name].sort(),
      "B's relay sent FromB once to A and once to C",
    );
    assert.equal(forwarded(a).length, 0, "A's relay sent nothing on");
    assert.equal(forwarded(c).length, 0, "C's relay sent nothing on");
    const newInA = await a.publisher.publisher.store.changesSince(headA, [LABEL_P, LABEL_I]);
    assert.deepEqual(
      newInA.map((ch) => [ch.apiId, ch.originRegion]),
      [[r.apiId, b.name]],
      "A stored FromB once, from B",
    );
    const inB = await b.publisher.publisher.store.changesSince(0, [LABEL_P, LABEL_I]);
    assert.ok(
      inB.every((ch) => ch.apiId !== r.apiId || ch.originRegion === b.name),
      "B's own change never came back to B",
    );
  });

  test("a token revoked in A is revoked on B's gateways (and C's)", async () => {
    const a = mesh.region("a");
    const b = mesh.region("b");
    const token = `tok-${testId("rv")}`;
    await a.publisher.publisher.emit({
      stream: "tokenRevocation",
      event: { revokedToken: token, expiryTime: Date.now() + 3_600_000, type: "JWT" },
    });
    const gateways = [...b.gateways.values(), ...mesh.region("c").gateways.values()];
    for (const gw of gateways) {
      await waitFor(
        gw.events,
        "runtime",
        () => gw.runtime.revokedTokens.isRevoked(token) !== undefined,
        "the revocation",
      );
    }
    const b1 = b.gateways.get("b1")!;
    const res = await fetch(`${b1.httpUrl}/api/v1/revoked-tokens/${token}`, {
      headers: { authorization: `Basic ${Buffer.from("guest:guest").toString("base64")}` },
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { revoked: boolean }).revoked, true);
  });

  test("a removal in A removes the API from B's gateways", async () => {
    const a = mesh.region("a");
    const b = mesh.region("b");
    const r = await a.publisher.publisher.deployApi(synapseApi({ name: "ShortLived", size: 800 }), [LABEL_P]);
    const b1 = b.gateways.get("b1")!;
    await waitFor(
      b1.events,
      "applied",
      async () => gatewayHas(b1, r.apiId, r.sha256),
      "b1 to deploy ShortLived",
    );
    await a.publisher.publisher.removeApi(r.apiId, [LABEL_P]);
    await waitFor(
      b1.events,
      "applied",
      () => !b1.deployer.deployed().some((d) => d.apiId === r.apiId),
      "b1 to remove ShortLived",
    );
    assert.equal((await b.publisher.publisher.store.getArtifact(r.apiId, LABEL_P))?.instruction, "Remove");
  });

  test("a token revocation is never stuck behind a burst of artifacts", async () => {
    const a = mesh.region("a");
    const b = mesh.region("b");
    const burst = 300;
    const ids: string[] = [];
    for (let i = 0; i < burst; i++)
      ids.push(
        (await a.publisher.publisher.deployApi(synapseApi({ name: `Burst${i}`, size: 3000 }), [LABEL_I]))
          .apiId,
      );
    const token = `tok-${testId("burst")}`;
    await a.publisher.publisher.emit({
      stream: "tokenRevocation",
      event: { revokedToken: token, expiryTime: Date.now() + 3_600_000, type: "JWT" },
    });
    const b2 = b.gateways.get("b2")!;
    await waitFor(
      b2.events,
      "runtime",
      () => b2.runtime.revokedTokens.isRevoked(token) !== undefined,
      "the revocation on b2",
    );
    const held = await Promise.all(ids.map((id) => b.publisher.publisher.store.getArtifact(id, LABEL_I)));
    const storedWhenRevoked = held.filter((a) => a !== undefined).length;
    assert.ok(
      storedWhenRevoked < burst,
      `the revocation arrived before the last of ${burst} artifacts (${storedWhenRevoked} stored)`,
    );
    await waitFor(
      b2.events,
      "applied",
      () => ids.every((id) => b2.deployer.deployed().some((d) => d.apiId === id)),
      "the burst on b2",
      CONVERGE_TIMEOUT_MS,
    );
  });

  test("a region that is down holds back only its own backlog: B keeps receiving while C is away", async (t) => {
    const a = mesh.region("a");
    const b = mesh.region("b");
    const c = mesh.region("c");
    // C's outage: its vhost refuses logins and every open connection to it is closed.
    await brokerB.ctl("clear_permissions", "-p", vhostC, "guest");
    await brokerB.ctl("close_all_connections", "-p", vhostC, "region C outage (test)");
    try {
      const r = await a.publisher.publisher.deployApi(synapseApi({ name: "WhileCDown", size: 1000 }), [
        LABEL_P,
      ]);
      const b1 = b.gateways.get("b1")!;
      await waitFor(
        b1.events,
        "applied",
        async () => gatewayHas(b1, r.apiId, r.sha256),
        "b1 to deploy WhileCDown",
      );
      const backlog = await a.relay.backlog();
      t.diagnostic(`while C is down: A's backlog to B ${backlog[b.name]}, to C ${backlog[c.name]}`);
      assert.ok((backlog[c.name] ?? 0) > 0, "C's events wait in A's queue for C");
      assert.equal(
        await c.publisher.publisher.store.getArtifact(r.apiId, LABEL_P),
        undefined,
        "C has not got it yet",
      );
      await brokerB.ctl("set_permissions", "-p", vhostC, "guest", ".*", ".*", ".*");
      const c1 = c.gateways.get("c1")!;
      await waitFor(
        c1.events,
        "applied",
        () => gatewayHas(c1, r.apiId, r.sha256),
        "c1 to deploy WhileCDown once C is back",
        CONVERGE_TIMEOUT_MS,
      );
    } finally {
      await brokerB.ctl("set_permissions", "-p", vhostC, "guest", ".*", ".*", ".*");
    }
  });

  test(`B down for ${OUTAGE_MS / 1000} s during ${OUTAGE_PUBLISHES} publishes in A: afterwards every API is on B's gateways, none missing, none applied twice`, async (t) => {
    const a = mesh.region("a");
    const b = mesh.region("b");
    const pub = a.publisher.publisher;
    for (const list of b.deploys.values()) list.length = 0;
    const down = Date.now();
    await brokerB.stopApp();
    // Paced over most of the outage, so publishes keep arriving while B is away.
    const pace = (OUTAGE_MS * 0.8) / OUTAGE_PUBLISHES;
    let removes = 0;
    for (let i = 0; i < OUTAGE_PUBLISHES; i++) {
      const name = `Outage${i % OUTAGE_APIS}`;
      const label = i % 3 === 0 ? [LABEL_P, LABEL_I] : i % 3 === 1 ? [LABEL_P] : [LABEL_I];
      const id = await pub.store.findApiId(name, "1.0.0");
      if (id && i % 17 === 0 && (await pub.store.getArtifact(id, LABEL_P))?.instruction === "Publish") {
        await pub.removeApi(id, [LABEL_P]);
        removes++;
      } else {
        await pub.deployApi(synapseApi({ name, revision: i, size: 1500 }), label);
      }
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, pace * 10));
    }
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - down))));
    const backlog = await a.relay.backlog();
    t.diagnostic(
      `after ${Date.now() - down} ms down: A's relay backlog to B = ${backlog[b.name]}, ${removes} removes among the publishes`,
    );
    assert.ok((backlog[b.name] ?? 0) > 0, "the events waited in A's durable queue");
    const up = Date.now();
    await brokerB.startApp();

    // The truth: what A's store holds per label at the end.
    for (const [name, labels] of [
      ["b1", [LABEL_P]],
      ["b2", [LABEL_I]],
    ] as const) {
      const gw = b.gateways.get(name)!;
      const expected = new Map(
        (await pub.store.listArtifacts({ label: labels[0] }))
          .filter((x) => x.name.startsWith("Outage"))
          .map((x) => [x.apiId, x.sha256]),
      );
      const holds = () => {
        const mine = gw.deployer.deployed().filter((d) => d.name.startsWith("Outage"));
        return mine.length === expected.size && mine.every((d) => expected.get(d.apiId) === d.sha256);
      };
      await waitFor(
        gw.events,
        "applied",
        holds,
        `${name} to converge on ${expected.size} APIs`,
        CONVERGE_TIMEOUT_MS,
      );
      const deployed = gw.deployer.deployed().filter((d) => d.name.startsWith("Outage"));
      const missing = [...expected.keys()].filter((id) => !deployed.some((d) => d.apiId === id));
      const unexpected = deployed.filter((d) => !expected.has(d.apiId)).map((d) => d.apiId);
      // Applied twice: the same (API, revision) deployed more than once on one gateway.
      const twice = duplicates(b.deploys.get(name)!);
      t.diagnostic(
        `${name}: ${expected.size} expected, ${missing.length} missing, ${unexpected.length} unexpected, ${twice.length} applied twice, ${b.deploys.get(name)!.length} deploys`,
      );
      assert.deepEqual({ missing, unexpected, twice }, { missing: [], unexpected: [], twice: [] });
    }
    t.diagnostic(`B back → converged in ${Date.now() - up} ms`);
    // B's store took each change of A at most once per label.
    const rows = (await b.publisher.publisher.store.changesSince(0, [LABEL_P, LABEL_I])).filter(
      (ch) => ch.originRegion === a.name,
    );
    const keys = rows.map((ch) => `${ch.label}|${ch.originSeq}`);
    assert.deepEqual(duplicates(keys), [], "no change of A stored twice in B");
  });
});
