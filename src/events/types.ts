import type { InboundKeyManager } from "./key-manager.js";
import type { InboundNotification } from "./notification.js";
import type { NotificationPayload } from "./notification-payload.js";
import type { InboundTokenRevocation } from "./token-revocation.js";
import type { InboundWebhookSubscription } from "./webhook-subscription.js";

/** One decoded, validated message of any of the four streams; `topic` tells which. */
export type InboundEvent =
  | InboundNotification
  | InboundTokenRevocation
  | InboundKeyManager
  | InboundWebhookSubscription;

/** The brief's name for the typed part of a notification. */
export type NotificationEvent = NotificationPayload;

export type DecodeFailureCode = "GWSYNC_EVENT_TOO_LARGE" | "GWSYNC_EVENT_INVALID" | "GWSYNC_LIMIT_EXCEEDED";

export type DecodeResult =
  | { ok: true; event: InboundEvent }
  /** `limit` names the configuration key whose limit the message exceeded (for the alarm metric). */
  | { ok: false; code: DecodeFailureCode; reason: string; limit?: string };
