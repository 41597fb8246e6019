import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { deadLetterQueueName } from "../../src/amqp/topology.js";
import {
  encodeKeyManager,
  encodeNotification,
  encodeTokenRevocation,
  encodeWebhookSubscription,
} from "../../src/events/encode.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { drainQueueUntil, publishRaw } from "../harness/broker.js";
import { authHeader, TestCluster } from "../harness/cluster.js";
import { waitFor } from "../harness/wait.js";

const MAX_TOKENS = 40;
const MAX_TOKEN_LENGTH = 700;
const LIFETIME_MS = 60 * 60 * 1000;

/** A JSON text nested `depth` levels deep, built as text (JSON.stringify itself cannot write it). */
function deepJson(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

/** A keyManager event exactly as WSO2 writes it, its `value` the base64 of `configText`. */
function keyManagerBody(name: string, configText: string): Buffer {
  const payloadData = {
    event_type: "key_manager_configuration",
    action: "add",
    name,
    type: "default",
    enabled: true,
    value: Buffer.from(configText).toString("base64"),
    organization: "carbon.super",
    tokenType: null,
  };
  return Buffer.from(JSON.stringify({ event: { payloadData } }));
}

async function limitCount(gw: Gateway, limit: string): Promise<number> {
  const text = await gw.metrics.registry.getSingleMetricAsString("gwsync_limit_exceeded_total");
  const m = new RegExp(`limit="${limit}"[^\\n]* (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Issue item 3, with the default configuration: JSON depth is refused at the edge (a 20,000-deep
 * key-manager config never reaches JSON.stringify), and runtime state keeps being saved and served.
 */
describe("JSON depth limit (default max_json_depth = 64) on the broker and over REST", () => {
  const cluster = new TestCluster();
  let gw: Gateway;

  before(async () => {
    await cluster.startPublisher();
    gw = await cluster.startGateway({ name: "gw", labels: ["L"] });
  });
  after(() => cluster.close());

  test("a key-manager config 20,000 levels deep is dead-lettered; later key managers are applied, saved and served", async () => {
    const rejected: string[] = [];
    gw.events.on("rejected", (_s: string, reason: string) => rejected.push(reason));
    await publishRaw(cluster.exchange, "keyManager", [keyManagerBody("Deep", deepJson(20_000))], {
      messageId: () => randomUUID(),
    });
    await waitFor(
      gw.events,
      "rejected",
      () => rejected.some((r) => /deeper than 64 levels/.test(r)),
      "the deep config refused",
    );
    const dead = await drainQueueUntil(deadLetterQueueName(gw.queueName), 1);
    assert.match(
      String(dead[0]!.headers["x-gwsync-reason"]),
      /keyManager: .*value nests deeper than 64 levels/,
    );
    assert.equal(await limitCount(gw, "max_json_depth"), 1);

    // The gateway still serves its key managers and still saves the next ones.
    await publishRaw(
      cluster.exchange,
      "keyManager",
      [keyManagerBody("Okta", JSON.stringify({ client_id: "x", depth: { ok: [1] } }))],
      {
        messageId: () => randomUUID(),
      },
    );
    await waitFor(
      gw.events,
      "runtime",
      () => gw.runtime.keyManagers.get("carbon.super", "Okta") !== undefined,
      "the next key manager",
    );
    const res = await fetch(`${gw.httpUrl}/api/v1/key-managers`, {
      headers: { authorization: authHeader() },
    });
    assert.equal(res.status, 200);
    gw.runtime.flush();
    const onDisk = readFileSync(join(cluster.root, "gw", "data", "runtime", "key-managers.json"), "utf8");
    assert.match(onDisk, /"Okta"/);
    assert.doesNotMatch(onDisk, /"Deep"/);
  });

  test("over REST, a 6,000-deep config is 413 GWSYNC_LIMIT_EXCEEDED (not 500) and nothing is emitted", async () => {
    const url = cluster.publisher!.httpUrl!;
    const depthBefore = await cluster.publisher!.publisher.store.outboxDepth();
    const res = await fetch(`${url}/api/v1/key-managers`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": "application/json" },
      body: `{"action":"add","name":"Deep","config":${deepJson(6000)}}`,
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { code: string }).code, "GWSYNC_LIMIT_EXCEEDED");
    assert.equal(await cluster.publisher!.publisher.store.outboxDepth(), depthBefore);
  });
});

/** Issue item 7: token revocations bounded in count, length, lifetime and per REST request. */
describe("revocation limits: count, token length, lifetime, events per request", () => {
  const cluster = new TestCluster();
  let gw: Gateway;

  before(async () => {
    await cluster.startPublisher();
    gw = await cluster.startGateway({
      name: "gw",
      labels: ["L"],
      gwsyncExtra: `max_revoked_tokens = ${MAX_TOKENS}\nmax_revoked_token_length = ${MAX_TOKEN_LENGTH}\nmax_revocation_lifetime_ms = ${LIFETIME_MS}`,
    });
  });
  after(() => cluster.close());

  test("revocations: count capped (the rest dead-lettered with the reason), long tokens refused, lifetime bounded", async () => {
    const now = Date.now();
    const tokens = Array.from({ length: MAX_TOKENS + 5 }, (_, i) => `cap-${i}-${randomUUID()}`);
    const far = encodeTokenRevocation({ revokedToken: "far-future", expiryTime: 8.64e15, type: "JWT" });
    const long = encodeTokenRevocation({
      revokedToken: "L".repeat(MAX_TOKEN_LENGTH + 1),
      expiryTime: now + 60_000,
      type: "JWT",
    });
    const capped = tokens.map((t) =>
      encodeTokenRevocation({ revokedToken: t, expiryTime: now + 60_000, type: "JWT" }),
    );
    const all = [far, long, ...capped];
    const handled = new Set<string>();
    gw.events.on("handled", (_s: string, _k: string, id: string | undefined) => handled.add(id ?? ""));
    await publishRaw(
      cluster.exchange,
      "tokenRevocation",
      all.map((e) => e.body),
      { messageId: (i) => all[i]!.eventId },
    );
    await waitFor(
      gw.events,
      "handled",
      () => all.every((e) => handled.has(e.eventId)),
      "every revocation handled",
    );

    const held = gw.runtime.revokedTokens.held();
    assert.equal(held, MAX_TOKENS, "exactly max_revoked_tokens held");
    const refusedByCount = tokens.filter((t) => !gw.runtime.revokedTokens.isRevoked(t)).length;
    assert.equal(refusedByCount, 6, "the far-future token took one slot, so six of the rest were refused");
    assert.equal(gw.runtime.revokedTokens.isRevoked("L".repeat(MAX_TOKEN_LENGTH + 1)), undefined);
    const farEntry = gw.runtime.revokedTokens.isRevoked("far-future");
    assert.ok(farEntry && farEntry.expiresAt <= Date.now() + LIFETIME_MS, "8.64e15 is cut to the horizon");

    const dead = await drainQueueUntil(deadLetterQueueName(gw.queueName), 7);
    const reasons = dead.map((m) => String(m.headers["x-gwsync-reason"]));
    assert.equal(reasons.filter((r) => /max_revoked_tokens/.test(r)).length, 6);
    assert.equal(reasons.filter((r) => /max_revoked_token_length/.test(r)).length, 1);
    assert.equal(await limitCount(gw, "max_revoked_tokens"), 6);
    assert.equal(await limitCount(gw, "max_revoked_token_length"), 1);
    assert.equal(await limitCount(gw, "max_revocation_lifetime_ms"), 1);
  });

  test("GET /api/v1/revoked-tokens/{token} answers for a 683-character token (an RS512 JWT signature)", async () => {
    const token = "S".repeat(683);
    gw.runtime.revokedTokens.purgeExpired(Date.now() + 2 * 60_000); // make room: the cap test filled it
    const e = encodeTokenRevocation({ revokedToken: token, expiryTime: Date.now() + 60_000, type: "JWT" });
    await publishRaw(cluster.exchange, "tokenRevocation", [e.body], { messageId: () => e.eventId });
    await waitFor(
      gw.events,
      "runtime",
      () => gw.runtime.revokedTokens.isRevoked(token) !== undefined,
      "the long token",
    );
    const res = await fetch(`${gw.httpUrl}/api/v1/revoked-tokens/${token}`, {
      headers: { authorization: authHeader() },
    });
    assert.equal(res.status, 200);
  });

  test("REST takes at most max_events_per_request revocations, and no token over max_revoked_token_length", async () => {
    const url = cluster.publisher!.httpUrl!;
    const post = (body: unknown) =>
      fetch(`${url}/api/v1/token-revocations`, {
        method: "POST",
        headers: { authorization: authHeader(), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const many = Array.from({ length: 1001 }, (_, i) => ({
      revokedToken: `t${i}`,
      expiryTime: Date.now() + 60_000,
    }));
    const r1 = await post(many);
    assert.equal(r1.status, 413);
    assert.match(((await r1.json()) as { message: string }).message, /max_events_per_request/);
    const r2 = await post({ revokedToken: "x".repeat(1025), expiryTime: Date.now() + 60_000 });
    assert.equal(r2.status, 413);
    assert.equal((await post(many.slice(0, 1000))).status, 202);
  });
});

/** Key managers, webhook subscriptions and subscription data are bounded in count like revocations. */
describe("runtime record limits: key managers, webhook subscriptions, applications", () => {
  const cluster = new TestCluster();
  const CAP = 3;
  let gw: Gateway;

  before(async () => {
    await cluster.startPublisher();
    gw = await cluster.startGateway({
      name: "gw",
      labels: ["L"],
      gwsyncExtra: `max_key_managers = ${CAP}\nmax_webhook_subscriptions = ${CAP}\nmax_subscription_records = ${CAP}`,
    });
  });
  after(() => cluster.close());

  test("one record past each cap is dead-lettered with its limit; updates and deletions of held records still apply", async () => {
    const km = (name: string, action: "add" | "update" | "delete", issuer = "https://is.example/oauth2/token") =>
      encodeKeyManager({
        action,
        name,
        type: "WSO2-IS",
        enabled: true,
        organization: "carbon.super",
        config: action === "delete" ? null : { issuer },
      });
    const hook = (callback: string) =>
      encodeWebhookSubscription({
        apiUUID: "api-1",
        appID: "app-1",
        tenantId: -1234,
        callback,
        topic: "/orders",
        mode: "subscribe",
        expireAt: Date.now() + 3_600_000,
      });
    const app = (applicationId: number, applicationName: string, timeStamp: number) =>
      encodeNotification({
        type: "APPLICATION_CREATE",
        applicationId,
        applicationName,
        tenantId: -1234,
        tenantDomain: "carbon.super",
        timeStamp,
      });
    const t0 = Date.now();
    const keyManagers = [
      ...Array.from({ length: CAP + 1 }, (_, i) => km(`KM${i}`, "add")),
      km("KM0", "update", "https://is2.example/oauth2/token"),
    ];
    const hooks = Array.from({ length: CAP + 1 }, (_, i) => hook(`https://cb${i}.example/hook`));
    const apps = [
      ...Array.from({ length: CAP + 1 }, (_, i) => app(i + 1, `App${i + 1}`, t0 + i)),
      app(1, "Renamed", t0 + 100),
    ];
    const handled = new Set<string>();
    gw.events.on("handled", (_s: string, _k: string, id: string | undefined) => handled.add(id ?? ""));
    await publishRaw(cluster.exchange, "keyManager", keyManagers.map((e) => e.body), {
      messageId: (i) => keyManagers[i]!.eventId,
    });
    await publishRaw(cluster.exchange, "asyncWebhooksData", hooks.map((e) => e.body), {
      messageId: (i) => hooks[i]!.eventId,
    });
    await publishRaw(cluster.exchange, "notification", apps.map((e) => e.body), {
      messageId: (i) => apps[i]!.eventId,
    });
    const all = [...keyManagers, ...hooks, ...apps];
    await waitFor(gw.events, "handled", () => all.every((e) => handled.has(e.eventId)), "every event handled");

    assert.equal(gw.runtime.keyManagers.size(), CAP);
    assert.equal(gw.runtime.keyManagers.get("carbon.super", `KM${CAP}`), undefined, "the key manager past the cap");
    assert.match(
      JSON.stringify(gw.runtime.keyManagers.get("carbon.super", "KM0")?.config),
      /is2\.example/,
      "an update of a held key manager applies at the cap",
    );
    assert.equal(gw.runtime.webhookSubscriptions.size(), CAP);
    assert.equal(gw.runtime.subscriptionData.applications.size(), CAP);
    assert.equal(gw.runtime.subscriptionData.applications.get(String(CAP + 1)), undefined);
    assert.equal(gw.runtime.subscriptionData.applications.get("1")?.applicationName, "Renamed");

    const dead = await drainQueueUntil(deadLetterQueueName(gw.queueName), 3);
    const reasons = dead.map((m) => String(m.headers["x-gwsync-reason"])).sort();
    assert.equal(reasons.length, 3);
    assert.match(reasons.join("\n"), /max_key_managers/);
    assert.match(reasons.join("\n"), /max_webhook_subscriptions/);
    assert.match(reasons.join("\n"), /max_subscription_records/);
    assert.equal(await limitCount(gw, "max_key_managers"), 1);
    assert.equal(await limitCount(gw, "max_webhook_subscriptions"), 1);
    assert.equal(await limitCount(gw, "max_subscription_records"), 1);

    // A deletion frees a slot: the next new key manager fits.
    const freed = [km("KM1", "delete"), km("KM9", "add")];
    await publishRaw(cluster.exchange, "keyManager", freed.map((e) => e.body), {
      messageId: (i) => freed[i]!.eventId,
    });
    await waitFor(gw.events, "handled", () => freed.every((e) => handled.has(e.eventId)), "delete then add");
    assert.ok(gw.runtime.keyManagers.get("carbon.super", "KM9"));
    assert.equal(gw.runtime.keyManagers.size(), CAP);
  });
});
