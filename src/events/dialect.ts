import { encodeAmqpMap } from "./amqp-map.js";
import { boolean, int, type JmsMap, type JmsValue, long, NULL, string } from "./jms-value.js";
import { encodeQpidMap } from "./qpid-map.js";
import type { Topic } from "./topics.js";
import {
  CONTENT_TYPE_AMQP_MAP,
  CONTENT_TYPE_JMS_MAP,
  CONTENT_TYPE_TEXT,
  jmsTopicHeader,
  TEXT_ENCODING,
} from "./wire-format.js";
import { decodeBase64, decodeUtf8, gsonJson, isPlainObject, parseJson } from "./wire-json.js";

/**
 * What one event hub speaks (docs/wso2-formats.md §4.2). WSO2 4.x: the CEP JSON envelope as a JMS
 * TextMessage (`text/plain`). WSO2 3.2.0: a JMS MapMessage with the stream's fields as typed entries
 * (`mapping type="map"` in its eventpublishers); the 3.2.0 listeners act on MapMessages only.
 */
export const HUB_DIALECTS = ["4.x", "3.2.0"] as const;
export type HubDialect = (typeof HUB_DIALECTS)[number];
export const DEFAULT_HUB_DIALECT: HubDialect = "4.x";

/**
 * How a 3.2.0 MapMessage is laid out. WSO2's own CEP publisher, through Andes' default
 * `session.createMapMessage()`, writes `amqp/map`; `jms/map-message` is the legacy Qpid format every
 * Qpid 0-x client reads whatever its settings. Both are MapMessages to a 3.2.0 gateway.
 */
export const MAP_FORMATS = [CONTENT_TYPE_JMS_MAP, CONTENT_TYPE_AMQP_MAP] as const;
export type MapFormat = (typeof MAP_FORMATS)[number];
export const DEFAULT_MAP_FORMAT: MapFormat = CONTENT_TYPE_JMS_MAP;

/** The body and properties of one event as its hub's WSO2 consumers expect them. */
export interface HubWire {
  body: Buffer;
  contentType: string;
  contentEncoding?: string;
  /** Added to the message's headers (typed for amqplib). */
  headers: Record<string, unknown>;
}

type FieldType = "string" | "long" | "int" | "boolean";

/**
 * Field types of each stream as WSO2's CEP stream definitions give them: 3.2.0's for the streams 3.2.0
 * has (its keyManager stream ends with tenantDomain), 4.x's for asyncWebhooksData (3.2.0 has none).
 */
const STREAM_TYPES_320: Record<Topic, readonly (readonly [string, FieldType])[]> = {
  notification: [
    ["eventType", "string"],
    ["timestamp", "long"],
    ["event", "string"],
  ],
  tokenRevocation: [
    ["eventId", "string"],
    ["revokedToken", "string"],
    ["ttl", "string"],
    ["expiryTime", "long"],
    ["type", "string"],
    ["tenantId", "int"],
  ],
  keyManager: [
    ["event_type", "string"],
    ["action", "string"],
    ["name", "string"],
    ["type", "string"],
    ["enabled", "boolean"],
    ["value", "string"],
    ["tenantDomain", "string"],
  ],
  asyncWebhooksData: [
    ["apiUUID", "string"],
    ["apiName", "string"],
    ["apiContext", "string"],
    ["apiVersion", "string"],
    ["appID", "string"],
    ["tenantDomain", "string"],
    ["tenantId", "int"],
    ["callback", "string"],
    ["topic", "string"],
    ["mode", "string"],
    ["secret", "string"],
    ["expireAt", "long"],
    ["subscriberName", "string"],
    ["applicationTier", "string"],
    ["tier", "string"],
    ["apiTier", "string"],
    ["isThrottled", "boolean"],
  ],
};

const GATEWAY_EVENTS = new Set(["DEPLOY_API_IN_GATEWAY", "REMOVE_API_FROM_GATEWAY"]);

/**
 * One event, given as gwsync stores it (the 4.x JSON envelope), in its hub's dialect. Throws a
 * RangeError/TypeError for a body that is not a 4.x envelope of the stream (gwsync only stores valid
 * ones; the outbox dispatcher treats a throw as a failed round).
 */
export function toHubWire(
  dialect: HubDialect,
  topic: Topic,
  envelope: Buffer,
  mapFormat: MapFormat = DEFAULT_MAP_FORMAT,
): HubWire {
  if (dialect === "4.x") {
    return {
      body: envelope,
      contentType: CONTENT_TYPE_TEXT,
      contentEncoding: TEXT_ENCODING,
      headers: jmsTopicHeader(),
    };
  }
  const map = mapOf320(topic, payloadDataOf(envelope));
  const body = mapFormat === CONTENT_TYPE_AMQP_MAP ? encodeAmqpMap(map) : encodeQpidMap(map);
  return { body, contentType: mapFormat, headers: jmsTopicHeader() };
}

function payloadDataOf(envelope: Buffer): Record<string, unknown> {
  const text = decodeUtf8(envelope);
  const json = text === undefined ? undefined : parseJson(text);
  const payload = json?.ok
    ? (json.value as { event?: { payloadData?: unknown } }).event?.payloadData
    : undefined;
  if (!isPlainObject(payload)) throw new TypeError("not a 4.x event envelope");
  return payload;
}

/** The 3.2.0 map of a 4.x payload: fields renamed and reshaped where 3.2.0 differs, keys sorted (CEP's TreeMap). */
function mapOf320(topic: Topic, payload: Record<string, unknown>): JmsMap {
  const fields = { ...payload };
  if (topic === "notification") fields.event = innerFor320(fields.event);
  if (topic === "keyManager") {
    fields.tenantDomain = fields.organization;
    fields.value = settingsOnly(fields.value);
  }
  const map: JmsMap = STREAM_TYPES_320[topic].map(([name, type]) => [name, typed(name, type, fields[name])]);
  return map.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function typed(name: string, type: FieldType, value: unknown): JmsValue {
  if (value === null || value === undefined) return NULL;
  switch (type) {
    case "string":
      if (typeof value !== "string") throw new TypeError(`${name} must be a string`);
      return string(value);
    case "long":
      if (!Number.isSafeInteger(value)) throw new TypeError(`${name} must be an integer`);
      return long(value as number);
    case "int":
      if (!Number.isInteger(value) || (value as number) < -(2 ** 31) || (value as number) >= 2 ** 31) {
        throw new TypeError(`${name} must be a 32-bit integer`);
      }
      return int(value as number);
    case "boolean":
      if (typeof value !== "boolean") throw new TypeError(`${name} must be a boolean`);
      return boolean(value);
  }
}

/**
 * 3.2.0's DeployAPIInGatewayEvent has `apiId` = the UUID (a String) and no uuid/name/context: a 3.2.0
 * gateway would read a 4.x event's int apiId as the UUID "0". Other notifications pass unchanged.
 */
function innerFor320(event: unknown): unknown {
  if (typeof event !== "string") return event;
  const bytes = decodeBase64(event);
  const text = bytes && decodeUtf8(bytes);
  const json = text === undefined ? undefined : parseJson(text);
  if (!json?.ok || !isPlainObject(json.value)) return event;
  const inner = json.value;
  if (!GATEWAY_EVENTS.has(String(inner.type)) || typeof inner.uuid !== "string") return event;
  const shaped: Record<string, unknown> = { apiId: inner.uuid, gatewayLabels: inner.gatewayLabels };
  if (inner.gwsyncArtifact !== undefined) shaped.gwsyncArtifact = inner.gwsyncArtifact;
  for (const f of ["eventId", "timeStamp", "type", "tenantId", "tenantDomain"]) shaped[f] = inner[f];
  return Buffer.from(gsonJson(shaped), "utf8").toString("base64");
}

/** 3.2.0's KeyMgtNotificationSender sends base64 of the settings map only (the DTO's additionalProperties). */
function settingsOnly(value: unknown): unknown {
  if (typeof value !== "string" || value === "") return value;
  const bytes = decodeBase64(value);
  const text = bytes && decodeUtf8(bytes);
  const json = text === undefined ? undefined : parseJson(text);
  if (!json?.ok || !isPlainObject(json.value)) return value;
  const settings = json.value.additionalProperties;
  return isPlainObject(settings) ? Buffer.from(gsonJson(settings), "utf8").toString("base64") : "";
}
