import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { toGatewayApiDto } from "../../src/publisher/artifact-input.js";
import { cleanupBroker } from "../harness/broker.js";
import { FaultControlPlane } from "../harness/fault-http.js";
import { FaultProxy } from "../harness/fault-proxy.js";
import { assertClean } from "../harness/invariants.js";
import { counter, waitFor } from "../harness/wait.js";
import { FaultWorld, pollUntil, tinyApi } from "./world.js";

const APIS = 200;
const LABEL = "U";
const CATCH_UP_MS = 300;

describe("catch-up by changelog sequence", () => {
  const world = new FaultWorld();
  const cp = new FaultControlPlane(() => world.publisherUrl);
  const broker = new FaultProxy({ host: "127.0.0.1", port: 5672 });
  let gw: Gateway;
  const ids: string[] = [];

  before(async () => {
    const svc = await world.startPublisher();
    for (let i = 0; i < APIS; i++)
      ids.push((await svc.publisher.deployApi(tinyApi(`Api${i}`, 1), [LABEL])).apiId);
    await cp.up();
    await broker.start();
    gw = await world.startGateway({
      name: "gw",
      labels: [LABEL],
      serviceUrl: cp.url,
      brokerPort: broker.port,
      heartbeatSec: 1,
      catchUpMs: 0,
    });
    await world.waitConverged("gw");
  });
  after(async () => {
    await cp.down();
    await broker.stop();
    await world.close();
  });

  /** What the gateway asked the control plane since `from`: changelog reads, single fetches, full listings. */
  function asked(from: number) {
    const reqs = cp.seen.slice(from);
    return {
      changes: reqs.filter((r) => r.path.endsWith("/changes")).length,
      fetched: new Set(
        reqs.filter((r) => r.path.endsWith("/runtime-artifacts") && r.apiId).map((r) => r.apiId),
      ),
      listings: reqs.filter((r) => r.path.endsWith("/runtime-artifacts") && !r.apiId).length,
    };
  }

  test("after a reconnect whose queue lost its messages, the gateway (no timer) catches up by changelog and fetches only what changed", async () => {
    const pub = world.publisher!.publisher;
    broker.refuse();
    await waitFor(
      gw.events,
      "broker",
      () => gw.brokerStatus.state !== "connected",
      "the gateway to lose the broker",
    );
    const changed = [ids[0]!, ids[1]!, ids[2]!, ids[3]!, ids[4]!];
    for (let i = 0; i < changed.length; i++) await pub.deployApi(tinyApi(`Api${i}`, 2), [LABEL]);
    const added = (await pub.deployApi(tinyApi("AddedWhileAway", 1), [LABEL])).apiId;
    const added2 = (await pub.deployApi(tinyApi("AddedWhileAway2", 1), [LABEL])).apiId;
    const removed = ids[APIS - 1]!;
    await pub.removeApi(removed, [LABEL]);
    await pollUntil(async () => (await pub.store.outboxDepth()) === 0, "the events to reach the broker");
    // The queue overflowed or expired while the gateway was away: its events are gone.
    await cleanupBroker({ queues: [gw.queueName] });
    const from = cp.seen.length;
    const deployed = counter(gw.events, "applied", (o) => o === "deployed");
    const removedCount = counter(gw.events, "applied", (o) => o === "removed");
    broker.heal();
    await world.waitConverged("gw");
    const a = asked(from);
    assert.equal(a.listings, 0, "never a full listing (no redeploy of everything)");
    assert.ok(a.changes >= 1, "the changelog was read");
    assert.deepEqual(
      [...a.fetched].sort(),
      [...changed, added, added2, removed].sort(),
      "fetched exactly the changed APIs",
    );
    assert.equal(deployed.count, changed.length + 2);
    assert.equal(removedCount.count, 1);
    // The gauge follows deploys and removals made by the catch-up, not only those made by events.
    assert.equal(gw.deployer.size, APIS + 1);
    assert.equal((await gw.metrics.registry.getSingleMetric("gwsync_deployed_apis")?.get())?.values[0]?.value, APIS + 1);
    assertClean(await world.judge("gw"));
  });

  test(`a change that was never announced arrives by the catch-up timer (${CATCH_UP_MS} ms), alone`, async () => {
    const pub = world.publisher!.publisher;
    const timed = await world.startGateway({
      name: "timed",
      labels: [LABEL],
      serviceUrl: cp.url,
      catchUpMs: CATCH_UP_MS,
    });
    await world.waitConverged("timed");
    const from = cp.seen.length;
    const dto = toGatewayApiDto(tinyApi("Api10", 3));
    // Committed with no outbox row: no event will ever say it changed.
    const r = await pub.store.saveArtifact({ dto, labels: [LABEL], instruction: "Publish" }, () => []);
    await waitFor(
      timed.events,
      "applied",
      () => timed.deployer.get(r.apiId)?.sha256 === r.sha256,
      "the timer's catch-up to apply it",
      CATCH_UP_MS * 20,
    );
    const a = asked(from);
    assert.deepEqual([...a.fetched], [r.apiId], "only the changed API was fetched");
    assert.equal(a.listings, 0);
    assert.notEqual(
      gw.deployer.get(r.apiId)?.sha256,
      r.sha256,
      "the gateway without a timer has not seen it: no event was sent",
    );
    assertClean(await world.judge("timed"));
  });
});
