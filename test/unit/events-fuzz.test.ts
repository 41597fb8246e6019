import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeEvent } from "../../src/events/decode.js";
import {
  encodeKeyManager,
  encodeNotification,
  encodeTokenRevocation,
  encodeWebhookSubscription,
  type NotificationInner,
} from "../../src/events/encode.js";
import { KEY_MANAGER_FIELDS } from "../../src/events/key-manager.js";
import { NOTIFICATION_BASE_FIELDS, NOTIFICATION_FIELDS } from "../../src/events/notification.js";
import { KNOWN_NOTIFICATION_TYPES } from "../../src/events/notification-payload.js";
import { TOKEN_REVOCATION_FIELDS } from "../../src/events/token-revocation.js";
import { TOPICS, type Topic } from "../../src/events/topics.js";
import type { InboundEvent } from "../../src/events/types.js";
import { WEBHOOK_FIELDS } from "../../src/events/webhook-subscription.js";

const RUNS_PER_TOPIC = 1000;

const FIELDS: Record<Topic, readonly string[]> = {
  notification: NOTIFICATION_FIELDS,
  tokenRevocation: TOKEN_REVOCATION_FIELDS,
  keyManager: KEY_MANAGER_FIELDS,
  asyncWebhooksData: WEBHOOK_FIELDS,
};

const INNER_FIELDS = [
  ...NOTIFICATION_BASE_FIELDS,
  "apiId",
  "uuid",
  "gatewayLabels",
  "applicationId",
  "subscriptionId",
  "consumerKey",
  "policyId",
  "policyType",
  "name",
  "gwsyncArtifact",
];

const envelope = (payloadData: unknown) => Buffer.from(JSON.stringify({ event: { payloadData } }));
const base64 = (text: string) => Buffer.from(text).toString("base64");

/** Values that look like what WSO2 sends, or almost. */
const fieldValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    ...KNOWN_NOTIFICATION_TYPES,
    "add",
    "delete",
    "subscribe",
    "JWT",
    "consumer_app_revocation_event",
  ),
  fc.integer(),
  fc.string().map(base64),
);

/** A payloadData made of the stream's own field names (some dropped, some junk) with random values. */
const nearPayload = (fields: readonly string[]) =>
  fc.dictionary(fc.oneof(fc.constantFrom(...fields), fc.string({ maxLength: 8 })), fieldValue, {
    maxKeys: 20,
  });

const innerEvent = fc
  .dictionary(fc.oneof(fc.constantFrom(...INNER_FIELDS), fc.string({ maxLength: 6 })), fieldValue, {
    maxKeys: 14,
  })
  .map((inner) => JSON.stringify(inner));

/** A valid payloadData of each stream, to mutate one field at a time. */
const VALID: Record<Topic, Record<string, unknown>> = {
  notification: {
    eventType: "DEPLOY_API_IN_GATEWAY",
    timestamp: 1,
    event: base64(
      JSON.stringify({
        apiId: 0,
        uuid: "u",
        gatewayLabels: ["L"],
        eventId: "e",
        timeStamp: 1,
        type: "DEPLOY_API_IN_GATEWAY",
        tenantId: 0,
      }),
    ),
  },
  tokenRevocation: {
    eventId: "e",
    revokedToken: "t",
    ttl: "60",
    expiryTime: 0,
    type: "JWT",
    tenantId: -1234,
  },
  keyManager: {
    event_type: "key_manager_configuration",
    action: "add",
    name: "n",
    type: "default",
    enabled: true,
    value: base64("{}"),
    organization: "carbon.super",
    tokenType: "DIRECT",
  },
  asyncWebhooksData: {
    apiUUID: "a",
    appID: "b",
    tenantId: 1,
    callback: "https://cb.test",
    topic: "t",
    mode: "subscribe",
    expireAt: 0,
  },
};

/** The valid payload with nothing changed, one field replaced by a random value, or one field removed. */
function mutated(topic: Topic): fc.Arbitrary<Buffer> {
  const valid = VALID[topic];
  const keys = Object.keys(valid);
  return fc
    .tuple(fc.constantFrom("keep", "replace", "drop"), fc.constantFrom(...keys), fieldValue)
    .map(([how, key, value]) => {
      const payload: Record<string, unknown> = { ...valid };
      if (how === "replace") payload[key] = value;
      if (how === "drop") delete payload[key];
      return envelope(payload);
    });
}

/** A notification wrapper around a random (often well-formed) inner event of a known type. */
const notificationWrapped = fc
  .tuple(fc.constantFrom(...KNOWN_NOTIFICATION_TYPES), innerEvent, fc.integer({ min: 0, max: 2 ** 40 }))
  .map(([type, json, timestamp]) => {
    const inner = { ...JSON.parse(json), eventId: "e", timeStamp: timestamp, type, tenantId: 0 };
    return envelope({ eventType: type, timestamp, event: base64(JSON.stringify(inner)) });
  });

function bodies(topic: Topic): fc.Arbitrary<Buffer> {
  const common = [
    fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
    fc.jsonValue({ maxDepth: 4 }).map((value) => Buffer.from(JSON.stringify(value) ?? "null")),
    fc.string({ maxLength: 200 }).map((text) => Buffer.from(text)),
    nearPayload(FIELDS[topic]).map(envelope),
    mutated(topic),
    mutated(topic),
  ];
  return topic === "notification"
    ? fc.oneof(...common, notificationWrapped, notificationWrapped)
    : fc.oneof(...common);
}

/** Gson drops null fields, so a re-encoded inner event lacks the ones the fuzzer set to null. */
function withoutNulls(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null));
}

/** Encodes an accepted event again with gwsync's encoder; decoding that must give the same event. */
function reencoded(event: InboundEvent): { body: Buffer; expected: InboundEvent } {
  switch (event.topic) {
    case "notification":
      return {
        body: encodeNotification(event.inner as NotificationInner, { timestamp: event.timestamp }).body,
        expected: { ...event, inner: withoutNulls(event.inner) },
      };
    case "tokenRevocation":
      return {
        body: encodeTokenRevocation(event).body,
        expected: { ...event, ttl: event.ttl ?? 3600 },
      };
    case "keyManager": {
      // gwsync writes a full KeyManagerConfigurationDTO (src/events/key-manager-dto.ts): the value comes
      // back as that DTO, and the tokenType field as the DTO's.
      const body = encodeKeyManager(event).body;
      const value = (
        JSON.parse(body.toString()) as { event: { payloadData: { value: string; tokenType: unknown } } }
      ).event.payloadData;
      const config =
        value.value === ""
          ? null
          : (JSON.parse(Buffer.from(value.value, "base64").toString()) as Record<string, unknown>);
      const expected = { ...event, config };
      if (typeof value.tokenType === "string") expected.tokenType = value.tokenType;
      return { body, expected };
    }
    case "asyncWebhooksData":
      return { body: encodeWebhookSubscription(event.subscription).body, expected: event };
  }
}

describe("decodeEvent survives arbitrary input", () => {
  for (const topic of TOPICS) {
    test(`${RUNS_PER_TOPIC} random ${topic} bodies never throw, decode the same way twice, and what is accepted re-encodes to itself`, () => {
      let accepted = 0;
      fc.assert(
        fc.property(bodies(topic), (body) => {
          const first = decodeEvent(topic, body);
          const second = decodeEvent(topic, Buffer.from(body));
          assert.deepEqual(second, first);
          if (first.ok) {
            accepted++;
            assert.equal(first.event.topic, topic);
            let again: ReturnType<typeof reencoded>;
            try {
              again = reencoded(first.event);
            } catch (err) {
              // Only a key manager a WSO2 gateway would fail on (bad tokenType, ...) may be refused.
              assert.equal((err as { code?: string }).code, "GWSYNC_EVENT_INVALID");
              assert.equal(topic, "keyManager");
              return;
            }
            const redecoded = decodeEvent(topic, again.body);
            assert.ok(redecoded.ok, redecoded.ok ? "" : redecoded.reason);
            assert.deepEqual(redecoded.event, again.expected);
          } else {
            assert.ok(first.code === "GWSYNC_EVENT_INVALID" || first.code === "GWSYNC_EVENT_TOO_LARGE");
            assert.ok(first.reason.startsWith(`${topic}: `), first.reason);
          }
        }),
        { numRuns: RUNS_PER_TOPIC },
      );
      // Not an assertion on luck: the count is reported so a generator that never reaches "valid" shows.
      console.log(`${topic}: ${accepted}/${RUNS_PER_TOPIC} random bodies accepted`);
    });
  }

  test("an arbitrary routing key with an arbitrary body is refused, never thrown", () => {
    fc.assert(
      fc.property(fc.string(), fc.uint8Array({ maxLength: 64 }), (topic, bytes) => {
        const result = decodeEvent(topic, Buffer.from(bytes));
        if (!(TOPICS as readonly string[]).includes(topic)) assert.equal(result.ok, false);
      }),
      { numRuns: RUNS_PER_TOPIC },
    );
  });

  test("deeply nested JSON is refused with a reason, not a stack overflow", () => {
    const deep = Buffer.from(`${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    const result = decodeEvent("notification", deep);
    assert.equal(result.ok, false);
  });
});
