import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { FaultControlPlane } from "../harness/fault-http.js";
import { FaultProxy } from "../harness/fault-proxy.js";
import { assertClean } from "../harness/invariants.js";
import { waitFor } from "../harness/wait.js";
import { FaultWorld, PASSWORD, tinyApi, USER } from "./world.js";

const OUTAGE_MS = 60_000;
const APIS = 50;
const LABEL = "O";
/** Async mode is ready at once: start() must resolve without waiting for the control plane. */
const READY_AT_ONCE_MS = 2_000;
const auth = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;

describe("control plane and broker gone for 60 s while a gateway restarts", () => {
  const world = new FaultWorld();
  const cp = new FaultControlPlane(() => world.publisherUrl);
  const broker = new FaultProxy({ host: "127.0.0.1", port: 5672 });
  after(async () => {
    await cp.down();
    await broker.stop();
    await world.close();
  });

  test(`the restarted gateway serves last-known-good, is ready at once (async), and catches up after ${OUTAGE_MS / 1000} s`, async () => {
    const svc = await world.startPublisher();
    const pub = svc.publisher;
    await cp.up();
    await broker.start();
    const spec = {
      name: "gw",
      labels: [LABEL],
      mode: "async" as const,
      serviceUrl: cp.url,
      brokerPort: broker.port,
      heartbeatSec: 1,
      retryMs: 100,
      maxRetries: 3,
      maxRetryDelayMs: 2_000,
      catchUpMs: 5_000,
    };
    await world.startGateway(spec);
    const ids: string[] = [];
    for (let i = 0; i < APIS; i++) ids.push((await pub.deployApi(tinyApi(`Api${i}`, 1), [LABEL])).apiId);
    await world.waitConverged("gw");
    await world.stopGateway("gw");
    const lastKnownGood = await world.withTruth(async (s) =>
      (await s.listArtifacts({ label: LABEL })).map((a) => `${a.apiId}:${a.sha256}`).sort(),
    );

    // The outage: the control plane stops listening, the broker refuses connections.
    const t0 = Date.now();
    await cp.down();
    broker.refuse();
    // The control plane's database keeps committing (another node of it, say): updates, a new API, a removal.
    for (let i = 0; i < 10; i++) await pub.deployApi(tinyApi(`Api${i}`, 2), [LABEL]);
    await pub.deployApi(tinyApi("NewDuringOutage", 1), [LABEL]);
    await pub.removeApi(ids[APIS - 1]!, [LABEL]);

    const started = Date.now();
    const gw = await world.startGateway(spec, {}, false);
    const startMs = Date.now() - started;
    assert.ok(gw.ready, "async mode: ready as soon as start() returns");
    assert.ok(
      startMs < READY_AT_ONCE_MS,
      `start() took ${startMs} ms with the control plane and broker gone`,
    );
    const held = () =>
      gw.deployer
        .deployed()
        .map((d) => `${d.apiId}:${d.sha256}`)
        .sort();
    assert.deepEqual(held(), lastKnownGood, "serving last-known-good from the state file");
    await waitFor(
      gw.events,
      "startup",
      () => gw.startup.phase === "stale",
      "the startup deployment to give up and report stale",
      30_000,
    );
    const readyz = await fetch(`${gw.httpUrl}/readyz`);
    assert.equal(readyz.status, 200);
    assert.match(JSON.stringify(await readyz.json()), /stale/);
    const apis = (await (
      await fetch(`${gw.httpUrl}/api/v1/apis`, { headers: { authorization: auth } })
    ).json()) as { count: number };
    assert.equal(apis.count, APIS, "the state API lists the last-known-good APIs");

    // The outage lasts its full minute: the duration is the fault under test, not a synchronisation.
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - t0))));
    assert.deepEqual(held(), lastKnownGood, `still serving last-known-good after ${OUTAGE_MS / 1000} s`);
    assert.equal(gw.brokerStatus.state === "connected", false);

    await cp.up();
    broker.heal();
    await waitFor(
      gw.events,
      "broker",
      () => gw.brokerStatus.state === "connected",
      "the broker connection to come back",
      30_000,
    );
    await world.waitConverged("gw", 60_000);
    // The reconnect's catch-up may converge before the background startup round (≤ 2 s apart) runs
    // again; that round must then complete too.
    await waitFor(
      gw.events,
      "startup",
      () => gw.startup.phase === "done",
      "the startup deployment to complete once the control plane was back",
      30_000,
    );
    console.log(
      `outage ${Date.now() - t0} ms; restart took ${startMs} ms; ${cp.seen.length} control-plane requests seen`,
    );
    assertClean(await world.judge("gw"));
  });
});
