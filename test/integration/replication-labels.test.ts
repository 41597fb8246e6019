/**
 * An API that moves between labels on the master (published to Y, removed from X: what WSO2 does when
 * a revision is deployed to another gateway environment and undeployed from the old one) moves on the
 * clone too (issue 16): its X gateways undeploy it, its Y gateways deploy it, a gateway serving both
 * keeps serving it throughout; a move made while the agreement was disabled arrives in one pull; a
 * clone whose agreement names only X sees the move as a removal; a clone created after the move
 * bootstraps the API on Y only.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { PublisherService } from "../../src/publisher/service.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

const X = "Gateway X";
const Y = "Gateway Y";

async function call(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(url + path, {
    method,
    headers: {
      authorization: authHeader(),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text === "" ? {} : JSON.parse(text)) as Record<string, unknown> };
}

async function startPublisher(cluster: TestCluster): Promise<PublisherService> {
  const svc = new PublisherService(
    { config: cluster.publisherConfig() },
    { replication: { retries: 1, retryMinMs: 20, retryMaxMs: 100 } },
  );
  await svc.start();
  cluster.publisher = svc;
  cluster.publisherUrl = svc.httpUrl ?? cluster.publisherUrl;
  return svc;
}

/** The sha256 the gateway serves for the API, or undefined. */
function serves(gw: Gateway, apiId: string): string | undefined {
  return gw.deployer.deployed().find((d) => d.apiId === apiId)?.sha256;
}

describe("replication agreements: an API moved from label X to label Y on the master", () => {
  const master = new TestCluster({ region: "eu" });
  const clone = new TestCluster({ region: "us" });
  const narrow = new TestCluster({ region: "ap" });
  let masterSvc: PublisherService;
  let cloneSvc: PublisherService;
  let narrowSvc: PublisherService;
  let gwX: Gateway;
  let gwY: Gateway;
  let gwXY: Gateway;
  let gwNarrow: Gateway;
  let id = "";
  let narrowId = "";
  let mover = "";
  /** Outcomes per gateway and API, in order: a gateway serving both labels must never undeploy. */
  const outcomes = new Map<string, string[]>();

  const agree = async (c: TestCluster, labels: string[]) => {
    const r = await call(c.publisherUrl, "POST", "/api/v1/replication/agreements", {
      master: { url: master.publisherUrl, username: TEST_USER, password: TEST_PASSWORD },
      labels,
      pollInterval: 0.1,
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    return String(r.json.identifier);
  };

  /** Wait until the clone's agreement has applied the master's head. */
  const caughtUp = async (svc: PublisherService, agreement: string, what: string) => {
    const head = await masterSvc.publisher.store.headSeq();
    await waitFor(
      svc.replication.events,
      ["pulled", "progress"],
      () => {
        const a = svc.replication.get(agreement, "consumer");
        return a?.state === "READY" && a.lastSequenceNumber >= head;
      },
      what,
    );
  };

  /** Wait until every gateway is as wanted: the sha256 it serves for the API (undefined: not served). */
  const gatewaysAre = async (want: [Gateway, string | undefined][], what: string) => {
    await waitFor(
      want.map(([gw]) => gw.events),
      CHANGED,
      () => want.every(([gw, sha]) => serves(gw, mover) === sha),
      what,
    );
  };

  before(async () => {
    masterSvc = await startPublisher(master);
    cloneSvc = await startPublisher(clone);
    narrowSvc = await startPublisher(narrow);
    gwX = await clone.startGateway({ name: "gw-x", labels: [X] });
    gwY = await clone.startGateway({ name: "gw-y", labels: [Y] });
    gwXY = await clone.startGateway({ name: "gw-xy", labels: [X, Y] });
    gwNarrow = await narrow.startGateway({ name: "gw-narrow-x", labels: [X] });
    for (const [name, gw] of [
      ["x", gwX],
      ["y", gwY],
      ["xy", gwXY],
    ] as const) {
      gw.events.on("applied", (outcome, apiId) => {
        if (apiId === mover) outcomes.set(name, [...(outcomes.get(name) ?? []), outcome]);
      });
    }
    const r = await masterSvc.publisher.deployApi(synapseApi({ name: "Mover", revision: 1 }), [X]);
    mover = r.apiId;
    await masterSvc.publisher.deployApi(synapseApi({ name: "Stays" }), [X]);
    id = await agree(clone, [X, Y]);
    narrowId = await agree(narrow, [X]);
    await caughtUp(cloneSvc, id, "the clone to bootstrap");
    await caughtUp(narrowSvc, narrowId, "the narrow clone to bootstrap");
    await gatewaysAre(
      [
        [gwX, r.sha256],
        [gwY, undefined],
        [gwXY, r.sha256],
      ],
      "Mover on X's gateways only",
    );
  });

  after(async () => {
    await narrow.close();
    await clone.close();
    await master.close();
  });

  test("X → Y: X's gateway undeploys it, Y's deploys it, a gateway of both keeps it; a clone of X only removes it", async () => {
    outcomes.clear();
    const pm = masterSvc.publisher;
    const sha = (await pm.store.getArtifact(mover, X))!.sha256;
    // The move as WSO2 makes it: deploy to the new environment, then undeploy from the old one.
    await pm.deployApi(synapseApi({ name: "Mover", revision: 1 }), [Y]);
    await pm.removeApi(mover, [X]);
    await caughtUp(cloneSvc, id, "the clone to follow the move");
    const s = cloneSvc.publisher.store;
    assert.equal((await s.getArtifact(mover, X))?.instruction, "Remove");
    assert.equal((await s.getArtifact(mover, Y))?.instruction, "Publish");
    assert.equal((await s.getArtifact(mover, Y))?.sha256, sha, "the same bytes on Y");
    await gatewaysAre(
      [
        [gwX, undefined],
        [gwY, sha],
        [gwXY, sha],
      ],
      "Mover on Y's gateways only",
    );
    assert.ok(!(outcomes.get("xy") ?? []).includes("removed"), "the gateway serving X and Y never undeployed it");
    assert.deepEqual(outcomes.get("x")?.filter((o) => o !== "unchanged"), ["removed"]);
    // Other APIs of X are untouched.
    assert.ok(gwX.deployer.deployed().some((d) => d.name === "Stays"));

    await caughtUp(narrowSvc, narrowId, "the X-only clone to follow");
    assert.equal((await narrowSvc.publisher.store.getArtifact(mover, X))?.instruction, "Remove");
    assert.equal(await narrowSvc.publisher.store.getArtifact(mover, Y), undefined, "Y is not in its agreement");
    await waitFor(gwNarrow.events, CHANGED, () => serves(gwNarrow, mover) === undefined, "the X-only clone's gateway to undeploy it");
  });

  test("Y → X with a new revision: each gateway ends on the new bytes, or on nothing", async () => {
    const pm = masterSvc.publisher;
    // The other order (undeploy first) and new content on the way.
    await pm.removeApi(mover, [Y]);
    const r = await pm.deployApi(synapseApi({ name: "Mover", revision: 3 }), [X]);
    await caughtUp(cloneSvc, id, "the clone to follow the move back");
    await gatewaysAre(
      [
        [gwX, r.sha256],
        [gwY, undefined],
        [gwXY, r.sha256],
      ],
      "Mover back on X's gateways, at revision 3's bytes",
    );
    await caughtUp(narrowSvc, narrowId, "the X-only clone to follow");
    await waitFor(gwNarrow.events, CHANGED, () => serves(gwNarrow, mover) === r.sha256, "the X-only clone to deploy it again");
  });

  test("a move and two updates made while the agreement was disabled arrive in one pull, at the latest bytes", async () => {
    const off = await call(clone.publisherUrl, "PUT", `/api/v1/replication/agreements/${id}`, { enabled: false });
    assert.equal(off.json.state, "DISABLED");
    const pm = masterSvc.publisher;
    const r4 = await pm.deployApi(synapseApi({ name: "Mover", revision: 4 }), [Y]);
    await pm.removeApi(mover, [X]);
    const r5 = await pm.deployApi(synapseApi({ name: "Mover", revision: 5 }), [Y]);
    const last = await pm.deployApi(synapseApi({ name: "Mover", revision: 6 }), [Y]);
    assert.equal(serves(gwY, mover), undefined, "nothing moved while disabled");
    const on = await call(clone.publisherUrl, "PUT", `/api/v1/replication/agreements/${id}`, { enabled: true });
    assert.equal(on.json.state, "READY");
    await caughtUp(cloneSvc, id, "the clone to take the move in one go");
    await gatewaysAre(
      [
        [gwX, undefined],
        [gwY, last.sha256],
        [gwXY, last.sha256],
      ],
      "Mover on Y at its latest bytes",
    );
    // The superseded Y publishes (revisions 4 and 5) were skipped, not applied: Y went straight to 6.
    const onY = (await cloneSvc.publisher.store.changesSince(0, [Y])).filter((c) => c.apiId === mover);
    assert.equal(onY.at(-1)?.sha256, last.sha256);
    assert.equal(onY.at(-1)?.originSeq, last.seq);
    const seqs = onY.map((c) => c.originSeq);
    assert.ok(!seqs.includes(r4.seq) && !seqs.includes(r5.seq), `superseded changes not stored: ${seqs.join(",")}`);
  });

  test("a clone created after the move bootstraps the API on Y only", async () => {
    const late = new TestCluster({ region: "sa" });
    try {
      const lateSvc = await startPublisher(late);
      const lateId = await agree(late, [X, Y]);
      await caughtUp(lateSvc, lateId, "the late clone to bootstrap");
      const s = lateSvc.publisher.store;
      assert.equal(await s.getArtifact(mover, X), undefined, "never on X: the master has it removed there");
      assert.equal((await s.getArtifact(mover, Y))?.sha256, (await masterSvc.publisher.store.getArtifact(mover, Y))?.sha256);
    } finally {
      await late.close();
    }
  });
});
