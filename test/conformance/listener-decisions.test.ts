/**
 * The decisions a WSO2 gateway's listeners take on each event, in both directions: what gwsync writes,
 * read by the model of WSO2's listeners (test/conformance/wso2-model.ts, which cites each line), and
 * what WSO2 writes, read by gwsync. Each "before" case shows the model catching what gwsync used to send.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { decodeEvent } from "../../src/events/decode.js";
import { toHubWire } from "../../src/events/dialect.js";
import {
  deployApiEvent,
  encodeKeyManager,
  encodeNotification,
  encodeTokenRevocation,
  encodeWebhookSubscription,
} from "../../src/events/encode.js";
import { long, string } from "../../src/events/jms-value.js";
import { encodeQpidMap } from "../../src/events/qpid-map.js";
import type { Topic } from "../../src/events/topics.js";
import { type HubMessage, wso2v320Listener, wso2x4Listener } from "./wso2-model.js";

const LABELS = ["Production and Sandbox"];
const FIXTURES = new URL("../fixtures/wso2/events/", import.meta.url);

/** A message as gwsync's outbox sends it to a hub of this dialect. */
function hub(topic: Topic, body: Buffer, dialect: "4.x" | "3.2.0" = "4.x"): HubMessage {
  const wire = toHubWire(dialect, topic, body);
  return {
    routingKey: topic,
    body: wire.body,
    properties: {
      contentType: wire.contentType,
      contentEncoding: wire.contentEncoding,
      headers: { JMS_QPID_DESTTYPE: 2 },
    },
  };
}

function envelope(payloadData: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ event: { payloadData } }));
}

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64");

describe("conformance: WSO2 4.x listeners act on what gwsync publishes", () => {
  test("AMQP content type: text/plain is a TextMessage; application/json (what gwsync sent before) is dropped", () => {
    const body = encodeTokenRevocation({ revokedToken: "t", expiryTime: 1, type: "JWT" }).body;
    // GW4 listeners/GatewayTokenRevocationMessageListener.java:51 acts on TextMessage only;
    // ANDES message/MessageFactoryRegistry.java:61,110-118 makes one of text/plain only.
    assert.equal(wso2x4Listener(hub("tokenRevocation", body), LABELS).kind, "revokeJwt");
    const json: HubMessage = {
      routingKey: "tokenRevocation",
      body,
      properties: { contentType: "application/json" },
    };
    assert.deepEqual(wso2x4Listener(json, LABELS), {
      kind: "dropped",
      why: "Event dropped due to unsupported message type BytesMessage",
      cite: "GatewayTokenRevocationMessageListener.java:51",
    });
    // The match is exact (an AMQShortString key): parameters make it a BytesMessage too.
    assert.equal(
      wso2x4Listener({ ...json, properties: { contentType: "text/plain; charset=utf-8" } }, LABELS).kind,
      "dropped",
    );
  });

  test("DEPLOY_API_IN_GATEWAY: fetched by uuid for the labels this gateway serves (GatewayJMSMessageListener.java:163-190)", () => {
    const inner = deployApiEvent({
      uuid: "u-1",
      name: "P",
      version: "1",
      provider: "admin",
      context: "/p/1",
      gatewayLabels: [...LABELS, "Other"],
    });
    const outcome = wso2x4Listener(hub("notification", encodeNotification(inner).body), LABELS);
    assert.deepEqual(outcome, {
      kind: "deploy",
      apiId: "u-1",
      labels: LABELS,
      tenantDomain: "carbon.super",
      cite: "GatewayJMSMessageListener.java:190",
    });
  });

  test("consumer_app_revocation_event: revocationTime as a decimal string is applied; the number gwsync sent before throws", () => {
    const sent = encodeTokenRevocation({
      type: "consumer_app_revocation_event",
      expiryTime: 0,
      revocation: { kind: "consumerApp", consumerKey: "ck", revocationTime: 1_700_000_000_000 },
    });
    assert.deepEqual(wso2x4Listener(hub("tokenRevocation", sent.body), LABELS), {
      kind: "revokeConsumerKey",
      consumerKey: "ck",
      revocationTime: 1_700_000_000_000,
      cite: "GatewayTokenRevocationMessageListener.java:93-95",
    });
    const before = envelope({
      eventId: "e",
      revokedToken: b64({ consumer_key: "ck", revocationTime: 1_700_000_000_000 }),
      ttl: "3600",
      expiryTime: 0,
      type: "consumer_app_revocation_event",
      tenantId: -1234,
    });
    const outcome = wso2x4Listener(hub("tokenRevocation", before), LABELS);
    assert.equal(outcome.kind, "exception");
    assert.match(outcome.kind === "exception" ? outcome.exception : "", /ClassCastException/);
    assert.equal(
      outcome.kind === "exception" && outcome.cite,
      "GatewayTokenRevocationMessageListener.java:157",
    );
  });

  test("subject_entity_revocation_event is applied with its time", () => {
    const sent = encodeTokenRevocation({
      type: "subject_entity_revocation_event",
      expiryTime: 0,
      revocation: { kind: "subjectEntity", entityType: "CLIENT_ID", entityId: "c1", revocationTime: 42 },
    });
    const outcome = wso2x4Listener(hub("tokenRevocation", sent.body), LABELS);
    assert.equal(outcome.kind, "revokeSubjectEntity");
    assert.equal(outcome.kind === "revokeSubjectEntity" && outcome.revocationTime, 42);
  });

  test("keyManager: value is a KeyManagerConfigurationDTO with a tokenType (APIUtil.java:8385-8405)", () => {
    const sent = encodeKeyManager({
      action: "update",
      name: "IS",
      type: "WSO2-IS",
      enabled: true,
      organization: "wso2.com",
      tokenType: "exchanged",
      config: { issuer: "i" },
    });
    assert.deepEqual(wso2x4Listener(hub("keyManager", sent.body), LABELS), {
      kind: "keyManager",
      action: "update",
      organization: "wso2.com",
      name: "IS",
      type: "WSO2-IS",
      tokenType: "EXCHANGED",
      settings: { issuer: "i" },
      cite: "KeyManagerJMSMessageListener.java:66-75",
    });
    // Before: value was base64 of the bare settings, with no tokenType: a NullPointerException.
    const before = envelope({
      event_type: "key_manager_configuration",
      action: "add",
      name: "IS",
      type: "WSO2-IS",
      enabled: true,
      value: b64({ issuer: "i" }),
      organization: "carbon.super",
      tokenType: null,
    });
    const outcome = wso2x4Listener(hub("keyManager", before), LABELS);
    assert.equal(outcome.kind === "exception" && outcome.cite, "APIUtil.java:8400");
    // gwsync refuses a tokenType WSO2 would throw on, at the source.
    assert.throws(
      () =>
        encodeKeyManager({
          action: "add",
          name: "IS",
          type: "t",
          enabled: true,
          organization: "o",
          tokenType: "JWT",
          config: {},
        }),
      /tokenType "JWT" is not one of EXCHANGED, DIRECT, BOTH/,
    );
  });

  test("keyManager delete: an empty value removes it (KeyManagerJMSMessageListener.java:63,77-79)", () => {
    const sent = encodeKeyManager({
      action: "delete",
      name: "IS",
      type: "t",
      enabled: false,
      organization: "carbon.super",
      config: null,
    });
    const outcome = wso2x4Listener(hub("keyManager", sent.body), LABELS);
    assert.equal(outcome.kind === "keyManager" && outcome.action, "delete");
  });

  test("asyncWebhooksData: tenantDomain always set, so the tenant's subscriber store is found", () => {
    const base = {
      apiUUID: "a",
      appID: "b",
      callback: "https://c",
      topic: "/t",
      mode: "subscribe" as const,
      expireAt: 0,
      isThrottled: false,
    };
    const outcome = wso2x4Listener(
      hub("asyncWebhooksData", encodeWebhookSubscription({ ...base, tenantId: -1234 }).body),
      LABELS,
    );
    assert.deepEqual(outcome, {
      kind: "webhookSubscribe",
      tenantDomain: "carbon.super",
      apiUUID: "a",
      topic: "/t",
      cite: "GatewayJMSMessageListener.java:713",
    });
    // Before: tenantDomain null when not given → NullPointerException in the subscriber store lookup.
    const before = envelope({
      ...base,
      apiName: null,
      apiContext: null,
      apiVersion: null,
      tenantDomain: null,
      tenantId: -1234,
      secret: null,
      subscriberName: null,
      applicationTier: null,
      tier: null,
      apiTier: null,
    });
    const failed = wso2x4Listener(hub("asyncWebhooksData", before), LABELS);
    assert.equal(failed.kind === "exception" && failed.cite, "SubscriptionsDataServiceImpl.java:40");
  });
});

describe("conformance: WSO2 3.2.0 listeners act on what gwsync publishes to a 3.2.0 hub", () => {
  test("MapMessages only: the 4.x text message is dropped by a 3.2.0 gateway (GatewayJMSMessageListener.java@3.2.0:74,100)", () => {
    const inner = deployApiEvent({
      uuid: "u-2",
      name: "P",
      version: "1",
      provider: "admin",
      context: "/p/1",
      gatewayLabels: LABELS,
    });
    const body = encodeNotification(inner).body;
    assert.equal(wso2v320Listener(hub("notification", body, "4.x"), LABELS).kind, "dropped");
    assert.deepEqual(wso2v320Listener(hub("notification", body, "3.2.0"), LABELS), {
      kind: "deploy",
      apiId: "u-2",
      labels: LABELS,
      tenantDomain: "carbon.super",
      cite: "GatewayJMSMessageListener.java:132",
    });
  });

  test('a 4.x-shaped inner event on a 3.2.0 gateway would deploy API "0": the 3.2.0 dialect reshapes it', () => {
    const inner = deployApiEvent({
      uuid: "u-3",
      name: "P",
      version: "1",
      provider: "admin",
      context: "/p/1",
      gatewayLabels: LABELS,
    });
    const json = encodeNotification(inner).body;
    const payload = (
      JSON.parse(json.toString()) as {
        event: { payloadData: { eventType: string; timestamp: number; event: string } };
      }
    ).event.payloadData;
    // The 4.x inner event in a map, without the reshaping: Gson reads the int apiId into 3.2.0's String apiId.
    const unreshaped: HubMessage = {
      routingKey: "notification",
      body: encodeQpidMap([
        ["event", string(payload.event)],
        ["eventType", string(payload.eventType)],
        ["timestamp", long(payload.timestamp)],
      ]),
      properties: { contentType: "jms/map-message" },
    };
    const wrong = wso2v320Listener(unreshaped, LABELS);
    assert.equal(wrong.kind === "deploy" && wrong.apiId, "0");
    const shaped = wso2v320Listener(hub("notification", json, "3.2.0"), LABELS);
    assert.equal(shaped.kind === "deploy" && shaped.apiId, "u-3");
  });

  test("tokenRevocation: expiryTime travels as a Long (GatewayTokenRevocationMessageListener.java@3.2.0:66)", () => {
    const body = encodeTokenRevocation({
      revokedToken: "jti",
      expiryTime: 1_900_000_000_000,
      type: "JWT",
    }).body;
    assert.deepEqual(wso2v320Listener(hub("tokenRevocation", body, "3.2.0"), LABELS), {
      kind: "revokeJwt",
      token: "jti",
      expiryTime: 1_900_000_000_000,
      cite: "GatewayTokenRevocationMessageListener.java:90-92",
    });
  });

  test("keyManager: tenantDomain, a Boolean enabled and the settings map (KeyManagerJMSMessageListener.java@3.2.0:63-82)", () => {
    const body = encodeKeyManager({
      action: "add",
      name: "Okta",
      type: "Okta",
      enabled: true,
      organization: "carbon.super",
      config: { issuer: "i" },
    }).body;
    const outcome = wso2v320Listener(hub("keyManager", body, "3.2.0"), LABELS);
    assert.deepEqual(outcome, {
      kind: "keyManager",
      action: "add",
      organization: "carbon.super",
      name: "Okta",
      type: "Okta",
      tokenType: null,
      settings: { issuer: "i" },
      cite: "KeyManagerJMSMessageListener.java:74-82",
    });
  });
});

describe("conformance: gwsync reads what WSO2 publishes", () => {
  const policyUpdate = readFileSync(new URL("notification-POLICY_UPDATE.wire.json", FIXTURES));

  for (const contentType of ["text/plain", "application/json", undefined]) {
    test(`the 4.x POLICY_UPDATE wire sample with content type ${contentType ?? "(none)"}`, () => {
      const r = decodeEvent("notification", policyUpdate, contentType ? { contentType } : {});
      assert.ok(r.ok, r.ok ? "" : r.reason);
      assert.equal(r.event.topic === "notification" && r.event.type, "POLICY_UPDATE");
    });
  }

  test("a content type gwsync cannot read is refused with the reason (dead-lettered, never guessed)", () => {
    const r = decodeEvent("notification", policyUpdate, { contentType: "application/octet-stream" });
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.reason, /content type "application\/octet-stream" is not one gwsync reads/);
  });

  test("a WSO2 consumer-app revocation (Map<String,String> written by Jackson, TokenRevocationNotifierImpl.java:70-77)", () => {
    const token = b64(JSON.stringify({ revocationTime: "1700000000000", consumer_key: "ck" }));
    const body = envelope({
      eventId: "e",
      revokedToken: token,
      ttl: "3600",
      expiryTime: 0,
      type: "consumer_app_revocation_event",
      tenantId: -1234,
    });
    const r = decodeEvent("tokenRevocation", body, { contentType: "text/plain" });
    assert.ok(r.ok && r.event.topic === "tokenRevocation");
    assert.deepEqual(r.event.revocation, {
      kind: "consumerApp",
      consumerKey: "ck",
      revocationTime: 1_700_000_000_000,
    });
  });

  test("a WSO2 4.x key manager event: the DTO as Gson writes it (KeyMgtNotificationSender.java:20-28)", () => {
    const dto = {
      name: "Okta",
      uuid: "km-1",
      displayName: "Okta",
      description: "",
      organization: "carbon.super",
      additionalProperties: { issuer: "i", client_secret: "s" },
      endpoints: {},
      type: "Okta",
      enabled: true,
      tokenType: "DIRECT",
      permissions: { roles: [] },
      allowedOrganizations: [],
    };
    const body = envelope({
      event_type: "key_manager_configuration",
      action: "add",
      name: "Okta",
      type: "Okta",
      enabled: true,
      value: b64(dto),
      organization: "carbon.super",
      tokenType: "DIRECT",
    });
    const r = decodeEvent("keyManager", body, { contentType: "text/plain" });
    assert.ok(r.ok && r.event.topic === "keyManager");
    assert.deepEqual(r.event.config, dto);
    assert.equal(r.event.tokenType, "DIRECT");
  });

  test("3.2.0 maps written by Andes itself decode (amqp/map fixtures)", () => {
    const hex = (f: string) => Buffer.from(readFileSync(new URL(f, FIXTURES), "utf8").trim(), "hex");
    const deploy = decodeEvent("notification", hex("notification-DEPLOY_API_IN_GATEWAY-3.2.0.amqp-map.hex"), {
      contentType: "amqp/map",
    });
    assert.ok(deploy.ok && deploy.event.topic === "notification" && deploy.event.payload.kind === "gateway");
    assert.equal(deploy.event.payload.apiUuid, "c025a614-2f77-4c92-a9b9-b23df7a630f5");
    assert.deepEqual(deploy.event.payload.gatewayLabels, LABELS);
    const revoke = decodeEvent("tokenRevocation", hex("tokenRevocation-JWT-3.2.0.amqp-map.hex"), {
      contentType: "amqp/map",
    });
    assert.ok(revoke.ok && revoke.event.topic === "tokenRevocation");
    assert.deepEqual(
      [revoke.event.revokedToken, revoke.event.expiryTime, revoke.event.ttl],
      ["1fdc5b0e-jti", 1_900_000_000_000, 3600],
    );
    const km = decodeEvent("keyManager", hex("keyManager-add-3.2.0.amqp-map.hex"), {
      contentType: "amqp/map",
      messageId: "ID:1",
    });
    assert.ok(km.ok && km.event.topic === "keyManager");
    // 3.2.0's value is the settings map alone: kept as a KeyManagerConfigurationDTO's additionalProperties.
    assert.deepEqual(km.event.config, {
      name: "Okta",
      organization: "carbon.super",
      additionalProperties: { issuer: "https://okta.test" },
      type: "Okta",
      enabled: true,
    });
    assert.equal(km.event.organization, "carbon.super");
  });

  test("a WSO2 webhook event without tenantDomain: the super tenant's by its id, another tenant refused", () => {
    const base = {
      apiUUID: "a",
      apiName: null,
      apiContext: null,
      apiVersion: null,
      appID: "b",
      tenantDomain: null,
      callback: "https://c",
      topic: "/t",
      mode: "subscribe",
      secret: null,
      expireAt: 0,
      subscriberName: null,
      applicationTier: null,
      tier: null,
      apiTier: null,
      isThrottled: false,
    };
    const superTenant = decodeEvent("asyncWebhooksData", envelope({ ...base, tenantId: -1234 }));
    assert.ok(superTenant.ok && superTenant.event.topic === "asyncWebhooksData");
    assert.equal(superTenant.event.subscription.tenantDomain, "carbon.super");
    const other = decodeEvent("asyncWebhooksData", envelope({ ...base, tenantId: 3 }));
    assert.match(other.ok ? "" : other.reason, /tenantDomain is required for tenant 3/);
  });
});
