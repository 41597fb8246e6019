import type { Limits } from "../../config/types.js";
import type { InboundEvent } from "../../events/types.js";
import type { RevokedTokenStore } from "./revoked-tokens.js";

/** Why a runtime event is refused by a limit, and the limit's configuration key. */
export interface LimitRefusal {
  limit: string;
  reason: string;
}

/**
 * The limits a runtime event must pass before it changes anything (docs/production.md, "Limits"):
 * a revoked token, consumer key or entity id no longer than max_revoked_token_length, and room for it
 * under max_revoked_tokens. A refused revocation is dead-lettered with the reason (never dropped
 * silently: the operator sees it in the dead-letter queue and in gwsync_limit_exceeded_total).
 */
export function runtimeLimitRefusal(
  event: InboundEvent,
  tokens: RevokedTokenStore,
  limits: Pick<Limits, "maxRevokedTokens" | "maxRevokedTokenLength">,
): LimitRefusal | undefined {
  if (event.topic !== "tokenRevocation") return undefined;
  const rule = event.revocation;
  const key =
    rule === undefined ? event.revokedToken : rule.kind === "consumerApp" ? rule.consumerKey : rule.entityId;
  const max = limits.maxRevokedTokenLength;
  if (key.length > max) {
    return {
      limit: "max_revoked_token_length",
      reason: `tokenRevocation: the revoked ${rule === undefined ? "token" : "key"} is ${key.length} characters, over the ${max}-character limit (max_revoked_token_length)`,
    };
  }
  if (!tokens.hasRoomFor(event, limits.maxRevokedTokens)) {
    return {
      limit: "max_revoked_tokens",
      reason: `tokenRevocation: the gateway already holds ${limits.maxRevokedTokens} unexpired revocations (max_revoked_tokens)`,
    };
  }
  return undefined;
}

/** True when the event's expiry lies beyond the horizon and it will be kept for max_revocation_lifetime_ms only. */
export function beyondHorizon(event: InboundEvent, maxLifetimeMs: number, now = Date.now()): boolean {
  return event.topic === "tokenRevocation" && event.expiryTime > now + maxLifetimeMs;
}
