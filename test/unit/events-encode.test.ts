import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeEvent } from "../../src/events/decode.js";
import {
  deployApiEvent,
  encodeKeyManager,
  encodeNotification,
  encodeTokenRevocation,
  encodeWebhookSubscription,
  type KeyManagerInput,
  type NotificationInner,
  removeApiEvent,
  type TokenRevocationInput,
} from "../../src/events/encode.js";
import { KNOWN_NOTIFICATION_TYPES } from "../../src/events/notification-payload.js";
import type { InboundEvent } from "../../src/events/types.js";
import type { WebhookSubscription } from "../../src/events/webhook-subscription.js";

const FIXTURES = new URL("../fixtures/wso2/events/", import.meta.url);
const fixtureText = (name: string) => readFileSync(new URL(name, FIXTURES), "utf8");
const fixtureJson = (name: string) => JSON.parse(fixtureText(name)) as Record<string, unknown>;

function decoded(topic: string, body: Buffer, messageId?: string): InboundEvent {
  const result = decodeEvent(topic, body, messageId === undefined ? {} : { messageId });
  if (!result.ok) assert.fail(`${topic} did not decode: ${result.reason}`);
  return result.event;
}

function payloadData(body: Buffer): Record<string, unknown> {
  return (JSON.parse(body.toString("utf8")) as { event: { payloadData: Record<string, unknown> } }).event
    .payloadData;
}

/** The field names of a CEP stream definition, in order. */
function streamFields(name: string): string[] {
  const stream = fixtureJson(name) as { payloadData: { name: string }[] };
  return stream.payloadData.map((field) => field.name);
}

const keyManager: KeyManagerInput = {
  action: "add",
  name: "IS7",
  type: "WSO2-IS",
  enabled: true,
  organization: "carbon.super",
  tokenType: "DIRECT",
  config: { issuer: "https://is.example/oauth2/token", additionalProperties: { client_id: "c" } },
};

const webhook: WebhookSubscription = {
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

describe("encoders write WSO2 4.x bytes", () => {
  test("encodeNotification reproduces the POLICY_UPDATE wire sample byte for byte", () => {
    const inner = fixtureJson("notification-POLICY_UPDATE.decoded-event.json") as NotificationInner;
    const encoded = encodeNotification(inner, { timestamp: 1670477868131 });
    assert.equal(encoded.body.toString("utf8"), fixtureText("notification-POLICY_UPDATE.wire.json").trim());
    assert.equal(encoded.eventId, "856cdc3d-8485-4c20-86a4-73850d671e06");
    assert.equal(encoded.timestamp, 1670477868131);
  });

  test("removeApiEvent builds the 4.0 DeployAPIInGatewayEvent with the sample's field order", () => {
    const sample = fixtureJson("notification-REMOVE_API_FROM_GATEWAY-4.0.decoded-event.json");
    const inner = removeApiEvent({
      apiId: 2,
      uuid: "3b37c2e0-5b08-4b1a-a67f-8e086873e2ad",
      name: "SwaggerPetstore",
      version: "1.0.5",
      provider: "admin",
      context: "/v2/1.0.5",
      gatewayLabels: [],
      eventId: "40d57b7b-bdf6-46ef-b448-3ff6cbac7af2",
      timeStamp: 1617692681103,
    });
    const encoded = encodeNotification(inner);
    const sent = JSON.parse(Buffer.from(String(payloadData(encoded.body).event), "base64").toString("utf8"));
    assert.deepEqual(Object.entries(sent), Object.entries(sample));
  });

  for (const [topic, encoded, stream] of [
    [
      "notification",
      encodeNotification({ type: "API_CREATE", apiId: 1 }),
      "stream_org.wso2.apimgt.notification.stream_1.0.0.json",
    ],
    [
      "tokenRevocation",
      encodeTokenRevocation({ revokedToken: "jti", expiryTime: 5, type: "JWT" }),
      "stream_org.wso2.apimgt.token.revocation.stream_1.0.0.json",
    ],
    ["keyManager", encodeKeyManager(keyManager), "stream_org.wso2.apimgt.keymgt.stream_1.0.0.json"],
    [
      "asyncWebhooksData",
      encodeWebhookSubscription({
        apiUUID: "a",
        appID: "b",
        tenantId: -1234,
        callback: "c",
        topic: "t",
        mode: "unsubscribe",
        expireAt: 0,
      }),
      "stream_org.wso2.apimgt.webhooks.request.stream_1.0.0.json",
    ],
  ] as const) {
    test(`the ${topic} payloadData fields are exactly the CEP stream's fields, in order`, () => {
      assert.deepEqual(Object.keys(payloadData(encoded.body)), streamFields(stream));
    });
  }

  test("tokenRevocation ttl goes on the wire as a string, expiryTime and tenantId as numbers", () => {
    const data = payloadData(
      encodeTokenRevocation({ revokedToken: "jti", ttl: 5000, expiryTime: 7, type: "JWT" }).body,
    );
    assert.equal(data.ttl, "5000");
    assert.equal(data.expiryTime, 7);
    assert.equal(data.tenantId, -1234);
  });

  test("keyManager value is base64 of a KeyManagerConfigurationDTO, empty for a delete without config", () => {
    const data = payloadData(encodeKeyManager(keyManager).body);
    assert.deepEqual(JSON.parse(Buffer.from(String(data.value), "base64").toString("utf8")), {
      name: "IS7",
      organization: "carbon.super",
      additionalProperties: { client_id: "c" },
      type: "WSO2-IS",
      enabled: true,
      tokenType: "DIRECT",
      issuer: "https://is.example/oauth2/token",
    });
    assert.equal(
      payloadData(encodeKeyManager({ ...keyManager, action: "delete", config: null }).body).value,
      "",
    );
  });

  test("the inner JSON escapes like Gson (= < > & ') and still decodes to the same text", () => {
    const inner = deployApiEvent({
      uuid: "u",
      name: "a<b>&'c'",
      version: "1",
      provider: "p",
      context: "/q?x=1",
      gatewayLabels: ["L"],
    });
    const encoded = encodeNotification(inner);
    const json = Buffer.from(String(payloadData(encoded.body).event), "base64").toString("utf8");
    assert.match(json, /"context":"\/q\?x\\u003d1"/);
    assert.match(json, /"name":"a\\u003cb\\u003e\\u0026\\u0027c\\u0027"/);
    const event = decoded("notification", encoded.body);
    assert.ok(event.topic === "notification" && event.payload.kind === "gateway");
    assert.equal(event.payload.context, "/q?x=1");
    assert.equal(event.payload.name, "a<b>&'c'");
  });

  test("deployApiEvent defaults apiId to 0, apiType to HTTP and carries the artifact as gwsyncArtifact", () => {
    const artifact = { name: "Pets", version: "1.0.0", apiId: "u2", apiDefinition: "<api/>" };
    const inner = deployApiEvent({
      uuid: "u2",
      name: "Pets",
      version: "1.0.0",
      provider: "admin",
      context: "/pets/1.0.0",
      gatewayLabels: ["Production and Sandbox"],
      artifact,
    });
    assert.equal(inner.apiId, 0);
    assert.equal(inner.apiType, "HTTP");
    assert.deepEqual(inner.associatedApis, []);
    const event = decoded("notification", encodeNotification(inner, { timestamp: 42 }).body);
    assert.ok(event.topic === "notification" && event.payload.kind === "gateway");
    assert.deepEqual(event.payload, {
      kind: "gateway",
      action: "deploy",
      apiUuid: "u2",
      apiNumericId: 0,
      name: "Pets",
      version: "1.0.0",
      context: "/pets/1.0.0",
      provider: "admin",
      apiType: "HTTP",
      gatewayLabels: ["Production and Sandbox"],
      artifact,
    });
    assert.equal(event.timestamp, 42);
    assert.equal(event.timeStamp, 42);
  });
});

/** One well-formed inner event per type the decoder reads fields of, and the kind it must decode to. */
const SAMPLES: Record<string, { kind: string; fields: Record<string, unknown> }> = {
  API_CREATE: {
    kind: "api",
    fields: {
      apiName: "Pets",
      apiId: 3,
      uuid: "u3",
      apiVersion: "1",
      apiContext: "/p",
      apiProvider: "admin",
      apiType: "HTTP",
      apiStatus: "CREATED",
    },
  },
  API_UPDATE: { kind: "api", fields: { apiName: "Pets", apiId: 3, apiStatus: "PUBLISHED" } },
  API_DELETE: { kind: "api", fields: { apiId: 3 } },
  API_LIFECYCLE_CHANGE: { kind: "api", fields: { apiId: 3, apiStatus: "DEPRECATED" } },
  APPLICATION_CREATE: {
    kind: "application",
    fields: {
      uuid: "app-u",
      applicationId: 9,
      applicationName: "App",
      tokenType: "JWT",
      applicationPolicy: "Unlimited",
      groupId: "",
      attributes: { a: "b" },
      subscriber: "admin",
    },
  },
  APPLICATION_UPDATE: { kind: "application", fields: { applicationId: 9, applicationName: "App2" } },
  APPLICATION_DELETE: { kind: "application", fields: { applicationId: 9 } },
  APPLICATION_REGISTRATION_CREATE: {
    kind: "applicationRegistration",
    fields: {
      applicationId: 9,
      consumerKey: "ck",
      keyType: "PRODUCTION",
      keyManager: "Resident Key Manager",
      applicationUUID: "app-u",
    },
  },
  REMOVE_APPLICATION_KEYMAPPING: {
    kind: "applicationRegistration",
    fields: { applicationId: 9, consumerKey: "ck" },
  },
  POLICY_CREATE: {
    kind: "policy",
    fields: {
      policyId: 11,
      policyName: "Gold",
      quotaType: "requestCount",
      rateLimitCount: 5,
      policyType: "APPLICATION",
    },
  },
  POLICY_UPDATE: {
    kind: "policy",
    fields: { policyId: 11, policyName: "Gold", policyType: "API", addedConditionGroupIds: [1] },
  },
  POLICY_DELETE: { kind: "policy", fields: { policyId: 11, policyType: "SUBSCRIPTION" } },
  POLICY_RESET: {
    kind: "policy",
    fields: { uuid: "x", appId: "9", apiContext: "/p", policyType: "SUBSCRIPTION", isResourceLevel: false },
  },
  SUBSCRIPTIONS_CREATE: {
    kind: "subscription",
    fields: {
      subscriptionId: 21,
      apiId: 3,
      applicationId: 9,
      policyId: "Gold",
      subscriptionState: "UNBLOCKED",
      subscriptionUUID: "s-u",
      apiUUID: "u3",
      applicationUUID: "app-u",
      apiName: "Pets",
      apiVersion: "1",
    },
  },
  SUBSCRIPTIONS_UPDATE: {
    kind: "subscription",
    fields: { subscriptionId: 21, apiId: 3, applicationId: 9, subscriptionState: "BLOCKED" },
  },
  SUBSCRIPTIONS_DELETE: { kind: "subscription", fields: { subscriptionId: 21, apiId: 3, applicationId: 9 } },
  SCOPE_CREATE: {
    kind: "scope",
    fields: { name: "read", displayName: "Read", description: "d", roles: ["admin"], mappings: {} },
  },
  SCOPE_UPDATE: { kind: "scope", fields: { name: "read", roles: [] } },
  SCOPE_DELETE: { kind: "scope", fields: { name: "read" } },
  DEPLOY_API_IN_GATEWAY: {
    kind: "gateway",
    fields: { apiId: "6b2a1f7e-3.2.0-uuid", gatewayLabels: ["Production and Sandbox"] },
  },
  REMOVE_API_FROM_GATEWAY: {
    kind: "gateway",
    fields: {
      apiId: 2,
      uuid: "u2",
      name: "Pets",
      version: "1",
      provider: "admin",
      apiType: "HTTP",
      gatewayLabels: ["L"],
      associatedApis: [],
      context: "/p",
    },
  },
  GA_CONFIG_UPDATE: { kind: "other", fields: { configuration: "x" } },
};

describe("every notification type round-trips", () => {
  test("the samples cover every type the decoder knows", () => {
    for (const type of KNOWN_NOTIFICATION_TYPES) assert.ok(SAMPLES[type], `no sample for ${type}`);
  });

  for (const [type, { kind, fields }] of Object.entries(SAMPLES)) {
    test(`${type} decodes back to the same inner JSON and to kind ${kind}`, () => {
      const inner: NotificationInner = {
        ...fields,
        eventId: `ev-${type}`,
        timeStamp: 1_700_000_000_123,
        type,
        tenantId: -1234,
        tenantDomain: "carbon.super",
      };
      const encoded = encodeNotification(inner, { timestamp: 1_700_000_000_456 });
      const event = decoded("notification", encoded.body);
      assert.ok(event.topic === "notification");
      assert.deepEqual(event.inner, inner);
      assert.equal(event.payload.kind, kind);
      assert.equal(event.eventId, `ev-${type}`);
      assert.equal(event.type, type);
      assert.equal(event.timestamp, 1_700_000_000_456);
      assert.equal(event.timeStamp, 1_700_000_000_123);
      // Re-encoding what was decoded gives the same bytes: what a relay relies on.
      assert.deepEqual(
        encodeNotification(event.inner as NotificationInner, { timestamp: event.timestamp }).body,
        encoded.body,
      );
    });
  }
});

describe("flat streams round-trip: decode(encode(x)) equals x", () => {
  const text = fc.string({ minLength: 1, maxLength: 40 });
  const int = fc.integer({ min: -2_000_000, max: 2_000_000 });
  const epoch = fc.integer({ min: 0, max: 4_000_000_000_000 });

  test("tokenRevocation", () => {
    fc.assert(
      fc.property(
        fc.record({
          eventId: fc.uuid(),
          revokedToken: text,
          ttl: fc.integer({ min: 0, max: 1_000_000 }),
          expiryTime: epoch,
          type: fc.constantFrom("JWT", "API_KEY", "DEFAULT"),
          tenantId: int,
        }),
        (input: Required<Omit<TokenRevocationInput, "revocation">>) => {
          const encoded = encodeTokenRevocation(input);
          assert.deepEqual(decoded("tokenRevocation", encoded.body), { topic: "tokenRevocation", ...input });
          assert.equal(encoded.eventId, input.eventId);
        },
      ),
    );
  });

  test("tokenRevocation rules (consumer app and subject entity)", () => {
    const rule = fc.oneof(
      fc.record({ kind: fc.constant("consumerApp" as const), consumerKey: text, revocationTime: epoch }),
      fc.record({
        kind: fc.constant("subjectEntity" as const),
        entityType: fc.constantFrom("USER_ID", "CLIENT_ID"),
        entityId: text,
        revocationTime: epoch,
      }),
    );
    fc.assert(
      fc.property(fc.uuid(), rule, epoch, (eventId, revocation, expiryTime) => {
        const type =
          revocation.kind === "consumerApp"
            ? "consumer_app_revocation_event"
            : "subject_entity_revocation_event";
        const encoded = encodeTokenRevocation({
          eventId,
          type,
          expiryTime,
          ttl: 60,
          tenantId: 1,
          revocation,
        });
        const event = decoded("tokenRevocation", encoded.body);
        assert.ok(event.topic === "tokenRevocation");
        assert.deepEqual(event.revocation, { ...revocation });
        assert.equal(event.type, type);
      }),
    );
  });

  test("keyManager", () => {
    fc.assert(
      fc.property(
        fc.record({
          eventId: fc.uuid(),
          eventType: fc.constant("key_manager_configuration"),
          action: fc.constantFrom("add" as const, "update" as const),
          name: text,
          type: text,
          enabled: fc.boolean(),
          organization: text,
          tokenType: fc.constantFrom("DIRECT", "EXCHANGED", "BOTH"),
          // Settings only (a config with additionalProperties is a DTO: tested on its own).
          config: fc.dictionary(
            fc.string().filter((k) => k !== "additionalProperties"),
            fc.jsonValue(),
          ),
        }),
        (input) => {
          const encoded = encodeKeyManager(input);
          const event = decoded("keyManager", encoded.body, encoded.eventId);
          // The settings become the DTO's additionalProperties; JSON normalises -0 to 0.
          const settings = JSON.parse(JSON.stringify(input.config));
          assert.deepEqual(event, {
            topic: "keyManager",
            ...input,
            config: {
              name: input.name,
              organization: input.organization,
              additionalProperties: settings,
              type: input.type,
              enabled: input.enabled,
              tokenType: input.tokenType,
            },
          });
        },
      ),
    );
  });

  test("asyncWebhooksData", () => {
    fc.assert(
      fc.property(
        fc.record({
          apiUUID: text,
          apiName: text,
          apiContext: text,
          apiVersion: text,
          appID: text,
          tenantDomain: text,
          tenantId: int,
          callback: text,
          topic: text,
          mode: fc.constantFrom("subscribe" as const, "unsubscribe" as const),
          secret: text,
          expireAt: epoch,
          subscriberName: text,
          applicationTier: text,
          tier: text,
          apiTier: text,
          isThrottled: fc.boolean(),
        }),
        fc.uuid(),
        (subscription, eventId) => {
          const encoded = encodeWebhookSubscription({ ...subscription, eventId });
          assert.deepEqual(decoded("asyncWebhooksData", encoded.body, encoded.eventId), {
            topic: "asyncWebhooksData",
            eventId,
            subscription: { ...subscription },
          });
        },
      ),
    );
  });

  test("a sparse webhook subscription comes back without the fields it did not have", () => {
    const sparse: WebhookSubscription = {
      apiUUID: "a",
      appID: "b",
      tenantDomain: "wso2.com",
      tenantId: 1,
      callback: "https://cb.test",
      topic: "t",
      mode: "unsubscribe",
      expireAt: 0,
    };
    const event = decoded("asyncWebhooksData", encodeWebhookSubscription(sparse).body);
    assert.deepEqual(event, { topic: "asyncWebhooksData", subscription: sparse });
  });

  test("a webhook subscription always carries tenantDomain: the super tenant's by default, else required", () => {
    const base = {
      apiUUID: "a",
      appID: "b",
      callback: "https://cb.test",
      topic: "t",
      mode: "subscribe" as const,
      expireAt: 0,
    };
    assert.equal(
      payloadData(encodeWebhookSubscription({ ...base, tenantId: -1234 }).body).tenantDomain,
      "carbon.super",
    );
    assert.throws(
      () => encodeWebhookSubscription({ ...base, tenantId: 7 }),
      /tenantDomain is required for tenant 7/,
    );
  });

  test("a full webhook sample survives too", () => {
    const event = decoded("asyncWebhooksData", encodeWebhookSubscription(webhook).body);
    assert.ok(event.topic === "asyncWebhooksData");
    assert.deepEqual(event.subscription, webhook);
  });
});
