import { z } from "zod";
import { isJsonRecord } from "../security/json-limits.js";
import { decodeBase64, decodeUtf8, isPlainObject, parseJson } from "./wire-json.js";

/**
 * tokenRevocation stream `org.wso2.apimgt.token.revocation.stream:1.0.0` (docs/wso2-formats.md §4.4): flat
 * payloadData, fields in this order.
 */
export const TOKEN_REVOCATION_FIELDS = [
  "eventId",
  "revokedToken",
  "ttl",
  "expiryTime",
  "type",
  "tenantId",
] as const;

export const CONSUMER_APP_REVOCATION = "consumer_app_revocation_event";
export const SUBJECT_ENTITY_REVOCATION = "subject_entity_revocation_event";

/** `revokedToken` of a consumer_app_revocation_event: every token of this client issued until revocationTime. */
export interface ConsumerAppRevocation {
  kind: "consumerApp";
  consumerKey: string;
  revocationTime: number;
}

/** `revokedToken` of a subject_entity_revocation_event: every token of this user/client until revocationTime. */
export interface SubjectEntityRevocation {
  kind: "subjectEntity";
  /** USER_ID | CLIENT_ID (kept open: WSO2 adds kinds). */
  entityType: string;
  entityId: string;
  revocationTime: number;
}

export interface InboundTokenRevocation {
  topic: "tokenRevocation";
  eventId: string;
  /** JTI or signature of a JWT, an opaque token, an API key, or base64 JSON for the two rule kinds. */
  revokedToken: string;
  /** Seconds; WSO2 writes it as a string. Absent when the publisher sent none. */
  ttl?: number;
  /** Epoch ms; 0 for opaque tokens. */
  expiryTime: number;
  /** JWT | API_KEY | DEFAULT | consumer_app_revocation_event | subject_entity_revocation_event */
  type: string;
  tenantId: number;
  /** Decoded from revokedToken for the two rule kinds. */
  revocation?: ConsumerAppRevocation | SubjectEntityRevocation;
}

const DIGITS = /^\d{1,15}$/;
const TTL_RULE = 'must be a whole number of seconds written as a string, e.g. "3600"';

export const tokenRevocationPayloadSchema = z.looseObject({
  eventId: z.string().min(1),
  revokedToken: z.string().min(1),
  ttl: z
    .union([z.string().regex(DIGITS, TTL_RULE), z.literal(""), z.int().nonnegative(TTL_RULE)], {
      error: TTL_RULE,
    })
    .nullish(),
  expiryTime: z.int(),
  type: z.string().min(1),
  tenantId: z.int(),
});

export type TokenRevocationPayload = z.output<typeof tokenRevocationPayloadSchema>;

/**
 * tokenRevocationPayloadSchema's answer for the plain case, without zod (issue 19, B4: zod on every
 * revocation was ~15 % of a gateway's delivery handling); undefined: ask the schema, which accepts or
 * words the refusal. Takes only what the schema takes, and returns it as the schema would (a loose
 * object: every member kept). test/unit/decode-fast-paths.test.ts holds the two to the same answers.
 */
export function plainTokenRevocationPayload(v: unknown): TokenRevocationPayload | undefined {
  if (!isJsonRecord(v)) return undefined;
  const { eventId, revokedToken, ttl, expiryTime, type, tenantId } = v;
  if (typeof eventId !== "string" || eventId === "") return undefined;
  if (typeof revokedToken !== "string" || revokedToken === "") return undefined;
  if (typeof type !== "string" || type === "") return undefined;
  if (!Number.isSafeInteger(expiryTime) || !Number.isSafeInteger(tenantId)) return undefined;
  if (
    ttl !== undefined &&
    ttl !== null &&
    !(typeof ttl === "string" && (ttl === "" || DIGITS.test(ttl))) &&
    !(Number.isSafeInteger(ttl) && (ttl as number) >= 0)
  )
    return undefined;
  return v as TokenRevocationPayload;
}

/**
 * WSO2 writes revocationTime as a decimal string (a `Map<String, String>`, TokenRevocationNotifierImpl);
 * earlier gwsync versions wrote a number. Both are read; negative or fractional times are not.
 */
const revocationTimeSchema = z.union([
  z.int().nonnegative(),
  z
    .string()
    .regex(DIGITS)
    .transform((s) => Number(s)),
]);
const consumerAppSchema = z.looseObject({
  consumer_key: z.string().min(1),
  revocationTime: revocationTimeSchema,
});
const subjectEntitySchema = z.looseObject({
  entityId: z.string().min(1),
  entityType: z.string().min(1),
  revocationTime: revocationTimeSchema,
});

export type RevocationRuleResult =
  | { ok: true; revocation: ConsumerAppRevocation | SubjectEntityRevocation | undefined }
  | { ok: false; reason: string };

/** Decodes the base64 JSON that the two rule kinds carry in revokedToken. */
export function parseRevocationRule(type: string, revokedToken: string): RevocationRuleResult {
  if (type !== CONSUMER_APP_REVOCATION && type !== SUBJECT_ENTITY_REVOCATION) {
    return { ok: true, revocation: undefined };
  }
  const bytes = decodeBase64(revokedToken);
  const text = bytes && decodeUtf8(bytes);
  const json = text === undefined ? undefined : parseJson(text);
  if (!json?.ok || !isPlainObject(json.value)) {
    return {
      ok: false,
      reason: `event.payloadData.revokedToken of a ${type} must be base64 of a JSON object`,
    };
  }
  if (type === CONSUMER_APP_REVOCATION) {
    const parsed = consumerAppSchema.safeParse(json.value);
    if (!parsed.success) {
      return {
        ok: false,
        reason: `event.payloadData.revokedToken of a ${type} needs consumer_key (string) and revocationTime (epoch ms, a decimal string)`,
      };
    }
    return {
      ok: true,
      revocation: {
        kind: "consumerApp",
        consumerKey: parsed.data.consumer_key,
        revocationTime: parsed.data.revocationTime,
      },
    };
  }
  const parsed = subjectEntitySchema.safeParse(json.value);
  if (!parsed.success) {
    return {
      ok: false,
      reason: `event.payloadData.revokedToken of a ${type} needs entityId, entityType (strings) and revocationTime (epoch ms, a decimal string)`,
    };
  }
  return {
    ok: true,
    revocation: {
      kind: "subjectEntity",
      entityType: parsed.data.entityType,
      entityId: parsed.data.entityId,
      revocationTime: parsed.data.revocationTime,
    },
  };
}

/** ttl as a number of seconds; undefined when WSO2 sent none or an empty string. */
export function ttlSeconds(raw: string | number | null | undefined): number | undefined {
  if (raw === null || raw === undefined || raw === "") return undefined;
  return typeof raw === "number" ? raw : Number(raw);
}
