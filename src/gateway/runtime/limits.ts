import type { Limits } from "../../config/types.js";
import type { InboundEvent } from "../../events/types.js";
import type { RuntimeState } from "./runtime-state.js";

/** Why a runtime event is refused by a limit, and the limit's configuration key. */
export interface LimitRefusal {
  limit: string;
  reason: string;
}

export type RuntimeLimits = Pick<
  Limits,
  | "maxRevokedTokens"
  | "maxRevokedTokenLength"
  | "maxKeyManagers"
  | "maxWebhookSubscriptions"
  | "maxSubscriptionRecords"
>;

/**
 * The limits a runtime event must pass before it changes anything (docs/production.md, "Limits"):
 * a revoked token, consumer key or entity id no longer than max_revoked_token_length, and room for it
 * under max_revoked_tokens; room for a new key manager (max_key_managers), webhook subscription
 * (max_webhook_subscriptions) or application/subscription/policy/key mapping (max_subscription_records,
 * per kind). An update or removal of a record already held always passes. A refused event is
 * dead-lettered with the reason (never dropped silently: the operator sees it in the dead-letter queue
 * and in gwsync_limit_exceeded_total).
 */
export function runtimeLimitRefusal(
  event: InboundEvent,
  runtime: Pick<RuntimeState, "revokedTokens" | "keyManagers" | "webhookSubscriptions" | "subscriptionData">,
  limits: RuntimeLimits,
): LimitRefusal | undefined {
  switch (event.topic) {
    case "tokenRevocation":
      return revocationRefusal(event, runtime.revokedTokens, limits);
    case "keyManager": {
      const max = limits.maxKeyManagers;
      if (runtime.keyManagers.wouldAdd(event) && runtime.keyManagers.size() >= max)
        return {
          limit: "max_key_managers",
          reason: `keyManager: the gateway already holds ${max} key managers (max_key_managers); ${event.organization}/${event.name} is not added`,
        };
      return undefined;
    }
    case "asyncWebhooksData": {
      const max = limits.maxWebhookSubscriptions;
      if (runtime.webhookSubscriptions.wouldAdd(event) && runtime.webhookSubscriptions.size() >= max)
        return {
          limit: "max_webhook_subscriptions",
          reason: `asyncWebhooksData: the gateway already holds ${max} live webhook subscriptions (max_webhook_subscriptions)`,
        };
      return undefined;
    }
    case "notification": {
      const adds = runtime.subscriptionData.wouldAdd(event);
      const max = limits.maxSubscriptionRecords;
      if (adds !== undefined && adds.held >= max)
        return {
          limit: "max_subscription_records",
          reason: `notification: the gateway already holds ${max} ${adds.kind} (max_subscription_records); ${event.type} is not applied`,
        };
      return undefined;
    }
  }
}

function revocationRefusal(
  event: Extract<InboundEvent, { topic: "tokenRevocation" }>,
  tokens: RuntimeState["revokedTokens"],
  limits: RuntimeLimits,
): LimitRefusal | undefined {
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
