import { z } from "zod";
import { apiTypeOf } from "../artifacts/api-type.js";
import type { GatewayApiDto } from "../artifacts/types.js";
import type { GwsyncConfig, Limits } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import {
  deployApiEvent,
  type EncodedEvent,
  encodeKeyManager,
  encodeNotification,
  encodeTokenRevocation,
  encodeWebhookSubscription,
  type KeyManagerInput,
  removeApiEvent,
  type TokenRevocationInput,
  type WebhookSubscriptionInput,
} from "../events/encode.js";
import { KEY_MANAGER_ACTIONS } from "../events/key-manager.js";
import {
  HEADER_COMMIT,
  HEADER_HOPS,
  HEADER_ORIGIN,
  HEADER_ORIGIN_SEQ,
  HEADER_REVISION,
  HEADER_SEQ,
  HEADER_SHA256,
  HEADER_SIGNATURE,
} from "../events/topics.js";
import { WEBHOOK_MODES } from "../events/webhook-subscription.js";
import { parseJsonText } from "../security/json-limits.js";
import type { ArtifactSigner } from "../security/signing.js";
import type { NewOutboxMessage, SaveArtifactResult } from "../store/types.js";

/** The other three streams, as the plugin hook emits them. */
export type StreamEvent =
  | { stream: "tokenRevocation"; event: TokenRevocationInput }
  | { stream: "keyManager"; event: KeyManagerInput }
  | { stream: "asyncWebhooksData"; event: WebhookSubscriptionInput };

function apiContext(dto: GatewayApiDto): string {
  if (typeof dto.apiContext === "string") return dto.apiContext;
  return /\bcontext="([^"]*)"/.exec(dto.apiDefinition)?.[1] ?? "";
}

/** A publisher's publish_directly_to_gateway, as buildGatewayEvent's `inlineArtifact` option. */
export function inlineArtifactOption(config: GwsyncConfig): { maxBytes: number } | undefined {
  return config.publisher.publishDirectlyToGateway
    ? { maxBytes: config.gwsync.maxInlineArtifactBytes }
    : undefined;
}

/** DEPLOY_API_IN_GATEWAY / REMOVE_API_FROM_GATEWAY in WSO2's 4.x envelope, with gwsync's facts in headers. */

export function buildGatewayEvent(o: {
  action: "deploy" | "remove";
  dto: GatewayApiDto;
  labels: string[];
  result: SaveArtifactResult;
  region: string;
  originSeq?: number;
  originRegion?: string;
  hops?: number;
  /** publish_directly_to_gateway: a deploy carries the artifact when it fits (see inlineArtifactOption). */
  inlineArtifact?: { maxBytes: number } | undefined;
  /** [gwsync.signing] private_key_file: the event is signed (header x-gwsync-signature). */
  signer?: ArtifactSigner | undefined;
}): NewOutboxMessage {
  const { dto, result } = o;
  const params = {
    uuid: dto.apiId,
    name: dto.name,
    version: dto.version,
    provider: dto.provider,
    context: apiContext(dto),
    gatewayLabels: o.labels,
    tenantDomain: dto.tenantDomain,
    apiType: apiTypeOf(dto),
  };
  let artifact: Record<string, unknown> | undefined;
  if (
    o.action === "deploy" &&
    o.inlineArtifact &&
    Buffer.byteLength(JSON.stringify(dto)) <= o.inlineArtifact.maxBytes
  ) {
    artifact = dto as Record<string, unknown>;
  }
  const inner =
    o.action === "deploy"
      ? deployApiEvent({ ...params, ...(artifact ? { artifact } : {}) })
      : removeApiEvent(params);
  const enc = encodeNotification(inner);
  return {
    topic: "notification",
    messageId: enc.eventId,
    body: enc.body,
    headers: {
      [HEADER_SEQ]: result.seq,
      [HEADER_REVISION]: result.revision,
      [HEADER_SHA256]: result.sha256,
      [HEADER_ORIGIN]: o.originRegion ?? o.region,
      [HEADER_ORIGIN_SEQ]: o.originSeq ?? result.seq,
      [HEADER_HOPS]: o.hops ?? 0,
      ...(result.commit === undefined ? {} : { [HEADER_COMMIT]: result.commit }),
      ...(o.signer === undefined
        ? {}
        : {
            // Signed inside the commit's transaction, with the revision and seq it just got.
            [HEADER_SIGNATURE]: o.signer.sign({
              action: o.action,
              apiId: dto.apiId,
              tenant: dto.tenantDomain,
              labels: o.labels,
              revision: result.revision,
              sha256: result.sha256,
              seq: result.seq,
              region: o.region,
            }),
          }),
    },
  };
}

export function buildStreamEvent(e: StreamEvent, region: string): NewOutboxMessage {
  let enc: EncodedEvent;
  if (e.stream === "tokenRevocation") enc = encodeTokenRevocation(e.event);
  else if (e.stream === "keyManager") enc = encodeKeyManager(e.event);
  else enc = encodeWebhookSubscription(e.event);
  return {
    topic: e.stream,
    messageId: enc.eventId,
    body: enc.body,
    headers: { [HEADER_ORIGIN]: region, [HEADER_HOPS]: 0 },
  };
}

const tokenRevocationBody = z.strictObject({
  eventId: z.string().uuid().optional(),
  revokedToken: z.string().min(1).max(8192).optional(),
  ttl: z.number().int().positive().optional(),
  expiryTime: z.number().int().nonnegative().default(0),
  type: z.string().min(1).max(64).default("JWT"),
  tenantId: z.number().int().optional(),
  consumerKey: z.string().min(1).optional(),
  entityId: z.string().min(1).optional(),
  entityType: z.enum(["USER_ID", "CLIENT_ID"]).optional(),
  // Epoch ms, as a number or as the decimal string WSO2 itself carries.
  revocationTime: z
    .union([
      z.number().int().nonnegative(),
      z
        .string()
        .regex(/^\d{1,15}$/)
        .transform(Number),
    ])
    .optional(),
});

const keyManagerBody = z.strictObject({
  action: z.enum(KEY_MANAGER_ACTIONS),
  name: z.string().min(1).max(255),
  type: z.string().min(1).max(255).default("default"),
  enabled: z.boolean().default(true),
  organization: z.string().min(1).default("carbon.super"),
  tokenType: z.string().optional(),
  config: z.record(z.string(), z.unknown()).nullable().default(null),
});

const webhookBody = z.strictObject({
  apiUUID: z.string().min(1),
  apiName: z.string().optional(),
  apiContext: z.string().optional(),
  apiVersion: z.string().optional(),
  appID: z.string().min(1),
  tenantDomain: z.string().optional(),
  tenantId: z.number().int().default(-1234),
  callback: z.string().url(),
  topic: z.string().min(1),
  mode: z.enum(WEBHOOK_MODES),
  secret: z.string().optional(),
  expireAt: z.number().int().default(0),
  subscriberName: z.string().optional(),
  applicationTier: z.string().optional(),
  tier: z.string().optional(),
  apiTier: z.string().optional(),
  isThrottled: z.boolean().optional(),
});

function parseJsonBody(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return parseJsonText(body);
  } catch (err) {
    throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `body is not valid JSON: ${(err as Error).message}`);
  }
}

function issues(stream: string, error: z.ZodError): GwsyncError {
  const list = error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
  return new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `${stream} event is invalid: ${list}`);
}

/** Parse a REST/CLI body for one of the three flat streams into a StreamEvent. */
export function parseStreamEventBody(
  stream: StreamEvent["stream"],
  body: unknown,
  limits?: Pick<Limits, "maxRevokedTokenLength">,
): StreamEvent {
  const value = parseJsonBody(body);
  if (stream === "tokenRevocation") {
    const r = tokenRevocationBody.safeParse(value);
    if (!r.success) throw issues(stream, r.error);
    const b = r.data;
    const max = limits?.maxRevokedTokenLength;
    if (max !== undefined && b.revokedToken !== undefined && b.revokedToken.length > max) {
      throw new GwsyncError(
        "GWSYNC_LIMIT_EXCEEDED",
        `revokedToken is ${b.revokedToken.length} characters, over the ${max}-character limit (max_revoked_token_length)`,
        { details: { limit: "max_revoked_token_length" } },
      );
    }
    let revocation: TokenRevocationInput["revocation"];
    if (b.type === "consumer_app_revocation_event") {
      if (!b.consumerKey)
        throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "consumer_app_revocation_event needs consumerKey");
      revocation = {
        kind: "consumerApp",
        consumerKey: b.consumerKey,
        revocationTime: b.revocationTime ?? Date.now(),
      };
    } else if (b.type === "subject_entity_revocation_event") {
      if (!b.entityId || !b.entityType) {
        throw new GwsyncError(
          "GWSYNC_HTTP_BAD_REQUEST",
          "subject_entity_revocation_event needs entityId and entityType",
        );
      }
      revocation = {
        kind: "subjectEntity",
        entityId: b.entityId,
        entityType: b.entityType,
        revocationTime: b.revocationTime ?? Date.now(),
      };
    } else if (!b.revokedToken) {
      throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "revokedToken is required");
    }
    const event: TokenRevocationInput = {
      expiryTime: b.expiryTime,
      type: b.type,
      ...(b.eventId ? { eventId: b.eventId } : {}),
      ...(b.revokedToken ? { revokedToken: b.revokedToken } : {}),
      ...(b.ttl ? { ttl: b.ttl } : {}),
      ...(b.tenantId !== undefined ? { tenantId: b.tenantId } : {}),
      ...(revocation ? { revocation } : {}),
    };
    return { stream, event };
  }
  if (stream === "keyManager") {
    const r = keyManagerBody.safeParse(value);
    if (!r.success) throw issues(stream, r.error);
    const { tokenType, ...rest } = r.data;
    return { stream, event: { ...rest, ...(tokenType ? { tokenType } : {}) } };
  }
  const r = webhookBody.safeParse(value);
  if (!r.success) throw issues(stream, r.error);
  return { stream, event: r.data as WebhookSubscriptionInput };
}
