import { z } from "zod";

/**
 * asyncWebhooksData stream `org.wso2.apimgt.webhooks.request.stream:1.0.0` (docs/wso2-formats.md §4.1, §4.6).
 */
export const WEBHOOK_FIELDS = [
  "apiUUID",
  "apiName",
  "apiContext",
  "apiVersion",
  "appID",
  "tenantDomain",
  "tenantId",
  "callback",
  "topic",
  "mode",
  "secret",
  "expireAt",
  "subscriberName",
  "applicationTier",
  "tier",
  "apiTier",
  "isThrottled",
] as const;

export const WEBHOOK_MODES = ["subscribe", "unsubscribe"] as const;
export type WebhookMode = (typeof WEBHOOK_MODES)[number];

/** The payload fields as WSO2 names them (the stream's `topic` field is the WebSub topic). */
export interface WebhookSubscription {
  apiUUID: string;
  apiName?: string;
  apiContext?: string;
  apiVersion?: string;
  appID: string;
  tenantDomain?: string;
  tenantId: number;
  callback: string;
  topic: string;
  mode: WebhookMode;
  /** HMAC secret for the callback: a credential, never logged nor served. */
  secret?: string;
  /** Epoch ms when the lease ends; 0 or less: no lease end. */
  expireAt: number;
  subscriberName?: string;
  applicationTier?: string;
  tier?: string;
  apiTier?: string;
  isThrottled?: boolean;
}

export interface InboundWebhookSubscription {
  topic: "asyncWebhooksData";
  /** The AMQP messageId when the consumer passed it (the stream itself carries no id). */
  eventId?: string;
  /** Nested because the stream has its own `topic` field. */
  subscription: WebhookSubscription;
}

const optText = z.string().nullish();

export const webhookPayloadSchema = z.looseObject({
  apiUUID: z.string().min(1),
  apiName: optText,
  apiContext: optText,
  apiVersion: optText,
  appID: z.string().min(1),
  tenantDomain: optText,
  tenantId: z.int(),
  callback: z.string().min(1),
  topic: z.string().min(1),
  mode: z.enum(WEBHOOK_MODES),
  secret: optText,
  expireAt: z.int(),
  subscriberName: optText,
  applicationTier: optText,
  tier: optText,
  apiTier: optText,
  isThrottled: z.boolean().nullish(),
});
