import { z } from "zod";

/**
 * keyManager stream `org.wso2.apimgt.keymgt.stream:1.0.0` (docs/wso2-formats.md §4.5), 4.x field order.
 * 3.2.0 sent `tenantDomain` where 4.x sends `organization`; both are read.
 */
export const KEY_MANAGER_FIELDS = [
  "event_type",
  "action",
  "name",
  "type",
  "enabled",
  "value",
  "organization",
  "tokenType",
] as const;

export const KEY_MANAGER_EVENT_TYPE = "key_manager_configuration";
export const KEY_MANAGER_ACTIONS = ["add", "update", "delete"] as const;
export type KeyManagerAction = (typeof KEY_MANAGER_ACTIONS)[number];

export interface InboundKeyManager {
  topic: "keyManager";
  /** The AMQP messageId when the consumer passed it (the stream itself carries no id). */
  eventId?: string;
  /** `event_type`: "key_manager_configuration" for every event WSO2 sends today. */
  eventType: string;
  action: KeyManagerAction;
  name: string;
  /** e.g. "default", "WSO2-IS", "Okta". */
  type: string;
  enabled: boolean;
  organization: string;
  tokenType?: string;
  /** The KeyManagerConfigurationDTO decoded from `value`; null when `value` was empty (delete). */
  config: Record<string, unknown> | null;
}

export const keyManagerPayloadSchema = z
  .looseObject({
    event_type: z.string().min(1),
    action: z.enum(KEY_MANAGER_ACTIONS),
    name: z.string().min(1),
    type: z.string().min(1),
    enabled: z.boolean(),
    value: z.string().nullish(),
    organization: z.string().min(1).nullish(),
    tenantDomain: z.string().min(1).nullish(),
    tokenType: z.string().nullish(),
  })
  .refine((p) => typeof p.organization === "string" || typeof p.tenantDomain === "string", {
    message: "is required (a string; 3.2.0 publishers send tenantDomain instead)",
    path: ["organization"],
  });
