// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} is the transformation rules' own placeholder syntax
/**
 * Replication agreements at the scale (issue 16, "Done when"): a clone bootstraps a master that
 * holds 500 APIs, then pulls 1,000 changes of the master in one pull, with transformation rules applied
 * (endpoint hosts rewritten, an ignored element absent), and the clone's gateway ends on exactly the
 * master's set. Every count is asserted exactly, from events (no sleeps). No AMQP link between the
 * two: each publisher has its own hub (a private exchange on the real broker).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { PublisherService } from "../../src/publisher/service.js";
import type { ChangeOutcome, PullSummary } from "../../src/replication/service.js";
import { authHeader, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

const LABEL = "Production and Sandbox";
const OTHER = "Internal";
const BOOTSTRAP_APIS = 500;
const UPDATES = 400;
const REMOVES = 100;
const NEW_APIS = 500;
const CHANGES = UPDATES + REMOVES + NEW_APIS;
const OUT_OF_SCOPE = 20;
const TIMEOUT_MS = 240_000;

const RULES = {
  values: { "orders-host": "orders.us.internal" },
  ignore: ["/api/resource/inSequence/log"],
  replace: [{ path: "/endpoint/http/@uri-template", value: "orders\\.eu\\.internal", with: "${orders-host}" }],
};

/** API i as a GatewayAPIDTO with its production endpoint on the master's (eu) backend host. */
function dto(i: number, version = 1): Record<string, unknown> {
  const name = `Scale${i}`;
  return {
    name,
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: `5ca1e000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
    apiDefinition: `<api xmlns="http://ws.apache.org/ns/synapse" name="admin--${name}" context="/scale${i}/1.0.0" version="1.0.0" version-type="context">
  <resource methods="GET" url-mapping="/*">
    <inSequence><log level="full"/><property name="v" value="${version}"/><send><endpoint key="${name}--v1.0.0_APIproductionEndpoint"/></send></inSequence>
    <outSequence><send/></outSequence>
  </resource>
</api>`,
    endpointEntriesToBeAdd: [
      {
        name: `${name}--v1.0.0_APIproductionEndpoint`,
        content: `<endpoint xmlns="http://ws.apache.org/ns/synapse" name="${name}--v1.0.0_APIproductionEndpoint"><http uri-template="https://orders.eu.internal/v${version}/${i}" method="GET"/></endpoint>`,
      },
    ],
  };
}

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
    { replication: { retries: 2, retryMinMs: 20, retryMaxMs: 200, feedPage: 200, snapshotPage: 100 } },
  );
  await svc.start();
  cluster.publisher = svc;
  cluster.publisherUrl = svc.httpUrl ?? cluster.publisherUrl;
  return svc;
}

function replicationLag(json: Record<string, unknown>): number {
  const rep = json.replication as { lagSequence: number }[];
  assert.equal(rep.length, 1, JSON.stringify(json.replication));
  return rep[0]!.lagSequence;
}

describe(`replication at scale: bootstrap ${BOOTSTRAP_APIS} APIs, then pull ${CHANGES} changes, with rules`, () => {
  const master = new TestCluster({ region: "eu" });
  const clone = new TestCluster({ region: "us" });
  let masterSvc: PublisherService;
  let cloneSvc: PublisherService;
  let gw: Gateway;
  let id = "";
  const outcomes: ChangeOutcome[] = [];

  before(async () => {
    masterSvc = await startPublisher(master);
    cloneSvc = await startPublisher(clone);
    cloneSvc.replication.events.on("change", (_id, c) => outcomes.push(c));
    gw = await clone.startGateway({ name: "us-gw", labels: [LABEL] });
    for (let i = 0; i < BOOTSTRAP_APIS; i++) await masterSvc.publisher.deployApi(JSON.stringify(dto(i)), [LABEL]);
    for (let i = 0; i < OUT_OF_SCOPE; i++)
      await masterSvc.publisher.deployApi(JSON.stringify(dto(10_000 + i)), [OTHER]);
  });

  after(async () => {
    await clone.close();
    await master.close();
  });

  /** The clone's stored artifacts on the label, checked against the rules: hosts rewritten, no <log>. */
  async function cloneHoldsRewritten(expected: number): Promise<void> {
    const stored = await cloneSvc.publisher.store.listArtifacts({ label: LABEL, withBody: true });
    assert.equal(stored.length, expected);
    for (const a of stored) {
      assert.doesNotMatch(a.artifactJson, /orders\.eu\.internal/, `${a.name}: eu host rewritten`);
      assert.match(a.artifactJson, /orders\.us\.internal/, `${a.name}: us host`);
      assert.doesNotMatch(a.artifactJson, /<log /, `${a.name}: ignored element absent`);
    }
  }

  /** The clone's changelog: every change of the master stored once (by its sequence), `n` in all. */
  async function cloneChangelogHolds(n: number): Promise<void> {
    const rows = (await cloneSvc.publisher.store.changesSince(0, [LABEL, OTHER])).filter(
      (c) => c.originRegion === "eu",
    );
    assert.equal(rows.length, n, "rows of the master in the clone's changelog");
    assert.equal(new Set(rows.map((c) => c.originSeq)).size, n, "no change of the master stored twice");
  }

  /** The gateway serves exactly the clone store's published set, at its bytes. */
  async function gatewayConverges(what: string): Promise<void> {
    const expected = new Map(
      (await cloneSvc.publisher.store.listArtifacts({ label: LABEL })).map((a) => [a.apiId, a.sha256]),
    );
    await waitFor(
      gw.events,
      CHANGED,
      () =>
        gw.deployer.size === expected.size &&
        gw.deployer.deployed().every((d) => expected.get(d.apiId) === d.sha256),
      what,
      TIMEOUT_MS,
    );
  }

  test(`a new clone bootstraps all ${BOOTSTRAP_APIS} APIs of its label through its rules, and its gateway deploys them`, async (t) => {
    const started = performance.now();
    const r = await call(clone.publisherUrl, "POST", "/api/v1/replication/agreements", {
      master: { url: master.publisherUrl, username: "gwsync-test", password: "not-a-default-secret" },
      labels: [LABEL],
      // No timed poll during the test: the 1,000 changes below are pulled by one manual pull.
      pollInterval: 3600,
      rules: RULES,
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    id = String(r.json.identifier);
    const head = await masterSvc.publisher.store.headSeq();
    assert.equal(r.json.startingSequenceNumber, head);
    await waitFor(
      cloneSvc.replication.events,
      ["pulled", "progress"],
      () => cloneSvc.replication.get(id, "consumer")?.state === "READY",
      "the clone to finish its bootstrap",
      TIMEOUT_MS,
    );
    const bootstrapMs = performance.now() - started;
    const a = cloneSvc.replication.get(id, "consumer")!;
    assert.equal((a as { bootstrapped: number }).bootstrapped, BOOTSTRAP_APIS);
    const boot = outcomes.filter((o) => o.phase === "bootstrap");
    assert.equal(boot.length, BOOTSTRAP_APIS, "one bootstrap outcome per API");
    assert.equal(boot.filter((o) => o.outcome === "applied").length, BOOTSTRAP_APIS);
    assert.equal(new Set(boot.map((o) => o.apiId)).size, BOOTSTRAP_APIS);
    assert.equal(a.lastSequenceNumber, head);
    await cloneHoldsRewritten(BOOTSTRAP_APIS);
    assert.equal((await cloneSvc.publisher.store.listArtifacts({ label: OTHER })).length, 0);
    await cloneChangelogHolds(BOOTSTRAP_APIS);
    await gatewayConverges(`the clone's gateway to deploy ${BOOTSTRAP_APIS} APIs`);
    t.diagnostic(
      `bootstrap of ${BOOTSTRAP_APIS} APIs: ${bootstrapMs.toFixed(0)} ms; on the clone's gateway after ${(performance.now() - started).toFixed(0)} ms`,
    );
  });

  test(`one pull takes ${CHANGES} changes of the master (${UPDATES} updates, ${REMOVES} removes, ${NEW_APIS} new), each once`, async (t) => {
    outcomes.length = 0;
    const pm = masterSvc.publisher;
    for (let i = 0; i < UPDATES; i++) await pm.deployApi(JSON.stringify(dto(i, 2)), [LABEL]);
    for (let i = UPDATES; i < UPDATES + REMOVES; i++) await pm.removeApi(String(dto(i).apiId), [LABEL]);
    for (let i = 0; i < NEW_APIS; i++) await pm.deployApi(JSON.stringify(dto(BOOTSTRAP_APIS + i)), [LABEL]);
    const head = await pm.store.headSeq();
    // The master sees the clone fall behind by exactly the changes it has not pulled.
    const before = await call(master.publisherUrl, "GET", "/api/v1/status");
    assert.equal(replicationLag(before.json), CHANGES);

    const started = performance.now();
    const r = await call(clone.publisherUrl, "POST", `/api/v1/replication/agreements/${id}/pull`);
    const pullMs = performance.now() - started;
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const summary = r.json as unknown as PullSummary;
    assert.deepEqual(
      { applied: summary.applied, skipped: summary.skipped, refused: summary.refused, to: summary.lastSequenceNumber },
      { applied: CHANGES, skipped: 0, refused: 0, to: head },
    );
    const feed = outcomes.filter((o) => o.phase === "feed");
    assert.equal(feed.length, CHANGES);
    assert.equal(feed.filter((o) => o.outcome === "applied").length, CHANGES);
    assert.equal(feed.filter((o) => o.instruction === "Remove").length, REMOVES);
    assert.equal(new Set(feed.map((o) => o.seq)).size, CHANGES, "each change of the master once");

    await cloneHoldsRewritten(BOOTSTRAP_APIS - REMOVES + NEW_APIS);
    const updated = await cloneSvc.publisher.store.getArtifact(String(dto(0).apiId), LABEL);
    assert.match(updated!.artifactJson, /orders\.us\.internal\/v2\/0/);
    const removed = await cloneSvc.publisher.store.getArtifact(String(dto(UPDATES).apiId), LABEL);
    assert.equal(removed?.instruction, "Remove");
    await cloneChangelogHolds(BOOTSTRAP_APIS + CHANGES);
    const convergeStart = performance.now();
    await gatewayConverges(`the clone's gateway to serve ${BOOTSTRAP_APIS - REMOVES + NEW_APIS} APIs`);
    t.diagnostic(
      `pull of ${CHANGES} changes: ${pullMs.toFixed(0)} ms (${((CHANGES / pullMs) * 1000).toFixed(0)} changes/s); gateway converged ${(performance.now() - convergeStart).toFixed(0)} ms later`,
    );

    // Lag 0 on both sides, as `gwsync status` shows it.
    for (const url of [master.publisherUrl, clone.publisherUrl]) {
      const st = await call(url, "GET", "/api/v1/status");
      assert.equal(replicationLag(st.json), 0, url);
    }
    // A second pull finds nothing to do.
    const again = await call(clone.publisherUrl, "POST", `/api/v1/replication/agreements/${id}/pull`);
    assert.equal((again.json as unknown as PullSummary).applied, 0);
    await cloneChangelogHolds(BOOTSTRAP_APIS + CHANGES);
  });
});
