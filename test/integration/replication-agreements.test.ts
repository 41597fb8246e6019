// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} is the transformation rules' own placeholder syntax
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { PublisherService } from "../../src/publisher/service.js";
import type { PullSummary } from "../../src/replication/service.js";
import { authHeader, synapseApi, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

/**
 * Replication agreements between two data centers, each a publisher with its own SQLite store and its
 * own hub (a private exchange on the real broker): the master (region "eu") holds APIs before the
 * agreement exists; the clone (region "us") creates the agreement, bootstraps the master's state from
 * its data API and then follows its changelog by sequence, storing each change through its own
 * publisher, so the clone's own gateway deploys it.
 */

const LABEL = "Production and Sandbox";
const OTHER = "Internal";
const PRE_EXISTING = 25;

async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  auth = authHeader(),
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url + path, {
    method,
    headers: {
      ...(auth ? { authorization: auth } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function publishXml(url: string, xml: string, label: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/api/v1/artifacts?label=${encodeURIComponent(label)}`, {
    method: "POST",
    headers: { authorization: authHeader(), "content-type": "application/xml" },
    body: xml,
  });
  const json = (await res.json()) as Record<string, unknown>;
  assert.ok(
    res.status === 201 || res.status === 200,
    `publish answered ${res.status}: ${JSON.stringify(json)}`,
  );
  return json;
}

function apiFile(cluster: TestCluster, gw: string, name: string): string {
  return join(cluster.deploymentDir(gw), "api", `admin--${name}_v1.0.0.xml`);
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

describe("replication agreements: bootstrap, then follow the master's changelog (pull mode)", () => {
  const master = new TestCluster({ region: "eu" });
  const clone = new TestCluster({ region: "us" });
  let masterSvc: PublisherService;
  let cloneSvc: PublisherService;
  let cloneGw: Gateway;
  let id = "";

  /** Resolves with the first pull of the agreement that ends with the clone at `seq` or beyond. */
  const pulledTo = (seq: number, what: string) =>
    waitFor(
      cloneSvc.replication.events,
      ["pulled", "progress"],
      () => (cloneSvc.replication.get(id, "consumer")?.lastSequenceNumber ?? 0) >= seq,
      what,
    );

  before(async () => {
    masterSvc = await startPublisher(master);
    cloneSvc = await startPublisher(clone);
    cloneGw = await clone.startGateway({ name: "us-gw", labels: [LABEL] });
    for (let i = 0; i < PRE_EXISTING; i++) {
      await publishXml(master.publisherUrl, synapseApi({ name: `Pre${i}` }), LABEL);
    }
    // Out of scope: a label the agreement does not name never reaches the clone.
    await publishXml(master.publisherUrl, synapseApi({ name: "Elsewhere" }), OTHER);
  });

  after(async () => {
    await clone.close();
    await master.close();
  });

  test("every endpoint needs the publisher's credentials", async () => {
    for (const [method, path] of [
      ["GET", "/api/v1/replication/agreements"],
      ["POST", "/api/v1/replication/agreements"],
      ["GET", "/api/v1/replication/agreements/1"],
      ["PUT", "/api/v1/replication/agreements/1"],
      ["DELETE", "/api/v1/replication/agreements/1"],
      ["POST", "/api/v1/replication/agreements/1/pull"],
      ["GET", "/api/v1/replication/agreements/1/changes?since=0"],
    ] as const) {
      const r = await call(
        clone.publisherUrl,
        method,
        path,
        method === "GET" || method === "DELETE" ? undefined : {},
        "",
      );
      assert.equal(r.status, 401, `${method} ${path} without credentials`);
    }
  });

  test("a bad agreement is refused with the field named, and nothing is stored on either side", async () => {
    const bad = [
      [{ labels: [LABEL] }, /master/],
      [{ master: { url: "ftp://x", username: "u", password: "p" }, labels: [LABEL] }, /master\.url/],
      [{ master: { url: master.publisherUrl, username: "u", password: "p" }, labels: [] }, /labels/],
      [
        {
          master: { url: master.publisherUrl, username: "u", password: "p" },
          labels: [LABEL],
          pollInterval: 0,
        },
        /pollInterval/,
      ],
      [
        {
          master: { url: master.publisherUrl, username: "u", password: "p" },
          labels: [LABEL],
          colour: "red",
        },
        /colour/,
      ],
    ] as const;
    for (const [body, field] of bad) {
      const r = await call(clone.publisherUrl, "POST", "/api/v1/replication/agreements", body);
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.match(String(r.json.message), field);
    }
    // Wrong credentials for the master: the master refuses, the clone reports it and stores nothing.
    const r = await call(clone.publisherUrl, "POST", "/api/v1/replication/agreements", {
      master: { url: master.publisherUrl, username: "gwsync-test", password: "wrong-password" },
      labels: [LABEL],
    });
    assert.equal(r.status, 502, JSON.stringify(r.json));
    assert.match(String(r.json.message), /credentials/);
    assert.doesNotMatch(JSON.stringify(r.json), /wrong-password/);
    assert.equal(cloneSvc.replication.list().length, 0);
    assert.equal(masterSvc.replication.list().length, 0);
    assert.equal((await clone.publisher!.publisher.store.listAgreements()).length, 0);
  });

  test("creating the agreement bootstraps the APIs the master already had, and the clone's gateway deploys them", async () => {
    const head = await masterSvc.publisher.store.headSeq();
    const r = await call(clone.publisherUrl, "POST", "/api/v1/replication/agreements", {
      master: { url: master.publisherUrl, username: "gwsync-test", password: "not-a-default-secret" },
      labels: [LABEL],
      pollInterval: "0.2",
      enabled: "true",
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    id = String(r.json.identifier);
    assert.match(id, /^\d{21}$/);
    assert.equal(r.json.replicaType, "CONSUMER");
    assert.equal(r.json.startingSequenceNumber, head);
    assert.doesNotMatch(JSON.stringify(r.json), /not-a-default-secret/, "the password is never returned");

    await waitFor(
      cloneSvc.replication.events,
      ["pulled", "progress"],
      () => cloneSvc.replication.get(id, "consumer")?.state === "READY",
      "the clone to finish its bootstrap",
    );
    const stored = await cloneSvc.publisher.store.listArtifacts({ label: LABEL });
    assert.equal(stored.length, PRE_EXISTING);
    const onMaster = await masterSvc.publisher.store.listArtifacts({ label: LABEL });
    assert.deepEqual(
      stored.map((a) => a.sha256).sort(),
      onMaster.map((a) => a.sha256).sort(),
      "without rules, the clone stores the master's exact bytes",
    );
    assert.equal((await cloneSvc.publisher.store.listArtifacts({ label: OTHER })).length, 0);
    // The clone's changelog names the master as the origin of each change.
    const changes = await cloneSvc.publisher.store.changesSince(0, [LABEL]);
    assert.ok(changes.length >= PRE_EXISTING);
    assert.ok(changes.every((c) => c.originRegion === "eu"));

    await waitFor(
      cloneGw.events,
      CHANGED,
      () => cloneGw.deployer.size === PRE_EXISTING,
      "the clone's gateway to deploy the bootstrap",
    );
    assert.ok(existsSync(apiFile(clone, "us-gw", "Pre0")));

    // Both sides know the agreement: the master as SUPPLIER (ACTIVE), the clone as CONSUMER (READY).
    const onM = await call(master.publisherUrl, "GET", `/api/v1/replication/agreements/${id}`);
    assert.equal(onM.status, 200);
    assert.equal(onM.json.replicaType, "SUPPLIER");
    assert.equal(onM.json.state, "ACTIVE");
    assert.deepEqual(onM.json.clone, { region: "us" });
    const onC = await call(clone.publisherUrl, "GET", `/api/v1/replication/agreements/${id}?type=consumer`);
    assert.equal(onC.json.state, "READY");
    assert.equal((onC.json.master as { region: string }).region, "eu");
    const list = await call(master.publisherUrl, "GET", "/api/v1/replication/agreements");
    assert.deepEqual(list.json.identifiers, [id]);
  });

  test("the clone follows updates and removals by sequence, and its gateway applies them", async () => {
    const updated = await publishXml(master.publisherUrl, synapseApi({ name: "Pre1", revision: 2 }), LABEL);
    const fresh = await publishXml(master.publisherUrl, synapseApi({ name: "Fresh" }), LABEL);
    const removed = await call(
      master.publisherUrl,
      "DELETE",
      `/api/v1/artifacts/Pre2:1.0.0?label=${encodeURIComponent(LABEL)}`,
    );
    assert.equal(removed.status, 200, JSON.stringify(removed.json));
    const head = await masterSvc.publisher.store.headSeq();
    await pulledTo(head, "the clone to reach the master's head");

    const pre1 = await cloneSvc.publisher.store.getArtifact(String(updated.apiId), LABEL);
    assert.equal(pre1?.sha256, updated.sha256);
    const fr = await cloneSvc.publisher.store.getArtifact(String(fresh.apiId), LABEL);
    assert.equal(fr?.instruction, "Publish");
    const pre2Id = await cloneSvc.publisher.store.findApiId("Pre2", "1.0.0");
    assert.equal((await cloneSvc.publisher.store.getArtifact(String(pre2Id), LABEL))?.instruction, "Remove");

    await waitFor(
      cloneGw.events,
      CHANGED,
      () =>
        existsSync(apiFile(clone, "us-gw", "Fresh")) &&
        !existsSync(apiFile(clone, "us-gw", "Pre2")) &&
        readFileSync(apiFile(clone, "us-gw", "Pre1"), "utf8").includes('value="2"'),
      "the clone's gateway to apply the update, the new API and the removal",
    );
  });

  test("a manual pull applies nothing twice; a change made on the clone to a master's label is refused", async () => {
    const before = await cloneSvc.publisher.store.headSeq();
    const r = await call(clone.publisherUrl, "POST", `/api/v1/replication/agreements/${id}/pull`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal((r.json as unknown as PullSummary).applied, 0);
    assert.equal(await cloneSvc.publisher.store.headSeq(), before, "no new changelog row on the clone");
    // The master records the sequence the clone pulled from (and reports no lag behind it).
    const head = await masterSvc.publisher.store.headSeq();
    const onM = await call(master.publisherUrl, "GET", `/api/v1/replication/agreements/${id}`);
    assert.equal(onM.json.lastSequenceNumber, head, JSON.stringify(onM.json));
    assert.deepEqual(onM.json.lag, { sequence: 0, seconds: 0 });
    const onC = await call(clone.publisherUrl, "GET", `/api/v1/replication/agreements/${id}`);
    assert.equal(onC.json.lastSequenceNumber, head);
    assert.deepEqual(onC.json.lag, { sequence: 0, seconds: 0 });
    // `gwsync status` (GET /api/v1/status) shows the agreement and its lag in both regions.
    for (const [url, type, peer] of [
      [master.publisherUrl, "SUPPLIER", "us"],
      [clone.publisherUrl, "CONSUMER", "eu"],
    ] as const) {
      const st = await call(url, "GET", "/api/v1/status");
      const rep = st.json.replication as {
        identifier: string;
        replicaType: string;
        peerRegion: string;
        lagSequence: number;
      }[];
      assert.equal(rep.length, 1, JSON.stringify(st.json));
      assert.equal(rep[0]!.identifier, id);
      assert.equal(rep[0]!.replicaType, type);
      assert.equal(rep[0]!.peerRegion, peer);
      assert.equal(rep[0]!.lagSequence, 0);
    }

    const res = await fetch(`${clone.publisherUrl}/api/v1/artifacts?label=${encodeURIComponent(LABEL)}`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": "application/xml" },
      body: synapseApi({ name: "LocalEdit" }),
    });
    assert.equal(res.status, 409);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "GWSYNC_REPLICATION_REFUSED");
    assert.match(body.message, /master/);
    // Other labels stay the clone's own.
    await publishXml(clone.publisherUrl, synapseApi({ name: "LocalOnly" }), OTHER);
  });

  test("a disabled agreement stops pulling, and resumes where it stopped when enabled again", async () => {
    const d = await call(clone.publisherUrl, "PUT", `/api/v1/replication/agreements/${id}`, {
      enabled: "false",
      replicaType: "CONSUMER",
    });
    assert.equal(d.status, 200, JSON.stringify(d.json));
    assert.equal(d.json.state, "DISABLED");
    const onM = await call(master.publisherUrl, "GET", `/api/v1/replication/agreements/${id}`);
    assert.equal(onM.json.state, "DISABLED", "the master's side follows");

    const whileOff = await publishXml(master.publisherUrl, synapseApi({ name: "WhileOff" }), LABEL);
    const pull = await call(clone.publisherUrl, "POST", `/api/v1/replication/agreements/${id}/pull`);
    assert.equal(pull.status, 409);
    // No pull loop runs on the clone, and the master would refuse one anyway.
    assert.equal(cloneSvc.replication.isPulling(id), false);
    const feed = await call(
      master.publisherUrl,
      "GET",
      `/api/v1/replication/agreements/${id}/changes?since=0`,
    );
    assert.equal(feed.status, 409);
    assert.match(String(feed.json.message), /disabled/);
    assert.equal(await cloneSvc.publisher.store.getArtifact(String(whileOff.apiId), LABEL), undefined);
    // The master sees the clone fall behind: one change in scope it has not pulled.
    const st = await call(master.publisherUrl, "GET", "/api/v1/status");
    const rep = (st.json.replication as { state: string; lagSequence: number; lagSeconds: number }[])[0]!;
    assert.equal(rep.state, "DISABLED");
    assert.ok(rep.lagSequence >= 1, JSON.stringify(rep));
    assert.ok(rep.lagSeconds >= 0);

    const e = await call(clone.publisherUrl, "PUT", `/api/v1/replication/agreements/${id}`, {
      enabled: true,
    });
    assert.equal(e.json.state, "READY");
    await pulledTo(Number(whileOff.seq), "the clone to catch up after it was enabled again");
    assert.equal(
      (await cloneSvc.publisher.store.getArtifact(String(whileOff.apiId), LABEL))?.sha256,
      whileOff.sha256,
    );
  });

  test("a deleted agreement is gone on both sides, and its labels are the clone's own again", async () => {
    const r = await call(clone.publisherUrl, "DELETE", `/api/v1/replication/agreements/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.master, "deleted");
    assert.equal((await call(clone.publisherUrl, "GET", `/api/v1/replication/agreements/${id}`)).status, 404);
    assert.equal(
      (await call(master.publisherUrl, "GET", `/api/v1/replication/agreements/${id}`)).status,
      404,
    );
    assert.equal((await masterSvc.publisher.store.listAgreements()).length, 0);
    assert.equal((await cloneSvc.publisher.store.listAgreements()).length, 0);
    // The master no longer serves its changelog to that agreement.
    const feed = await call(
      master.publisherUrl,
      "GET",
      `/api/v1/replication/agreements/${id}/changes?since=0`,
    );
    assert.equal(feed.status, 404);
    await publishXml(clone.publisherUrl, synapseApi({ name: "LocalEdit" }), LABEL);
  });
});

/** A GatewayAPIDTO with its production endpoint on the master's (eu) backend host. */
function ordersDto(name: string, host = "orders.eu.internal"): Record<string, unknown> {
  return {
    name,
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: `7f1c0000-0000-4000-8000-${String(name.length).padStart(4, "0")}${Buffer.from(name).toString("hex").slice(0, 8).padEnd(8, "0")}`,
    apiDefinition: `<api xmlns="http://ws.apache.org/ns/synapse" name="admin--${name}" context="/${name.toLowerCase()}/1.0.0" version="1.0.0" version-type="context">
  <resource methods="GET" url-mapping="/*">
    <inSequence><log level="full"/><send><endpoint key="${name}--v1.0.0_APIproductionEndpoint"/></send></inSequence>
    <outSequence><send/></outSequence>
  </resource>
</api>`,
    endpointEntriesToBeAdd: [
      {
        name: `${name}--v1.0.0_APIproductionEndpoint`,
        content: `<endpoint xmlns="http://ws.apache.org/ns/synapse" name="${name}--v1.0.0_APIproductionEndpoint"><http uri-template="https://${host}/v1" method="GET"/></endpoint>`,
      },
    ],
  };
}

async function publishDto(
  url: string,
  dto: Record<string, unknown>,
  label: string,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}/api/v1/artifacts?label=${encodeURIComponent(label)}`, {
    method: "POST",
    headers: { authorization: authHeader(), "content-type": "application/json" },
    body: JSON.stringify(dto),
  });
  const json = (await res.json()) as Record<string, unknown>;
  assert.ok(
    res.status === 201 || res.status === 200,
    `publish answered ${res.status}: ${JSON.stringify(json)}`,
  );
  return json;
}

describe("replication agreements: the clone's transformation rules", () => {
  const master = new TestCluster({ region: "eu" });
  const clone = new TestCluster({ region: "us" });
  let masterSvc: PublisherService;
  let cloneSvc: PublisherService;
  let cloneGw: Gateway;
  const RULES = {
    values: { "orders-host": "orders.us.internal" },
    exclude: [{ api: "Internal*" }],
    ignore: ["/api/resource/inSequence/log"],
    replace: [
      { path: "/endpoint/http/@uri-template", value: "orders\\.eu\\.internal", with: "${orders-host}" },
    ],
  };

  before(async () => {
    masterSvc = await startPublisher(master);
    cloneSvc = await startPublisher(clone);
    cloneGw = await clone.startGateway({ name: "us-gw", labels: [LABEL] });
    await publishDto(master.publisherUrl, ordersDto("Orders"), LABEL);
    await publishDto(master.publisherUrl, ordersDto("InternalAudit"), LABEL);
  });

  after(async () => {
    await clone.close();
    await master.close();
  });

  test("a bad rule is a 400 naming it, and neither side stores anything", async () => {
    const r = await call(clone.publisherUrl, "POST", "/api/v1/replication/agreements", {
      master: { url: master.publisherUrl, username: "gwsync-test", password: "not-a-default-secret" },
      labels: [LABEL],
      rules: { replace: [{ value: "orders\\.eu(", with: "x" }] },
    });
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.match(String(r.json.message), /rules\.replace\[0\]\.value: invalid regular expression/);
    assert.equal(masterSvc.replication.list().length, 0);
    assert.equal(cloneSvc.replication.list().length, 0);
  });

  test("rules apply before the clone stores: hosts rewritten, ignored element absent, excluded API absent", async () => {
    const r = await call(clone.publisherUrl, "POST", "/api/v1/replication/agreements", {
      master: { url: master.publisherUrl, username: "gwsync-test", password: "not-a-default-secret" },
      labels: [LABEL],
      pollInterval: 0.2,
      rules: RULES,
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = String(r.json.identifier);
    assert.deepEqual(r.json.rules, RULES, "the agreement shows its rules back");
    await waitFor(
      cloneSvc.replication.events,
      ["pulled", "progress"],
      () => cloneSvc.replication.get(id, "consumer")?.state === "READY",
      "the clone to bootstrap",
    );
    // A live change after the bootstrap goes through the same rules.
    const shipping = await publishDto(master.publisherUrl, ordersDto("Shipping"), LABEL);
    await waitFor(
      cloneSvc.replication.events,
      ["pulled", "progress"],
      () => (cloneSvc.replication.get(id, "consumer")?.lastSequenceNumber ?? 0) >= Number(shipping.seq),
      "the clone to follow the live change",
    );
    const stored = await cloneSvc.publisher.store.listArtifacts({ label: LABEL, withBody: true });
    assert.deepEqual(stored.map((a) => a.name).sort(), ["Orders", "Shipping"]);
    for (const a of stored) {
      const dto = JSON.parse(a.artifactJson) as {
        apiDefinition: string;
        endpointEntriesToBeAdd: { content: string }[];
      };
      assert.match(dto.endpointEntriesToBeAdd[0]!.content, /https:\/\/orders\.us\.internal\/v1/);
      assert.doesNotMatch(a.artifactJson, /eu\.internal/);
      assert.doesNotMatch(dto.apiDefinition, /<log /);
    }
    await waitFor(
      cloneGw.events,
      CHANGED,
      () => cloneGw.deployer.size === 2,
      "the clone's gateway to deploy both",
    );
    const endpointFile = join(
      clone.deploymentDir("us-gw"),
      "endpoints",
      "Shipping--v1.0.0_APIproductionEndpoint.xml",
    );
    assert.match(readFileSync(endpointFile, "utf8"), /orders\.us\.internal/);

    // A bad rule in a PUT changes nothing.
    const bad = await call(clone.publisherUrl, "PUT", `/api/v1/replication/agreements/${id}`, {
      rules: { ignore: ["apiId"] },
    });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.message), /rules\.ignore\[0\]/);
    const now = await call(clone.publisherUrl, "GET", `/api/v1/replication/agreements/${id}`);
    assert.deepEqual(now.json.rules, RULES);
  });
});
