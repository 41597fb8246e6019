import { z } from "zod";
import type { InboundNotification } from "../../events/notification.js";
import { NOTIFICATION_BASE_FIELDS } from "../../events/notification.js";
import type {
  ApplicationEventPayload,
  ApplicationRegistrationEventPayload,
  PolicyEventPayload,
  SubscriptionEventPayload,
} from "../../events/notification-payload.js";
import type { ApplyOutcome } from "./key-managers.js";
import { KeyedRecords, type Stamped } from "./keyed-records.js";
import type { JsonFileRead } from "./state-io.js";

export const APPLICATIONS_FILE = "applications.json";
export const SUBSCRIPTIONS_FILE = "subscriptions.json";
export const POLICIES_FILE = "policies.json";
export const KEY_MAPPINGS_FILE = "key-mappings.json";

const optText = z.string().optional();
const tenancy = { tenantId: z.number(), tenantDomain: optText, timeStamp: z.number() };

const applicationSchema = z.object({
  applicationId: z.number(),
  uuid: optText,
  applicationName: optText,
  tokenType: optText,
  applicationPolicy: optText,
  groupId: optText,
  subscriber: optText,
  attributes: z.record(z.string(), z.unknown()).optional(),
  ...tenancy,
});
const subscriptionSchema = z.object({
  subscriptionId: z.number(),
  apiId: z.number(),
  applicationId: z.number(),
  policyId: optText,
  subscriptionState: optText,
  subscriptionUUID: optText,
  apiUUID: optText,
  applicationUUID: optText,
  apiName: optText,
  apiVersion: optText,
  ...tenancy,
});
const policySchema = z.object({
  policyType: z.string(),
  policyId: z.number(),
  policyName: optText,
  quotaType: optText,
  /** The class's other fields (rateLimitCount, stopOnQuotaReach, ...) as WSO2 sent them. */
  details: z.record(z.string(), z.unknown()),
  ...tenancy,
});
const keyMappingSchema = z.object({
  consumerKey: z.string(),
  applicationId: z.number(),
  applicationUUID: optText,
  keyType: optText,
  keyManager: optText,
  ...tenancy,
});

export type ApplicationRecord = z.output<typeof applicationSchema>;
export type SubscriptionRecord = z.output<typeof subscriptionSchema>;
export type PolicyRecord = z.output<typeof policySchema>;
export type KeyMappingRecord = z.output<typeof keyMappingSchema>;

export interface SubscriptionDataSnapshot {
  applications: ApplicationRecord[];
  subscriptions: SubscriptionRecord[];
  policies: PolicyRecord[];
  keyMappings: KeyMappingRecord[];
}

const BASE_FIELDS: ReadonlySet<string> = new Set(NOTIFICATION_BASE_FIELDS);

const policyKey = (type: string, id: number) => `${type}:${id}`;

/**
 * The applications, subscriptions, throttling policies and application key mappings a gateway was told
 * about on the notification stream (WSO2's SubscriptionDataStore, persisted).
 */
export class SubscriptionDataStore {
  readonly applications: KeyedRecords<typeof applicationSchema>;
  readonly subscriptions: KeyedRecords<typeof subscriptionSchema>;
  readonly policies: KeyedRecords<typeof policySchema>;
  readonly keyMappings: KeyedRecords<typeof keyMappingSchema>;

  constructor(options: { dir?: string } = {}) {
    const dir = options.dir;
    this.applications = new KeyedRecords(dir, APPLICATIONS_FILE, applicationSchema, (r) =>
      String(r.applicationId),
    );
    this.subscriptions = new KeyedRecords(dir, SUBSCRIPTIONS_FILE, subscriptionSchema, (r) =>
      String(r.subscriptionId),
    );
    this.policies = new KeyedRecords(dir, POLICIES_FILE, policySchema, (r) =>
      policyKey(r.policyType, r.policyId),
    );
    this.keyMappings = new KeyedRecords(dir, KEY_MAPPINGS_FILE, keyMappingSchema, (r) => r.consumerKey);
  }

  load(): JsonFileRead<unknown[]>[] {
    return [
      this.applications.load(),
      this.subscriptions.load(),
      this.policies.load(),
      this.keyMappings.load(),
    ];
  }

  /** Applies application, subscription, policy and key-mapping events; every other kind is ignored. */
  apply(event: InboundNotification): ApplyOutcome {
    const p = event.payload;
    switch (p.kind) {
      case "application":
        return this.#applyApplication(event, p);
      case "subscription":
        return this.#applySubscription(event, p);
      case "policy":
        return this.#applyPolicy(event, p);
      case "applicationRegistration":
        return this.#applyKeyMapping(event, p);
      default:
        return "ignored";
    }
  }

  /**
   * The kind of record the event would add (one this store does not hold yet), with how many of that
   * kind are held; undefined when it would update, remove or ignore.
   */
  wouldAdd(event: InboundNotification): { kind: string; held: number } | undefined {
    const p = event.payload;
    const adds = <S extends z.ZodType<Stamped>>(kind: string, records: KeyedRecords<S>, key: string) =>
      records.has(key) ? undefined : { kind, held: records.size() };
    switch (p.kind) {
      case "application":
        return p.action === "delete" ? undefined : adds("applications", this.applications, String(p.applicationId));
      case "subscription":
        return p.action === "delete" ? undefined : adds("subscriptions", this.subscriptions, String(p.subscriptionId));
      case "policy":
        if (p.action === "reset" || p.action === "delete" || p.policyId === undefined) return undefined;
        return adds("policies", this.policies, policyKey(p.policyType, p.policyId));
      case "applicationRegistration":
        return p.action === "remove" ? undefined : adds("key mappings", this.keyMappings, p.consumerKey);
      default:
        return undefined;
    }
  }

  snapshot(): SubscriptionDataSnapshot {
    return {
      applications: this.applications.values(),
      subscriptions: this.subscriptions.values(),
      policies: this.policies.values(),
      keyMappings: this.keyMappings.values(),
    };
  }

  flush(): void {
    this.applications.flush();
    this.subscriptions.flush();
    this.policies.flush();
    this.keyMappings.flush();
  }

  #applyApplication(event: InboundNotification, p: ApplicationEventPayload): ApplyOutcome {
    if (p.action === "delete") return this.applications.remove(String(p.applicationId), event.timeStamp);
    const { kind: _kind, action: _action, ...fields } = p;
    return this.applications.upsert({ ...fields, ...tenancyOf(event) });
  }

  #applySubscription(event: InboundNotification, p: SubscriptionEventPayload): ApplyOutcome {
    if (p.action === "delete") return this.subscriptions.remove(String(p.subscriptionId), event.timeStamp);
    const { kind: _kind, action: _action, ...fields } = p;
    return this.subscriptions.upsert({ ...fields, ...tenancyOf(event) });
  }

  #applyPolicy(event: InboundNotification, p: PolicyEventPayload): ApplyOutcome {
    // POLICY_RESET resets throttle counters, which a gateway keeps elsewhere; it changes no policy.
    if (p.action === "reset" || p.policyId === undefined) return "ignored";
    if (p.action === "delete")
      return this.policies.remove(policyKey(p.policyType, p.policyId), event.timeStamp);
    const record: PolicyRecord = {
      policyType: p.policyType,
      policyId: p.policyId,
      details: detailsOf(event.inner),
      ...tenancyOf(event),
    };
    if (p.policyName !== undefined) record.policyName = p.policyName;
    if (p.quotaType !== undefined) record.quotaType = p.quotaType;
    return this.policies.upsert(record);
  }

  #applyKeyMapping(event: InboundNotification, p: ApplicationRegistrationEventPayload): ApplyOutcome {
    if (p.action === "remove") return this.keyMappings.remove(p.consumerKey, event.timeStamp);
    const { kind: _kind, action: _action, ...fields } = p;
    return this.keyMappings.upsert({ ...fields, ...tenancyOf(event) });
  }
}

function tenancyOf(event: InboundNotification): {
  tenantId: number;
  tenantDomain?: string;
  timeStamp: number;
} {
  return event.tenantDomain === undefined
    ? { tenantId: event.tenantId, timeStamp: event.timeStamp }
    : { tenantId: event.tenantId, tenantDomain: event.tenantDomain, timeStamp: event.timeStamp };
}

const POLICY_TYPED_FIELDS = new Set(["policyType", "policyId", "policyName", "quotaType"]);

function detailsOf(inner: Record<string, unknown>): Record<string, unknown> {
  const details: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(inner)) {
    if (!BASE_FIELDS.has(key) && !POLICY_TYPED_FIELDS.has(key) && key !== "__proto__") details[key] = value;
  }
  return details;
}
