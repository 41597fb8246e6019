import { GwsyncError, isGwsyncError } from "../../errors.js";
import type { Topic } from "../../events/topics.js";
import type { InboundEvent } from "../../events/types.js";
import { EventDeduplicator } from "./dedup.js";
import { KEY_MANAGERS_FILE, KeyManagerStore } from "./key-managers.js";
import { RevokedTokenStore, type RevokedTokensLoadReport } from "./revoked-tokens.js";
import { ensureDir } from "./state-io.js";
import {
  APPLICATIONS_FILE,
  KEY_MAPPINGS_FILE,
  POLICIES_FILE,
  SUBSCRIPTIONS_FILE,
  SubscriptionDataStore,
} from "./subscriptions.js";
import { WEBHOOK_SUBSCRIPTIONS_FILE, WebhookSubscriptionStore } from "./webhook-subscriptions.js";

/** Key managers, webhooks and subscriptions change rarely: write their files at most this often. */
export const STATE_FLUSH_DELAY_MS = 200;

export type ApplyResult = "applied" | "duplicate" | "ignored";

export interface RuntimeStateOptions {
  /** Folder of the state files (created owner-only when missing). */
  dir: string;
  now?: () => number;
  dedupCapacity?: number;
  /** No revocation is kept longer than this from when it arrives (max_revocation_lifetime_ms). */
  maxRevocationLifetimeMs?: number;
  /** Batch interval of the revoked-token journal (default 50 ms). */
  journalFlushIntervalMs?: number;
  /** Debounce of the JSON state files (default STATE_FLUSH_DELAY_MS). */
  stateFlushDelayMs?: number;
  /** Failures of background writes (the data stays in memory and is written on the next flush). */
  onError?: (err: GwsyncError) => void;
}

export interface StateFileReport {
  file: string;
  status: "missing" | "ok" | "corrupt";
  movedTo?: string;
  reason?: string;
}

export interface RuntimeLoadReport {
  revokedTokens: RevokedTokensLoadReport;
  files: StateFileReport[];
}

export interface StreamCounts {
  applied: number;
  duplicate: number;
  ignored: number;
  /** Entries the gateway holds for this stream now. */
  held: number;
}

/**
 * What a gateway keeps from the four streams: revoked tokens, key managers, webhook subscriptions, and
 * the applications, subscriptions and policies it was told about. Events are deduplicated by eventId.
 * apply() changes memory at once; disk follows within the flush intervals, or on flush()/close(), so a
 * consumer that must not lose an acked event calls flush() before acking.
 */
export class RuntimeState {
  readonly revokedTokens: RevokedTokenStore;
  readonly keyManagers: KeyManagerStore;
  readonly webhookSubscriptions: WebhookSubscriptionStore;
  readonly subscriptionData: SubscriptionDataStore;
  readonly #dir: string;
  readonly #dedup: EventDeduplicator;
  readonly #stateFlushDelayMs: number;
  readonly #onError: ((err: GwsyncError) => void) | undefined;
  readonly #now: () => number;
  readonly #counts: Record<Topic, Omit<StreamCounts, "held">> = {
    notification: { applied: 0, duplicate: 0, ignored: 0 },
    tokenRevocation: { applied: 0, duplicate: 0, ignored: 0 },
    keyManager: { applied: 0, duplicate: 0, ignored: 0 },
    asyncWebhooksData: { applied: 0, duplicate: 0, ignored: 0 },
  };
  #stateTimer: NodeJS.Timeout | undefined;

  constructor(options: RuntimeStateOptions) {
    const { dir } = options;
    this.#dir = dir;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError;
    this.#stateFlushDelayMs = options.stateFlushDelayMs ?? STATE_FLUSH_DELAY_MS;
    this.#dedup = new EventDeduplicator(options.dedupCapacity);
    this.revokedTokens = new RevokedTokenStore({
      dir,
      now: this.#now,
      ...(options.journalFlushIntervalMs === undefined
        ? {}
        : { flushIntervalMs: options.journalFlushIntervalMs }),
      ...(options.onError === undefined ? {} : { onError: options.onError }),
      ...(options.maxRevocationLifetimeMs === undefined ? {} : { maxLifetimeMs: options.maxRevocationLifetimeMs }),
    });
    this.keyManagers = new KeyManagerStore({ dir, now: this.#now });
    this.webhookSubscriptions = new WebhookSubscriptionStore({ dir, now: this.#now });
    this.subscriptionData = new SubscriptionDataStore({ dir });
  }

  /** Reads what a previous run left; a corrupt file is moved aside (reported) and its store starts empty. */
  load(): RuntimeLoadReport {
    ensureDir(this.#dir);
    const revokedTokens = this.revokedTokens.load();
    const names = [
      KEY_MANAGERS_FILE,
      WEBHOOK_SUBSCRIPTIONS_FILE,
      APPLICATIONS_FILE,
      SUBSCRIPTIONS_FILE,
      POLICIES_FILE,
      KEY_MAPPINGS_FILE,
    ];
    const reads = [
      this.keyManagers.load(),
      this.webhookSubscriptions.load(),
      ...this.subscriptionData.load(),
    ];
    const files = reads.map((read, i): StateFileReport => {
      const file = names[i] ?? "";
      return read.status === "corrupt"
        ? { file, status: read.status, movedTo: read.movedTo, reason: read.reason }
        : { file, status: read.status };
    });
    this.webhookSubscriptions.purgeExpired();
    return { revokedTokens, files };
  }

  apply(event: InboundEvent): ApplyResult {
    const counts = this.#counts[event.topic];
    const dedupKey = event.eventId === undefined ? undefined : `${event.topic}:${event.eventId}`;
    if (dedupKey !== undefined && this.#dedup.has(dedupKey)) {
      counts.duplicate++;
      return "duplicate";
    }
    const result = this.#applyNew(event);
    // Recorded only once applied: an event whose apply threw must be applied when redelivered.
    if (dedupKey !== undefined) this.#dedup.seen(dedupKey);
    counts[result]++;
    return result;
  }

  /**
   * Forget that these events were applied: their flush failed, so the redelivery must apply them again
   * and wait for the next flush instead of being acked as duplicates that never reached the disk.
   */
  forget(events: readonly InboundEvent[]): void {
    for (const e of events) if (e.eventId !== undefined) this.#dedup.forget(`${e.topic}:${e.eventId}`);
  }

  /** Drops expired revocations and ended webhook leases. */
  purgeExpired(now: number = this.#now()): { revokedTokens: number; webhookSubscriptions: number } {
    const webhookSubscriptions = this.webhookSubscriptions.purgeExpired(now);
    if (webhookSubscriptions > 0) this.#scheduleStateFlush();
    return { revokedTokens: this.revokedTokens.purgeExpired(now), webhookSubscriptions };
  }

  /**
   * Writes everything applied so far (journal fsync, changed state files atomically). Each store is
   * written even when another fails; the first failure is thrown after all were tried.
   */
  flush(): void {
    this.#clearStateTimer();
    const failures = [
      () => this.revokedTokens.flush(),
      () => this.keyManagers.flush(),
      () => this.webhookSubscriptions.flush(),
      () => this.subscriptionData.flush(),
    ].flatMap((write) => attempt(write));
    if (failures.length > 0) throw failures[0];
  }

  close(): void {
    this.flush();
    this.revokedTokens.close();
  }

  counts(): Record<Topic, StreamCounts> {
    const rules = this.revokedTokens.ruleCount();
    const data = this.subscriptionData;
    const held: Record<Topic, number> = {
      notification:
        data.applications.size() + data.subscriptions.size() + data.policies.size() + data.keyMappings.size(),
      tokenRevocation: this.revokedTokens.size() + rules.consumerApp + rules.subjectEntity,
      keyManager: this.keyManagers.size(),
      asyncWebhooksData: this.webhookSubscriptions.size(),
    };
    const out = {} as Record<Topic, StreamCounts>;
    for (const topic of Object.keys(this.#counts) as Topic[]) {
      out[topic] = { ...this.#counts[topic], held: held[topic] };
    }
    return out;
  }

  #applyNew(event: InboundEvent): "applied" | "ignored" {
    switch (event.topic) {
      case "tokenRevocation":
        return this.revokedTokens.add(event) ? "applied" : "ignored";
      case "keyManager":
        return this.#changed(this.keyManagers.apply(event));
      case "asyncWebhooksData":
        return this.#changed(this.webhookSubscriptions.apply(event));
      case "notification":
        // Deploy/remove events belong to the deployer; here only the runtime data kinds count.
        return this.#changed(this.subscriptionData.apply(event));
    }
  }

  #changed(outcome: "applied" | "ignored"): "applied" | "ignored" {
    if (outcome === "applied") this.#scheduleStateFlush();
    return outcome;
  }

  #scheduleStateFlush(): void {
    if (this.#stateTimer !== undefined) return;
    this.#stateTimer = setTimeout(() => {
      this.#stateTimer = undefined;
      const failures = [
        () => this.keyManagers.flush(),
        () => this.webhookSubscriptions.flush(),
        () => this.subscriptionData.flush(),
      ].flatMap((write) => attempt(write));
      for (const err of failures) this.#onError?.(err);
    }, this.#stateFlushDelayMs);
    this.#stateTimer.unref();
  }

  #clearStateTimer(): void {
    if (this.#stateTimer !== undefined) {
      clearTimeout(this.#stateTimer);
      this.#stateTimer = undefined;
    }
  }
}

/** Runs one write; its failure as a GwsyncError (a RangeError from JSON.stringify too), or nothing. */
function attempt(write: () => void): GwsyncError[] {
  try {
    write();
    return [];
  } catch (err) {
    return [
      isGwsyncError(err)
        ? err
        : new GwsyncError("GWSYNC_STATE_SAVE_FAILED", `runtime state could not be written: ${(err as Error).message}`, {
            cause: err,
          }),
    ];
  }
}
