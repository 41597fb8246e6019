import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { decodeEvent } from "../../src/events/decode.js";
import {
  encodeKeyManager,
  encodeNotification,
  encodeTokenRevocation,
  encodeWebhookSubscription,
  type KeyManagerInput,
  type NotificationInner,
} from "../../src/events/encode.js";
import type { InboundEvent } from "../../src/events/types.js";
import type { WebhookSubscription } from "../../src/events/webhook-subscription.js";
import { EventDeduplicator } from "../../src/gateway/runtime/dedup.js";
import { KEY_MANAGERS_FILE } from "../../src/gateway/runtime/key-managers.js";
import { RuntimeState } from "../../src/gateway/runtime/runtime-state.js";

const T0 = 1_700_000_000_000;
const HOUR_MS = 3_600_000;

const open: RuntimeState[] = [];
const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gwsync-runtime-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const state of open.splice(0)) state.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function runtime(dir: string, now: () => number = () => T0): RuntimeState {
  const state = new RuntimeState({ dir, now });
  state.load();
  open.push(state);
  return state;
}

/** Goes through the real wire format, as the consumer will. */
function wire(topic: string, encoded: { body: Buffer; eventId: string }): InboundEvent {
  const result = decodeEvent(topic, encoded.body, { messageId: encoded.eventId });
  if (!result.ok) assert.fail(result.reason);
  return result.event;
}

const keyManager = (fields: Partial<KeyManagerInput> = {}) =>
  wire(
    "keyManager",
    encodeKeyManager({
      action: "add",
      name: "IS7",
      type: "WSO2-IS",
      enabled: true,
      organization: "carbon.super",
      config: {
        issuer: "https://is.example/oauth2/token",
        additionalProperties: { client_id: "gw", client_secret: "do-not-serve" },
      },
      ...fields,
    }),
  );

const subscription = (fields: Partial<WebhookSubscription> = {}) =>
  wire(
    "asyncWebhooksData",
    encodeWebhookSubscription({
      apiUUID: "api-1",
      appID: "app-1",
      tenantId: -1234,
      callback: "https://subscriber.example/cb",
      topic: "/orders",
      mode: "subscribe",
      secret: "hmac-secret",
      expireAt: T0 + HOUR_MS,
      ...fields,
    }),
  );

const notification = (inner: NotificationInner) => wire("notification", encodeNotification(inner));

describe("key managers", () => {
  test("add, update and delete, with the base64 value decoded into the configuration", () => {
    const state = runtime(tempDir());
    assert.equal(state.apply(keyManager()), "applied");
    // The configuration is the KeyManagerConfigurationDTO the value carried.
    assert.deepEqual(state.keyManagers.get("carbon.super", "IS7")?.config, {
      name: "IS7",
      organization: "carbon.super",
      additionalProperties: { client_id: "gw", client_secret: "do-not-serve" },
      type: "WSO2-IS",
      enabled: true,
      tokenType: "DIRECT",
      issuer: "https://is.example/oauth2/token",
    });
    assert.equal(
      state.apply(keyManager({ action: "update", enabled: false, config: { issuer: "https://new" } })),
      "applied",
    );
    const updated = state.keyManagers.get("carbon.super", "IS7");
    assert.equal(updated?.enabled, false);
    assert.deepEqual(updated?.config?.additionalProperties, { issuer: "https://new" });
    assert.equal(state.apply(keyManager({ action: "delete", config: null })), "applied");
    assert.equal(state.keyManagers.get("carbon.super", "IS7"), undefined);
    assert.equal(
      state.apply(keyManager({ action: "delete", config: null })),
      "ignored",
      "nothing left to delete",
    );
  });

  test("the snapshot masks credentials in the configuration", () => {
    const state = runtime(tempDir());
    state.apply(keyManager());
    const [view] = state.keyManagers.snapshot();
    assert.deepEqual(view?.config?.additionalProperties, { client_id: "gw", client_secret: "****" });
    assert.doesNotMatch(JSON.stringify(state.keyManagers.snapshot()), /do-not-serve/);
  });

  test("key managers of different organizations with the same name are kept apart", () => {
    const state = runtime(tempDir());
    state.apply(keyManager());
    state.apply(keyManager({ organization: "wso2.com" }));
    assert.equal(state.keyManagers.size(), 2);
    assert.equal(state.keyManagers.list("wso2.com").length, 1);
  });
});

describe("webhook subscriptions", () => {
  test("subscribe adds, unsubscribe removes, and queries filter by API and topic", () => {
    const state = runtime(tempDir());
    assert.equal(state.apply(subscription()), "applied");
    assert.equal(state.apply(subscription({ topic: "/refunds" })), "applied");
    assert.equal(state.apply(subscription({ apiUUID: "api-2" })), "applied");
    assert.equal(state.webhookSubscriptions.query({ apiUUID: "api-1" }).length, 2);
    assert.equal(state.webhookSubscriptions.query({ topic: "/orders" }).length, 2);
    assert.equal(state.webhookSubscriptions.query({ apiUUID: "api-1", topic: "/refunds" }).length, 1);
    assert.equal(state.apply(subscription({ mode: "unsubscribe" })), "applied");
    assert.deepEqual(
      state.webhookSubscriptions.query({ apiUUID: "api-1" }).map((s) => s.topic),
      ["/refunds"],
    );
    assert.equal(state.apply(subscription({ mode: "unsubscribe" })), "ignored");
  });

  test("a subscription is dropped at expireAt", () => {
    let now = T0;
    const state = runtime(tempDir(), () => now);
    state.apply(subscription({ expireAt: T0 + 1000 }));
    state.apply(subscription({ appID: "forever", expireAt: 0 }));
    now = T0 + 999;
    assert.equal(state.webhookSubscriptions.query().length, 2);
    now = T0 + 1000;
    assert.deepEqual(
      state.webhookSubscriptions.query().map((s) => s.appID),
      ["forever"],
      "an ended lease is not served even before a purge",
    );
    assert.deepEqual(state.purgeExpired(), { revokedTokens: 0, webhookSubscriptions: 1 });
    assert.equal(state.webhookSubscriptions.size(), 1);
  });

  test("the snapshot says whether there is a secret but never shows it", () => {
    const state = runtime(tempDir());
    state.apply(subscription());
    const [view] = state.webhookSubscriptions.snapshot();
    assert.equal(view?.hasSecret, true);
    assert.doesNotMatch(JSON.stringify(state.webhookSubscriptions.snapshot()), /hmac-secret/);
  });
});

describe("applications, subscriptions and policies", () => {
  const base = { tenantId: -1234, tenantDomain: "carbon.super" };

  test("create, update and delete events keep the store in step", () => {
    const state = runtime(tempDir());
    const data = state.subscriptionData;
    state.apply(
      notification({
        ...base,
        type: "APPLICATION_CREATE",
        applicationId: 9,
        applicationName: "Shop",
        timeStamp: 1,
      }),
    );
    state.apply(
      notification({
        ...base,
        type: "APPLICATION_UPDATE",
        applicationId: 9,
        applicationName: "Shop2",
        timeStamp: 2,
      }),
    );
    assert.equal(data.applications.get("9")?.applicationName, "Shop2");
    state.apply(
      notification({
        ...base,
        type: "SUBSCRIPTIONS_CREATE",
        subscriptionId: 21,
        apiId: 3,
        applicationId: 9,
        policyId: "Gold",
        timeStamp: 3,
      }),
    );
    assert.equal(data.subscriptions.get("21")?.policyId, "Gold");
    state.apply(
      notification({
        ...base,
        type: "POLICY_CREATE",
        policyId: 5,
        policyType: "SUBSCRIPTION",
        policyName: "Gold",
        rateLimitCount: 10,
        timeStamp: 4,
      }),
    );
    assert.deepEqual(data.policies.get("SUBSCRIPTION:5")?.details, { rateLimitCount: 10 });
    state.apply(
      notification({
        ...base,
        type: "APPLICATION_REGISTRATION_CREATE",
        applicationId: 9,
        consumerKey: "ck-9",
        keyType: "PRODUCTION",
        timeStamp: 5,
      }),
    );
    assert.equal(data.keyMappings.get("ck-9")?.applicationId, 9);
    state.apply(
      notification({
        ...base,
        type: "REMOVE_APPLICATION_KEYMAPPING",
        applicationId: 9,
        consumerKey: "ck-9",
        timeStamp: 6,
      }),
    );
    state.apply(
      notification({
        ...base,
        type: "SUBSCRIPTIONS_DELETE",
        subscriptionId: 21,
        apiId: 3,
        applicationId: 9,
        timeStamp: 7,
      }),
    );
    state.apply(
      notification({ ...base, type: "POLICY_DELETE", policyId: 5, policyType: "SUBSCRIPTION", timeStamp: 8 }),
    );
    state.apply(notification({ ...base, type: "APPLICATION_DELETE", applicationId: 9, timeStamp: 9 }));
    assert.deepEqual(data.snapshot(), { applications: [], subscriptions: [], policies: [], keyMappings: [] });
  });

  test("an update older than what the store holds is ignored (redelivery out of order)", () => {
    const state = runtime(tempDir());
    state.apply(
      notification({
        ...base,
        type: "APPLICATION_UPDATE",
        applicationId: 9,
        applicationName: "new",
        timeStamp: 20,
      }),
    );
    assert.equal(
      state.apply(
        notification({
          ...base,
          type: "APPLICATION_UPDATE",
          applicationId: 9,
          applicationName: "old",
          timeStamp: 10,
        }),
      ),
      "ignored",
    );
    assert.equal(state.subscriptionData.applications.get("9")?.applicationName, "new");
  });

  test("deploy events, resets and unknown types are ignored by the runtime state", () => {
    const state = runtime(tempDir());
    const ignored = [
      { type: "DEPLOY_API_IN_GATEWAY", apiId: 0, uuid: "u", gatewayLabels: ["L"] },
      { type: "POLICY_RESET", policyType: "SUBSCRIPTION" },
      { type: "GA_CONFIG_UPDATE" },
    ];
    for (const inner of ignored) assert.equal(state.apply(notification({ ...base, ...inner })), "ignored");
    assert.deepEqual(state.counts().notification, { applied: 0, duplicate: 0, ignored: 3, held: 0 });
  });
});

describe("RuntimeState", () => {
  test("an event delivered twice is applied once", () => {
    const state = runtime(tempDir());
    const event = wire(
      "tokenRevocation",
      encodeTokenRevocation({ revokedToken: "t", expiryTime: T0 + HOUR_MS, type: "JWT" }),
    );
    assert.equal(state.apply(event), "applied");
    assert.equal(state.apply(event), "duplicate");
    const km = keyManager();
    assert.equal(state.apply(km), "applied");
    assert.equal(state.apply(km), "duplicate", "keyManager events are deduplicated by their AMQP messageId");
    assert.deepEqual(state.counts().tokenRevocation, { applied: 1, duplicate: 1, ignored: 0, held: 1 });
  });

  test("everything it holds survives a restart (new instance, same folder)", () => {
    const dir = tempDir();
    const first = new RuntimeState({ dir, now: () => T0 });
    first.load();
    first.apply(
      wire(
        "tokenRevocation",
        encodeTokenRevocation({ revokedToken: "jti", expiryTime: T0 + HOUR_MS, type: "JWT" }),
      ),
    );
    first.apply(keyManager());
    first.apply(subscription());
    first.apply(
      notification({ type: "APPLICATION_CREATE", applicationId: 1, applicationName: "A", timeStamp: 1 }),
    );
    first.close();

    const second = runtime(dir, () => T0 + 1);
    assert.ok(second.revokedTokens.isRevoked("jti"));
    assert.equal(second.keyManagers.get("carbon.super", "IS7")?.type, "WSO2-IS");
    assert.equal(second.webhookSubscriptions.query({ apiUUID: "api-1" })[0]?.secret, "hmac-secret");
    assert.equal(second.subscriptionData.applications.get("1")?.applicationName, "A");
    assert.deepEqual(
      Object.fromEntries(Object.entries(second.counts()).map(([topic, c]) => [topic, c.held])),
      { notification: 1, tokenRevocation: 1, keyManager: 1, asyncWebhooksData: 1 },
    );
  });

  test("state files are written owner-only", () => {
    const dir = tempDir();
    const state = runtime(dir);
    state.apply(keyManager());
    state.flush();
    assert.equal(fs.statSync(path.join(dir, KEY_MANAGERS_FILE)).mode & 0o777, 0o600);
  });

  test("a corrupt state file is moved aside and reported, and its store starts empty", () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, KEY_MANAGERS_FILE), "{not json");
    const state = new RuntimeState({ dir, now: () => T0 });
    open.push(state);
    const report = state.load();
    const km = report.files.find((f) => f.file === KEY_MANAGERS_FILE);
    assert.equal(km?.status, "corrupt");
    assert.equal(km?.reason, "is not valid JSON");
    assert.ok(km?.movedTo && fs.existsSync(km.movedTo));
    assert.equal(state.keyManagers.size(), 0);
  });

  test("50,000 token revocations apply (rate reported, not asserted)", () => {
    const dir = tempDir();
    const state = runtime(dir);
    const events = Array.from({ length: 50_000 }, (_, i) =>
      wire(
        "tokenRevocation",
        encodeTokenRevocation({
          eventId: `rev-${i}`,
          revokedToken: `jti-${i}`,
          expiryTime: T0 + HOUR_MS,
          type: "JWT",
        }),
      ),
    );
    const started = performance.now();
    for (const event of events) state.apply(event);
    state.flush();
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `applied 50,000 revocations in ${(seconds * 1000).toFixed(0)} ms: ${Math.round(50_000 / seconds)} events/s`,
    );
    assert.equal(state.revokedTokens.size(), 50_000);
    assert.ok(state.revokedTokens.isRevoked("jti-49999"));
  });
});

describe("EventDeduplicator", () => {
  test("remembers the last N ids and forgets the oldest beyond that", () => {
    const dedup = new EventDeduplicator(3);
    for (const id of ["a", "b", "c"]) assert.equal(dedup.seen(id), false);
    assert.equal(dedup.seen("a"), true);
    assert.equal(dedup.seen("d"), false);
    assert.equal(dedup.has("a"), false, "a was the oldest and was evicted");
    assert.equal(dedup.seen("b"), true);
    assert.equal(dedup.size(), 3);
  });
});
