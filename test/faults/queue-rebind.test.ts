/**
 * A gateway's bindings lost while its connection stays up. The gateway declares its queues and binds
 * them when its connection is set up; a binding that disappears afterwards (an operator deletes and
 * re-creates the exchange, or a RabbitMQ 3.10 cluster's node-down clean-up races the re-declaration:
 * docs/production.md §5, test/faults/quorum-cluster.test.ts) left it receiving nothing until its next
 * reconnect: the catch-up repairs artifacts, but runtime events (token revocations) were lost. Now it
 * re-asserts its queues and bindings every rebind_interval_ms on the live connection.
 *
 * After the binding is removed, a revocation is published at once and again after each re-assert the
 * gateway reports; the test waits until one of them is applied. Before (no re-assert: the key is
 * left out of the configuration), none ever arrived and the wait timed out.
 * Real broker (5672), in-process services.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import amqp from "amqplib";
import { gatewayQueueNames } from "../../src/amqp/topology.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { BROKER_URL } from "../harness/broker.js";
import { counter, waitFor } from "../harness/wait.js";
import { FaultWorld, tinyApi } from "./world.js";

const LABEL = "R";
/** Short, so the test sees a few rounds (the default is 5 min). */
const REBIND_MS = 200;

describe("bindings re-asserted on a live connection", () => {
  const world = new FaultWorld();
  after(() => world.close());

  const revoke = (token: string) =>
    world.publisher!.publisher.emit({
      stream: "tokenRevocation",
      event: { revokedToken: token, expiryTime: 0, type: "JWT" },
    });

  /**
   * Publishes a revocation now and one more after each re-assert the gateway reports, until one of them
   * is applied: those published while the binding was missing are lost (runtime events are in no
   * changelog); one published after the binding is back arrives.
   */
  async function revocationArrives(gw: Gateway, what: string): Promise<{ published: number; lost: number }> {
    const tokens: string[] = [];
    const publish = () => {
      const token = `${world.id}-${what}-${tokens.length}`;
      tokens.push(token);
      void revoke(token);
    };
    const onRebind = (err: Error | undefined) => {
      if (err === undefined) publish();
    };
    const arrived = () => tokens.findIndex((t) => gw.runtime.revokedTokens.isRevoked(t) !== undefined);
    gw.events.on("rebind", onRebind);
    try {
      publish();
      await waitFor(gw.events, ["runtime", "handled"], () => arrived() >= 0, what);
    } finally {
      gw.events.removeListener("rebind", onRebind);
    }
    return { published: tokens.length, lost: arrived() };
  }

  test("the runtime queue's binding removed: revocations reach the gateway again after a re-assert, the connection staying up", async () => {
    await world.startPublisher();
    const gw = await world.startGateway({ name: "gw", labels: [LABEL], rebindMs: REBIND_MS });
    const bound = await revocationArrives(gw, "a revocation through the bound queue");
    assert.equal(bound.lost, 0, "the first revocation arrived: the queue was bound");
    const connects = counter(gw.events, "broker", (s) => (s as { state: string }).state === "connected");

    const admin = await amqp.connect(BROKER_URL);
    try {
      const ch = await admin.createChannel();
      await ch.unbindQueue(gatewayQueueNames(world.nodeId("gw")).runtime, world.exchange, "tokenRevocation");
      await ch.close();
    } finally {
      await admin.close();
    }
    const r = await revocationArrives(gw, "a revocation after the runtime queue's binding was removed");
    console.log(`binding removed: ${r.lost} revocation(s) lost before the re-assert, then one arrived`);
    assert.equal(connects.count, 0, "the connection stayed up: no reconnect bound the queue again");
    connects.stop();
  });

  test("the exchange deleted and declared again: every binding gone; revocations and deploy events arrive again after a re-assert", async () => {
    const gw = world.gateways.get("gw")!;
    const connects = counter(gw.events, "broker", (s) => (s as { state: string }).state === "connected");
    const admin = await amqp.connect(BROKER_URL);
    try {
      const ch = await admin.createChannel();
      await ch.deleteExchange(world.exchange);
      await ch.assertExchange(world.exchange, "topic", { durable: true });
      await ch.close();
    } finally {
      await admin.close();
    }
    const r = await revocationArrives(gw, "a revocation after the exchange was re-created");
    console.log(`exchange re-created: ${r.lost} revocation(s) lost before the re-assert, then one arrived`);
    // The artifact queue is bound again in the same re-assert (before the runtime queue): a deploy event
    // is delivered through it, not only caught up.
    const deliveries = counter(
      gw.events,
      "handled",
      (stream, kind) => stream === "notification" && kind === "ack",
    );
    await world.publisher!.publisher.deployApi(tinyApi("AfterRecreate", 1), [LABEL]);
    await waitFor(
      gw.events,
      "handled",
      () => deliveries.count >= 1,
      "a deploy event through the re-bound queue",
    );
    assert.equal(connects.count, 0, "the gateway's connection stayed up");
    connects.stop();
  });
});

describe("the control plane hears a gateway again after its exchange was deleted and declared again", () => {
  const world = new FaultWorld();
  after(() => world.close());

  test("the gateway's heartbeat channel, closed by a publish to the missing exchange, is opened again at its next heartbeat; the publisher binds its heartbeat and report queues again; no reconnect", async () => {
    const svc = await world.startPublisher();
    const pub = svc.publisher;
    // No periodic re-assert on either side (default: 5 min): the test calls each one itself.
    const gw = await world.startGateway({ name: "hb", labels: [LABEL] });
    let closedHeartbeat = false;
    const reopened: string[] = [];
    gw.events.on("side-channel", (channel, state) => {
      if (channel === "heartbeat" && state === "closed") closedHeartbeat = true;
      if (state === "reopened") reopened.push(channel);
    });
    const node = world.nodeId("hb");
    const heartbeats = counter(pub.events, "heartbeat", (hb) => (hb as { nodeId: string }).nodeId === node);
    await waitFor(pub.events, "heartbeat", () => heartbeats.count >= 1, "a first heartbeat from the gateway");
    const connects = counter(gw.events, "broker", (s) => (s as { state: string }).state === "connected");
    const publisherSince = (pub.brokerStatus as { since?: number }).since;

    const admin = await amqp.connect(BROKER_URL);
    try {
      const ch = await admin.createChannel();
      await ch.deleteExchange(world.exchange);
      // The gateway's next heartbeat is published to an exchange that does not exist: the broker closes
      // that channel (404). Before, the gateway published nothing more on it until it reconnected.
      await waitFor(
        gw.events,
        "side-channel",
        () => closedHeartbeat,
        "the gateway's heartbeat channel to be closed by the broker",
        30_000,
      );
      await ch.assertExchange(world.exchange, "topic", { durable: true });
      await ch.close();
    } finally {
      await admin.close();
    }
    // The publisher's heartbeat and report queues lost their bindings with the exchange.
    const rebound = new Promise<Error | undefined>((resolve) => pub.events.once("rebind", resolve));
    await pub.reassertBindings();
    assert.equal(await rebound, undefined, "the publisher bound its queues again");
    const before = heartbeats.count;
    await waitFor(
      pub.events,
      "heartbeat",
      () => heartbeats.count > before,
      "a heartbeat from the gateway after the exchange was declared again",
      30_000,
    );
    assert.ok(reopened.includes("heartbeat"), "the gateway opened its heartbeat channel again");

    // Its own queues are bound again too (Gateway.reassertQueues), so a deploy reaches it, and its
    // report of the deploy reaches the publisher.
    await gw.reassertQueues();
    const reports = counter(pub.events, "report", (r) => (r as { nodeId: string }).nodeId === node);
    await pub.deployApi(tinyApi("AfterExchange", 1), [LABEL]);
    await waitFor(
      pub.events,
      "report",
      () => reports.count >= 1,
      "the gateway's report of the deploy",
      30_000,
    );
    assert.equal(connects.count, 0, "the gateway did not reconnect");
    assert.equal(
      (pub.brokerStatus as { since?: number }).since,
      publisherSince,
      "the publisher did not reconnect",
    );
    heartbeats.stop();
    reports.stop();
    connects.stop();
  });
});
