import assert from "node:assert/strict";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { FAULT_BROKER_PORT, FaultBroker } from "../harness/fault-broker.js";
import { assertClean } from "../harness/invariants.js";
import { counter, waitFor } from "../harness/wait.js";
import { FaultWorld, pollUntil, tinyApi } from "./world.js";

const STOP_STARTS = 5;
const KILLS = 3;
const APIS = 100;
/** Updates committed around each broker fault (before it, and while the broker is away). */
const UPDATES_PER_FAULT = 150;
const LABEL = "B";
const BATCH = 25;
/** A killed node reboots in about 10 s here; the services' reconnect backoff adds up to 10 s. */
const RECONNECT_TIMEOUT_MS = 90_000;

describe("broker stop/start and kill -9 during a burst (the fault suite's own node)", () => {
  const broker = new FaultBroker();
  const world = new FaultWorld(FAULT_BROKER_PORT);
  let gw: Gateway;
  let n = 0;

  before(async () => {
    await broker.start();
    await world.startPublisher({ heartbeatSec: 1 });
    gw = await world.startGateway({
      name: "gw",
      labels: [LABEL],
      heartbeatSec: 1,
      retryMs: 50,
      maxRetries: 5,
    });
  });
  after(async () => {
    await world.close();
    await broker.destroy();
  });

  /** Commit updates in small batches, letting the event loop run (the publisher's REST API serves fetches). */
  async function burst(count: number): Promise<void> {
    const pub = world.publisher!.publisher;
    for (let i = 0; i < count; i++, n++) {
      await pub.deployApi(tinyApi(`Api${n % APIS}`, n), [LABEL]);
      if (i % BATCH === BATCH - 1) await yieldToLoop();
    }
  }

  function reconnected(): Promise<void> {
    return waitFor(
      gw.events,
      "broker",
      () => gw.brokerStatus.state === "connected",
      "the gateway to reconnect",
      RECONNECT_TIMEOUT_MS,
    );
  }

  test(`${STOP_STARTS} broker stop/starts and ${KILLS} kill -9s, each during a burst of updates: nothing committed is lost`, async () => {
    const faults: string[] = [];
    const order = ["kill", "stop", "kill", "stop", "kill", "stop", "stop", "stop"] as const;
    for (const kind of order) {
      const handled = counter(gw.events, "handled");
      await burst(UPDATES_PER_FAULT);
      // Fault while deliveries of the burst are in flight.
      await waitFor(gw.events, "handled", () => handled.count >= 1, "the burst to start arriving");
      handled.stop();
      const t0 = Date.now();
      if (kind === "stop") await broker.stopApp();
      else await broker.kill9();
      // Committed while the broker is away: held in the outbox until it is back.
      await burst(UPDATES_PER_FAULT / 3);
      if (kind === "stop") await broker.startApp();
      else await broker.start();
      await reconnected();
      faults.push(`${kind}:${Date.now() - t0}ms`);
      console.log(`fault ${faults.length}: ${faults.at(-1)}`);
    }
    assert.equal(faults.filter((f) => f.startsWith("kill")).length, KILLS);
    assert.equal(faults.filter((f) => f.startsWith("stop")).length, STOP_STARTS);
    await world.waitConverged("gw", RECONNECT_TIMEOUT_MS);
    await pollUntil(
      async () => (await world.publisher!.publisher.store.outboxDepth()) === 0,
      "the publisher's outbox to drain",
    );
    assert.equal(
      await world.publisher!.publisher.store.outboxDepth(),
      0,
      "every committed event was confirmed by the broker",
    );
    console.log(`faults (kind: down → gateway reconnected): ${faults.join(" ")}`);
    assertClean(await world.judge("gw"));
  });
});
