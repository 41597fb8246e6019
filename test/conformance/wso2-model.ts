/**
 * What a WSO2 gateway does with one message of the event hub, modelled step by step on WSO2's own code
 * so the conformance tests can feed it what gwsync publishes (and gwsync what WSO2 publishes). Every
 * step names the line it reproduces; the model keeps Java's failure modes (a NullPointerException, a
 * ClassCastException, a dropped message) as outcomes instead of hiding them.
 *
 * ANDES  = wso2/andes @ 72655e00 modules/andes-core/client/src/main/java/org/wso2/andes/client/
 * GW4    = wso2/carbon-apimgt 4.x @ 68732448b122 components/apimgt/org.wso2.carbon.apimgt.gateway/src/main/java/org/wso2/carbon/apimgt/gateway/
 * GW3    = the same path in carbon-apimgt 3.2.0 @ cb3daa44148d
 * KM4/KM3 = components/apimgt/org.wso2.carbon.apimgt.jms.listener/src/main/java/org/wso2/carbon/apimgt/jms/listener/utils/KeyManagerJMSMessageListener.java @ 4.x / 3.2.0
 * IMPL4  = components/apimgt/org.wso2.carbon.apimgt.impl/src/main/java/org/wso2/carbon/apimgt/impl/ @ 4.x
 */
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { decodeAmqpMap } from "../../src/events/amqp-map.js";
import type { JmsMap, JmsValue } from "../../src/events/jms-value.js";
import { decodeQpidMap } from "../../src/events/qpid-map.js";

/** One delivery as a JMS client sees it. */
export interface HubMessage {
  routingKey: string;
  exchange?: string;
  body: Buffer;
  properties: {
    contentType?: string | undefined;
    contentEncoding?: string | undefined;
    timestamp?: number | undefined;
    messageId?: string | undefined;
    headers?: Record<string, unknown> | undefined;
  };
}

export type JmsClass = "TextMessage" | "MapMessage" | "BytesMessage" | "ObjectMessage" | "StreamMessage";

/**
 * ANDES message/MessageFactoryRegistry.java:57-70 (registered MIME types) and :102-121 (createMessage):
 * the content type is matched exactly (an AMQShortString key); an absent or unknown one is a BytesMessage.
 */
export function andesMessageClass(contentType: string | undefined): JmsClass {
  switch (contentType) {
    case "jms/map-message":
    case "amqp/map":
      return "MapMessage";
    case "text/plain":
    case "text/xml":
      return "TextMessage";
    case "application/java-serialized-object":
      return "ObjectMessage";
    case "jms/stream-message":
      return "StreamMessage";
    default:
      return "BytesMessage";
  }
}

/** A Java exception escaping a listener (the JMS client logs it; the event has no effect). */
export class JavaException extends Error {
  constructor(
    readonly exception: string,
    readonly cite: string,
  ) {
    super(`${exception} at ${cite}`);
  }
}

export type Outcome =
  | { kind: "dropped"; why: string; cite: string }
  | { kind: "exception"; exception: string; cite: string }
  | { kind: "ignored"; why: string; cite: string }
  | {
      kind: "deploy" | "undeploy";
      apiId: string;
      labels: string[];
      tenantDomain: string | null;
      cite: string;
    }
  | { kind: "revokeJwt" | "revokeOpaque"; token: string; expiryTime: number; cite: string }
  | { kind: "revokeConsumerKey"; consumerKey: string; revocationTime: number; cite: string }
  | {
      kind: "revokeSubjectEntity";
      entityType: string;
      entityId: string;
      revocationTime: number;
      cite: string;
    }
  | {
      kind: "keyManager";
      action: string;
      organization: string;
      name: string;
      type: string;
      tokenType: string | null;
      settings: Record<string, unknown> | null;
      cite: string;
    }
  | {
      kind: "webhookSubscribe" | "webhookUnsubscribe";
      tenantDomain: string;
      apiUUID: string;
      topic: string;
      cite: string;
    };

/** ANDES message/AMQMessageDelegate_0_8.java:91-117: a Topic from JMS_QPID_DESTTYPE = 2 or an amq.topic exchange. */
function isTopicDestination(msg: HubMessage): boolean {
  const destType = msg.properties.headers?.JMS_QPID_DESTTYPE;
  if (destType === 2) return true;
  return (msg.exchange ?? "amq.topic") === "amq.topic";
}

/** ANDES message/JMSTextMessage.java:142-169: decoded with content-encoding, else UTF-8; malformed bytes throw. */
export function andesText(msg: HubMessage): string {
  const encoding = (msg.properties.contentEncoding ?? "UTF-8").toLowerCase().replace("-", "");
  if (encoding !== "utf8") throw new JavaException("UnsupportedCharset (model)", "JMSTextMessage.java:146");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(msg.body);
  } catch {
    throw new JavaException("CharacterCodingException", "JMSTextMessage.java:146");
  }
}

/** ANDES message/JMSMapMessage.java:461-479 and AMQPEncodedMapMessage.java:89-102 (BBDecoder.readMap). */
export function andesMap(msg: HubMessage): Map<string, JmsValue> {
  const decoded =
    msg.properties.contentType === "amqp/map" ? decodeAmqpMap(msg.body) : decodeQpidMap(msg.body);
  if (!decoded.ok) throw new JavaException(`JMSException (${decoded.reason})`, "JMSMapMessage.java:461");
  return new Map(decoded.map satisfies JmsMap);
}

// ---- Jackson JsonNode, as the 4.x listeners use it --------------------------------------------------

type JNode =
  | { t: "missing" }
  | { t: "null" }
  | { t: "text"; v: string }
  | { t: "num"; v: number }
  | { t: "bool"; v: boolean }
  | { t: "obj"; v: Record<string, unknown> }
  | { t: "arr"; v: unknown[] };

function node(value: unknown): JNode {
  if (value === undefined) return { t: "missing" };
  if (value === null) return { t: "null" };
  if (typeof value === "string") return { t: "text", v: value };
  if (typeof value === "number") return { t: "num", v: value };
  if (typeof value === "boolean") return { t: "bool", v: value };
  if (Array.isArray(value)) return { t: "arr", v: value };
  return { t: "obj", v: value as Record<string, unknown> };
}

/** `JsonNode.path(name)`: MissingNode when absent. */
function path(n: JNode, name: string): JNode {
  return n.t === "obj" && Object.hasOwn(n.v, name) ? node(n.v[name]) : { t: "missing" };
}

/** `JsonNode.get(name)`: Java null when absent, so the next call on it is a NullPointerException. */
function get(n: JNode, name: string, cite: string): JNode {
  if (n.t === "obj" && Object.hasOwn(n.v, name)) return node(n.v[name]);
  throw new JavaException(`NullPointerException (payloadData.get("${name}") is null)`, cite);
}

function asText(n: JNode): string {
  switch (n.t) {
    case "text":
      return n.v;
    case "num":
      return String(n.v);
    case "bool":
      return String(n.v);
    case "null":
      return "null";
    default:
      return "";
  }
}

function asLong(n: JNode): number {
  if (n.t === "num") return Math.trunc(n.v);
  if (n.t === "bool") return n.v ? 1 : 0;
  if (n.t === "text" && /^-?\d+$/.test(n.v.trim())) return Number(n.v.trim());
  return 0;
}

function textValue(n: JNode): string | null {
  return n.t === "text" ? n.v : null;
}

function asBoolean(n: JNode): boolean {
  if (n.t === "bool") return n.v;
  if (n.t === "num") return n.v !== 0;
  if (n.t === "text") return n.v.trim() === "true";
  return false;
}

/** commons-codec Base64.decodeBase64: skips what is not in either alphabet. */
function commonsBase64(text: string): Buffer {
  return Buffer.from(
    text
      .replace(/[^A-Za-z0-9+/_=-]/g, "")
      .replaceAll("-", "+")
      .replaceAll("_", "/"),
    "base64",
  );
}

/** `new Gson().fromJson(text, X.class)` on a JSON object: the field, coerced as Gson's adapters would. */
function gsonString(obj: Record<string, unknown>, field: string, cite: string): string | null {
  const v = obj[field];
  if (v === undefined || v === null) return null;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
  throw new JavaException(`JsonSyntaxException (${field}: expected a string)`, cite);
}

function gsonInt(obj: Record<string, unknown>, field: string, cite: string): number {
  const v = obj[field];
  if (v === undefined || v === null) return 0;
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "string" && /^-?\d+$/.test(v)) return Number(v);
  throw new JavaException(
    `JsonSyntaxException (NumberFormatException: ${field} = ${JSON.stringify(v)})`,
    cite,
  );
}

function gsonObject(text: string, cite: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JavaException("JsonSyntaxException", cite);
  }
  if (value === null) return null;
  if (typeof value !== "object" || Array.isArray(value))
    throw new JavaException("JsonSyntaxException (not an object)", cite);
  return value as Record<string, unknown>;
}

function gsonLabels(obj: Record<string, unknown>, cite: string): string[] {
  const v = obj.gatewayLabels;
  if (v === undefined || v === null)
    throw new JavaException("NullPointerException (gatewayLabels is null)", cite);
  if (!Array.isArray(v))
    throw new JavaException("JsonSyntaxException (gatewayLabels: expected an array)", cite);
  return v.map((l) => String(l));
}

function run(fn: () => Outcome): Outcome {
  try {
    return fn();
  } catch (err) {
    if (err instanceof JavaException) return { kind: "exception", exception: err.exception, cite: err.cite };
    throw err;
  }
}

// ---- WSO2 4.x ------------------------------------------------------------------------------------

/**
 * A WSO2 4.x gateway's listener for the message's topic: GW4 listeners/GatewayJMSMessageListener.java
 * (notification, asyncWebhooksData), GW4 listeners/GatewayTokenRevocationMessageListener.java
 * (tokenRevocation) and KM4 (keyManager).
 */
export function wso2x4Listener(msg: HubMessage, ownLabels: readonly string[]): Outcome {
  return run(() => {
    const topicListener = {
      notification: "GatewayJMSMessageListener.java",
      asyncWebhooksData: "GatewayJMSMessageListener.java",
      tokenRevocation: "GatewayTokenRevocationMessageListener.java",
      keyManager: "KeyManagerJMSMessageListener.java",
    }[msg.routingKey];
    if (topicListener === undefined)
      return {
        kind: "ignored",
        why: "no listener for this topic",
        cite: "GatewayStartupListener.java:247-259",
      };
    if (!isTopicDestination(msg))
      throw new JavaException("ClassCastException ((Topic) getJMSDestination())", `${topicListener}:108`);
    const cls = andesMessageClass(msg.properties.contentType);
    const instanceofLine = { notification: 109, asyncWebhooksData: 109, tokenRevocation: 51, keyManager: 50 }[
      msg.routingKey
    ]!;
    if (cls !== "TextMessage") {
      return {
        kind: "dropped",
        why: `Event dropped due to unsupported message type ${cls}`,
        cite: `${topicListener}:${instanceofLine}`,
      };
    }
    let root: unknown;
    try {
      root = JSON.parse(andesText(msg));
    } catch (err) {
      if (err instanceof JavaException) throw err;
      throw new JavaException("JsonProcessingException", `${topicListener}:${instanceofLine + 2}`);
    }
    const payloadData = path(path(node(root), "event"), "payloadData");
    switch (msg.routingKey) {
      case "notification":
        return notification4(payloadData, ownLabels);
      case "asyncWebhooksData":
        return webhooks4(payloadData);
      case "tokenRevocation":
        return revocation4(payloadData);
      default:
        return keyManager4(payloadData);
    }
  });
}

function notification4(payloadData: JNode, ownLabels: readonly string[]): Outcome {
  const L = "GatewayJMSMessageListener.java";
  const eventType = asText(get(payloadData, "eventType", `${L}:115`));
  asLong(get(payloadData, "timestamp", `${L}:126`));
  const encoded = asText(get(payloadData, "event", `${L}:127`));
  if (eventType !== "DEPLOY_API_IN_GATEWAY" && eventType !== "REMOVE_API_FROM_GATEWAY") {
    return { kind: "ignored", why: `${eventType} is not an artifact event`, cite: `${L}:157` };
  }
  // :163 new Gson().fromJson(new String(eventDecoded), DeployAPIInGatewayEvent.class) (IMPL4 notifier/events/DeployAPIInGatewayEvent.java: int apiId, String uuid)
  const event = gsonObject(commonsBase64(encoded).toString("utf8"), `${L}:163`);
  if (event === null) throw new JavaException("NullPointerException (event is null)", `${L}:165`);
  gsonInt(event, "apiId", `${L}:163`);
  const uuid = gsonString(event, "uuid", `${L}:163`);
  const tenantDomain = gsonString(event, "tenantDomain", `${L}:165`);
  if (tenantDomain === null)
    throw new JavaException("NullPointerException (TenantUtils.isTenantAvailable(null))", `${L}:166`);
  const labels = gsonLabels(event, `${L}:181`).filter((l) => ownLabels.includes(l));
  if (labels.length === 0)
    return { kind: "ignored", why: "no gateway label of this gateway", cite: `${L}:183` };
  if (uuid === null)
    throw new JavaException(
      "NullPointerException (getUuid() is null: nothing to fetch)",
      "InMemoryAPIDeployer.java:101",
    );
  const kind = eventType === "DEPLOY_API_IN_GATEWAY" ? "deploy" : "undeploy";
  return { kind, apiId: uuid, labels, tenantDomain, cite: `${L}:${kind === "deploy" ? 190 : 205}` };
}

function webhooks4(payloadData: JNode): Outcome {
  const L = "GatewayJMSMessageListener.java";
  const mode = asText(get(payloadData, "mode", `${L}:131`));
  const subscribe = mode.toLowerCase() === "subscribe";
  if (!subscribe && mode.toLowerCase() !== "unsubscribe")
    return { kind: "ignored", why: `mode ${mode}`, cite: `${L}:132-136` };
  const line = subscribe ? 689 : 723;
  const apiUUID = textValue(get(payloadData, "apiUUID", `${L}:${line}`));
  if (subscribe) textValue(get(payloadData, "appID", `${L}:690`));
  const tenantDomain = textValue(get(payloadData, "tenantDomain", `${L}:${subscribe ? 691 : 724}`));
  let throttled = false;
  if (subscribe) throttled = asBoolean(get(payloadData, "isThrottled", `${L}:692`));
  // :693 updateThrottleStatus / :713 addSubscription / :730 removeSubscription look the tenant's store up in
  // a ConcurrentHashMap (GW4 webhooks/SubscriptionsDataServiceImpl.java:40, WebhooksDataHolder.java:54): null throws.
  if (tenantDomain === null) {
    throw new JavaException(
      "NullPointerException (ConcurrentHashMap.get(null) for the tenant's subscriber store)",
      "SubscriptionsDataServiceImpl.java:40",
    );
  }
  const topic = textValue(get(payloadData, "topic", `${L}:${subscribe ? 696 : 725}`)) ?? "";
  if (subscribe && !throttled) {
    for (const [field, line2] of [
      ["apiContext", 699],
      ["apiName", 700],
      ["apiVersion", 701],
      ["callback", 703],
      ["tenantId", 705],
      ["secret", 706],
      ["expireAt", 707],
      ["apiTier", 709],
      ["applicationTier", 710],
      ["tier", 711],
      ["subscriberName", 712],
    ] as const) {
      get(payloadData, field, `${L}:${line2}`);
    }
  } else if (!subscribe) {
    get(payloadData, "callback", `${L}:727`);
    get(payloadData, "appID", `${L}:728`);
    get(payloadData, "secret", `${L}:729`);
  }
  return {
    kind: subscribe ? "webhookSubscribe" : "webhookUnsubscribe",
    tenantDomain,
    apiUUID: apiUUID ?? "",
    topic,
    cite: `${L}:${subscribe ? 713 : 730}`,
  };
}

function revocation4(payloadData: JNode): Outcome {
  const L = "GatewayTokenRevocationMessageListener.java";
  const token = asText(get(payloadData, "revokedToken", `${L}:57`));
  const expiryTime = asLong(get(payloadData, "expiryTime", `${L}:64`));
  const type = asText(get(payloadData, "type", `${L}:65`));
  if (token === "") return { kind: "ignored", why: "empty revokedToken", cite: `${L}:82` };
  if (type === "consumer_app_revocation_event" || type === "subject_entity_revocation_event") {
    // :142-153 base64Decode: Jackson readValue into a HashMap; a parse error gives an empty map.
    let map: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(commonsBase64(token).toString("utf8"));
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) map = parsed;
    } catch {
      map = {};
    }
    // :155-158 convertRevokedTime: Long.parseLong((String) map.get("revocationTime")).
    const revocationTime = (): number => {
      const raw = map.revocationTime;
      if (typeof raw !== "string")
        throw new JavaException(
          `ClassCastException (revocationTime is a ${typeof raw}, not a String)`,
          `${L}:157`,
        );
      if (!/^[+-]?\d+$/.test(raw)) throw new JavaException("NumberFormatException", `${L}:157`);
      return Number(raw);
    };
    if (type === "consumer_app_revocation_event") {
      if (map.consumer_key == null || map.revocationTime == null)
        return { kind: "ignored", why: "consumer_key or revocationTime missing", cite: `${L}:88-91` };
      let time: number;
      try {
        time = revocationTime();
      } catch (err) {
        if (err instanceof JavaException && err.exception === "NumberFormatException") {
          return {
            kind: "dropped",
            why: "Event dropped due to unsupported value type for revocationTime",
            cite: `${L}:96-99`,
          };
        }
        throw err;
      }
      return {
        kind: "revokeConsumerKey",
        consumerKey: String(map.consumer_key),
        revocationTime: time,
        cite: `${L}:93-95`,
      };
    }
    if (map.entityType == null || map.revocationTime == null || map.entityId == null) {
      return { kind: "ignored", why: "entityType, entityId or revocationTime missing", cite: `${L}:104-106` };
    }
    let time = 0;
    try {
      time = revocationTime();
    } catch (err) {
      // :111 a NumberFormatException is logged and the entity is revoked with time 0; other exceptions escape.
      if (!(err instanceof JavaException && err.exception === "NumberFormatException")) throw err;
    }
    return {
      kind: "revokeSubjectEntity",
      entityType: String(map.entityType),
      entityId: String(map.entityId),
      revocationTime: time,
      cite: `${L}:117-122`,
    };
  }
  if (type === "JWT" || type === "API_KEY")
    return { kind: "revokeJwt", token, expiryTime, cite: `${L}:126-128` };
  return { kind: "revokeOpaque", token, expiryTime, cite: `${L}:136-137` };
}

function keyManager4(payloadData: JNode): Outcome {
  const L = "KeyManagerJMSMessageListener.java";
  const eventType = asText(get(payloadData, "event_type", `${L}:56`));
  if (eventType !== "key_manager_configuration")
    return { kind: "ignored", why: `event_type ${eventType}`, cite: `${L}:55-56` };
  const name = asText(get(payloadData, "name", `${L}:57`));
  const organization = asText(get(payloadData, "organization", `${L}:59`));
  const action = asText(get(payloadData, "action", `${L}:60`));
  const type = asText(get(payloadData, "type", `${L}:61`));
  const value = asText(get(payloadData, "value", `${L}:62`));
  let tokenType: string | null = null;
  let settings: Record<string, unknown> | null = null;
  if (value !== "") {
    // IMPL4 utils/APIUtil.java:8385-8405 toKeyManagerConfiguration: Gson KeyManagerConfigurationDTO,
    // then TokenType.valueOf(dto.getTokenType().toUpperCase()).
    const dto = gsonObject(commonsBase64(value).toString("utf8"), "APIUtil.java:8389");
    if (dto === null) throw new JavaException("NullPointerException (the DTO is null)", "APIUtil.java:8397");
    const raw = dto.tokenType;
    if (raw === undefined || raw === null)
      throw new JavaException("NullPointerException (getTokenType() is null)", "APIUtil.java:8400");
    const upper = String(raw).toUpperCase();
    if (!["EXCHANGED", "DIRECT", "BOTH"].includes(upper)) {
      throw new JavaException(
        `IllegalArgumentException (No enum constant TokenType.${upper})`,
        "APIUtil.java:8400",
      );
    }
    tokenType = upper;
    const props = dto.additionalProperties;
    settings =
      props !== null && typeof props === "object" && !Array.isArray(props)
        ? (props as Record<string, unknown>)
        : null;
  }
  if (action === "delete")
    return { kind: "keyManager", action, organization, name, type, tokenType, settings, cite: `${L}:77-79` };
  if (value === "") return { kind: "ignored", why: "add/update without a value", cite: `${L}:63` };
  return { kind: "keyManager", action, organization, name, type, tokenType, settings, cite: `${L}:66-75` };
}

// ---- WSO2 3.2.0 ----------------------------------------------------------------------------------

/** `(X) map.get(key)` in Java: null passes, another type is a ClassCastException. */
function cast(
  map: Map<string, JmsValue>,
  key: string,
  want: JmsValue["type"],
  cite: string,
): JmsValue | null {
  const v = map.get(key);
  if (v === undefined || v.type === "null") return null;
  if (v.type !== want)
    throw new JavaException(`ClassCastException (${key} is a ${v.type}, cast to ${want})`, cite);
  return v;
}

/**
 * A WSO2 3.2.0 gateway's listener for the message's topic: GW3 listeners/GatewayJMSMessageListener.java,
 * GW3 listeners/GatewayTokenRevocationMessageListener.java and KM3.
 */
export function wso2v320Listener(msg: HubMessage, ownLabels: readonly string[]): Outcome {
  return run(() => {
    const file = {
      notification: "GatewayJMSMessageListener.java",
      tokenRevocation: "GatewayTokenRevocationMessageListener.java",
      keyManager: "KeyManagerJMSMessageListener.java",
    }[msg.routingKey];
    if (file === undefined)
      return {
        kind: "ignored",
        why: "3.2.0 gateways do not subscribe to this topic",
        cite: "GatewayStartupListener.java (3.2.0)",
      };
    const instanceofLine = { notification: 74, tokenRevocation: 49, keyManager: 52 }[msg.routingKey]!;
    const cls = andesMessageClass(msg.properties.contentType);
    if (cls !== "MapMessage")
      return {
        kind: "dropped",
        why: `Event dropped due to unsupported message type ${cls}`,
        cite: `${file}:${instanceofLine}`,
      };
    const map = andesMap(msg);
    if (msg.routingKey === "notification") return notification320(map, ownLabels);
    if (msg.routingKey === "tokenRevocation") return revocation320(map);
    return keyManager320(map);
  });
}

function notification320(map: Map<string, JmsValue>, ownLabels: readonly string[]): Outcome {
  const L = "GatewayJMSMessageListener.java";
  const eventType = cast(map, "eventType", "string", `${L}:93`);
  if (eventType === null) return { kind: "ignored", why: "no eventType", cite: `${L}:83` };
  // :93-95 handleNotificationMessage((String) eventType, (Long) timestamp, (String) event): a null Long unboxes to an NPE.
  const timestamp = cast(map, "timestamp", "long", `${L}:94`);
  if (timestamp === null)
    throw new JavaException("NullPointerException (unboxing a null timestamp)", `${L}:94`);
  const encoded = cast(map, "event", "string", `${L}:95`);
  const type = (eventType as { value: string }).value;
  if (type !== "DEPLOY_API_IN_GATEWAY" && type !== "REMOVE_API_FROM_GATEWAY") {
    return { kind: "ignored", why: `${type} is not an artifact event`, cite: `${L}:115` };
  }
  const text = commonsBase64(encoded === null ? "" : (encoded as { value: string }).value).toString("utf8");
  // :118 Gson into the 3.2.0 DeployAPIInGatewayEvent (String apiId, Set<String> gatewayLabels).
  const event = gsonObject(text, `${L}:118`);
  if (event === null) throw new JavaException("NullPointerException (event is null)", `${L}:119`);
  const apiId = gsonString(event, "apiId", `${L}:118`);
  const labels = gsonLabels(event, `${L}:119`).filter((l) => ownLabels.includes(l));
  if (labels.length === 0)
    return { kind: "ignored", why: "no gateway label of this gateway", cite: `${L}:120` };
  // :121 only the first matching label is used.
  const kind = type === "DEPLOY_API_IN_GATEWAY" ? "deploy" : "undeploy";
  return {
    kind,
    apiId: apiId ?? "null",
    labels: [labels[0]!],
    tenantDomain: gsonString(event, "tenantDomain", `${L}:122`),
    cite: `${L}:${kind === "deploy" ? 132 : 150}`,
  };
}

function revocation320(map: Map<string, JmsValue>): Outcome {
  const L = "GatewayTokenRevocationMessageListener.java";
  const token = cast(map, "revokedToken", "string", `${L}:65`);
  if (token === null) return { kind: "ignored", why: "no revokedToken", cite: `${L}:58` };
  const expiry = cast(map, "expiryTime", "long", `${L}:66`);
  if (expiry === null)
    throw new JavaException("NullPointerException (unboxing a null expiryTime)", `${L}:66`);
  const type = cast(map, "type", "string", `${L}:67`);
  const t = (token as { value: string }).value;
  const expiryTime = Number((expiry as { value: bigint }).value);
  if (t === "") return { kind: "ignored", why: "empty revokedToken", cite: `${L}:85` };
  const tokenType = type === null ? null : (type as { value: string }).value;
  if (tokenType === "JWT" || tokenType === "API_KEY")
    return { kind: "revokeJwt", token: t, expiryTime, cite: `${L}:90-92` };
  return { kind: "revokeOpaque", token: t, expiryTime, cite: `${L}:96-97` };
}

function keyManager320(map: Map<string, JmsValue>): Outcome {
  const L = "KeyManagerJMSMessageListener.java";
  const eventType = map.get("event_type");
  if (eventType?.type !== "string" || eventType.value !== "key_manager_configuration") {
    return { kind: "ignored", why: "not key_manager_configuration", cite: `${L}:61-62` };
  }
  const str = (key: string, line: number) => {
    const v = cast(map, key, "string", `${L}:${line}`);
    return v === null ? null : (v as { value: string }).value;
  };
  const name = str("name", 63);
  const tenantDomain = str("tenantDomain", 65);
  const action = str("action", 66);
  const type = str("type", 67);
  const enabled = cast(map, "enabled", "boolean", `${L}:68`);
  if (enabled === null) throw new JavaException("NullPointerException (unboxing a null enabled)", `${L}:68`);
  const value = str("value", 70);
  let settings: Record<string, unknown> | null = null;
  if (value !== null && value !== "") {
    // 3.2.0 APIUtil.toKeyManagerConfiguration: the base64 JSON is the configuration map itself.
    settings = gsonObject(commonsBase64(value).toString("utf8"), "APIUtil.java:9483 (3.2.0)");
  }
  if (action === "delete") {
    return {
      kind: "keyManager",
      action,
      organization: tenantDomain ?? "null",
      name: name ?? "null",
      type: type ?? "null",
      tokenType: null,
      settings,
      cite: `${L}:84-86`,
    };
  }
  if (settings === null) return { kind: "ignored", why: "add/update without a value", cite: `${L}:70` };
  return {
    kind: "keyManager",
    action: action ?? "null",
    organization: tenantDomain ?? "null",
    name: name ?? "null",
    type: type ?? "null",
    tokenType: null,
    settings,
    cite: `${L}:74-82`,
  };
}

// ---------------------------------------------------------------------------------------------------
// The internal data API (gateway ⇄ control plane), modelled on:
// SYNC4 = components/apimgt/org.wso2.carbon.apimgt.impl/src/main/java/org/wso2/carbon/apimgt/impl/gatewayartifactsynchronizer/ @ 4.x
// INT4  = components/apimgt/org.wso2.carbon.apimgt.internal.service/src/main/java/org/wso2/carbon/apimgt/internal/service/impl/ @ 4.x
// SYNC3 / INT3 = the same paths @ 3.2.0

/**
 * What a 4.x gateway sends as `gatewayLabel`: GW4 InMemoryAPIDeployer.java:186-187 (one API) and
 * :248-249 (startup) — `Base64.encodeBase64URLSafeString(String.join("|", labels).getBytes())`:
 * base64url without padding of the labels joined by `|` (getBytes(): the platform charset, UTF-8).
 */
export function wso2x4GatewayLabelParam(labels: readonly string[]): string {
  return Buffer.from(labels.join("|"), "utf8").toString("base64url");
}

/**
 * What a 4.x control plane makes of a `gatewayLabel`: SYNC4 RuntimeArtifactGeneratorUtil.java:199-201 —
 * commons-codec `Base64.decodeBase64` (both alphabets; characters outside them skipped), `new String`
 * (UTF-8), then `split("\\|")` (Java drops trailing empty strings). A plain label decodes to garbage.
 */
export function wso2x4DecodeGatewayLabel(param: string): string[] {
  if (param === "") return [];
  const text = Buffer.from(param.replace(/[^A-Za-z0-9+/_-]/g, ""), "base64").toString("utf8");
  const parts = text.split("|");
  while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  return parts.length === 0 ? [""] : parts;
}

/** One artifact row a modelled WSO2 control plane holds. */
export interface Wso2ArtifactRow {
  apiId: string;
  label: string;
  tenantDomain: string;
  artifact: string;
}

/**
 * A WSO2 4.x control plane's `GET /internal/data/v1/runtime-artifacts` (INT4 RuntimeArtifactsApiServiceImpl.java:47-92),
 * asked by a super-tenant user: the organization is the `X-WSO2-Tenant` header, else `xWSO2Tenant`, else
 * the user's tenant (IMPL4 resolver/OnPremResolver.java:38-80); organization ALL with xWSO2Tenant
 * carbon.super is every tenant (lines 56-59), else one tenant (SubscriptionValidationDataUtil.java:588-600).
 * The labels are decoded as above; one apiId or all; `{"count","list"}` or 404 with NO_API_ARTIFACT_FOUND
 * (ExceptionCodes.java:581) when there are none. It has no `/changes`.
 */
export function wso2x4RuntimeArtifacts(
  rows: readonly Wso2ArtifactRow[],
  query: URLSearchParams,
  headers: { xWSO2Tenant?: string | undefined; organization?: string | undefined },
): { status: number; body: unknown } {
  const header = headers.xWSO2Tenant ?? "carbon.super";
  const org = headers.organization ?? headers.xWSO2Tenant ?? "carbon.super";
  const every = org === "ALL" && header.toLowerCase() === "carbon.super";
  const tenant = org === "ALL" ? header : org;
  const labels = wso2x4DecodeGatewayLabel(query.get("gatewayLabel") ?? "");
  const apiId = query.get("apiId") ?? "";
  const hits = rows.filter(
    (r) =>
      (every || r.tenantDomain === tenant) &&
      (labels.length === 0 || labels.includes(r.label)) &&
      (apiId === "" || r.apiId === apiId),
  );
  if (hits.length === 0)
    return { status: 404, body: { code: 900910, message: "No Api artifacts found for given criteria" } };
  return { status: 200, body: { count: hits.length, list: hits.map((r) => r.artifact) } };
}

/**
 * What a WSO2 4.x gateway does to synapse-configs/default each time it starts: GW4
 * listeners/GatewayStartupListener.java:150 calls InMemoryAPIDeployer.cleanDeployment (lines 467-492),
 * which deletes every file of api/, local-entries/, endpoints/ and sequences/ whose file name is not in
 * the skip list (`clean`, lines 494-507: `skippedList.contains(file.getName())`, names with `.xml` as
 * api-manager.xml.j2:1893-1944 writes them). Returns the deleted files (relative paths).
 */
export function wso2x4CleanDeployment(
  defaultDir: string,
  skip: { apis: string[]; localEntries: string[]; endpoints: string[]; sequences: string[] },
): string[] {
  const deleted: string[] = [];
  for (const [folder, list] of [
    ["api", skip.apis],
    ["local-entries", skip.localEntries],
    ["endpoints", skip.endpoints],
    ["sequences", skip.sequences],
  ] as const) {
    const dir = join(defaultDir, folder);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    for (const name of readdirSync(dir)) {
      if (list.includes(name)) continue;
      rmSync(join(dir, name), { force: true });
      deleted.push(`${folder}/${name}`);
    }
  }
  return deleted;
}
