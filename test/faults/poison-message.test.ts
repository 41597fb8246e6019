import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { after, describe, test } from "node:test";
import { HEADER_REJECT_REASON } from "../../src/amqp/consumer.js";
import { deadLetterQueueName } from "../../src/amqp/topology.js";
import { deployApiEvent, encodeNotification } from "../../src/events/encode.js";
import { drainQueueUntil } from "../harness/broker.js";
import { FaultControlPlane } from "../harness/fault-http.js";
import { assertClean } from "../harness/invariants.js";
import { counter, waitFor } from "../harness/wait.js";
import { FaultWorld, publishMessages, tinyApi } from "./world.js";

const VALID = 999;
const MAX_DELIVERIES = 5;
const LABEL = "Q";
const BATCH = 50;

for (const queueType of ["classic", "quorum"] as const) {
  describe(`poison message (${queueType} queue)`, () => {
    const world = new FaultWorld();
    const cp = new FaultControlPlane(() => world.publisherUrl);
    after(async () => {
      await cp.down();
      await world.close();
    });

    test(`a poison message among ${VALID + 1} is dead-lettered after at most ${MAX_DELIVERIES} deliveries and the ${VALID} valid ones are applied`, async () => {
      const svc = await world.startPublisher();
      await cp.up();
      // The poison: a well-formed event for an API whose fetch fails every time (a retryable 500).
      const poisonApi = randomUUID();
      cp.rule = ({ apiId }) => (apiId === poisonApi ? "error" : "forward");
      const gw = await world.startGateway({
        name: "gw",
        labels: [LABEL],
        serviceUrl: cp.url,
        queueType,
        maxDeliveries: MAX_DELIVERIES,
        retryMs: 5,
        maxRetries: 1,
      });
      const enc = encodeNotification(
        deployApiEvent({
          uuid: poisonApi,
          name: "Poison",
          version: "1.0.0",
          provider: "admin",
          context: "/poison",
          gatewayLabels: [LABEL],
        }),
      );
      const deliveries = counter(gw.events, "handled", (_stream, _kind, id) => id === enc.eventId);
      const deployed = counter(gw.events, "applied", (outcome) => outcome === "deployed");
      const rejected = counter(gw.events, "rejected");

      const pub = svc.publisher;
      for (let i = 0; i < VALID; i++) {
        await pub.deployApi(tinyApi(`Valid${i}`, i), [LABEL]);
        if (i === Math.floor(VALID / 2)) {
          await publishMessages(world.exchange, [
            { topic: "notification", messageId: enc.eventId, body: enc.body, headers: {} },
          ]);
        }
        if (i % BATCH === 0) await yieldToLoop();
      }
      await waitFor(
        gw.events,
        "rejected",
        () => rejected.count >= 1,
        "the poison message to be dead-lettered",
        60_000,
      );
      await world.waitConverged("gw");

      assert.ok(
        deliveries.count >= 1 && deliveries.count <= MAX_DELIVERIES,
        `poison delivered ${deliveries.count} times (1..${MAX_DELIVERIES})`,
      );
      assert.equal(rejected.count, 1, "exactly one message dead-lettered");
      assert.equal(deployed.count, VALID, `the ${VALID} valid APIs applied, each once`);
      const dead = await drainQueueUntil(deadLetterQueueName(gw.queueName), 1);
      const poison = dead.filter((d) => d.headers[HEADER_REJECT_REASON] !== undefined);
      assert.equal(poison.length, 1, "one copy in the dead-letter queue");
      assert.match(String(poison[0]!.headers[HEADER_REJECT_REASON]), /gave up after \d+ deliveries/);
      console.log(
        `${queueType}: poison delivered ${deliveries.count} times, ${cp.requestsFor(poisonApi).length} fetches; reason: ${String(poison[0]!.headers[HEADER_REJECT_REASON]).slice(0, 100)}`,
      );
      assertClean(await world.judge("gw"));
    });
  });
}
