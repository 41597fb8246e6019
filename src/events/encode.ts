import { randomUUID } from "node:crypto";
import { GwsyncError } from "../errors.js";
import { KEY_MANAGER_EVENT_TYPE, type KeyManagerAction } from "./key-manager.js";
import { keyManagerDto, normaliseTokenType } from "./key-manager-dto.js";
import { NOTIFICATION_BASE_FIELDS, SUPER_TENANT_DOMAIN, SUPER_TENANT_ID } from "./notification.js";
import {
  CONSUMER_APP_REVOCATION,
  type ConsumerAppRevocation,
  SUBJECT_ENTITY_REVOCATION,
  type SubjectEntityRevocation,
} from "./token-revocation.js";
import type { WebhookSubscription } from "./webhook-subscription.js";
import { base64Json, gsonJson } from "./wire-json.js";

/**
 * Encoders producing the bytes WSO2 4.x puts on the wire: the CEP JSON mapping
 * `{"event":{"payloadData":{...}}}` with the stream's fields in the stream's order.
 */

export interface EncodedEvent {
  body: Buffer;
  /** Also the AMQP messageId. */
  eventId: string;
  /** Epoch ms: the wrapper timestamp of a notification; the AMQP timestamp for every stream. */
  timestamp: number;
}

export interface EncodeOptions {
  /** Epoch ms; defaults to the inner timeStamp, then to now. */
  timestamp?: number;
}

/** The inner JSON of a notification: the subclass fields plus the base Event fields. */
export interface NotificationInner {
  type: string;
  eventId?: string;
  timeStamp?: number;
  tenantId?: number;
  tenantDomain?: string;
  [field: string]: unknown;
}

const BASE_FIELDS: ReadonlySet<string> = new Set(NOTIFICATION_BASE_FIELDS);

function envelope(payloadData: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ event: { payloadData } }), "utf8");
}

/**
 * A notification as `new Gson().toJson(event)` then base64 would carry it: subclass fields first in the
 * order given, then eventId, timeStamp, type, tenantId (default: the super tenant, -1234), tenantDomain
 * (written only when given).
 */
export function encodeNotification(inner: NotificationInner, options: EncodeOptions = {}): EncodedEvent {
  const eventId = inner.eventId ?? randomUUID();
  const timestamp = options.timestamp ?? inner.timeStamp ?? Date.now();
  const ordered: Record<string, unknown> = Object.create(null);
  for (const [key, value] of Object.entries(inner)) {
    if (!BASE_FIELDS.has(key)) ordered[key] = value;
  }
  ordered.eventId = eventId;
  ordered.timeStamp = inner.timeStamp ?? timestamp;
  ordered.type = inner.type;
  ordered.tenantId = inner.tenantId ?? SUPER_TENANT_ID;
  // Absent stays absent (Gson omits a null tenantDomain): a relay must not invent a tenant.
  if (inner.tenantDomain !== undefined) ordered.tenantDomain = inner.tenantDomain;
  const event = Buffer.from(gsonJson(ordered), "utf8").toString("base64");
  return { body: envelope({ eventType: inner.type, timestamp, event }), eventId, timestamp };
}

export interface GatewayEventParams {
  /** The API's UUID (GatewayAPIDTO apiId). */
  uuid: string;
  /** The control plane's int database id; 0 when unknown (gwsync has none of its own). */
  apiId?: number;
  name: string;
  version: string;
  provider: string;
  context: string;
  gatewayLabels: readonly string[];
  apiType?: string;
  /** gwsync: the GatewayAPIDTO inline, for publish_directly_to_gateway. WSO2 consumers ignore it. */
  artifact?: Record<string, unknown>;
  eventId?: string;
  timeStamp?: number;
  /** WSO2 never sets it on this class, so it stays 0 on the wire (sample of product-apim#10789). */
  tenantId?: number;
  tenantDomain?: string;
}

function gatewayEvent(type: string, p: GatewayEventParams): NotificationInner {
  // Field order of the 4.0.0 DeployAPIInGatewayEvent as Choreo Connect received it.
  const inner: NotificationInner = {
    apiId: p.apiId ?? 0,
    uuid: p.uuid,
    name: p.name,
    version: p.version,
    provider: p.provider,
    apiType: p.apiType ?? "HTTP",
    gatewayLabels: [...p.gatewayLabels],
    associatedApis: [],
    context: p.context,
    type,
    tenantId: p.tenantId ?? 0,
    tenantDomain: p.tenantDomain ?? SUPER_TENANT_DOMAIN,
  };
  if (p.artifact !== undefined) inner.gwsyncArtifact = p.artifact;
  if (p.eventId !== undefined) inner.eventId = p.eventId;
  if (p.timeStamp !== undefined) inner.timeStamp = p.timeStamp;
  return inner;
}

/** The inner JSON of a 4.x DEPLOY_API_IN_GATEWAY; pass it to encodeNotification. */
export function deployApiEvent(p: GatewayEventParams): NotificationInner {
  return gatewayEvent("DEPLOY_API_IN_GATEWAY", p);
}

/** The inner JSON of a 4.x REMOVE_API_FROM_GATEWAY; pass it to encodeNotification. */
export function removeApiEvent(p: GatewayEventParams): NotificationInner {
  return gatewayEvent("REMOVE_API_FROM_GATEWAY", p);
}

/** Java's fallback when apim.token.revocation.realtime_notifier.ttl is unset. */
export const DEFAULT_REVOCATION_TTL_SECONDS = 3600;

export interface TokenRevocationInput {
  eventId?: string;
  /** Required unless `revocation` is given for one of the two rule kinds. */
  revokedToken?: string;
  ttl?: number;
  expiryTime: number;
  type: string;
  tenantId?: number;
  revocation?: ConsumerAppRevocation | SubjectEntityRevocation;
}

/**
 * The revokedToken of a consumer_app_revocation_event / subject_entity_revocation_event. WSO2 writes a
 * `Map<String, String>`, so revocationTime is a decimal string: the 4.x gateway casts it to String before
 * `Long.parseLong` (GatewayTokenRevocationMessageListener.convertRevokedTime) and drops a number.
 */
export function revocationRuleToken(rule: ConsumerAppRevocation | SubjectEntityRevocation): string {
  const revocationTime = String(rule.revocationTime);
  return rule.kind === "consumerApp"
    ? base64Json({ consumer_key: rule.consumerKey, revocationTime })
    : base64Json({ entityId: rule.entityId, entityType: rule.entityType, revocationTime });
}

export function encodeTokenRevocation(p: TokenRevocationInput, options: EncodeOptions = {}): EncodedEvent {
  const eventId = p.eventId ?? randomUUID();
  const ruleKind = p.type === CONSUMER_APP_REVOCATION || p.type === SUBJECT_ENTITY_REVOCATION;
  const revokedToken = p.revokedToken ?? (ruleKind && p.revocation ? revocationRuleToken(p.revocation) : "");
  const body = envelope({
    eventId,
    revokedToken,
    ttl: String(p.ttl ?? DEFAULT_REVOCATION_TTL_SECONDS),
    expiryTime: p.expiryTime,
    type: p.type,
    tenantId: p.tenantId ?? SUPER_TENANT_ID,
  });
  return { body, eventId, timestamp: options.timestamp ?? Date.now() };
}

export interface KeyManagerInput {
  eventId?: string;
  eventType?: string;
  action: KeyManagerAction;
  name: string;
  type: string;
  enabled: boolean;
  organization: string;
  /** EXCHANGED | DIRECT | BOTH (any case); default: the config's, else DIRECT (WSO2's default). */
  tokenType?: string;
  /**
   * The key manager's KeyManagerConfigurationDTO, or just its settings (they become the DTO's
   * additionalProperties). `value` carries base64 of the DTO; null on a delete writes an empty value.
   */
  config: Record<string, unknown> | null;
}

/**
 * A 4.x keyManager event. `value` is always a KeyManagerConfigurationDTO with a tokenType WSO2 knows
 * (src/events/key-manager-dto.ts); throws GWSYNC_EVENT_INVALID for one a WSO2 gateway would fail on.
 */
export function encodeKeyManager(p: KeyManagerInput, options: EncodeOptions = {}): EncodedEvent {
  const identity = {
    name: p.name,
    type: p.type,
    enabled: p.enabled,
    organization: p.organization,
    ...(p.tokenType !== undefined ? { tokenType: p.tokenType } : {}),
  };
  const dto = p.config === null && p.action === "delete" ? undefined : keyManagerDto(identity, p.config);
  const tokenType = dto ? dto.tokenType : p.tokenType === undefined ? null : normaliseTokenType(p.tokenType);
  const body = envelope({
    event_type: p.eventType ?? KEY_MANAGER_EVENT_TYPE,
    action: p.action,
    name: p.name,
    type: p.type,
    enabled: p.enabled,
    value: dto === undefined ? "" : base64Json(dto),
    organization: p.organization,
    tokenType,
  });
  return { body, eventId: p.eventId ?? randomUUID(), timestamp: options.timestamp ?? Date.now() };
}

export type WebhookSubscriptionInput = WebhookSubscription & { eventId?: string };

/**
 * An asyncWebhooksData event. tenantDomain is always written: a WSO2 4.x gateway keys its subscriber
 * store by it (`WebhooksDataHolder.getTenantSubscriptionStore`, a ConcurrentHashMap: null throws). It
 * defaults to carbon.super for the super tenant's id and is required for any other tenant.
 */
export function encodeWebhookSubscription(
  p: WebhookSubscriptionInput,
  options: EncodeOptions = {},
): EncodedEvent {
  const tenantDomain = p.tenantDomain ?? (p.tenantId === SUPER_TENANT_ID ? SUPER_TENANT_DOMAIN : undefined);
  if (tenantDomain === undefined || tenantDomain === "") {
    throw new GwsyncError(
      "GWSYNC_EVENT_INVALID",
      `asyncWebhooksData event: tenantDomain is required for tenant ${p.tenantId} (only the super tenant, -1234, defaults to carbon.super)`,
    );
  }
  // CEP writes every attribute of the stream; an unset one is null.
  const body = envelope({
    apiUUID: p.apiUUID,
    apiName: p.apiName ?? null,
    apiContext: p.apiContext ?? null,
    apiVersion: p.apiVersion ?? null,
    appID: p.appID,
    tenantDomain,
    tenantId: p.tenantId,
    callback: p.callback,
    topic: p.topic,
    mode: p.mode,
    secret: p.secret ?? null,
    expireAt: p.expireAt,
    subscriberName: p.subscriberName ?? null,
    applicationTier: p.applicationTier ?? null,
    tier: p.tier ?? null,
    apiTier: p.apiTier ?? null,
    isThrottled: p.isThrottled ?? null,
  });
  return { body, eventId: p.eventId ?? randomUUID(), timestamp: options.timestamp ?? Date.now() };
}
