import { parseGatewayApiDto, sha256Hex, validateDto } from "../artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../artifacts/types.js";
import { HEADER_REVISION, HEADER_SEQ, HEADER_SHA256, HEADER_SIGNATURE } from "../events/topics.js";
import { claimsMismatch, type TrustedKeys } from "../security/signing.js";

export { signatureReasonLabel } from "../security/signing.js";

/**
 * What a gateway believes of a DEPLOY/REMOVE event beyond "API X changed on labels L". The store is
 * the only authority: the event's revision, seq and inline artifact count only when a trusted key
 * signed them, or when this gateway was configured to take inline artifacts from its control plane
 * (accept_inline_artifacts, which must agree with the publisher's publish_directly_to_gateway); any
 * other event is a hint to ask the store, whatever its headers claim.
 */
export interface TrustPolicy {
  /** [apim.sync_runtime_artifacts.gateway] accept_inline_artifacts. */
  acceptInline: boolean;
  /** [gwsync.signing] trusted_keys; undefined: signing is off. */
  keys: TrustedKeys | undefined;
}

export interface GatewayEventFacts {
  action: "deploy" | "remove";
  apiId: string;
  tenantDomain: string | undefined;
  /** The event's labels this gateway serves. */
  labels: readonly string[];
  headers: Record<string, unknown>;
  /** The artifact the event carried (publish_directly_to_gateway), as received. */
  inline: unknown;
  /**
   * The highest changelog seq this gateway has read from its store: a signed inline artifact at or
   * below it is old news (a replay, or superseded meanwhile) and is fetched from the store instead.
   */
  storeSeq: number;
}

/** An inline artifact the gateway may apply as it is. */
export interface TrustedInline {
  dto: GatewayApiDto;
  sha256: string;
  revision: number;
  seq: number;
}

export type EventVerdict =
  /** Dead-letter: unsigned or badly signed while signing is on, or an inline artifact that cannot be. */
  | { kind: "refuse"; reason: string; signature: boolean }
  | {
      kind: "apply";
      /** Apply this artifact as it is (no fetch). */
      inline?: TrustedInline;
      /** A revision the gateway may record for the API (a confirmed removal's); never a bare header. */
      trustedRevision?: number;
      /** The event carried an artifact this gateway does not take from the broker: it fetches instead. */
      inlineIgnored?: "not-accepted" | "older-than-store";
    };

function toInt(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : Number.NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Decides, from the event alone, what of it a gateway may believe (see TrustPolicy). Never throws. */
export function judgeGatewayEvent(f: GatewayEventFacts, policy: TrustPolicy): EventVerdict {
  let signed: { revision: number; seq: number; sha256: string } | undefined;
  if (policy.keys !== undefined) {
    const v = policy.keys.verify(f.headers[HEADER_SIGNATURE]);
    if (!v.ok) return { kind: "refuse", reason: `signature: ${v.reason}`, signature: true };
    const mismatch = claimsMismatch(v.claims, {
      action: f.action,
      apiId: f.apiId,
      labels: f.labels,
      ...(f.tenantDomain === undefined ? {} : { tenant: f.tenantDomain }),
    });
    if (mismatch !== undefined) return { kind: "refuse", reason: `signature: ${mismatch}`, signature: true };
    signed = v.claims;
  }
  const trustedRevision =
    signed?.revision ?? (policy.acceptInline ? toInt(f.headers[HEADER_REVISION]) : undefined);
  if (f.inline === undefined || f.action !== "deploy") {
    return trustedRevision === undefined ? { kind: "apply" } : { kind: "apply", trustedRevision };
  }
  if (!policy.acceptInline) return { kind: "apply", inlineIgnored: "not-accepted" };

  const json = typeof f.inline === "string" ? f.inline : JSON.stringify(f.inline);
  const sha256 = sha256Hex(json);
  const declared = signed?.sha256 ?? f.headers[HEADER_SHA256];
  if (typeof declared === "string" && declared !== sha256) {
    return {
      kind: "refuse",
      reason: signed ? "signature: signed for other content (sha256)" : "inline artifact does not match x-gwsync-sha256",
      signature: signed !== undefined,
    };
  }
  const seq = signed?.seq ?? toInt(f.headers[HEADER_SEQ]) ?? 0;
  // A signed artifact the store has moved past (or a replayed old message): ask the store instead.
  if (signed !== undefined && seq <= f.storeSeq) return { kind: "apply", inlineIgnored: "older-than-store" };
  let dto: GatewayApiDto;
  try {
    // The artifact object as decoded from the event (within max_json_depth): not serialized and parsed
    // back (issue 19); the sha256 above is of its JSON, as the publisher computed it.
    dto = parseGatewayApiDto(typeof f.inline === "string" ? json : f.inline);
    validateDto(dto);
  } catch (err) {
    return { kind: "refuse", reason: (err as Error).message, signature: false };
  }
  if (dto.apiId !== f.apiId) return { kind: "refuse", reason: "inline artifact names another API", signature: false };
  const revision = signed?.revision ?? toInt(f.headers[HEADER_REVISION]) ?? 0;
  return { kind: "apply", inline: { dto, sha256, revision, seq }, trustedRevision: revision };
}
