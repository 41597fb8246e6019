import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { deadLetterQueueName } from "../../src/amqp/topology.js";
import { encodeKeyManager, encodeTokenRevocation } from "../../src/events/encode.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { toGatewayApiDto } from "../../src/publisher/artifact-input.js";
import { drainQueueUntil, publishRaw } from "../harness/broker.js";
import { authHeader, synapseApi, TestCluster } from "../harness/cluster.js";
import { CHANGED, counter, waitFor } from "../harness/wait.js";

const FIXTURES = new URL("../fixtures/wso2/events/", import.meta.url);
const RUNTIME = ["runtime", "rejected", "handled"];

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { headers: { authorization: authHeader() } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Resolves once `check` holds on every gateway, re-checking after each runtime-state event. */
function onAll(gws: Gateway[], check: (g: Gateway) => boolean, what: string): Promise<void> {
  return waitFor(
    gws.map((g) => g.events),
    RUNTIME,
    () => gws.every(check),
    what,
  );
}

describe("the four streams: WSO2-compatible, and what every gateway keeps from them", () => {
  const cluster = new TestCluster();
  let gws: Gateway[] = [];

  before(async () => {
    await cluster.startPublisher();
    for (let i = 0; i < 4; i++) gws.push(await cluster.startGateway({ name: `g${i}`, labels: [`L${i}`] }));
  });
  after(() => cluster.close());

  test("a token revoked through the REST API is revoked on 4 gateways, and no longer after its expiry", async () => {
    const url = cluster.publisher!.httpUrl!;
    const token = `jti-${cluster.id}`;
    const expiryTime = Date.now() + 1500;
    const res = await fetch(`${url}/api/v1/token-revocations`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": "application/json" },
      body: JSON.stringify({ revokedToken: token, expiryTime, type: "JWT" }),
    });
    assert.equal(res.status, 202);
    await onAll(
      gws,
      (g) => g.runtime.revokedTokens.isRevoked(token) !== undefined,
      "the revocation on 4 gateways",
    );
    for (const g of gws) {
      const r = await getJson(`${g.httpUrl}/api/v1/revoked-tokens/${token}`);
      assert.equal(r.status, 200);
      assert.equal(r.body.revoked, true);
      assert.equal(r.body.expiresAt, expiryTime);
    }
    const unknown = await fetch(`${gws[0]!.httpUrl}/api/v1/revoked-tokens/not-revoked`, {
      headers: { authorization: authHeader() },
    });
    assert.equal(unknown.status, 404);
    // Expiry is about the clock itself: wait until the expiry time has passed, then ask again.
    await new Promise((r) => setTimeout(r, Math.max(0, expiryTime - Date.now() + 20)));
    for (const g of gws)
      assert.equal((await getJson(`${g.httpUrl}/api/v1/revoked-tokens/${token}`)).status, 404);
  });

  test("a revocation survives a gateway restart", async () => {
    const token = `opaque-${cluster.id}`;
    await cluster.publisher!.publisher.emit({
      stream: "tokenRevocation",
      event: { revokedToken: token, expiryTime: 0, type: "DEFAULT", ttl: 3600 },
    });
    await onAll(
      gws,
      (g) => g.runtime.revokedTokens.isRevoked(token) !== undefined,
      "the opaque token revocation",
    );
    await cluster.stopGateway("g0");
    const again = await cluster.startGateway({ name: "g0", labels: ["L0"] });
    gws = [again, ...gws.slice(1)];
    assert.ok(again.runtime.revokedTokens.isRevoked(token), "still revoked after the restart");
  });

  test("key managers are added, updated and deleted (value decoded from base64) on every gateway", async () => {
    const pub = cluster.publisher!.publisher;
    const km = (action: "add" | "update" | "delete", config: Record<string, unknown> | null) =>
      pub.emit({
        stream: "keyManager",
        event: { action, name: "Okta", type: "Okta", enabled: true, organization: "carbon.super", config },
      });
    await km("add", { issuer: "https://okta.example/1", client_secret: "s3cr3t" });
    await onAll(
      gws,
      (g) => g.runtime.keyManagers.snapshot().some((k) => k.name === "Okta"),
      "the key manager add",
    );
    await km("update", { issuer: "https://okta.example/2", client_secret: "s3cr3t" });
    await onAll(
      gws,
      (g) => JSON.stringify(g.runtime.keyManagers.snapshot()).includes("okta.example/2"),
      "the key manager update",
    );
    const r = await getJson(`${gws[1]!.httpUrl}/api/v1/key-managers`);
    assert.equal(r.body.count, 1);
    assert.ok(!JSON.stringify(r.body).includes("s3cr3t"), "credentials in a key manager config are masked");
    await km("delete", null);
    await onAll(gws, (g) => g.runtime.keyManagers.snapshot().length === 0, "the key manager delete");
  });

  test("webhook subscriptions are subscribed, unsubscribed, and queried by API and topic", async () => {
    const pub = cluster.publisher!.publisher;
    const sub = (mode: "subscribe" | "unsubscribe", topic: string) =>
      pub.emit({
        stream: "asyncWebhooksData",
        event: {
          apiUUID: "api-1",
          appID: "app-1",
          tenantId: -1234,
          callback: "https://hooks.example/cb",
          topic,
          mode,
          expireAt: 0,
          secret: "hmac-secret",
        },
      });
    await sub("subscribe", "/orders");
    await sub("subscribe", "/payments");
    await onAll(
      gws,
      (g) => g.runtime.webhookSubscriptions.query({ apiUUID: "api-1" }).length === 2,
      "two subscriptions",
    );
    const r = await getJson(`${gws[2]!.httpUrl}/api/v1/webhook-subscriptions?apiUUID=api-1&topic=/orders`);
    assert.equal(r.body.count, 1);
    assert.ok(!JSON.stringify(r.body).includes("hmac-secret"), "the callback secret is never served");
    await sub("unsubscribe", "/orders");
    await onAll(
      gws,
      (g) => g.runtime.webhookSubscriptions.query({ apiUUID: "api-1" }).length === 1,
      "the unsubscribe",
    );
  });

  test("WSO2's own POLICY_UPDATE message (the real sample) is applied; a duplicate eventId is ignored", async () => {
    const wire = readFileSync(new URL("notification-POLICY_UPDATE.wire.json", FIXTURES));
    const applied = gws.map((g) =>
      counter(g.events, "runtime", (stream, result) => stream === "notification" && result === "applied"),
    );
    const dupes = gws.map((g) => counter(g.events, "runtime", (_s, result) => result === "duplicate"));
    await publishRaw(cluster.exchange, "notification", [wire, wire]);
    await onAll(
      gws,
      (g) =>
        g.runtime.subscriptionData.snapshot().policies.some((p) => JSON.stringify(p).includes("Unlimited")),
      "the policy",
    );
    await waitFor(
      gws.map((g) => g.events),
      RUNTIME,
      () => dupes.every((d) => d.count >= 1) && applied.every((a) => a.count >= 1),
      "the message and its duplicate to be handled",
    );
    assert.ok(
      applied.every((a) => a.count === 1),
      `applied once per gateway: ${applied.map((a) => a.count)} dupes ${dupes.map((d) => d.count)}`,
    );
  });

  test("a WSO2 3.2.0-shaped DEPLOY_API_IN_GATEWAY (apiId is the UUID) deploys what the store holds", async () => {
    const pub = cluster.publisher!.publisher;
    const dto = toGatewayApiDto(synapseApi({ name: "Legacy320" }));
    // Stored without an event of ours: the event comes from a WSO2 3.2.0 control plane.
    await pub.store.saveArtifact({ dto, labels: ["L1"], instruction: "Publish" }, () => []);
    const inner = {
      apiId: dto.apiId,
      gatewayLabels: ["L1"],
      eventId: randomUUID(),
      timeStamp: Date.now(),
      type: "DEPLOY_API_IN_GATEWAY",
      tenantId: 0,
      tenantDomain: "carbon.super",
    };
    const body = JSON.stringify({
      event: {
        payloadData: {
          eventType: "DEPLOY_API_IN_GATEWAY",
          timestamp: inner.timeStamp,
          event: Buffer.from(JSON.stringify(inner)).toString("base64"),
        },
      },
    });
    await publishRaw(cluster.exchange, "notification", [Buffer.from(body)]);
    const g1 = gws[1]!;
    await waitFor(
      g1.events,
      CHANGED,
      () => g1.deployer.get(dto.apiId) !== undefined,
      "the 3.2.0 deploy event to be applied",
    );
    assert.equal(gws[2]!.deployer.get(dto.apiId), undefined, "a gateway of another label does not deploy it");
  });

  test("bad payloads of every stream are dead-lettered with their reason while valid ones keep flowing", async () => {
    const g = gws[3]!;
    const rejected = counter(g.events, "rejected");
    const bad: [string, Buffer][] = [
      [
        "notification",
        Buffer.from('{"event":{"payloadData":{"eventType":"X","timestamp":"soon","event":"e30="}}}'),
      ],
      ["tokenRevocation", Buffer.from('{"event":{"payloadData":{"eventId":"e","revokedToken":7}}}')],
      ["keyManager", Buffer.from('{"event":{"payloadData":{"action":"explode","name":"k"}}}')],
      ["asyncWebhooksData", Buffer.from('{"event":{"payloadData":{"apiUUID":"a","mode":"maybe"}}}')],
    ];
    for (const [stream, body] of bad) await publishRaw(cluster.exchange, stream, [body]);
    const ok = encodeTokenRevocation({ revokedToken: `after-bad-${cluster.id}`, expiryTime: 0, type: "JWT" });
    const km = encodeKeyManager({
      action: "add",
      name: "After",
      type: "default",
      enabled: true,
      organization: "carbon.super",
      config: {},
    });
    await publishRaw(cluster.exchange, "tokenRevocation", [ok.body], { messageId: () => ok.eventId });
    await publishRaw(cluster.exchange, "keyManager", [km.body], { messageId: () => km.eventId });
    await waitFor(
      g.events,
      RUNTIME,
      () =>
        rejected.count >= 4 &&
        g.runtime.revokedTokens.isRevoked(`after-bad-${cluster.id}`) !== undefined &&
        g.runtime.keyManagers.snapshot().length === 1,
      "4 rejections and the valid events applied",
    );
    const dead = await drainQueueUntil(deadLetterQueueName(g.queueName), 4);
    const streams = dead.map((m) => String(m.headers["x-gwsync-stream"])).sort();
    assert.deepEqual(streams, ["asyncWebhooksData", "keyManager", "notification", "tokenRevocation"]);
    for (const m of dead) assert.ok(String(m.headers["x-gwsync-reason"]).length > 10);
    rejected.stop();
  });

  test("per-stream counts are served by the gateway", async () => {
    const r = await getJson(`${gws[3]!.httpUrl}/api/v1/runtime`);
    const counts = r.body as Record<string, { applied: number }>;
    assert.ok(counts.tokenRevocation!.applied >= 2);
    assert.ok(counts.keyManager!.applied >= 3);
    assert.ok(counts.asyncWebhooksData!.applied >= 3);
    const metrics = await (
      await fetch(`${gws[3]!.httpUrl}/metrics`, { headers: { authorization: authHeader() } })
    ).text();
    assert.match(metrics, /gwsync_events_applied_total\{[^}]*stream="tokenRevocation"[^}]*\} [1-9]/);
    assert.match(metrics, /gwsync_events_rejected_total\{[^}]*stream="keyManager"/);
  });
});

// WSO2 4.x: [apim.event_hub] event_waiting_time holds back notification and webhook messages from their
// JMSTimestamp (GatewayJMSMessageListener.java:94-103, the listener of those two topics only,
// GatewayStartupListener.java:255-259); the token-revocation and key-manager listeners have no wait.
describe("event_waiting_time", () => {
  const cluster = new TestCluster();
  after(() => cluster.close());

  test("a webhook event is applied no earlier than its timestamp plus [apim.event_hub] event_waiting_time", async () => {
    await cluster.startPublisher();
    const g = await cluster.startGateway({
      name: "w",
      labels: ["W"],
      eventHubExtra: "event_waiting_time = 400",
    });
    const t0 = Date.now();
    await cluster.publisher!.publisher.emit({
      stream: "asyncWebhooksData",
      event: {
        apiUUID: `wait-${cluster.id}`,
        appID: "app-1",
        tenantId: -1234,
        callback: "https://hooks.example/cb",
        topic: "/t",
        mode: "subscribe",
        expireAt: 0,
        secret: "s",
      },
    });
    await waitFor(
      g.events,
      RUNTIME,
      () => g.runtime.webhookSubscriptions.query({ apiUUID: `wait-${cluster.id}` }).length === 1,
      "the delayed webhook subscription",
    );
    assert.ok(Date.now() - t0 >= 400, `applied after ${Date.now() - t0} ms`);
  });

  test("a token revocation is never held back, however long the waiting time", async () => {
    const g = await cluster.startGateway({
      name: "r",
      labels: ["W"],
      eventHubExtra: "event_waiting_time = 3600000",
    });
    const token = `nowait-${cluster.id}`;
    await cluster.publisher!.publisher.emit({
      stream: "tokenRevocation",
      event: { revokedToken: token, expiryTime: 0, type: "JWT" },
    });
    await waitFor(
      g.events,
      RUNTIME,
      () => g.runtime.revokedTokens.isRevoked(token) !== undefined,
      "the revocation, at once",
    );
  });
});
