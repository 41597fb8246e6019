/**
 * What a gwsync publisher puts on its event hub, captured by a queue of our own bound to the hub's topic
 * exchange on the real broker, then read the way a WSO2 gateway would (test/conformance/wso2-model.ts).
 * One publisher per dialect: 4.x (text/plain), 3.2.0 with the legacy Qpid map (jms/map-message), 3.2.0
 * with the AMQP 0-10 map (amqp/map).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import amqp, { type ConsumeMessage } from "amqplib";
import { decodeEvent } from "../../src/events/decode.js";
import { TOPICS } from "../../src/events/topics.js";
import type { PublisherService } from "../../src/publisher/service.js";
import { BROKER_URL } from "../harness/broker.js";
import { synapseApi, TestCluster } from "../harness/cluster.js";
import { type HubMessage, type Outcome, wso2v320Listener, wso2x4Listener } from "./wso2-model.js";

const LABEL = "Production and Sandbox";

/** Every kind of event a publisher emits, once; returns what it sent. */
async function emitAll(pub: PublisherService): Promise<{ apiId: string; revokedJti: string }> {
  const p = pub.publisher;
  const deployed = await p.deployApi(synapseApi({ name: "CaptureAPI" }), [LABEL]);
  const revokedJti = "jti-capture";
  await p.emit({
    stream: "tokenRevocation",
    event: { revokedToken: revokedJti, expiryTime: 1_900_000_000_000, type: "JWT" },
  });
  await p.emit({
    stream: "tokenRevocation",
    event: {
      type: "consumer_app_revocation_event",
      expiryTime: 0,
      revocation: { kind: "consumerApp", consumerKey: "ck-1", revocationTime: 1_700_000_000_123 },
    },
  });
  await p.emit({
    stream: "tokenRevocation",
    event: {
      type: "subject_entity_revocation_event",
      expiryTime: 0,
      revocation: {
        kind: "subjectEntity",
        entityType: "USER_ID",
        entityId: "u-1",
        revocationTime: 1_700_000_000_456,
      },
    },
  });
  await p.emit({
    stream: "keyManager",
    event: {
      action: "add",
      name: "Okta",
      type: "Okta",
      enabled: true,
      organization: "carbon.super",
      config: { issuer: "https://okta.test" },
    },
  });
  await p.emit({
    stream: "asyncWebhooksData",
    event: {
      apiUUID: "wh-api",
      appID: "app-1",
      tenantId: -1234,
      callback: "https://cb.test/x",
      topic: "/orders",
      mode: "subscribe",
      expireAt: 0,
      isThrottled: false,
    },
  });
  return { apiId: deployed.apiId, revokedJti };
}

const EXPECTED = 6;

async function capture(
  pubExtra: string,
): Promise<{ messages: HubMessage[]; apiId: string; before: number; after: number }> {
  const cluster = new TestCluster();
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    await ch.assertExchange(cluster.exchange, "topic", { durable: true });
    const q = await ch.assertQueue(`${cluster.id}.capture`, { exclusive: true, autoDelete: true });
    for (const topic of TOPICS) await ch.bindQueue(q.queue, cluster.exchange, topic);
    const got: ConsumeMessage[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => {
      done = r;
    });
    await ch.consume(
      q.queue,
      (m) => {
        if (m === null) return;
        got.push(m);
        if (got.length >= EXPECTED) done();
      },
      { noAck: true },
    );
    const before = Date.now();
    const pub = await cluster.startPublisher("", pubExtra);
    const { apiId } = await emitAll(pub);
    const timeout = setTimeout(() => done(), 20_000);
    await all;
    clearTimeout(timeout);
    const after = Date.now();
    await ch.close();
    assert.equal(got.length, EXPECTED, `captured ${got.length} of ${EXPECTED} messages`);
    const messages = got.map((m) => ({
      routingKey: m.fields.routingKey,
      exchange: "amq.topic",
      body: m.content,
      properties: {
        contentType: m.properties.contentType as string | undefined,
        contentEncoding: m.properties.contentEncoding as string | undefined,
        timestamp: m.properties.timestamp as number | undefined,
        messageId: m.properties.messageId as string | undefined,
        headers: (m.properties.headers ?? {}) as Record<string, unknown>,
      },
      deliveryMode: m.properties.deliveryMode,
    }));
    return { messages, apiId, before, after };
  } finally {
    await conn.close();
    await cluster.close();
  }
}

function outcomes(messages: HubMessage[], listener: (m: HubMessage, labels: string[]) => Outcome): Outcome[] {
  return messages.map((m) => listener(m, [LABEL]));
}

/** The properties every captured message shares, whatever the dialect. */
function assertCommonProperties(messages: HubMessage[], window: { before: number; after: number }): void {
  for (const m of messages) {
    const p = m.properties;
    // ANDES BasicMessageProducer_0_8.java:115-118: JMSTimestamp is System.currentTimeMillis().
    assert.ok(
      p.timestamp !== undefined && p.timestamp >= window.before && p.timestamp <= window.after,
      `timestamp ${p.timestamp} is ms`,
    );
    assert.ok(p.messageId !== undefined && p.messageId.length > 0, "every message has a message id");
    // ANDES BasicMessageProducer_0_8.java:108 sets JMS_QPID_DESTTYPE = AMQDestination.TOPIC_TYPE (2).
    assert.equal(p.headers?.JMS_QPID_DESTTYPE, 2);
    assert.equal((m as unknown as { deliveryMode: number }).deliveryMode, 2, "persistent");
    // gwsync's own decoder reads back everything it sent, by its content type.
    const decoded = decodeEvent(m.routingKey, m.body, {
      contentType: p.contentType ?? "",
      ...(p.messageId ? { messageId: p.messageId } : {}),
    });
    assert.ok(decoded.ok, decoded.ok ? "" : decoded.reason);
  }
}

describe("conformance: a gwsync publisher's hub messages, captured and read as WSO2 reads them", () => {
  test("4.x hub: text/plain UTF-8, and a WSO2 4.x gateway acts on every event", async () => {
    const { messages, apiId, before, after: end } = await capture("");
    assertCommonProperties(messages, { before, after: end });
    for (const m of messages) {
      // ANDES message/MessageFactoryRegistry.java:61 and message/JMSTextMessage.java:38,103.
      assert.equal(m.properties.contentType, "text/plain");
      assert.equal(m.properties.contentEncoding, "UTF-8");
    }
    const acts = outcomes(messages, wso2x4Listener);
    const byKind = (k: Outcome["kind"]) => acts.filter((o) => o.kind === k);
    assert.deepEqual(
      acts.filter((o) => o.kind === "exception" || o.kind === "dropped" || o.kind === "ignored"),
      [],
      "no event is dropped, ignored or throws",
    );
    assert.deepEqual(
      byKind("deploy").map((o) => o.kind === "deploy" && [o.apiId, o.labels, o.tenantDomain]),
      [[apiId, [LABEL], "carbon.super"]],
    );
    assert.deepEqual(
      byKind("revokeJwt").map((o) => o.kind === "revokeJwt" && o.token),
      ["jti-capture"],
    );
    // GW4 GatewayTokenRevocationMessageListener.java:157: revocationTime must be a String.
    assert.deepEqual(
      byKind("revokeConsumerKey").map(
        (o) => o.kind === "revokeConsumerKey" && [o.consumerKey, o.revocationTime],
      ),
      [["ck-1", 1_700_000_000_123]],
    );
    assert.deepEqual(
      byKind("revokeSubjectEntity").map((o) => o.kind === "revokeSubjectEntity" && o.revocationTime),
      [1_700_000_000_456],
    );
    // KM4 KeyManagerJMSMessageListener.java:63-69 → APIUtil.java:8400: a tokenType WSO2 knows.
    assert.deepEqual(
      byKind("keyManager").map(
        (o) => o.kind === "keyManager" && [o.action, o.organization, o.tokenType, o.settings],
      ),
      [["add", "carbon.super", "DIRECT", { issuer: "https://okta.test" }]],
    );
    // GW4 GatewayJMSMessageListener.java:691-714: the tenant's subscriber store is found.
    assert.deepEqual(
      byKind("webhookSubscribe").map((o) => o.kind === "webhookSubscribe" && o.tenantDomain),
      ["carbon.super"],
    );
  });

  for (const format of ["jms/map-message", "amqp/map"] as const) {
    test(`3.2.0 hub (${format}): MapMessages, and a WSO2 3.2.0 gateway acts on every event it listens to`, async () => {
      const {
        messages,
        apiId,
        before,
        after: end,
      } = await capture(`hub_dialect = "3.2.0"\nhub_map_format = "${format}"`);
      assertCommonProperties(messages, { before, after: end });
      // ANDES message/MessageFactoryRegistry.java:60,66: both are MapMessages to a 3.2.0 gateway.
      for (const m of messages) assert.equal(m.properties.contentType, format);
      const acts = outcomes(messages, wso2v320Listener);
      assert.deepEqual(
        acts.filter((o) => o.kind === "exception" || o.kind === "dropped"),
        [],
        "no event is dropped or throws",
      );
      // GW3 GatewayJMSMessageListener.java:118-132: apiId is the UUID in 3.2.0's event class.
      assert.deepEqual(
        acts.filter((o) => o.kind === "deploy").map((o) => o.kind === "deploy" && [o.apiId, o.labels]),
        [[apiId, [LABEL]]],
      );
      assert.deepEqual(
        acts.filter((o) => o.kind === "revokeJwt").map((o) => o.kind === "revokeJwt" && o.token),
        ["jti-capture"],
      );
      // KM3 KeyManagerJMSMessageListener.java:63-82: tenantDomain, a Boolean enabled, the settings map.
      assert.deepEqual(
        acts
          .filter((o) => o.kind === "keyManager")
          .map((o) => o.kind === "keyManager" && [o.organization, o.settings]),
        [["carbon.super", { issuer: "https://okta.test" }]],
      );
      // 3.2.0 gateways have no asyncWebhooksData listener; the rule revocations are 4.x event types (opaque to 3.2.0).
      assert.equal(acts.filter((o) => o.kind === "ignored").length, 1);
    });
  }
});
