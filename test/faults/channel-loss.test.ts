/**
 * A channel the broker closes while the connection stays up (src/amqp/connection.ts, SetupLink). amqplib
 * never reopens a channel: before, a gateway whose queue an operator deleted stopped consuming (the
 * broker cancels the consumer), and a publisher whose exchange was deleted lost its confirm channel at
 * the next publish (404 NOT_FOUND) and stopped publishing, both still showing "connected" until the
 * connection itself dropped, which on a healthy broker is never. Now the connection is closed and set
 * up again on the same broker: the queue and the exchange are declared again and work resumes.
 * Real broker (5672), in-process services.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import amqp from "amqplib";
import { BROKER_URL } from "../harness/broker.js";
import { counter, waitFor } from "../harness/wait.js";
import { FaultWorld, pollUntil, tinyApi } from "./world.js";

const LABEL = "C";

describe("a channel the broker closes while the connection stays up", () => {
  const world = new FaultWorld();
  after(() => world.close());

  test("the gateway's queue deleted: the consumer cancelled, the queue declared again and consumed from", async () => {
    const svc = await world.startPublisher();
    const pub = svc.publisher;
    const gw = await world.startGateway({ name: "gw", labels: [LABEL] });
    await pub.deployApi(tinyApi("Before", 1), [LABEL]);
    await world.waitConverged("gw");

    const states: string[] = [];
    gw.events.on("broker", (s: { state: string }) => states.push(s.state));
    const admin = await amqp.connect(BROKER_URL);
    try {
      const ch = await admin.createChannel();
      await ch.deleteQueue(world.queueOf("gw"));
      await waitFor(
        gw.events,
        "broker",
        () => states.includes("disconnected") && gw.brokerStatus.state === "connected",
        "the gateway to set its connection up again after its queue was deleted",
      );
      // The queue is back (checkQueue closes the channel with 404 if it is not).
      const q = await ch.checkQueue(world.queueOf("gw"));
      assert.equal(q.consumerCount, 1, "the gateway consumes from its queue again");
      await ch.close();
    } finally {
      await admin.close();
    }

    // An event after the re-setup arrives through the queue (a delivery settled), not only by catch-up.
    const deliveries = counter(
      gw.events,
      "handled",
      (stream, kind) => stream === "notification" && kind === "ack",
    );
    await pub.deployApi(tinyApi("After", 2), [LABEL]);
    await waitFor(gw.events, "handled", () => deliveries.count >= 1, "a delivery from the redeclared queue");
    await world.waitConverged("gw");
  });

  test("the exchange deleted: the publisher's confirm channel closed at the next publish, set up again, and the outbox drains", async () => {
    const pub = world.publisher!.publisher;
    const admin = await amqp.connect(BROKER_URL);
    try {
      const ch = await admin.createChannel();
      await ch.deleteExchange(world.exchange);
      await ch.close();
    } finally {
      await admin.close();
    }
    for (let i = 0; i < 5; i++) await pub.deployApi(tinyApi(`NoExchange${i}`, 3 + i), [LABEL]);
    // Before: the confirm channel stayed closed (ready false) and these rows waited for ever.
    await pollUntil(
      async () => (await pub.store.outboxDepth()) === 0,
      "the publisher's outbox to drain once its channel was set up again",
    );
    const admin2 = await amqp.connect(BROKER_URL);
    try {
      const ch = await admin2.createChannel();
      await ch.checkExchange(world.exchange);
      await ch.close();
    } finally {
      await admin2.close();
    }
    assert.equal(pub.brokerStatus.state, "connected");
  });
});
