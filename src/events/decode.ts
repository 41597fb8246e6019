import { z } from "zod";
import { DEFAULT_MAX_JSON_DEPTH } from "../security/json-limits.js";
import { zodReason } from "../zod-reason.js";
import { decodeAmqpMap } from "./amqp-map.js";
import { mapToJson } from "./jms-value.js";
import { type InboundKeyManager, keyManagerPayloadSchema } from "./key-manager.js";
import {
  type InboundNotification,
  notificationBaseSchema,
  notificationWrapperSchema,
  plainNotificationBase,
  plainNotificationWrapper,
  SUPER_TENANT_DOMAIN,
  SUPER_TENANT_ID,
} from "./notification.js";
import { parseNotificationPayload } from "./notification-payload.js";
import { decodeQpidMap } from "./qpid-map.js";
import {
  type InboundTokenRevocation,
  parseRevocationRule,
  plainTokenRevocationPayload,
  tokenRevocationPayloadSchema,
  ttlSeconds,
} from "./token-revocation.js";
import { isTopic, type Topic } from "./topics.js";
import type { DecodeResult, InboundEvent } from "./types.js";
import {
  type InboundWebhookSubscription,
  type WebhookSubscription,
  webhookPayloadSchema,
} from "./webhook-subscription.js";
import { type BodyFormat, bodyFormatOf } from "./wire-format.js";
import { isJsonRecord } from "../security/json-limits.js";
import { decodeBase64, decodeUtf8, isPlainObject, parseJson } from "./wire-json.js";

/** Default cap on one message body; an inline artifact must fit in it (docs/architecture.md#wire-format). */
export const DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024;

const PAYLOAD_PATH = "event.payloadData";

export interface DecodeOptions {
  /** Bodies larger than this are refused before any parsing. */
  maxBytes?: number;
  /** The AMQP messageId: the event id of keyManager/asyncWebhooksData, whose payloads carry none. */
  messageId?: string;
  /** The AMQP content type: it says how the body is laid out (src/events/wire-format.ts). */
  contentType?: string;
  /** JSON nested deeper than this (the body, and the JSON inside base64 fields) is refused unparsed. */
  maxJsonDepth?: number;
}

type Step<T> = { ok: true; value: T } | { ok: false; reason: string; tooDeep?: boolean };

const envelopeSchema = z.looseObject({
  event: z.looseObject({ payloadData: z.record(z.string(), z.unknown()) }),
});

/**
 * Decodes one AMQP message body of a stream into a validated InboundEvent. Never throws: anything that
 * cannot be a valid event comes back as a failure whose reason names the topic and the field.
 */
export function decodeEvent(topic: string, body: Buffer, options: DecodeOptions = {}): DecodeResult {
  const name = isTopic(topic) ? topic : "event";
  try {
    const large = tooLarge(body, name, options.maxBytes);
    if (large) return large;
    if (!isTopic(topic)) {
      return invalid(`routing key ${JSON.stringify(topic.slice(0, 64))} is not one of the gwsync streams`);
    }
    const format = bodyFormatOf(options.contentType);
    if (format === undefined) {
      return invalid(
        `${topic}: content type ${JSON.stringify(String(options.contentType).slice(0, 64))} is not one gwsync reads (text/plain, application/json, jms/map-message, amqp/map, or none)`,
      );
    }
    const maxDepth = options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
    const json = format === "json" ? parseBody(body, topic, maxDepth) : parseMapBody(format, topic, body);
    return json.ok ? decodeValue(topic, json.value, options.messageId, maxDepth) : json;
  } catch (err) {
    // Last line of defence: a decoder bug must dead-letter one message, never stop the consumer.
    return invalid(`${name}: could not be decoded (${err instanceof Error ? err.name : "unknown error"})`);
  }
}

/** decodeEvent for a body already parsed from JSON (one event of a gwsync batch). Never throws. */
export function decodeEventValue(
  topic: Topic,
  value: unknown,
  options: { messageId?: string; maxJsonDepth?: number } = {},
): DecodeResult {
  try {
    return decodeValue(topic, value, options.messageId, options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH);
  } catch (err) {
    return invalid(`${topic}: could not be decoded (${err instanceof Error ? err.name : "unknown error"})`);
  }
}

function decodeValue(
  topic: Topic,
  value: unknown,
  messageId: string | undefined,
  maxDepth: number,
): DecodeResult {
  const payload = payloadDataOf(value);
  const decoded = payload.ok ? decodePayload(topic, payload.value, messageId, maxDepth) : payload;
  if (decoded.ok) return { ok: true, event: decoded.value };
  return decoded.tooDeep
    ? tooDeepFailure(`${topic}: ${decoded.reason}`)
    : invalid(`${topic}: ${decoded.reason}`);
}

/** A failure of the max_json_depth limit (counted by the alarm metric). */
function tooDeepFailure(reason: string): DecodeFailure {
  return { ok: false, code: "GWSYNC_LIMIT_EXCEEDED", reason, limit: "max_json_depth" };
}

type DecodeFailure = Extract<DecodeResult, { ok: false }>;

/** The size cap every body is held to before it is parsed; `what` starts the reason. */
export function tooLarge(
  body: Buffer,
  what: string,
  maxBytes = DEFAULT_MAX_EVENT_BYTES,
): DecodeFailure | undefined {
  if (body.length <= maxBytes) return undefined;
  return {
    ok: false,
    code: "GWSYNC_EVENT_TOO_LARGE",
    reason: `${what}: body is ${body.length} bytes, over the ${maxBytes}-byte limit`,
    limit: "max_message_bytes",
  };
}

/** A body as UTF-8 JSON, or why it is not; `what` starts the reason. */
export function parseBody(
  body: Buffer,
  what: string,
  maxDepth = DEFAULT_MAX_JSON_DEPTH,
): { ok: true; value: unknown } | DecodeFailure {
  const text = decodeUtf8(body);
  if (text === undefined)
    return { ok: false, code: "GWSYNC_EVENT_INVALID", reason: `${what}: body is not valid UTF-8` };
  const json = parseJson(text, maxDepth);
  if (json.ok) return json;
  return json.tooDeep
    ? tooDeepFailure(`${what}: body nests deeper than ${maxDepth} levels (max_json_depth)`)
    : { ok: false, code: "GWSYNC_EVENT_INVALID", reason: `${what}: body is not valid JSON` };
}

/**
 * A MapMessage body (3.2.0 hubs) as the 4.x envelope value the stream decoders read: the map's entries
 * become payloadData (their names are the stream's field names in both versions).
 */
export function parseMapBody(
  format: Exclude<BodyFormat, "json">,
  what: string,
  body: Buffer,
): { ok: true; value: unknown } | DecodeFailure {
  const decoded = format === "jms-map" ? decodeQpidMap(body) : decodeAmqpMap(body);
  if (!decoded.ok) return { ok: false, code: "GWSYNC_EVENT_INVALID", reason: `${what}: ${decoded.reason}` };
  const json = mapToJson(decoded.map);
  if (!json.ok) return { ok: false, code: "GWSYNC_EVENT_INVALID", reason: `${what}: ${json.reason}` };
  return { ok: true, value: { event: { payloadData: json.value } } };
}

function invalid(reason: string): DecodeResult {
  return { ok: false, code: "GWSYNC_EVENT_INVALID", reason };
}

function payloadDataOf(value: unknown): Step<Record<string, unknown>> {
  // The plain case without zod (issue 19): what the schema would take, as it would return it.
  if (isJsonRecord(value)) {
    const event = value.event;
    if (isJsonRecord(event) && isJsonRecord(event.payloadData))
      return { ok: true, value: { ...event.payloadData } };
  }
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) {
    return { ok: false, reason: 'body must be JSON of the form {"event":{"payloadData":{...}}}' };
  }
  return { ok: true, value: envelope.data.event.payloadData };
}

function decodePayload(
  topic: Topic,
  payloadData: Record<string, unknown>,
  messageId: string | undefined,
  maxDepth: number,
): Step<InboundEvent> {
  switch (topic) {
    case "notification":
      return decodeNotification(payloadData, maxDepth);
    case "tokenRevocation":
      return decodeTokenRevocation(payloadData);
    case "keyManager":
      return decodeKeyManager(payloadData, messageId, maxDepth);
    case "asyncWebhooksData":
      return decodeWebhook(payloadData, messageId);
  }
}

function decodeNotification(
  payloadData: Record<string, unknown>,
  maxDepth: number,
): Step<InboundNotification> {
  let wrapper = plainNotificationWrapper(payloadData);
  if (wrapper === undefined) {
    const parsed = notificationWrapperSchema.safeParse(payloadData, { reportInput: true });
    if (!parsed.success) return { ok: false, reason: zodReason(parsed.error, PAYLOAD_PATH) };
    wrapper = parsed.data;
  }
  const bytes = decodeBase64(wrapper.event);
  if (bytes === undefined) return { ok: false, reason: `${PAYLOAD_PATH}.event is not valid base64` };
  const text = decodeUtf8(bytes);
  const json = text === undefined ? undefined : parseJson(text, maxDepth);
  if (json?.ok === false && json.tooDeep)
    return { ok: false, tooDeep: true, reason: `${PAYLOAD_PATH}.event nests deeper than ${maxDepth} levels` };
  if (!json?.ok || !isPlainObject(json.value)) {
    return { ok: false, reason: `${PAYLOAD_PATH}.event must be base64 of a UTF-8 JSON object` };
  }
  const inner = json.value;
  let base = plainNotificationBase(inner);
  if (base === undefined) {
    const parsed = notificationBaseSchema.safeParse(inner, { reportInput: true });
    if (!parsed.success)
      return { ok: false, reason: zodReason(parsed.error, `${PAYLOAD_PATH}.event(decoded)`) };
    base = parsed.data;
  }
  const { eventId, timeStamp, type, tenantId, tenantDomain } = base;
  if (type !== wrapper.eventType) {
    return {
      ok: false,
      reason: `${PAYLOAD_PATH}.eventType "${wrapper.eventType}" differs from the decoded event's type "${type}"`,
    };
  }
  const payload = parseNotificationPayload(type, inner);
  if (!payload.ok)
    return { ok: false, reason: zodReason(payload.error, `${PAYLOAD_PATH}.event(decoded ${type})`) };
  const event: InboundNotification = {
    topic: "notification",
    eventId,
    timestamp: wrapper.timestamp,
    timeStamp,
    type,
    tenantId,
    payload: payload.payload,
    inner,
  };
  if (typeof tenantDomain === "string") event.tenantDomain = tenantDomain;
  return { ok: true, value: event };
}

function decodeTokenRevocation(payloadData: Record<string, unknown>): Step<InboundTokenRevocation> {
  let p = plainTokenRevocationPayload(payloadData);
  if (p === undefined) {
    const parsed = tokenRevocationPayloadSchema.safeParse(payloadData, { reportInput: true });
    if (!parsed.success) return { ok: false, reason: zodReason(parsed.error, PAYLOAD_PATH) };
    p = parsed.data;
  }
  const rule = parseRevocationRule(p.type, p.revokedToken);
  if (!rule.ok) return { ok: false, reason: rule.reason };
  const event: InboundTokenRevocation = {
    topic: "tokenRevocation",
    eventId: p.eventId,
    revokedToken: p.revokedToken,
    expiryTime: p.expiryTime,
    type: p.type,
    tenantId: p.tenantId,
  };
  const ttl = ttlSeconds(p.ttl);
  if (ttl !== undefined) event.ttl = ttl;
  if (rule.revocation) event.revocation = rule.revocation;
  return { ok: true, value: event };
}

function decodeKeyManager(
  payloadData: Record<string, unknown>,
  messageId: string | undefined,
  maxDepth: number,
): Step<InboundKeyManager> {
  const parsed = keyManagerPayloadSchema.safeParse(payloadData, { reportInput: true });
  if (!parsed.success) return { ok: false, reason: zodReason(parsed.error, PAYLOAD_PATH) };
  const p = parsed.data;
  let config: Record<string, unknown> | null = null;
  if (typeof p.value === "string" && p.value !== "") {
    const bytes = decodeBase64(p.value);
    const text = bytes && decodeUtf8(bytes);
    const json = text === undefined ? undefined : parseJson(text, maxDepth);
    if (json?.ok === false && json.tooDeep) {
      return {
        ok: false,
        tooDeep: true,
        reason: `${PAYLOAD_PATH}.value nests deeper than ${maxDepth} levels`,
      };
    }
    if (!json?.ok || !isPlainObject(json.value)) {
      return {
        ok: false,
        reason: `${PAYLOAD_PATH}.value must be base64 of the key manager's JSON configuration`,
      };
    }
    config = json.value;
    // 3.2.0 sends the settings map alone; gwsync keeps every configuration as a KeyManagerConfigurationDTO.
    if (typeof p.organization !== "string" && !("additionalProperties" in config)) {
      config = {
        name: p.name,
        organization: p.tenantDomain,
        additionalProperties: config,
        type: p.type,
        enabled: p.enabled,
      };
    }
  } else if (p.action !== "delete") {
    return { ok: false, reason: `${PAYLOAD_PATH}.value is empty; only a delete may omit the configuration` };
  }
  const event: InboundKeyManager = {
    topic: "keyManager",
    eventType: p.event_type,
    action: p.action,
    name: p.name,
    type: p.type,
    enabled: p.enabled,
    // The refinement guarantees one of the two.
    organization: p.organization ?? p.tenantDomain ?? "",
    config,
  };
  if (typeof p.tokenType === "string") event.tokenType = p.tokenType;
  if (messageId) event.eventId = messageId;
  return { ok: true, value: event };
}

const WEBHOOK_OPTIONAL = [
  "apiName",
  "apiContext",
  "apiVersion",
  "tenantDomain",
  "secret",
  "subscriberName",
  "applicationTier",
  "tier",
  "apiTier",
  "isThrottled",
] as const;

function decodeWebhook(
  payloadData: Record<string, unknown>,
  messageId?: string,
): Step<InboundWebhookSubscription> {
  const parsed = webhookPayloadSchema.safeParse(payloadData, { reportInput: true });
  if (!parsed.success) return { ok: false, reason: zodReason(parsed.error, PAYLOAD_PATH) };
  const p = parsed.data;
  // A WSO2 gateway fails on a null tenantDomain (its subscriber stores are keyed by it); the super
  // tenant's is known from its id, any other tenant's cannot be guessed.
  const tenantDomain = p.tenantDomain ?? (p.tenantId === SUPER_TENANT_ID ? SUPER_TENANT_DOMAIN : undefined);
  if (!tenantDomain) {
    return { ok: false, reason: `${PAYLOAD_PATH}.tenantDomain is required for tenant ${p.tenantId}` };
  }
  const subscription: WebhookSubscription = {
    apiUUID: p.apiUUID,
    appID: p.appID,
    tenantId: p.tenantId,
    callback: p.callback,
    topic: p.topic,
    mode: p.mode,
    expireAt: p.expireAt,
  };
  const target = subscription as unknown as Record<string, unknown>;
  for (const key of WEBHOOK_OPTIONAL) {
    const value = p[key];
    if (value !== null && value !== undefined) target[key] = value;
  }
  subscription.tenantDomain = tenantDomain;
  const event: InboundWebhookSubscription = { topic: "asyncWebhooksData", subscription };
  if (messageId) event.eventId = messageId;
  return { ok: true, value: event };
}
