import { z } from "zod";
import type { InboundWebhookSubscription, WebhookSubscription } from "../../events/webhook-subscription.js";
import type { ApplyOutcome } from "./key-managers.js";
import { StateFile } from "./state-file.js";
import type { JsonFileRead } from "./state-io.js";

export const WEBHOOK_SUBSCRIPTIONS_FILE = "webhook-subscriptions.json";

const optText = z.string().optional();
const webhookRecordSchema = z.object({
  apiUUID: z.string(),
  apiName: optText,
  apiContext: optText,
  apiVersion: optText,
  appID: z.string(),
  tenantDomain: optText,
  tenantId: z.number(),
  callback: z.string(),
  topic: z.string(),
  secret: optText,
  expireAt: z.number(),
  subscriberName: optText,
  applicationTier: optText,
  tier: optText,
  apiTier: optText,
  isThrottled: z.boolean().optional(),
  updatedAt: z.number(),
});
export type WebhookSubscriptionRecord = z.output<typeof webhookRecordSchema>;

/** What the HTTP API shows: the callback secret is a credential, so only whether there is one. */
export type WebhookSubscriptionView = Omit<WebhookSubscriptionRecord, "secret"> & { hasSecret: boolean };

export interface WebhookQuery {
  apiUUID?: string;
  topic?: string;
}

/**
 * WebSub subscribers of async APIs: `subscribe` adds or renews, `unsubscribe` removes, and a lease ends
 * at `expireAt` (epoch ms; 0 or less means no end). One subscriber is an (API, app, topic, callback).
 */
export class WebhookSubscriptionStore {
  readonly #byKey = new Map<string, WebhookSubscriptionRecord>();
  readonly #file: StateFile<typeof webhookRecordSchema>;
  readonly #now: () => number;

  constructor(options: { dir?: string; now?: () => number } = {}) {
    this.#file = new StateFile(options.dir, WEBHOOK_SUBSCRIPTIONS_FILE, webhookRecordSchema);
    this.#now = options.now ?? Date.now;
  }

  load(): JsonFileRead<WebhookSubscriptionRecord[]> {
    const read = this.#file.load();
    if (read.status === "ok") for (const record of read.value) this.#byKey.set(keyOf(record), record);
    return read;
  }

  apply(event: InboundWebhookSubscription): ApplyOutcome {
    const s = event.subscription;
    const key = keyOf(s);
    const now = this.#now();
    if (s.mode === "unsubscribe" || isExpired(s.expireAt, now)) {
      // A subscribe whose lease already ended is an unsubscribe in effect.
      if (!this.#byKey.delete(key)) return "ignored";
    } else {
      this.#byKey.set(key, toRecord(s, now));
    }
    this.#file.markDirty();
    return "applied";
  }

  /** Whether applying the event would add a subscription this store does not hold yet. */
  wouldAdd(event: InboundWebhookSubscription, now: number = this.#now()): boolean {
    const s = event.subscription;
    return s.mode !== "unsubscribe" && !isExpired(s.expireAt, now) && !this.#byKey.has(keyOf(s));
  }

  /** Live subscriptions, filtered by API and/or WebSub topic. */
  query(filter: WebhookQuery = {}, now: number = this.#now()): WebhookSubscriptionRecord[] {
    const out: WebhookSubscriptionRecord[] = [];
    for (const record of this.#byKey.values()) {
      if (filter.apiUUID !== undefined && record.apiUUID !== filter.apiUUID) continue;
      if (filter.topic !== undefined && record.topic !== filter.topic) continue;
      if (isExpired(record.expireAt, now)) continue;
      out.push(record);
    }
    return out;
  }

  snapshot(filter: WebhookQuery = {}): WebhookSubscriptionView[] {
    return this.query(filter).map(({ secret, ...rest }) => ({ ...rest, hasSecret: Boolean(secret) }));
  }

  /** Drops subscriptions whose lease ended; returns how many. */
  purgeExpired(now: number = this.#now()): number {
    let removed = 0;
    for (const [key, record] of this.#byKey) {
      if (isExpired(record.expireAt, now)) {
        this.#byKey.delete(key);
        removed++;
      }
    }
    if (removed > 0) this.#file.markDirty();
    return removed;
  }

  size(): number {
    return this.#byKey.size;
  }

  flush(): void {
    this.#file.save(() => [...this.#byKey.values()]);
  }
}

function isExpired(expireAt: number, now: number): boolean {
  return expireAt > 0 && expireAt <= now;
}

function keyOf(s: { apiUUID: string; appID: string; topic: string; callback: string }): string {
  return [s.apiUUID, s.appID, s.topic, s.callback].join("\u0000");
}

function toRecord(s: WebhookSubscription, now: number): WebhookSubscriptionRecord {
  const { mode: _mode, ...fields } = s;
  return { ...fields, updatedAt: now };
}
