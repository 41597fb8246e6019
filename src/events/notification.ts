import { z } from "zod";
import type { NotificationPayload } from "./notification-payload.js";
import { isJsonRecord } from "../security/json-limits.js";

/**
 * notification stream `org.wso2.apimgt.notification.stream:1.0.0` (docs/wso2-formats.md §4.2, §4.3): payloadData is
 * `{eventType, timestamp, event}` and `event` is base64 of the Gson JSON of an Event subclass.
 */
export const NOTIFICATION_FIELDS = ["eventType", "timestamp", "event"] as const;

/** The base `Event` fields Gson writes after the subclass fields, in this order. */
export const NOTIFICATION_BASE_FIELDS = ["eventId", "timeStamp", "type", "tenantId", "tenantDomain"] as const;

export const SUPER_TENANT_ID = -1234;
export const SUPER_TENANT_DOMAIN = "carbon.super";

export interface InboundNotification {
  topic: "notification";
  eventId: string;
  /** The wrapper's `timestamp` (ms). */
  timestamp: number;
  /** The inner event's `timeStamp` (ms). */
  timeStamp: number;
  type: string;
  tenantId: number;
  /** Absent when the publisher left it null (Gson omits nulls). */
  tenantDomain?: string;
  payload: NotificationPayload;
  /** The inner JSON exactly as received, field order kept: what a relay re-encodes byte for byte. */
  inner: Record<string, unknown>;
}

export const notificationWrapperSchema = z.looseObject({
  eventType: z.string().min(1),
  timestamp: z.int(),
  event: z.string(),
});

export const notificationBaseSchema = z.looseObject({
  eventId: z.string().min(1),
  timeStamp: z.int(),
  type: z.string().min(1),
  tenantId: z.int(),
  tenantDomain: z.string().nullish(),
});

/**
 * notificationWrapperSchema's answer for the plain case, without zod (issue 19: the gateway decodes
 * every event): the fields of their types, or undefined and the schema decides (and words the refusal).
 */
export function plainNotificationWrapper(
  v: unknown,
): { eventType: string; timestamp: number; event: string } | undefined {
  if (!isJsonRecord(v)) return undefined;
  const { eventType, timestamp, event } = v;
  if (
    typeof eventType !== "string" ||
    eventType === "" ||
    !Number.isSafeInteger(timestamp) ||
    typeof event !== "string"
  )
    return undefined;
  return v as { eventType: string; timestamp: number; event: string };
}

/** notificationBaseSchema's answer for the plain case, without zod; undefined: ask the schema. */
export function plainNotificationBase(
  v: unknown,
):
  | { eventId: string; timeStamp: number; type: string; tenantId: number; tenantDomain?: string | null }
  | undefined {
  if (!isJsonRecord(v)) return undefined;
  const { eventId, timeStamp, type, tenantId, tenantDomain } = v;
  if (typeof eventId !== "string" || eventId === "" || typeof type !== "string" || type === "")
    return undefined;
  if (!Number.isSafeInteger(timeStamp) || !Number.isSafeInteger(tenantId)) return undefined;
  if (tenantDomain !== undefined && tenantDomain !== null && typeof tenantDomain !== "string")
    return undefined;
  return v as {
    eventId: string;
    timeStamp: number;
    type: string;
    tenantId: number;
    tenantDomain?: string | null;
  };
}
