import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import amqp from "amqplib";
import { encodeTokenRevocation } from "../../src/events/encode.js";
import { TOPICS } from "../../src/events/topics.js";
import { BROKER_URL, cleanupBroker, publishRaw } from "../harness/broker.js";
import { TestCluster, waitForBroker } from "../harness/cluster.js";
import { waitFor } from "../harness/wait.js";

async function messageCounts(queues: string[]): Promise<number[]> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    const counts: number[] = [];
    for (const q of queues) counts.push((await ch.checkQueue(q)).messageCount);
    return counts;
  } finally {
    await conn.close();
  }
}

async function revoke(exchange: string, token: string): Promise<void> {
  const e = encodeTokenRevocation({ revokedToken: token, expiryTime: 0, type: "JWT" });
  await publishRaw(exchange, "tokenRevocation", [e.body], { messageId: () => e.eventId });
}

describe("a gateway's queues: the artifact stream and the runtime streams apart", () => {
  const cluster = new TestCluster();
  before(() => cluster.startPublisher());
  after(() => cluster.close());

  test("a queue left by an earlier gwsync (all four streams bound to it) loses its runtime bindings; what waits in it is still applied", async () => {
    const gw = cluster.makeGateway({ name: "upgraded", labels: ["Q"] });
    const { artifacts, runtime, deadLetter } = gw.queues;
    assert.deepEqual(
      [artifacts, runtime, deadLetter],
      [gw.queueName, `${gw.queueName}.runtime`, `${gw.queueName}.dead-letter`],
    );
    // The earlier layout: one queue for every stream, with a revocation already waiting in it.
    const g = gw.config.gwsync;
    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createChannel();
    await ch.assertQueue(artifacts, {
      durable: true,
      arguments: {
        "x-expires": g.queueExpiresMs,
        "x-max-length": g.queueMaxLength,
        "x-queue-type": "classic",
      },
    });
    for (const key of TOPICS) await ch.bindQueue(artifacts, cluster.exchange, key);
    await conn.close();
    const waiting = `waiting-${cluster.id}`;
    await revoke(cluster.exchange, waiting);
    assert.deepEqual(await messageCounts([artifacts]), [1]);

    await gw.start();
    await waitForBroker(gw);
    await waitFor(
      gw.events,
      ["runtime", "handled"],
      () => gw.runtime.revokedTokens.isRevoked(waiting) !== undefined,
      "the revocation left in the old queue",
    );
    await cluster.stopGateway("upgraded");

    // From now on a revocation reaches the runtime queue only: once, not once per queue.
    await revoke(cluster.exchange, `after-${cluster.id}`);
    assert.deepEqual(await messageCounts([artifacts, runtime]), [0, 1]);
    await cleanupBroker({ queues: [artifacts, runtime, deadLetter] });
  });
});
