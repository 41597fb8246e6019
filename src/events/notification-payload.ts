import { z } from "zod";
import { isJsonRecord } from "../security/json-limits.js";

/**
 * The typed part of a notification's inner JSON, per event type (docs/wso2-formats.md §4.3). Gson omits null
 * fields, so every field gwsync does not act on is optional; the ones it acts on are required.
 */

/** DEPLOY_API_IN_GATEWAY / REMOVE_API_FROM_GATEWAY, in the 3.2.0 or the 4.x shape. */
export interface GatewayEventPayload {
  kind: "gateway";
  action: "deploy" | "remove";
  /** 3.2.0: the string `apiId`; 4.x: `uuid`. */
  apiUuid: string;
  /** 4.x only: the int `apiId` (database id); 0 when the publisher did not know it. */
  apiNumericId?: number;
  name?: string;
  version?: string;
  context?: string;
  provider?: string;
  apiType?: string;
  gatewayLabels: string[];
  /** gwsync: the GatewayAPIDTO carried inline (`gwsyncArtifact`) when publish_directly_to_gateway is on. */
  artifact?: Record<string, unknown>;
}

export interface ApiEventPayload {
  kind: "api";
  action: "create" | "update" | "delete" | "lifecycleChange";
  apiId: number;
  uuid?: string;
  apiName?: string;
  apiVersion?: string;
  apiContext?: string;
  apiProvider?: string;
  apiType?: string;
  apiStatus?: string;
}

export interface ApplicationEventPayload {
  kind: "application";
  action: "create" | "update" | "delete";
  applicationId: number;
  uuid?: string;
  applicationName?: string;
  tokenType?: string;
  applicationPolicy?: string;
  groupId?: string;
  subscriber?: string;
  attributes?: Record<string, unknown>;
}

export interface SubscriptionEventPayload {
  kind: "subscription";
  action: "create" | "update" | "delete";
  subscriptionId: number;
  apiId: number;
  applicationId: number;
  policyId?: string;
  subscriptionState?: string;
  subscriptionUUID?: string;
  apiUUID?: string;
  applicationUUID?: string;
  apiName?: string;
  apiVersion?: string;
}

export interface ApplicationRegistrationEventPayload {
  kind: "applicationRegistration";
  /** APPLICATION_REGISTRATION_CREATE adds a key mapping; REMOVE_APPLICATION_KEYMAPPING removes it. */
  action: "create" | "remove";
  applicationId: number;
  consumerKey: string;
  keyType?: string;
  keyManager?: string;
  applicationUUID?: string;
}

export interface PolicyEventPayload {
  kind: "policy";
  action: "create" | "update" | "delete" | "reset";
  /** API | APPLICATION | SUBSCRIPTION | GLOBAL | ... */
  policyType: string;
  /** Required except on POLICY_RESET, whose classes carry no id. */
  policyId?: number;
  policyName?: string;
  quotaType?: string;
}

export interface ScopeEventPayload {
  kind: "scope";
  action: "create" | "update" | "delete";
  name: string;
  displayName?: string;
  description?: string;
  roles?: string[];
}

/** A well-formed notification of a type gwsync does not act on (WSO2 keeps adding types). */
export interface OtherEventPayload {
  kind: "other";
}

export type NotificationPayload =
  | GatewayEventPayload
  | ApiEventPayload
  | ApplicationEventPayload
  | SubscriptionEventPayload
  | ApplicationRegistrationEventPayload
  | PolicyEventPayload
  | ScopeEventPayload
  | OtherEventPayload;

const optText = z.string().nullish();
const id = z.int();

const gatewaySchema = z
  .looseObject({
    apiId: z.union([z.string().min(1).max(256), z.int()], {
      error: "must be the API UUID (a string, 3.2.0) or the int database id (4.x)",
    }),
    uuid: z.string().min(1).max(256).nullish(),
    name: optText,
    version: optText,
    context: optText,
    provider: optText,
    apiType: optText,
    gatewayLabels: z.array(z.string()),
    gwsyncArtifact: z.record(z.string(), z.unknown()).nullish(),
  })
  .refine((e) => typeof e.apiId === "string" || typeof e.uuid === "string", {
    message: "is required when apiId is a number (the 4.x shape)",
    path: ["uuid"],
  });

const apiSchema = z.looseObject({
  apiId: id,
  uuid: optText,
  apiName: optText,
  apiVersion: optText,
  apiContext: optText,
  apiProvider: optText,
  apiType: optText,
  apiStatus: optText,
});

const applicationSchema = z.looseObject({
  applicationId: id,
  uuid: optText,
  applicationName: optText,
  tokenType: optText,
  applicationPolicy: optText,
  groupId: optText,
  subscriber: optText,
  attributes: z.record(z.string(), z.unknown()).nullish(),
});

const subscriptionSchema = z.looseObject({
  subscriptionId: id,
  apiId: id,
  applicationId: id,
  policyId: optText,
  subscriptionState: optText,
  subscriptionUUID: optText,
  apiUUID: optText,
  applicationUUID: optText,
  apiName: optText,
  apiVersion: optText,
});

const registrationSchema = z.looseObject({
  applicationId: id,
  consumerKey: z.string().min(1),
  keyType: optText,
  keyManager: optText,
  applicationUUID: optText,
});

const policySchema = z.looseObject({
  policyType: z.string().min(1),
  policyId: id,
  policyName: optText,
  quotaType: optText,
});
const policyResetSchema = policySchema.extend({ policyId: id.nullish() });

const scopeSchema = z.looseObject({
  name: z.string().min(1),
  displayName: optText,
  description: optText,
  roles: z.array(z.string()).nullish(),
});

type GatewayEvent = z.output<typeof gatewaySchema>;

function gatewayPayload(action: GatewayEventPayload["action"], e: GatewayEvent): GatewayEventPayload {
  const payload = pick<GatewayEventPayload>(e, ["name", "version", "context", "provider", "apiType"], {
    kind: "gateway",
    action,
    apiUuid: typeof e.uuid === "string" ? e.uuid : String(e.apiId),
    gatewayLabels: e.gatewayLabels,
  });
  if (typeof e.apiId === "number") payload.apiNumericId = e.apiId;
  if (e.gwsyncArtifact) payload.artifact = e.gwsyncArtifact;
  return payload;
}

const isText = (v: unknown) => v === undefined || v === null || typeof v === "string";
const isId = (v: unknown) => typeof v === "string" && v.length >= 1 && v.length <= 256;

/**
 * gatewaySchema's answer for the plain case, without zod (issue 19: every gateway decodes every
 * DEPLOY/REMOVE event): undefined for anything unusual, which the schema then decides and words. The
 * result is what the schema returns: the members as given, gatewayLabels and gwsyncArtifact copied.
 */
export function plainGatewayEvent(v: unknown): GatewayEvent | undefined {
  if (!isJsonRecord(v)) return undefined;
  const { apiId, uuid, gatewayLabels, gwsyncArtifact } = v;
  if (!isId(apiId) && !Number.isSafeInteger(apiId)) return undefined;
  if (uuid !== undefined && uuid !== null && !isId(uuid)) return undefined;
  if (typeof apiId !== "string" && typeof uuid !== "string") return undefined;
  if (
    !isText(v.name) ||
    !isText(v.version) ||
    !isText(v.context) ||
    !isText(v.provider) ||
    !isText(v.apiType)
  )
    return undefined;
  if (!Array.isArray(gatewayLabels) || !gatewayLabels.every((l) => typeof l === "string")) return undefined;
  if (gwsyncArtifact !== undefined && gwsyncArtifact !== null && !isJsonRecord(gwsyncArtifact))
    return undefined;
  return {
    ...v,
    gatewayLabels: gatewayLabels.slice(),
    ...(isJsonRecord(gwsyncArtifact) ? { gwsyncArtifact: { ...gwsyncArtifact } } : {}),
  } as GatewayEvent;
}

type Parsed<T> = { ok: true; payload: T } | { ok: false; error: z.ZodError };

/** Copies the defined fields (Gson-null and JSON-null alike become absent). */
function pick<T extends object>(source: Record<string, unknown>, keys: readonly string[], base: T): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const key of keys) {
    const value = source[key];
    if (value !== undefined && value !== null) out[key] = value;
  }
  return out as T;
}

function parseWith<S extends z.ZodType, T>(
  schema: S,
  inner: unknown,
  build: (data: z.output<S>) => T,
): Parsed<T> {
  const result = schema.safeParse(inner, { reportInput: true });
  return result.success ? { ok: true, payload: build(result.data) } : { ok: false, error: result.error };
}

const API_ACTIONS = {
  API_CREATE: "create",
  API_UPDATE: "update",
  API_DELETE: "delete",
  API_LIFECYCLE_CHANGE: "lifecycleChange",
} as const;
const APPLICATION_ACTIONS = {
  APPLICATION_CREATE: "create",
  APPLICATION_UPDATE: "update",
  APPLICATION_DELETE: "delete",
} as const;
const SUBSCRIPTION_ACTIONS = {
  SUBSCRIPTIONS_CREATE: "create",
  SUBSCRIPTIONS_UPDATE: "update",
  SUBSCRIPTIONS_DELETE: "delete",
} as const;
const REGISTRATION_ACTIONS = {
  APPLICATION_REGISTRATION_CREATE: "create",
  REMOVE_APPLICATION_KEYMAPPING: "remove",
} as const;
const POLICY_ACTIONS = {
  POLICY_CREATE: "create",
  POLICY_UPDATE: "update",
  POLICY_DELETE: "delete",
  POLICY_RESET: "reset",
} as const;
const SCOPE_ACTIONS = { SCOPE_CREATE: "create", SCOPE_UPDATE: "update", SCOPE_DELETE: "delete" } as const;
const GATEWAY_ACTIONS = { DEPLOY_API_IN_GATEWAY: "deploy", REMOVE_API_FROM_GATEWAY: "remove" } as const;

/** Every event type gwsync reads fields of; any other well-formed type decodes as kind "other". */
export const KNOWN_NOTIFICATION_TYPES = [
  ...Object.keys(API_ACTIONS),
  ...Object.keys(APPLICATION_ACTIONS),
  ...Object.keys(SUBSCRIPTION_ACTIONS),
  ...Object.keys(REGISTRATION_ACTIONS),
  ...Object.keys(POLICY_ACTIONS),
  ...Object.keys(SCOPE_ACTIONS),
  ...Object.keys(GATEWAY_ACTIONS),
] as const;

function lookup<T extends Record<string, string>>(table: T, type: string): T[keyof T] | undefined {
  return Object.hasOwn(table, type) ? (table[type] as T[keyof T]) : undefined;
}

/** Validates the inner JSON against the class of its `type` and returns the typed payload. */
export function parseNotificationPayload(
  type: string,
  inner: Record<string, unknown>,
): Parsed<NotificationPayload> {
  const gateway = lookup(GATEWAY_ACTIONS, type);
  if (gateway) {
    const plain = plainGatewayEvent(inner);
    if (plain !== undefined) return { ok: true, payload: gatewayPayload(gateway, plain) };
    return parseWith(gatewaySchema, inner, (e) => gatewayPayload(gateway, e));
  }
  const api = lookup(API_ACTIONS, type);
  if (api) {
    return parseWith(apiSchema, inner, (e) =>
      pick<ApiEventPayload>(
        e,
        ["uuid", "apiName", "apiVersion", "apiContext", "apiProvider", "apiType", "apiStatus"],
        { kind: "api", action: api, apiId: e.apiId },
      ),
    );
  }
  const application = lookup(APPLICATION_ACTIONS, type);
  if (application) {
    return parseWith(applicationSchema, inner, (e) =>
      pick<ApplicationEventPayload>(
        e,
        ["uuid", "applicationName", "tokenType", "applicationPolicy", "groupId", "subscriber", "attributes"],
        { kind: "application", action: application, applicationId: e.applicationId },
      ),
    );
  }
  const subscription = lookup(SUBSCRIPTION_ACTIONS, type);
  if (subscription) {
    return parseWith(subscriptionSchema, inner, (e) =>
      pick<SubscriptionEventPayload>(
        e,
        [
          "policyId",
          "subscriptionState",
          "subscriptionUUID",
          "apiUUID",
          "applicationUUID",
          "apiName",
          "apiVersion",
        ],
        {
          kind: "subscription",
          action: subscription,
          subscriptionId: e.subscriptionId,
          apiId: e.apiId,
          applicationId: e.applicationId,
        },
      ),
    );
  }
  const registration = lookup(REGISTRATION_ACTIONS, type);
  if (registration) {
    return parseWith(registrationSchema, inner, (e) =>
      pick<ApplicationRegistrationEventPayload>(e, ["keyType", "keyManager", "applicationUUID"], {
        kind: "applicationRegistration",
        action: registration,
        applicationId: e.applicationId,
        consumerKey: e.consumerKey,
      }),
    );
  }
  const policy = lookup(POLICY_ACTIONS, type);
  if (policy) {
    return parseWith(policy === "reset" ? policyResetSchema : policySchema, inner, (e) =>
      pick<PolicyEventPayload>(e, ["policyId", "policyName", "quotaType"], {
        kind: "policy",
        action: policy,
        policyType: e.policyType,
      }),
    );
  }
  const scope = lookup(SCOPE_ACTIONS, type);
  if (scope) {
    return parseWith(scopeSchema, inner, (e) =>
      pick<ScopeEventPayload>(e, ["displayName", "description", "roles"], {
        kind: "scope",
        action: scope,
        name: e.name,
      }),
    );
  }
  return { ok: true, payload: { kind: "other" } };
}
