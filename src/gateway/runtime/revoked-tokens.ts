import path from "node:path";
import { z } from "zod";
import type { GwsyncError } from "../../errors.js";
import { DEFAULT_REVOCATION_TTL_SECONDS } from "../../events/encode.js";
import type { InboundTokenRevocation } from "../../events/token-revocation.js";
import { parseJsonText } from "../../security/json-limits.js";
import { Journal } from "./journal.js";
import { ensureDir } from "./state-io.js";

export const REVOKED_TOKENS_FILE = "revoked-tokens.jsonl";
/** How often, at most, add() sweeps expired entries on its own (purgeExpired can be called any time). */
export const LAZY_PURGE_INTERVAL_MS = 60_000;
/** Rewrite the journal when it holds this many more lines than live entries (and twice as many). */
export const COMPACT_MIN_DEAD_LINES = 1_000;

const MS_PER_SECOND = 1000;
/** A full store sweeps expired entries at most this often (each sweep walks every entry). */
const FULL_PURGE_INTERVAL_MS = 1000;

export interface RevokedTokenInfo {
  revoked: true;
  expiresAt: number;
  type: string;
}

export interface RevokedTokenStoreOptions {
  /** Folder of the journal; without it the store lives in memory only. */
  dir?: string;
  now?: () => number;
  flushIntervalMs?: number;
  /** Seconds kept when an event has no expiryTime and no ttl. */
  defaultTtlSeconds?: number;
  /** No revocation is kept longer than this from now, whatever its expiryTime (max_revocation_lifetime_ms). */
  maxLifetimeMs?: number;
  onError?: (err: GwsyncError) => void;
}

export interface RevokedTokensLoadReport {
  loaded: number;
  /** Lines dropped: expired, superseded, or unreadable (a line torn by a crash). */
  dropped: number;
  unreadable: number;
}

interface TokenEntry {
  expiresAt: number;
  type: string;
}

interface RuleEntry {
  revocationTime: number;
  expiresAt: number;
}

/** One journal line; short keys because 50,000 of them are read at start-up. */
const journalLineSchema = z.discriminatedUnion("t", [
  z.object({ t: z.literal("k"), v: z.string().min(1), e: z.number(), y: z.string() }),
  z.object({ t: z.literal("c"), v: z.string().min(1), r: z.number(), e: z.number() }),
  z.object({ t: z.literal("s"), n: z.string().min(1), v: z.string().min(1), r: z.number(), e: z.number() }),
]);

const SUBJECT_KEY_SEPARATOR = "\u0000";

/**
 * When a revocation may be forgotten: at the token's own `expiryTime` when WSO2 sent one (> 0, a JWT),
 * else `ttl` seconds after it arrived (opaque tokens carry expiryTime 0; WSO2 writes ttl as a string),
 * else `defaultTtlSeconds` (3600 s, Java's fallback for apim.token.revocation.realtime_notifier.ttl).
 * The two rule kinds (consumer app, subject entity) follow the same rule.
 */
export function revocationExpiresAt(
  event: Pick<InboundTokenRevocation, "expiryTime" | "ttl">,
  now: number,
  defaultTtlSeconds: number = DEFAULT_REVOCATION_TTL_SECONDS,
  maxLifetimeMs: number = Number.POSITIVE_INFINITY,
): number {
  const wanted = event.expiryTime > 0 ? event.expiryTime : now + (event.ttl ?? defaultTtlSeconds) * MS_PER_SECOND;
  // An expiryTime of 8.64e15 (year 275760) would keep the entry for good: the horizon bounds it.
  return Math.min(wanted, now + maxLifetimeMs);
}

/**
 * Revoked tokens and revocation rules a gateway enforces, kept until they expire: O(1) look-ups in Maps,
 * an append-only journal on disk (fsync'd in batches), compacted on load and when it grows stale.
 */
export class RevokedTokenStore {
  readonly #tokens = new Map<string, TokenEntry>();
  readonly #consumerKeys = new Map<string, RuleEntry>();
  readonly #subjects = new Map<string, RuleEntry>();
  readonly #journal: Journal | undefined;
  readonly #dir: string | undefined;
  readonly #now: () => number;
  readonly #defaultTtlSeconds: number;
  readonly #maxLifetimeMs: number;
  #lastFullPurgeAt = Number.NEGATIVE_INFINITY;
  readonly #onError: ((err: GwsyncError) => void) | undefined;
  #lastPurgeAt: number;

  constructor(options: RevokedTokenStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#defaultTtlSeconds = options.defaultTtlSeconds ?? DEFAULT_REVOCATION_TTL_SECONDS;
    this.#maxLifetimeMs = options.maxLifetimeMs ?? Number.POSITIVE_INFINITY;
    this.#dir = options.dir;
    this.#onError = options.onError;
    this.#journal =
      options.dir === undefined
        ? undefined
        : new Journal(path.join(options.dir, REVOKED_TOKENS_FILE), {
            ...(options.flushIntervalMs === undefined ? {} : { flushIntervalMs: options.flushIntervalMs }),
            ...(options.onError === undefined ? {} : { onError: options.onError }),
          });
    this.#lastPurgeAt = this.#now();
  }

  /** Reads the journal (O(n)), drops what expired, and rewrites it compact when anything was dropped. */
  load(): RevokedTokensLoadReport {
    const report: RevokedTokensLoadReport = { loaded: 0, dropped: 0, unreadable: 0 };
    if (this.#journal === undefined || this.#dir === undefined) return report;
    ensureDir(this.#dir);
    const now = this.#now();
    const lines = this.#journal.readLines();
    for (const line of lines) {
      const entry = parseLine(line);
      if (entry === undefined) {
        report.unreadable++;
        continue;
      }
      if (entry.e <= now) continue;
      // Kept from before the horizon was set (or lowered): it is bounded from now on too.
      entry.e = Math.min(entry.e, now + this.#maxLifetimeMs);
      if (entry.t === "k") this.#putToken(entry.v, entry.e, entry.y);
      else if (entry.t === "c") putRule(this.#consumerKeys, entry.v, entry.r, entry.e);
      else putRule(this.#subjects, subjectKey(entry.n, entry.v), entry.r, entry.e);
    }
    report.loaded = this.#tokens.size + this.#consumerKeys.size + this.#subjects.size;
    report.dropped = lines.length - report.loaded;
    if (report.dropped > 0) this.#journal.rewrite(this.#liveLines());
    this.#lastPurgeAt = now;
    return report;
  }

  /** Records a revocation; returns false when it had already expired (nothing to enforce). */
  add(event: InboundTokenRevocation): boolean {
    const now = this.#now();
    if (now - this.#lastPurgeAt >= LAZY_PURGE_INTERVAL_MS) this.purgeExpired(now);
    const expiresAt = revocationExpiresAt(event, now, this.#defaultTtlSeconds, this.#maxLifetimeMs);
    if (expiresAt <= now) return false;
    const rule = event.revocation;
    if (rule === undefined) {
      this.#putToken(event.revokedToken, expiresAt, event.type);
      this.#journal?.append(JSON.stringify({ t: "k", v: event.revokedToken, e: expiresAt, y: event.type }));
    } else if (rule.kind === "consumerApp") {
      putRule(this.#consumerKeys, rule.consumerKey, rule.revocationTime, expiresAt);
      this.#journal?.append(
        JSON.stringify({ t: "c", v: rule.consumerKey, r: rule.revocationTime, e: expiresAt }),
      );
    } else {
      putRule(this.#subjects, subjectKey(rule.entityType, rule.entityId), rule.revocationTime, expiresAt);
      this.#journal?.append(
        JSON.stringify({
          t: "s",
          n: rule.entityType,
          v: rule.entityId,
          r: rule.revocationTime,
          e: expiresAt,
        }),
      );
    }
    return true;
  }

  /** O(1); an expired entry met here is dropped on the spot. */
  isRevoked(token: string, now: number = this.#now()): RevokedTokenInfo | undefined {
    const entry = this.#tokens.get(token);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.#tokens.delete(token);
      return undefined;
    }
    return { revoked: true, expiresAt: entry.expiresAt, type: entry.type };
  }

  /** True when every token of this client issued at or before the revocation time is revoked. */
  isConsumerKeyRevoked(consumerKey: string, issuedAt: number, now: number = this.#now()): boolean {
    return ruleApplies(this.#consumerKeys, consumerKey, issuedAt, now);
  }

  /** True when the user or client (entityType USER_ID | CLIENT_ID) had its tokens up to issuedAt revoked. */
  isSubjectRevoked(
    entityType: string,
    entityId: string,
    issuedAt: number,
    now: number = this.#now(),
  ): boolean {
    return ruleApplies(this.#subjects, subjectKey(entityType, entityId), issuedAt, now);
  }

  /** Drops expired entries (O(n)); compacts the journal when most of it is dead. Returns how many went. */
  purgeExpired(now: number = this.#now()): number {
    this.#lastPurgeAt = now;
    const removed =
      purgeMap(this.#tokens, now) + purgeMap(this.#consumerKeys, now) + purgeMap(this.#subjects, now);
    const journal = this.#journal;
    if (journal !== undefined) {
      const live = this.#tokens.size + this.#consumerKeys.size + this.#subjects.size;
      const dead = journal.lineCount() - live;
      if (dead >= COMPACT_MIN_DEAD_LINES && dead > live) {
        try {
          journal.rewrite(this.#liveLines());
        } catch (err) {
          // Compaction only saves space; the journal stays valid, so report and carry on.
          this.#onError?.(err as GwsyncError);
        }
      }
    }
    return removed;
  }

  /** Tokens and rules held, all kinds: what max_revoked_tokens bounds. */
  held(): number {
    return this.#tokens.size + this.#consumerKeys.size + this.#subjects.size;
  }

  /**
   * Whether a revocation fits under `max` entries: one that replaces an entry it already holds always
   * does; otherwise, when full, expired entries are swept first (at most once a second, it is O(n)).
   */
  hasRoomFor(event: InboundTokenRevocation, max: number, now: number = this.#now()): boolean {
    if (this.held() < max || this.#holds(event)) return true;
    if (now - this.#lastFullPurgeAt >= FULL_PURGE_INTERVAL_MS) {
      this.#lastFullPurgeAt = now;
      this.purgeExpired(now);
    }
    return this.held() < max;
  }

  #holds(event: InboundTokenRevocation): boolean {
    const rule = event.revocation;
    if (rule === undefined) return this.#tokens.has(event.revokedToken);
    if (rule.kind === "consumerApp") return this.#consumerKeys.has(rule.consumerKey);
    return this.#subjects.has(subjectKey(rule.entityType, rule.entityId));
  }

  /** Revoked tokens held (the two rule kinds are counted by ruleCount). */
  size(): number {
    return this.#tokens.size;
  }

  ruleCount(): { consumerApp: number; subjectEntity: number } {
    return { consumerApp: this.#consumerKeys.size, subjectEntity: this.#subjects.size };
  }

  /** Makes every applied revocation durable now (write + fsync). */
  flush(): void {
    this.#journal?.flush();
  }

  close(): void {
    this.#journal?.close();
  }

  #putToken(token: string, expiresAt: number, type: string): void {
    const existing = this.#tokens.get(token);
    if (existing === undefined || existing.expiresAt < expiresAt)
      this.#tokens.set(token, { expiresAt, type });
  }

  #liveLines(): string[] {
    const lines: string[] = [];
    for (const [v, { expiresAt: e, type: y }] of this.#tokens)
      lines.push(JSON.stringify({ t: "k", v, e, y }));
    for (const [v, { revocationTime: r, expiresAt: e }] of this.#consumerKeys) {
      lines.push(JSON.stringify({ t: "c", v, r, e }));
    }
    for (const [key, { revocationTime: r, expiresAt: e }] of this.#subjects) {
      const [n, v] = key.split(SUBJECT_KEY_SEPARATOR);
      lines.push(JSON.stringify({ t: "s", n, v, r, e }));
    }
    return lines;
  }
}

function parseLine(line: string): z.output<typeof journalLineSchema> | undefined {
  try {
    const parsed = journalLineSchema.safeParse(parseJsonText(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function subjectKey(entityType: string, entityId: string): string {
  return entityType + SUBJECT_KEY_SEPARATOR + entityId;
}

/** A later revocation of the same key covers more tokens: keep the latest time and the longest life. */
function putRule(map: Map<string, RuleEntry>, key: string, revocationTime: number, expiresAt: number): void {
  const existing = map.get(key);
  if (existing === undefined) {
    map.set(key, { revocationTime, expiresAt });
  } else {
    existing.revocationTime = Math.max(existing.revocationTime, revocationTime);
    existing.expiresAt = Math.max(existing.expiresAt, expiresAt);
  }
}

function ruleApplies(map: Map<string, RuleEntry>, key: string, issuedAt: number, now: number): boolean {
  const rule = map.get(key);
  if (rule === undefined) return false;
  if (rule.expiresAt <= now) {
    map.delete(key);
    return false;
  }
  return issuedAt <= rule.revocationTime;
}

function purgeMap(map: Map<string, { expiresAt: number }>, now: number): number {
  let removed = 0;
  for (const [key, entry] of map) {
    if (entry.expiresAt <= now) {
      map.delete(key);
      removed++;
    }
  }
  return removed;
}
