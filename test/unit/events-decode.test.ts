import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { decodeEvent } from "../../src/events/decode.js";
import type { NotificationInner } from "../../src/events/encode.js";
import { encodeKeyManager, encodeNotification, encodeWebhookSubscription } from "../../src/events/encode.js";
import type { InboundEvent } from "../../src/events/types.js";

const FIXTURES = new URL("../fixtures/wso2/events/", import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES));
const fixtureJson = (name: string) => JSON.parse(fixture(name).toString("utf8")) as Record<string, unknown>;

function body(payloadData: unknown): Buffer {
  return Buffer.from(JSON.stringify({ event: { payloadData } }));
}

function notificationBody(inner: Record<string, unknown>, eventType = String(inner.type)): Buffer {
  const event = Buffer.from(JSON.stringify(inner)).toString("base64");
  return body({ eventType, timestamp: 1_700_000_000_000, event });
}

function accepted(topic: string, bytes: Buffer): InboundEvent {
  const result = decodeEvent(topic, bytes);
  if (!result.ok) assert.fail(`expected ${topic} to decode, got: ${result.reason}`);
  return result.event;
}

function rejected(topic: string, bytes: Buffer): { code: string; reason: string } {
  const result = decodeEvent(topic, bytes);
  if (result.ok) assert.fail(`expected ${topic} to be rejected`);
  return result;
}

const revocation = {
  eventId: "0f2d7a4e-1111-4b61-9c1e-1d3f5e7a9b00",
  revokedToken: "c2lnbmF0dXJl",
  ttl: "5000",
  expiryTime: 1_900_000_000_000,
  type: "JWT",
  tenantId: -1234,
};

const webhook = {
  apiUUID: "a1",
  apiName: "Pets",
  apiContext: "/pets",
  apiVersion: "1.0",
  appID: "app-1",
  tenantDomain: "carbon.super",
  tenantId: -1234,
  callback: "https://example.test/cb",
  topic: "/pets/created",
  mode: "subscribe",
  secret: "s3cret",
  expireAt: 1_900_000_000_000,
  subscriberName: "admin",
  applicationTier: "Unlimited",
  tier: "Unlimited",
  apiTier: "Unlimited",
  isThrottled: false,
};

describe("decodeEvent: real WSO2 samples", () => {
  test("the POLICY_UPDATE wire sample decodes to its decoded-event fixture", () => {
    const event = accepted("notification", fixture("notification-POLICY_UPDATE.wire.json"));
    assert.equal(event.topic, "notification");
    if (event.topic !== "notification") return;
    assert.deepEqual(event.inner, fixtureJson("notification-POLICY_UPDATE.decoded-event.json"));
    assert.equal(event.eventId, "856cdc3d-8485-4c20-86a4-73850d671e06");
    assert.equal(event.timestamp, 1670477868131);
    assert.equal(event.timeStamp, 1670477868131);
    assert.equal(event.type, "POLICY_UPDATE");
    assert.equal(event.tenantId, -1234);
    assert.equal(event.tenantDomain, "carbon.super");
    assert.deepEqual(event.payload, {
      kind: "policy",
      action: "update",
      policyType: "SUBSCRIPTION",
      policyId: 5,
      policyName: "Unlimited",
      quotaType: "requestCount",
    });
  });

  test("the 4.0 REMOVE_API_FROM_GATEWAY sample, wrapped by the encoder, decodes to a remove with no labels", () => {
    const inner = fixtureJson("notification-REMOVE_API_FROM_GATEWAY-4.0.decoded-event.json");
    const event = accepted("notification", encodeNotification(inner as NotificationInner).body);
    assert.equal(event.topic, "notification");
    if (event.topic !== "notification") return;
    assert.deepEqual(event.payload, {
      kind: "gateway",
      action: "remove",
      apiUuid: "3b37c2e0-5b08-4b1a-a67f-8e086873e2ad",
      apiNumericId: 2,
      name: "SwaggerPetstore",
      version: "1.0.5",
      context: "/v2/1.0.5",
      provider: "admin",
      apiType: "HTTP",
      gatewayLabels: [],
    });
    assert.equal(event.eventId, "40d57b7b-bdf6-46ef-b448-3ff6cbac7af2");
    assert.equal(event.tenantId, 0);
  });
});

describe("decodeEvent: notification shapes", () => {
  test("a 3.2.0 DEPLOY_API_IN_GATEWAY (apiId is the UUID string) decodes with apiUuid and no numeric id", () => {
    const event = accepted(
      "notification",
      notificationBody({
        apiId: "6b2a1f7e-0000-4000-8000-000000000001",
        gatewayLabels: ["Production and Sandbox"],
        eventId: "e1",
        timeStamp: 1600000000000,
        type: "DEPLOY_API_IN_GATEWAY",
        tenantId: 0,
        tenantDomain: "carbon.super",
      }),
    );
    assert.ok(event.topic === "notification" && event.payload.kind === "gateway");
    assert.equal(event.payload.apiUuid, "6b2a1f7e-0000-4000-8000-000000000001");
    assert.equal(event.payload.apiNumericId, undefined);
    assert.deepEqual(event.payload.gatewayLabels, ["Production and Sandbox"]);
  });

  test("a gwsync deploy carries its inline artifact from gwsyncArtifact", () => {
    const artifact = { name: "Pets", version: "1.0", apiId: "u1", apiDefinition: "<api/>" };
    const event = accepted(
      "notification",
      notificationBody({
        apiId: 0,
        uuid: "u1",
        gatewayLabels: ["L"],
        gwsyncArtifact: artifact,
        eventId: "e2",
        timeStamp: 1,
        type: "DEPLOY_API_IN_GATEWAY",
        tenantId: -1234,
      }),
    );
    assert.ok(event.topic === "notification" && event.payload.kind === "gateway");
    assert.deepEqual(event.payload.artifact, artifact);
    assert.equal(event.payload.action, "deploy");
    assert.equal(event.tenantDomain, undefined);
  });

  test("an unknown but well-formed notification type is accepted as kind other", () => {
    const event = accepted(
      "notification",
      notificationBody({ label: "x", eventId: "e3", timeStamp: 1, type: "LABEL_CREATE", tenantId: 1 }),
    );
    assert.ok(event.topic === "notification");
    assert.deepEqual(event.payload, { kind: "other" });
  });

  test("extra fields of a known type are kept in inner and do not fail validation", () => {
    const event = accepted(
      "notification",
      notificationBody({
        subscriptionId: 7,
        apiId: 2,
        applicationId: 3,
        policyId: "Gold",
        subscriptionState: "UNBLOCKED",
        someNewField: { nested: true },
        eventId: "e4",
        timeStamp: 5,
        type: "SUBSCRIPTIONS_CREATE",
        tenantId: -1234,
        tenantDomain: "carbon.super",
      }),
    );
    assert.ok(event.topic === "notification" && event.payload.kind === "subscription");
    assert.equal(event.payload.subscriptionId, 7);
    assert.deepEqual(event.inner.someNewField, { nested: true });
  });

  test("a __proto__ key in the inner JSON stays data and pollutes nothing", () => {
    const text = `{"__proto__":{"polluted":true},"eventId":"e5","timeStamp":1,"type":"X","tenantId":1}`;
    const bytes = body({ eventType: "X", timestamp: 1, event: Buffer.from(text).toString("base64") });
    const event = accepted("notification", bytes);
    assert.ok(event.topic === "notification");
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(event.inner), Object.prototype);
  });
});

describe("decodeEvent: rejections name the stream and the field", () => {
  const base = { eventId: "e", timeStamp: 1, tenantId: -1234, tenantDomain: "carbon.super" };
  const cases: [string, string, Buffer, RegExp][] = [
    [
      "notification with an event that is not base64",
      "notification",
      body({ eventType: "API_CREATE", timestamp: 1, event: "not base64!" }),
      /^notification: event\.payloadData\.event is not valid base64$/,
    ],
    [
      "notification whose base64 is not JSON",
      "notification",
      body({ eventType: "API_CREATE", timestamp: 1, event: Buffer.from("nope").toString("base64") }),
      /event\.payloadData\.event must be base64 of a UTF-8 JSON object/,
    ],
    [
      "notification without a timestamp",
      "notification",
      body({ eventType: "API_CREATE", event: "" }),
      /event\.payloadData\.timestamp is required/,
    ],
    [
      "notification whose eventType and inner type differ",
      "notification",
      notificationBody({ ...base, apiId: 1, type: "API_CREATE" }, "API_DELETE"),
      /eventType "API_DELETE" differs from the decoded event's type "API_CREATE"/,
    ],
    [
      "notification without eventId",
      "notification",
      notificationBody({ timeStamp: 1, tenantId: 1, type: "API_CREATE", apiId: 1 }),
      /eventId is required/,
    ],
    [
      "DEPLOY_API_IN_GATEWAY without gatewayLabels",
      "notification",
      notificationBody({ ...base, apiId: "u", type: "DEPLOY_API_IN_GATEWAY" }),
      /DEPLOY_API_IN_GATEWAY\)\.gatewayLabels is required/,
    ],
    [
      "4.x REMOVE_API_FROM_GATEWAY with an int apiId but no uuid",
      "notification",
      notificationBody({ ...base, apiId: 4, gatewayLabels: [], type: "REMOVE_API_FROM_GATEWAY" }),
      /REMOVE_API_FROM_GATEWAY\)\.uuid is required when apiId is a number/,
    ],
    [
      "SUBSCRIPTIONS_DELETE with a string subscriptionId",
      "notification",
      notificationBody({
        ...base,
        subscriptionId: "7",
        apiId: 1,
        applicationId: 1,
        type: "SUBSCRIPTIONS_DELETE",
      }),
      /subscriptionId must be a number, got string/,
    ],
    [
      "tokenRevocation with expiryTime as a string",
      "tokenRevocation",
      body({ ...revocation, expiryTime: "12" }),
      /^tokenRevocation: event\.payloadData\.expiryTime must be a number, got string$/,
    ],
    [
      "tokenRevocation with a ttl that is not a number",
      "tokenRevocation",
      body({ ...revocation, ttl: "soon" }),
      /payloadData\.ttl/,
    ],
    [
      "tokenRevocation without revokedToken",
      "tokenRevocation",
      body({ ...revocation, revokedToken: undefined }),
      /payloadData\.revokedToken is required/,
    ],
    [
      "consumer_app_revocation_event whose revokedToken is not base64 JSON",
      "tokenRevocation",
      body({ ...revocation, type: "consumer_app_revocation_event", revokedToken: "plain-token" }),
      /revokedToken of a consumer_app_revocation_event must be base64 of a JSON object/,
    ],
    [
      "subject_entity_revocation_event without entityId",
      "tokenRevocation",
      body({
        ...revocation,
        type: "subject_entity_revocation_event",
        revokedToken: Buffer.from(JSON.stringify({ entityType: "USER_ID", revocationTime: 1 })).toString(
          "base64",
        ),
      }),
      /needs entityId, entityType/,
    ],
    [
      "keyManager with an unknown action",
      "keyManager",
      body({
        event_type: "key_manager_configuration",
        action: "rename",
        name: "n",
        type: "t",
        enabled: true,
      }),
      /payloadData\.action must be one of "add", "update", "delete"/,
    ],
    [
      "keyManager add with an empty value",
      "keyManager",
      body({
        event_type: "key_manager_configuration",
        action: "add",
        name: "n",
        type: "t",
        enabled: true,
        value: "",
        organization: "o",
      }),
      /payloadData\.value is empty; only a delete may omit the configuration/,
    ],
    [
      "keyManager whose value is not base64 JSON",
      "keyManager",
      body({
        event_type: "key_manager_configuration",
        action: "update",
        name: "n",
        type: "t",
        enabled: true,
        value: "%%",
        organization: "o",
      }),
      /payloadData\.value must be base64 of the key manager's JSON configuration/,
    ],
    [
      "keyManager without organization or tenantDomain",
      "keyManager",
      body({
        event_type: "key_manager_configuration",
        action: "delete",
        name: "n",
        type: "t",
        enabled: true,
        value: "",
      }),
      /payloadData\.organization is required/,
    ],
    [
      "asyncWebhooksData with an unknown mode",
      "asyncWebhooksData",
      body({ ...webhook, mode: "renew" }),
      /payloadData\.mode must be one of "subscribe", "unsubscribe"/,
    ],
    [
      "asyncWebhooksData without expireAt",
      "asyncWebhooksData",
      body({ ...webhook, expireAt: undefined }),
      /payloadData\.expireAt is required/,
    ],
    ["a body that is not JSON", "keyManager", Buffer.from("{"), /^keyManager: body is not valid JSON$/],
    [
      "a body that is not UTF-8",
      "tokenRevocation",
      Buffer.from([0xff, 0xfe, 0x7b]),
      /body is not valid UTF-8/,
    ],
    [
      "JSON without the CEP envelope",
      "asyncWebhooksData",
      Buffer.from(JSON.stringify(webhook)),
      /body must be JSON of the form \{"event":\{"payloadData"/,
    ],
  ];
  for (const [what, topic, bytes, reason] of cases) {
    test(`rejects ${what}`, () => {
      const result = rejected(topic, bytes);
      assert.equal(result.code, "GWSYNC_EVENT_INVALID");
      assert.match(result.reason, reason);
    });
  }

  test("a reason never echoes the revoked token or the webhook secret", () => {
    const token = rejected("tokenRevocation", body({ ...revocation, revokedToken: 12345678 }));
    assert.doesNotMatch(token.reason, /12345678/);
    const secret = rejected("asyncWebhooksData", body({ ...webhook, secret: 987654321 }));
    assert.doesNotMatch(secret.reason, /987654321/);
    assert.match(secret.reason, /payloadData\.secret must be a string, got number/);
  });

  test("an unknown routing key is rejected as invalid", () => {
    const result = rejected("throttleData", body({ throttleKey: "k" }));
    assert.equal(result.code, "GWSYNC_EVENT_INVALID");
    assert.match(result.reason, /routing key "throttleData" is not one of the gwsync streams/);
  });

  test("a body over the size cap is refused as too large before it is parsed", () => {
    const junk = Buffer.alloc(2048, 0xff);
    const result = decodeEvent("notification", junk, { maxBytes: 1024 });
    assert.deepEqual(result, {
      ok: false,
      code: "GWSYNC_EVENT_TOO_LARGE",
      reason: "notification: body is 2048 bytes, over the 1024-byte limit",
      limit: "max_message_bytes",
    });
  });
});

describe("decodeEvent: flat streams", () => {
  test("tokenRevocation ttl, written as a string by WSO2, comes out as a number of seconds", () => {
    const event = accepted("tokenRevocation", body(revocation));
    assert.deepEqual(event, {
      topic: "tokenRevocation",
      eventId: revocation.eventId,
      revokedToken: revocation.revokedToken,
      ttl: 5000,
      expiryTime: revocation.expiryTime,
      type: "JWT",
      tenantId: -1234,
    });
  });

  test("a consumer_app_revocation_event's revokedToken is decoded into the rule", () => {
    const token = Buffer.from(JSON.stringify({ consumer_key: "ck1", revocationTime: 1700 })).toString(
      "base64",
    );
    const event = accepted(
      "tokenRevocation",
      body({ ...revocation, type: "consumer_app_revocation_event", revokedToken: token }),
    );
    assert.ok(event.topic === "tokenRevocation");
    assert.deepEqual(event.revocation, { kind: "consumerApp", consumerKey: "ck1", revocationTime: 1700 });
  });

  test("a 3.2.0 keyManager event's tenantDomain is read as the organization", () => {
    const config = { issuer: "https://km.example", additionalProperties: { client_secret: "x" } };
    const bytes = body({
      event_type: "key_manager_configuration",
      action: "add",
      name: "IS7",
      type: "WSO2-IS",
      enabled: true,
      value: Buffer.from(JSON.stringify(config)).toString("base64"),
      tenantDomain: "wso2.com",
    });
    const event = accepted("keyManager", bytes);
    assert.ok(event.topic === "keyManager");
    assert.equal(event.organization, "wso2.com");
    assert.deepEqual(event.config, config);
  });

  test("a keyManager delete may carry an empty value and decodes with a null config", () => {
    const { body: bytes } = encodeKeyManager({
      action: "delete",
      name: "IS7",
      type: "WSO2-IS",
      enabled: false,
      organization: "carbon.super",
      config: null,
    });
    const event = accepted("keyManager", bytes);
    assert.ok(event.topic === "keyManager");
    assert.equal(event.config, null);
    assert.equal(event.action, "delete");
  });

  test("keyManager and asyncWebhooksData take their eventId from the AMQP messageId", () => {
    const encoded = encodeWebhookSubscription({ ...webhook, mode: "subscribe" });
    const result = decodeEvent("asyncWebhooksData", encoded.body, { messageId: encoded.eventId });
    assert.ok(result.ok && result.event.topic === "asyncWebhooksData");
    assert.equal(result.event.eventId, encoded.eventId);
    assert.equal(result.event.subscription.topic, "/pets/created");
  });
});
