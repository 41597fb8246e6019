import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { authHeader, synapseApi, TestCluster } from "../harness/cluster.js";
import { FlakyControlPlane } from "../harness/http-proxy.js";
import { CHANGED, waitFor } from "../harness/wait.js";

const API_COUNT = 500;

function countApiFiles(dir: string): number {
  try {
    return readdirSync(join(dir, "api")).filter((f) => f.endsWith(".xml")).length;
  } catch {
    return 0;
  }
}

describe("gateway startup: sync and async modes", () => {
  const cluster = new TestCluster();

  before(async () => {
    const svc = await cluster.startPublisher();
    for (let i = 0; i < API_COUNT; i++)
      await svc.publisher.deployApi(synapseApi({ name: `Bulk${i}`, size: 1500 }), ["S"]);
  });
  after(() => cluster.close());

  test(`a sync gateway is not ready until its ${API_COUNT} APIs are on disk; an async one is ready first`, async () => {
    const sync = cluster.makeGateway({ name: "sync", labels: ["S"], mode: "sync" });
    const notReadyDuringLoad: boolean[] = [];
    const asyncGw = cluster.makeGateway({ name: "async", labels: ["S"], mode: "async" });
    const syncWithProgress = cluster.makeGateway(
      { name: "sync2", labels: ["S"], mode: "sync" },
      { onStartupProgress: () => notReadyDuringLoad.push(syncWithProgressReady()) },
    );
    const syncWithProgressReady = () => syncWithProgress.ready;

    await asyncGw.start();
    assert.equal(asyncGw.ready, true, "async gateway is ready as soon as start() returns");
    assert.ok(
      asyncGw.deployer.deployed().length < API_COUNT,
      "async gateway was ready before its startup deployment finished",
    );

    await sync.start();
    assert.equal(sync.ready, true);
    assert.equal(
      countApiFiles(cluster.deploymentDir("sync")),
      API_COUNT,
      "all files are on disk when sync start() returns",
    );
    const readyz = await fetch(`${sync.httpUrl}/readyz`);
    assert.equal(readyz.status, 200);
    assert.equal(((await readyz.json()) as Record<string, unknown>).status, "ready");

    await syncWithProgress.start();
    assert.ok(notReadyDuringLoad.length >= API_COUNT);
    assert.ok(
      notReadyDuringLoad.every((r) => r === false),
      "sync gateway reported not ready during its startup deployment",
    );

    await waitFor(
      asyncGw.events,
      CHANGED,
      () => asyncGw.deployer.deployed().length === API_COUNT,
      "async gateway to finish",
    );
    assert.equal(countApiFiles(cluster.deploymentDir("async")), API_COUNT);
  });

  test("the data API pages a label's artifacts by API id (limit/after), WSO2's one-shot shape otherwise", async () => {
    const base = `${cluster.publisher!.httpUrl}/internal/data/v1/runtime-artifacts?gatewayLabel=S`;
    const all = (await (await fetch(base, { headers: { authorization: authHeader() } })).json()) as {
      count: number;
    };
    assert.equal(all.count, API_COUNT);
    const ids = new Set<string>();
    let after = "";
    for (let pages = 0; pages < 10; pages++) {
      const res = await fetch(`${base}&limit=200${after ? `&after=${after}` : ""}`, {
        headers: { authorization: authHeader() },
      });
      const body = (await res.json()) as {
        count: number;
        gwsync: { items: { apiId: string }[]; next?: string };
      };
      for (const i of body.gwsync.items) ids.add(i.apiId);
      if (!body.gwsync.next) break;
      after = body.gwsync.next;
    }
    assert.equal(ids.size, API_COUNT, "every API exactly once across the pages");
  });

  test("readyz of a gateway is public, its API needs credentials", async () => {
    const gw = cluster.gateways.get("sync")!;
    assert.equal((await fetch(`${gw.httpUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${gw.httpUrl}/api/v1/apis`)).status, 401);
    const res = await fetch(`${gw.httpUrl}/api/v1/apis`, { headers: { authorization: authHeader() } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as Record<string, unknown>).count, API_COUNT);
  });
});

describe("gateway startup with the control plane down", () => {
  const cluster = new TestCluster();
  const cp = new FlakyControlPlane(() => cluster.publisherUrl);

  before(async () => {
    const svc = await cluster.startPublisher();
    for (let i = 0; i < 20; i++) await svc.publisher.deployApi(synapseApi({ name: `Late${i}` }), ["D"]);
  });
  after(async () => {
    await cp.down();
    await cluster.close();
  });

  test("a sync gateway retries on the configured schedule and deploys once the control plane is back", async () => {
    await cp.reservePort();
    const realUrl = cluster.publisherUrl;
    cluster.publisherUrl = cp.url;
    const retryMs = 30;
    const gw = cluster.makeGateway({ name: "late", labels: ["D"], mode: "sync", retryMs, maxRetries: 6 });
    cluster.publisherUrl = realUrl;
    const attempts: number[] = [];
    gw.events.on("fetch-retry", () => {
      attempts.push(Date.now());
      // After three failed attempts the control plane comes back.
      if (attempts.length === 3) void cp.up();
    });
    const t0 = Date.now();
    await gw.start();
    assert.equal(gw.startup.phase, "done", "deployed within the retries once the control plane was back");
    assert.equal(gw.deployer.deployed().length, 20);
    assert.ok(attempts.length >= 3);
    // Waits grow by the progression factor: wait n ≥ retryMs × 2^(n-1) (jitter only lengthens it).
    const starts = [t0, ...attempts];
    for (let n = 1; n < attempts.length; n++) {
      const wait = starts[n + 1]! - starts[n]!;
      assert.ok(
        wait >= retryMs * 2 ** (n - 1) - 5,
        `wait ${n} was ${wait} ms, expected ≥ ${retryMs * 2 ** (n - 1)}`,
      );
    }
  });

  test("a gateway whose retries are spent starts stale from last-known-good and catches up later", async () => {
    await cp.down();
    await cluster.stopGateway("late");
    const realUrl = cluster.publisherUrl;
    cluster.publisherUrl = cp.url;
    // Same node as before: its state file is its last-known-good.
    const gw = cluster.makeGateway({ name: "late", labels: ["D"], mode: "sync", retryMs: 10, maxRetries: 2 });
    cluster.publisherUrl = realUrl;
    await gw.start();
    assert.equal(gw.startup.phase, "stale");
    assert.equal(gw.ready, true);
    assert.equal(gw.deployer.deployed().length, 20, "serves what it deployed before");
    const readyz = await fetch(`${gw.httpUrl}/readyz`);
    const stale = (await readyz.json()) as Record<string, unknown>;
    assert.equal(stale.status, "stale");
    // No "idle" here: when the broker connection comes up after the startup load gave up (under load it
    // can), that connect starts a catch-up of its own (src/gateway/gateway.ts, conn.on("connect")), and
    // against the control plane that is down it is still running (seen twice under load). Both ways the
    // catch-up below joins or starts one, and "idle" is checked once it has ended.
    assert.ok(stale.catchUp === "idle" || stale.catchUp === "running", String(stale.catchUp));
    // A catch-up against the control plane that is down keeps retrying: /readyz says it runs.
    const catching = gw.catchUp();
    const during = (await (await fetch(`${gw.httpUrl}/readyz`)).json()) as Record<string, unknown>;
    assert.equal(during.catchUp, "running");
    await cluster.publisher!.publisher.deployApi(synapseApi({ name: "WhileDown" }), ["D"]);
    await cp.up();
    await waitFor(
      gw.events,
      CHANGED,
      () => gw.deployer.deployed().length === 21 && gw.startup.phase === "done",
      "the background retry to deploy what changed while the control plane was down",
    );
    await catching;
    const after = (await (await fetch(`${gw.httpUrl}/readyz`)).json()) as Record<string, unknown>;
    assert.equal(after.catchUp, "idle");
  });
});
