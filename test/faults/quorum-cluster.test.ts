/**
 * Issue 20: "on a RabbitMQ cluster, quorum queues or replicated streams: say which a 3-node broker
 * cluster needs to lose a node with nothing lost, and test it with three local nodes".
 *
 * Three RabbitMQ nodes clustered on this machine (test/harness/broker-cluster.ts); the publisher and
 * four gateways list all three in `event_listening_endpoints` (failover in order, each gateway starting
 * on another node) with `queue_type = "quorum"`. While a few hundred changes are published, the node the
 * publisher is connected to (where the quorum queues declared through it have their leaders) is
 * killed -9. Nothing may be lost: every change's event is in a witness quorum queue, every gateway
 * settles a delivery of every one of those events from its own queue (the queue, not only the
 * changelog catch-up, kept them), and every gateway ends with every change.
 */
import assert from "node:assert/strict";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import amqp from "amqplib";
import type { Gateway } from "../../src/gateway/gateway.js";
import { HEADER_SEQ } from "../../src/events/topics.js";
import { BrokerCluster } from "../harness/broker-cluster.js";
import { assertClean } from "../harness/invariants.js";
import { waitFor } from "../harness/wait.js";
import { FaultWorld, pollUntil, tinyApi } from "./world.js";

const GATEWAYS = 4;
const APIS = 30;
const CHANGES = 300;
/** The node is killed after this many of the changes (the rest are published while it is gone). */
const KILL_AFTER = 100;
const LABEL = "Q";
/** Failover, leader election and a reconnect backoff of up to 10 s: bounded, generously. */
const SETTLE_TIMEOUT_MS = 120_000;

describe("3-node RabbitMQ cluster, quorum queues: a node killed -9 while publishing loses nothing", () => {
  const cluster = new BrokerCluster();
  let world: FaultWorld;
  const gateways: Gateway[] = [];
  /** Per gateway: the message ids of notification deliveries it settled (acked). */
  const settled: Set<string>[] = [];
  const witness = { queue: "", conn: undefined as amqp.ChannelModel | undefined };

  before(async () => {
    const t0 = Date.now();
    await cluster.start();
    console.log(`3-node cluster up in ${Date.now() - t0} ms (${cluster.nodes.map((n) => n.node).join(", ")})`);
    world = new FaultWorld(cluster.ports[0]);
    // Queues are cleaned through a node that stays up.
    world.brokerUrls.clear();
    world.brokerUrls.add(cluster.url(1));
    await world.startPublisher({ heartbeatSec: 1, brokerPorts: cluster.ports });
    // A quorum queue of its own on the exchange, declared through a surviving node: every event the
    // cluster confirmed to the publisher is kept there.
    witness.queue = `${world.id}.witness`;
    witness.conn = await amqp.connect(cluster.url(1));
    const ch = await witness.conn.createChannel();
    await ch.assertQueue(witness.queue, { durable: true, arguments: { "x-queue-type": "quorum" } });
    await ch.bindQueue(witness.queue, world.exchange, "notification");
    await ch.close();
    for (let i = 0; i < GATEWAYS; i++) {
      // Each gateway starts on another node (the list rotated): two on node 0, one on each other.
      const ports = [...cluster.ports.slice(i % 3), ...cluster.ports.slice(0, i % 3)];
      const gw = await world.startGateway({
        name: `g${i}`,
        labels: [LABEL],
        queueType: "quorum",
        brokerPorts: ports,
        saveLocally: false,
        heartbeatSec: 1,
        retryMs: 50,
        maxRetries: 5,
      });
      const ids = new Set<string>();
      gw.events.on("handled", (stream, kind, id) => {
        if (stream === "notification" && kind === "ack" && id !== undefined) ids.add(id);
      });
      settled.push(ids);
      gateways.push(gw);
    }
  });
  after(async () => {
    if (witness.conn) {
      const ch = await witness.conn.createChannel().catch(() => undefined);
      await ch?.deleteQueue(witness.queue).catch(() => undefined);
      await witness.conn.close().catch(() => undefined);
    }
    await world?.close();
    await cluster.destroy();
  });

  test(`${CHANGES} changes, node 0 killed -9 after ${KILL_AFTER}: every event kept, every gateway gets every change`, async () => {
    const pub = world.publisher!.publisher;
    // Each gateway queue is a quorum queue with a replica (a Raft member) on each of the three nodes.
    const listed = JSON.parse(
      await cluster.ctl(1, "list_queues", "name", "type", "members", "--formatter", "json"),
    ) as { name: string; type: string; members: string[] }[];
    for (let i = 0; i < GATEWAYS; i++) {
      const q = listed.find((l) => l.name === world.queueOf(`g${i}`));
      assert.equal(q?.type, "quorum", `g${i}'s queue is a quorum queue`);
      assert.deepEqual([...(q?.members ?? [])].sort(), cluster.nodes.map((n) => n.node).sort());
    }
    let killedAt = 0;
    for (let n = 0; n < CHANGES; n++) {
      if (n === KILL_AFTER) {
        await cluster.kill9(0);
        killedAt = Date.now();
        console.log(`node ${cluster.nodes[0]!.node} killed after ${n} changes`);
      }
      await pub.deployApi(tinyApi(`Api${n % APIS}`, n + 1), [LABEL]);
      if (n % 10 === 9) await yieldToLoop();
    }
    // Every committed event confirmed by the cluster (the outbox keeps what was not, and resends it).
    await pollUntil(
      async () => (await pub.store.outboxDepth()) === 0,
      "the publisher's outbox to drain through the surviving nodes",
      SETTLE_TIMEOUT_MS,
    );
    const drainedMs = Date.now() - killedAt;

    // The witness queue holds an event for every change the store made.
    const seqs = new Set((await pub.store.changesSince(0, [LABEL], CHANGES * 2)).map((c) => c.seq));
    assert.equal(seqs.size, CHANGES);
    const ids = new Set<string>();
    const witnessed = new Set<number>();
    const ch = await witness.conn!.createChannel();
    for (;;) {
      const m = await ch.get(witness.queue, { noAck: true });
      if (m === false) break;
      if (m.properties.messageId) ids.add(String(m.properties.messageId));
      const seq = Number(m.properties.headers?.[HEADER_SEQ]);
      if (Number.isSafeInteger(seq)) witnessed.add(seq);
    }
    await ch.close();
    const missing = [...seqs].filter((s) => !witnessed.has(s));
    assert.deepEqual(missing, [], "every change's event is in the cluster (witness queue)");

    // Every gateway settles a delivery of every event, from its own quorum queue.
    for (const [i, gw] of gateways.entries()) {
      await waitFor(
        gw.events,
        "handled",
        () => [...ids].every((id) => settled[i]!.has(id)),
        `g${i} to settle all ${ids.size} events from its queue`,
        SETTLE_TIMEOUT_MS,
      );
    }
    for (let i = 0; i < GATEWAYS; i++) await world.waitConverged(`g${i}`, SETTLE_TIMEOUT_MS);
    const settledMs = Date.now() - killedAt;
    for (let i = 0; i < GATEWAYS; i++) assertClean(await world.judge(`g${i}`));
    const statuses = gateways.map((g, i) => `g${i}:${g.brokerStatus.state}`).join(" ");
    console.log(
      `${CHANGES} changes, ${ids.size} events witnessed; outbox drained ${drainedMs} ms and all ${GATEWAYS} gateways settled every event and converged ${settledMs} ms after the kill (${statuses})`,
    );
    // The two survivors still form a majority: the queues kept their quorum.
    const running = cluster.runningNodes(await cluster.ctl(1, "cluster_status", "--formatter", "json"));
    assert.equal(running.length, 2);
  });
});
