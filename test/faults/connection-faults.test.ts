import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CLOSE_TIMEOUT_MS } from "../../src/amqp/connection.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { Publisher } from "../../src/publisher/publisher.js";
import { FaultProxy } from "../harness/fault-proxy.js";
import { assertClean } from "../harness/invariants.js";
import { waitFor } from "../harness/wait.js";
import { FaultWorld, pollUntil, prng, tinyApi } from "./world.js";

const CUTS = 20;
const HEARTBEAT_SEC = 1;
/** The bound: a lost connection is noticed within 2 × heartbeat + 1 s. */
const DETECT_WITHIN_MS = 2 * HEARTBEAT_SEC * 1000 + 1000;
const RECONNECT_WITHIN_MS = 15_000;
const LABEL = "C";
const UPDATES_PER_CUT = 10;
const SETUP_RESETS = 12;
/** Resets in the middle of close(): each costs up to CLOSE_TIMEOUT_MS. */
const CLOSE_RESETS = 2;

/** Resolves with the ms from now until the gateway reports its broker connection lost. */
async function timeToDetect(gw: Gateway, fault: () => void): Promise<number> {
  const t0 = Date.now();
  let detected = 0;
  const done = waitFor(
    gw.events,
    "broker",
    () => {
      if (gw.brokerStatus.state !== "connected" && detected === 0) detected = Date.now();
      return detected > 0;
    },
    "the gateway to notice the lost connection",
    DETECT_WITHIN_MS * 4,
  );
  fault();
  await done;
  return detected - t0;
}

function connected(gw: Gateway): Promise<void> {
  return waitFor(
    gw.events,
    "broker",
    () => gw.brokerStatus.state === "connected",
    "the gateway to reconnect",
    RECONNECT_WITHIN_MS,
  );
}

describe("broker connection faults through a TCP fault proxy", () => {
  const world = new FaultWorld();
  const proxy = new FaultProxy({ host: "127.0.0.1", port: 5672 });
  let gw: Gateway;
  let n = 0;

  before(async () => {
    await world.startPublisher();
    await proxy.start();
    gw = await world.startGateway({
      name: "gw",
      labels: [LABEL],
      brokerPort: proxy.port,
      heartbeatSec: HEARTBEAT_SEC,
      catchUpMs: 0,
    });
  });
  after(async () => {
    await proxy.stop();
    await world.close();
  });

  const publish = async (count: number) => {
    const pub = world.publisher!.publisher;
    for (let i = 0; i < count; i++, n++) await pub.deployApi(tinyApi(`Api${n % 30}`, n), [LABEL]);
  };

  test(`${CUTS} connection resets, each with deliveries in flight: each noticed within ${DETECT_WITHIN_MS} ms, nothing lost`, async () => {
    const detections: number[] = [];
    for (let i = 0; i < CUTS; i++) {
      await publish(UPDATES_PER_CUT);
      // Cut while the deliveries of these updates are in flight.
      await waitFor(gw.events, "handled", () => true, "a delivery").catch(() => undefined);
      detections.push(await timeToDetect(gw, () => proxy.cut()));
      await publish(UPDATES_PER_CUT); // committed while the gateway is away: waits in its durable queue
      await connected(gw);
    }
    console.log(`resets noticed after ${detections.join(", ")} ms`);
    for (const d of detections) assert.ok(d <= DETECT_WITHIN_MS, `a reset noticed after ${d} ms`);
    await world.waitConverged("gw");
    assertClean(await world.judge("gw"));
  });

  test(`a silent blackhole (bytes dropped both ways, no RST) is noticed within 2 × heartbeat + 1 s = ${DETECT_WITHIN_MS} ms, and healed without loss`, async () => {
    const detections: number[] = [];
    for (let i = 0; i < 3; i++) {
      await publish(UPDATES_PER_CUT);
      detections.push(await timeToDetect(gw, () => proxy.blackhole()));
      await publish(UPDATES_PER_CUT);
      proxy.heal();
      await connected(gw);
    }
    console.log(`blackholes noticed after ${detections.join(", ")} ms`);
    for (const d of detections)
      assert.ok(d <= DETECT_WITHIN_MS, `a blackhole noticed after ${d} ms (heartbeat ${HEARTBEAT_SEC} s)`);
    await world.waitConverged("gw");
    assertClean(await world.judge("gw"));
  });

  test(`a reset at any moment of connecting (${SETUP_RESETS} tries, 0–30 ms in) never crashes the process nor wedges the connection`, async () => {
    const setupProxy = new FaultProxy({ host: "127.0.0.1", port: 5672 });
    await setupProxy.start();
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    try {
      const rnd = prng(11);
      for (let i = 0; i < SETUP_RESETS; i++) {
        const pub = new Publisher({
          config: world.parse(
            world.publisherToml({ brokerPort: setupProxy.port, heartbeatSec: 1 }),
            "publisher",
          ),
        });
        const connecting = pub.connect().catch(() => undefined);
        await new Promise((r) => setTimeout(r, Math.floor(rnd() * 30))); // the fault's moment, not a synchronisation
        const cutAt = Date.now();
        setupProxy.cut();
        // Connected after the cut: a connection the cut broke (mid-setup or just after) was replaced.
        const since = () => {
          const st = pub.brokerStatus;
          return st.state === "connected" ? st.since : 0;
        };
        await pollUntil(
          () => since() >= cutAt,
          `try ${i}: the publisher to connect again after a reset`,
          RECONNECT_WITHIN_MS,
        );
        await connecting;
        // And on a few tries a reset in the middle of close(): close() must still return (amqplib
        // settles it only on the broker's CloseOk).
        const t0 = Date.now();
        const closing = pub.close();
        if (i < CLOSE_RESETS) setupProxy.cut();
        await closing;
        assert.ok(Date.now() - t0 < CLOSE_TIMEOUT_MS + 2000, `close() returned after ${Date.now() - t0} ms`);
      }
      assert.deepEqual(uncaught, [], "no uncaught exception (an 'error' event nobody listened to)");
    } finally {
      process.removeListener("uncaughtException", onUncaught);
      await setupProxy.stop();
    }
  });

  test("with heartbeat_sec = 2, a blackhole is noticed within 2 × 2 + 1 = 5 s too", async () => {
    const hbProxy = new FaultProxy({ host: "127.0.0.1", port: 5672 });
    await hbProxy.start();
    try {
      const slow = await world.startGateway({
        name: "hb2",
        labels: [LABEL],
        brokerPort: hbProxy.port,
        heartbeatSec: 2,
        catchUpMs: 0,
      });
      const d = await timeToDetect(slow, () => hbProxy.blackhole());
      hbProxy.heal();
      console.log(`heartbeat 2 s: blackhole noticed after ${d} ms`);
      assert.ok(d <= 2 * 2000 + 1000, `noticed after ${d} ms`);
    } finally {
      await world.stopGateway("hb2");
      await hbProxy.stop();
    }
  });
});
