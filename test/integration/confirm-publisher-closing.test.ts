/**
 * A renewed connection (BrokerConnection.renew after a nack streak) is closing until the broker's
 * CloseOk is read: on the real amqplib and RabbitMQ, a publish meanwhile throws at once. The
 * ConfirmPublisher must then report not ready, so the outbox dispatcher waits for the next channel
 * instead of retrying in a loop of promises that never lets the event loop read that CloseOk (the
 * publisher froze so in the quorum-cluster fault test; test/unit/publisher-outbox-pipeline.test.ts
 * has the dispatcher's side).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import amqp from "amqplib";
import { ConfirmPublisher, type OutgoingMessage } from "../../src/amqp/confirm-publisher.js";
import { isGwsyncError } from "../../src/errors.js";
import { BROKER_URL } from "../harness/broker.js";

const message: OutgoingMessage = {
  exchange: "amq.topic",
  routingKey: "gwsync.test.unrouted",
  body: Buffer.from("x"),
  options: {},
};

test("real amqplib: a publish on a connection that is closing fails at once and the publisher is not ready until a new channel", async () => {
  const conn = await amqp.connect(BROKER_URL, { noDelay: true });
  const publisher = new ConfirmPublisher({ confirmTimeoutMs: 5000 });
  publisher.attach(await conn.createConfirmChannel());
  await publisher.publishAll([message]);
  assert.equal(publisher.ready, true);
  const closing = conn.close();
  await assert.rejects(publisher.publishAll([message]), (err: unknown) =>
    isGwsyncError(err, "GWSYNC_BROKER_UNREACHABLE"),
  );
  assert.equal(publisher.ready, false, "not ready while the connection is closing");
  await closing;
  assert.equal(publisher.ready, false);
  const next = await amqp.connect(BROKER_URL, { noDelay: true });
  try {
    publisher.attach(await next.createConfirmChannel());
    await publisher.publishAll([message]);
    assert.equal(publisher.ready, true, "the next channel publishes");
  } finally {
    await next.close();
  }
});
