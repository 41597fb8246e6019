/**
 * The internal data API between gateways and the control plane, both directions, both WSO2 versions:
 * a gwsync publisher answers what WSO2 gateways send (4.x base64url labels, 3.2.0's three endpoints),
 * and a gwsync gateway sends what a WSO2 control plane decodes. WSO2's side is modelled in
 * wso2-model.ts on carbon-apimgt 4.x @ 68732448b122 and 3.2.0 @ cb3daa44148d; each case names the lines.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { deployApiEvent, encodeNotification } from "../../src/events/encode.js";
import { HttpArtifactRetriever } from "../../src/gateway/retriever.js";
import { FaultControlPlane } from "../harness/fault-http.js";
import { synapseApi } from "../harness/cluster.js";
import { waitFor } from "../harness/wait.js";
import { FaultWorld, PASSWORD, publishMessages, USER } from "../faults/world.js";
import {
  type Wso2ArtifactRow,
  wso2x4DecodeGatewayLabel,
  wso2x4GatewayLabelParam,
  wso2x4RuntimeArtifacts,
} from "./wso2-model.js";

const LABEL = "Production and Sandbox";
const OTHER = "Edge";
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers: { authorization: AUTH, ...headers } });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** A WSO2 4.x control plane's data API (wso2x4RuntimeArtifacts) over HTTP, recording what it was asked. */
class Wso2ControlPlane {
  readonly rows: Wso2ArtifactRow[] = [];
  readonly asked: {
    path: string;
    gatewayLabel: string | null;
    tenant: string | undefined;
    organization: string | undefined;
  }[] = [];
  #server: Server | undefined;
  url = "";

  async up(): Promise<void> {
    this.#server = createServer((req, res) => {
      const u = new URL(req.url ?? "/", "http://cp");
      const tenant = req.headers.xwso2tenant as string | undefined;
      const organization = req.headers["x-wso2-tenant"] as string | undefined;
      this.asked.push({
        path: u.pathname,
        gatewayLabel: u.searchParams.get("gatewayLabel"),
        tenant,
        organization,
      });
      if (req.headers.authorization !== AUTH) {
        res.writeHead(401).end();
        return;
      }
      if (u.pathname !== "/internal/data/v1/runtime-artifacts") {
        res.writeHead(404, { "content-type": "application/json" }).end("{}");
        return;
      }
      const r = wso2x4RuntimeArtifacts(this.rows, u.searchParams, { xWSO2Tenant: tenant, organization });
      res.writeHead(r.status, { "content-type": "application/json" }).end(JSON.stringify(r.body));
    });
    await new Promise<void>((ok) => this.#server!.listen(0, "127.0.0.1", ok));
    this.url = `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  async down(): Promise<void> {
    await new Promise((ok) => this.#server?.close(ok));
  }
}

describe("data API: what WSO2 gateways send, gwsync's publisher answers", () => {
  const world = new FaultWorld();
  let base = "";
  let prod = "";
  let edge = "";
  let both = "";

  before(async () => {
    const svc = await world.startPublisher();
    base = `${world.publisherUrl}/internal/data/v1`;
    const p = svc.publisher;
    prod = (await p.deployApi(synapseApi({ name: "ProdOnly" }), [LABEL])).apiId;
    edge = (await p.deployApi(synapseApi({ name: "EdgeOnly" }), [OTHER])).apiId;
    both = (await p.deployApi(synapseApi({ name: "Both" }), [LABEL, OTHER])).apiId;
  });
  after(async () => {
    await world.close();
  });

  test("4.x: the base64url label a WSO2 gateway sends (InMemoryAPIDeployer.java:248-249) lists that label's APIs", async () => {
    const param = wso2x4GatewayLabelParam([LABEL]);
    assert.notEqual(param, LABEL);
    const r = await get(`${base}/runtime-artifacts?gatewayLabel=${encodeURIComponent(param)}&type=Synapse`);
    assert.equal(r.status, 200);
    const body = r.json() as { count: number; list: string[] };
    const ids = body.list.map((a) => (JSON.parse(a) as { apiId: string }).apiId).sort();
    assert.deepEqual(ids, [prod, both].sort());
    assert.equal(body.count, 2);
  });

  test("4.x: labels joined by | (one gateway serving two) list each API once", async () => {
    const param = wso2x4GatewayLabelParam([LABEL, OTHER]);
    const r = await get(`${base}/runtime-artifacts?gatewayLabel=${encodeURIComponent(param)}&type=Synapse`);
    const body = r.json() as { count: number; list: string[] };
    const ids = body.list.map((a) => (JSON.parse(a) as { apiId: string }).apiId).sort();
    assert.deepEqual(ids, [prod, edge, both].sort());
  });

  test("4.x: one API by apiId and encoded label (InMemoryAPIDeployer.java:186-190), 404 where it is not published", async () => {
    const param = encodeURIComponent(wso2x4GatewayLabelParam([OTHER]));
    const hit = await get(`${base}/runtime-artifacts?apiId=${both}&gatewayLabel=${param}&type=Synapse`);
    assert.equal(hit.status, 200);
    assert.equal((hit.json() as { count: number }).count, 1);
    // DBRetriever.java:103-105 reads a 404 as "no artifacts" (an empty list).
    const miss = await get(`${base}/runtime-artifacts?apiId=${prod}&gatewayLabel=${param}&type=Synapse`);
    assert.equal(miss.status, 404);
  });

  test("the plain label (3.2.0 gateways, older gwsync gateways) still works", async () => {
    const r = await get(`${base}/runtime-artifacts?gatewayLabel=${encodeURIComponent(OTHER)}`);
    assert.equal(r.status, 200);
    assert.equal((r.json() as { count: number }).count, 2);
  });

  test("3.2.0 /synapse-artifacts: the artifact itself for Publish, nothing once removed, the row for ANY (SQLConstants.java:3139-3143)", async () => {
    const p = world.publisher!.publisher;
    const gone = (await p.deployApi(synapseApi({ name: "Gone320" }), [LABEL])).apiId;
    // 3.2.0 DBRetriever.java:78-80: URLEncoder on the label, gatewayInstruction Publish or ANY.
    const q = (instr: string) =>
      `${base}/synapse-artifacts?apiId=${gone}&gatewayInstruction=${instr}&gatewayLabel=${encodeURIComponent(LABEL).replaceAll("%20", "+")}`;
    const live = await get(q("Publish"));
    assert.equal(live.status, 200);
    assert.equal(
      (JSON.parse(live.text) as { apiId: string }).apiId,
      gone,
      "the GatewayAPIDTO JSON, unwrapped",
    );
    await p.removeApi(gone, [LABEL]);
    const after = await get(q("Publish"));
    assert.equal(after.status, 200);
    assert.equal(after.text, "", "empty: InMemoryAPIDeployer.java@3.2.0:75 reads it as nothing to deploy");
    const any = await get(q("ANY"));
    assert.equal((JSON.parse(any.text) as { apiId: string }).apiId, gone, "ANY still finds the removed row");
  });

  test("3.2.0 /gateway-synapse-artifacts: {count, list} of the label's published APIs (GatewaySynapseArtifactsApiServiceImpl.java:22-43)", async () => {
    const r = await get(`${base}/gateway-synapse-artifacts?gatewayLabel=${encodeURIComponent(OTHER)}`);
    assert.equal(r.status, 200);
    const body = r.json() as { count: number; list: string[] };
    assert.equal(body.count, 2);
    assert.deepEqual(
      body.list.map((a) => (JSON.parse(a) as { apiId: string }).apiId).sort(),
      [edge, both].sort(),
    );
    const none = await get(`${base}/gateway-synapse-artifacts?gatewayLabel=nobody`);
    assert.equal(none.status, 200, "an empty list, not a 404");
    assert.equal((none.json() as { count: number }).count, 0);
  });

  test("3.2.0 /synapse-attributes: apiId and the labels it is published to (SynapseAttributesApiServiceImpl.java:24-44)", async () => {
    const r = await get(`${base}/synapse-attributes?apiName=Both&tenantDomain=carbon.super&version=1.0.0`);
    assert.equal(r.status, 200);
    const body = r.json() as { apiId: string; labels: string[] };
    assert.equal(body.apiId, both);
    assert.deepEqual(body.labels.sort(), [LABEL, OTHER].sort());
  });

  test("every data API path asks for credentials", async () => {
    for (const path of [
      "runtime-artifacts",
      "synapse-artifacts",
      "gateway-synapse-artifacts",
      "synapse-attributes",
    ]) {
      const res = await fetch(`${base}/${path}?gatewayLabel=x&apiId=y&apiName=a&version=1`);
      await res.body?.cancel();
      assert.equal(res.status, 401, path);
    }
  });
});

describe("data API: what a gwsync gateway sends, a WSO2 control plane understands", () => {
  test("the model: WSO2 decodes its own encoding, and a plain label into garbage (RuntimeArtifactGeneratorUtil.java:199-201)", () => {
    assert.deepEqual(wso2x4DecodeGatewayLabel(wso2x4GatewayLabelParam([LABEL, OTHER])), [LABEL, OTHER]);
    assert.notDeepEqual(wso2x4DecodeGatewayLabel(LABEL), [LABEL]);
    assert.notDeepEqual(wso2x4DecodeGatewayLabel(encodeURIComponent(OTHER)), [OTHER]);
  });

  const world = new FaultWorld();
  const cp = new Wso2ControlPlane();
  let artifactOf: (name: string) => Promise<Wso2ArtifactRow>;

  before(async () => {
    const svc = await world.startPublisher();
    await cp.up();
    // Real GatewayAPIDTO JSON, as a control plane stores it: made by a gwsync publisher, served by the model.
    artifactOf = async (name) => {
      const { apiId } = await svc.publisher.deployApi(synapseApi({ name }), ["staging"]);
      const row = await svc.publisher.store.getArtifact(apiId, "staging");
      return { apiId, label: LABEL, tenantDomain: "carbon.super", artifact: row!.artifactJson };
    };
  });
  after(async () => {
    await cp.down();
    await world.close();
  });

  test("HttpArtifactRetriever (data_api 4.x) sends base64url labels and xWSO2Tenant, and reads WSO2's replies", async () => {
    const row = await artifactOf("Retrieved");
    cp.rows.push(row);
    const r = new HttpArtifactRetriever({ serviceUrl: cp.url, username: USER, password: PASSWORD });
    const all = await r.retrieveAllArtifacts(LABEL);
    assert.deepEqual(
      all.items.map((i) => i.apiId),
      [row.apiId],
    );
    const one = await r.retrieveArtifact(row.apiId, LABEL);
    assert.equal(one?.apiId, row.apiId);
    // A 404 (DBRetriever.java:103-105) is "not there", never an error.
    assert.equal(await r.retrieveArtifact(randomUUID(), LABEL), undefined);
    const calls = cp.asked.filter((a) => a.path.endsWith("/runtime-artifacts"));
    assert.ok(calls.length >= 3);
    for (const c of calls) {
      assert.equal(
        c.gatewayLabel,
        wso2x4GatewayLabelParam([LABEL]),
        "the label as InMemoryAPIDeployer encodes it",
      );
      assert.deepEqual(wso2x4DecodeGatewayLabel(c.gatewayLabel!), [LABEL]);
      // Every tenant, as WSO2 asks for them: organization ALL from the super tenant (lines 56-59).
      assert.equal(c.tenant, "carbon.super");
      assert.equal(c.organization, "ALL");
    }
  });

  test("a gwsync gateway deploys from a control plane that only understands base64url labels, on start and on an event", async () => {
    const first = await artifactOf("AtStart");
    cp.rows.push(first);
    // Another tenant's API: the gateway serves every tenant by default (data_api_tenant unset).
    const other = { ...(await artifactOf("OtherTenant")), tenantDomain: "wso2.com" };
    cp.rows.push(other);
    const gw = await world.startGateway({
      name: "wso2cp",
      labels: [LABEL],
      serviceUrl: cp.url,
      maxRetries: 0,
    });
    assert.ok(gw.deployer.get(first.apiId), "deployed by the startup load");
    assert.ok(gw.deployer.get(other.apiId), "the other tenant's too");
    const second = await artifactOf("ByEvent");
    cp.rows.push(second);
    const enc = encodeNotification(
      deployApiEvent({
        uuid: second.apiId,
        name: "ByEvent",
        version: "1.0.0",
        provider: "admin",
        context: "/byevent/1.0.0",
        gatewayLabels: [LABEL],
      }),
    );
    await publishMessages(world.exchange, [
      { topic: "notification", messageId: enc.eventId, body: enc.body, headers: {} },
    ]);
    await waitFor(
      gw.events,
      "applied",
      () => gw.deployer.get(second.apiId) !== undefined,
      "ByEvent deployed",
    );
    // WSO2 keeps no changelog: the catch-up re-reads the listing, and what the listing lost goes.
    cp.rows.splice(cp.rows.indexOf(second), 1);
    // The first call may join a catch-up that began before the change (the one run at connect).
    await gw.catchUp();
    await gw.catchUp();
    assert.equal(gw.deployer.get(second.apiId), undefined, "removed: the listing no longer has it");
    assert.ok(gw.deployer.get(first.apiId), "the other API stays");
    await world.stopGateway("wso2cp");
  });

  test("data_api 3.2.0: a gwsync gateway calls /gateway-synapse-artifacts and /synapse-artifacts with the plain label", async () => {
    const proxy = new FaultControlPlane(() => world.publisherUrl);
    await proxy.up();
    try {
      const p = world.publisher!.publisher;
      const startApi = (await p.deployApi(synapseApi({ name: "Legacy320" }), [OTHER])).apiId;
      const gw = await world.startGateway({
        name: "gw320",
        labels: [OTHER],
        serviceUrl: proxy.url,
        dataApi: "3.2.0",
      });
      assert.ok(gw.deployer.get(startApi), "deployed at start from /gateway-synapse-artifacts");
      const apiId = (await p.deployApi(synapseApi({ name: "Legacy320b" }), [OTHER])).apiId;
      await waitFor(gw.events, "applied", () => gw.deployer.get(apiId) !== undefined, "Legacy320b deployed");
      const paths = new Set(proxy.seen.map((s) => s.path));
      assert.ok(paths.has("/internal/data/v1/gateway-synapse-artifacts"), [...paths].join(", "));
      assert.ok(paths.has("/internal/data/v1/synapse-artifacts"), [...paths].join(", "));
      assert.ok(!paths.has("/internal/data/v1/runtime-artifacts"));
      await world.stopGateway("gw320");
    } finally {
      await proxy.down();
    }
  });
});

describe("data API: tenants (xWSO2Tenant) and the endpoints a WSO2 4.x gateway calls at start", () => {
  const world = new FaultWorld();
  const TENANT = "wso2.com";
  let base = "";
  let superApi = "";
  let tenantApi = "";
  const enc = encodeURIComponent(wso2x4GatewayLabelParam([LABEL]));
  const ids = (r: { json: () => Record<string, unknown> }) =>
    ((r.json() as { list: string[] }).list ?? [])
      .map((a) => (JSON.parse(a) as { apiId: string }).apiId)
      .sort();

  before(async () => {
    const svc = await world.startPublisher();
    base = `${world.publisherUrl}/internal/data/v1`;
    superApi = (await svc.publisher.deployApi(synapseApi({ name: "SuperApi" }), [LABEL])).apiId;
    tenantApi = (
      await svc.publisher.deployApi(
        synapseApi({
          provider: "admin-AT-wso2.com",
          name: "TenantApi",
          context: "/t/wso2.com/tenantapi/1.0.0",
        }),
        [LABEL],
        { tenantDomain: TENANT },
      )
    ).apiId;
  });
  after(async () => {
    await world.close();
  });

  test("runtime-artifacts answers the tenant asked for (RuntimeArtifactsApiServiceImpl.java:47-63, OnPremResolver.java:38-80)", async () => {
    const url = `${base}/runtime-artifacts?gatewayLabel=${enc}&type=Synapse`;
    assert.deepEqual(ids(await get(url, { xWSO2Tenant: TENANT })), [tenantApi]);
    assert.deepEqual(ids(await get(url, { xWSO2Tenant: "carbon.super" })), [superApi]);
    // No header: the caller's own tenant (SubscriptionValidationDataUtil.java:588-592), the super tenant's.
    assert.deepEqual(ids(await get(url)), [superApi]);
    // Organization ALL from a super-tenant caller: every tenant (lines 56-59).
    assert.deepEqual(
      ids(await get(url, { xWSO2Tenant: "carbon.super", "X-WSO2-Tenant": "ALL" })),
      [superApi, tenantApi].sort(),
    );
    // A tenant with nothing on the label: 404, as WSO2 (NO_API_ARTIFACT_FOUND).
    assert.equal((await get(url, { xWSO2Tenant: "other.org" })).status, 404);
    // A plain label (3.2.0-style, older gwsync gateways): every tenant, as before.
    const plain = await get(`${base}/runtime-artifacts?gatewayLabel=${encodeURIComponent(LABEL)}`, {
      xWSO2Tenant: "carbon.super",
    });
    assert.deepEqual(ids(plain), [superApi, tenantApi].sort());
  });

  test("a gwsync gateway of one tenant (data_api_tenant) deploys that tenant's APIs only, at start and from events", async () => {
    const gw = await world.startGateway({ name: "tenant", labels: [LABEL], dataApiTenant: TENANT });
    assert.ok(gw.deployer.get(tenantApi), "the tenant's API");
    assert.equal(gw.deployer.get(superApi), undefined, "not the super tenant's");
    const skipped = () => gw.deployer.size;
    const before = skipped();
    const later = (await world.publisher!.publisher.deployApi(synapseApi({ name: "SuperLater" }), [LABEL]))
      .apiId;
    const laterTenant = (
      await world.publisher!.publisher.deployApi(
        synapseApi({
          provider: "admin-AT-wso2.com",
          name: "TenantLater",
          context: "/t/wso2.com/tenantlater/1.0.0",
        }),
        [LABEL],
        { tenantDomain: TENANT },
      )
    ).apiId;
    await waitFor(
      gw.events,
      "applied",
      () => gw.deployer.get(laterTenant) !== undefined,
      "TenantLater deployed",
    );
    assert.equal(gw.deployer.get(later), undefined, "the super tenant's event was left alone");
    assert.equal(gw.deployer.size, before + 1);
    await world.stopGateway("tenant");
  });

  test("the subscription-validation endpoints answer 200 with WSO2's list shapes (api.yaml; SubscriptionDataLoaderImpl retries anything else)", async () => {
    const apis = await get(`${base}/apis?gatewayLabel=${encodeURIComponent(LABEL)}`, {
      xWSO2Tenant: "carbon.super",
    });
    assert.equal(apis.status, 200);
    const body = apis.json() as { count: number; list: Record<string, unknown>[] };
    assert.equal(body.count, body.list.length);
    const mine = body.list.find((a) => a.uuid === superApi);
    assert.ok(mine, "the super tenant's API is listed");
    assert.equal(mine.context, "/superapi/1.0.0");
    assert.equal(mine.name, "SuperApi");
    assert.equal(mine.organization, "carbon.super");
    assert.ok(!body.list.some((a) => a.uuid === tenantApi), "scoped to the tenant");
    const all = (
      await get(`${base}/apis?gatewayLabel=${encodeURIComponent(LABEL)}`, { xWSO2Tenant: "ALL" })
    ).json() as {
      list: { uuid: string }[];
    };
    assert.ok(
      all.list.some((a) => a.uuid === tenantApi),
      "ALL lists every tenant (ApisApiServiceImpl.java:84-87)",
    );
    const byContext = (
      await get(
        `${base}/apis?gatewayLabel=${encodeURIComponent(LABEL)}&context=/superapi/1.0.0&version=1.0.0`,
      )
    ).json() as { count: number };
    assert.equal(byContext.count, 1);
    const km = await get(`${base}/keymanagers`, { xWSO2Tenant: "carbon.super" });
    assert.equal(km.status, 200);
    assert.deepEqual(km.json(), [], "a JSON array (api.yaml /keymanagers)");
    const hooks = await get(`${base}/webhooks-subscriptions`, { xWSO2Tenant: "carbon.super" });
    assert.deepEqual(hooks.json(), { list: [] });
    for (const path of [
      "subscriptions",
      "applications",
      "application-key-mappings",
      "subscription-policies",
      "scopes",
    ]) {
      const r = await get(`${base}/${path}`, { xWSO2Tenant: "carbon.super" });
      assert.equal(r.status, 200, path);
      assert.deepEqual(r.json(), { count: 0, list: [] }, path);
    }
  });
});
