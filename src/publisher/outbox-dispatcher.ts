import type { ConfirmPublisher, OutgoingMessage } from "../amqp/confirm-publisher.js";
import {
  batchEnvelopeBytes,
  batchOverheadBytes,
  CONTENT_TYPE_BATCH,
  encodeBatch,
  HEADER_BATCH,
  isBatchable,
} from "../events/batch.js";
import {
  DEFAULT_HUB_DIALECT,
  type HubDialect,
  type HubWire,
  type MapFormat,
  toHubWire,
} from "../events/dialect.js";
import { isTopic } from "../events/topics.js";
import { CONTENT_TYPE_TEXT, jmsTopicHeader, TEXT_ENCODING } from "../events/wire-format.js";
import type { Logger } from "../log.js";
import type { ArtifactStore, OutboxClaim, OutboxMessage } from "../store/types.js";
import { hop } from "../hops.js";
import { coalesceKey, OutboxCoalescer } from "./outbox-coalesce.js";

export const DEFAULT_OUTBOX_BATCH = 256;
/** Rounds of rows published and still awaiting their confirms, at most. */
export const MAX_ROUNDS_IN_FLIGHT = 4;
/** Rows read per round when runtime events are batched: enough to fill a few batch messages. */
export const BATCHING_OUTBOX_READ = 2048;
export const DEFAULT_OUTBOX_POLL_MS = 200;
/** Rows per look-ahead read when a claim came back full (bodies are read: inline artifacts can be large). */
export const LOOKAHEAD_PAGE = 256;
/** Rows one round's look-ahead reads at most; the next full claim reads on from where it stopped. */
export const MAX_LOOKAHEAD_ROWS = 16_384;
/** How often stop() and drain() look whether the loop went idle. */
const IDLE_CHECK_MS = 20;

export interface OutboxDispatcherOptions {
  store: ArtifactStore;
  publisher: ConfirmPublisher;
  exchange: string;
  logger: Logger;
  pollMs?: number;
  batchSize?: number;
  /**
   * `[gwsync] batch_runtime_events`: up to this many consecutive events of one runtime stream share a
   * message (src/events/batch.ts). 0 or 1: every event is its own message, in WSO2's format.
   */
  batchRuntimeEvents?: number;
  /** A batch message stays under this many bytes (the consumers' cap). */
  maxMessageBytes?: number;
  /** Called with the rows the broker confirmed (metrics, tests). */
  onSent?: (rows: readonly OutboxMessage[]) => void;
  /** What the hub's WSO2 consumers read (src/events/dialect.ts). Default "4.x". */
  dialect?: HubDialect;
  /** A 3.2.0 hub's MapMessage layout. */
  mapFormat?: MapFormat;
  /**
   * Do not publish a deploy/remove event that a later pending row of the same API, tenant and labels
   * supersedes (src/publisher/outbox-coalesce.ts); it is deleted as sent. Default true.
   */
  coalesce?: boolean;
  /** Called with the rows coalesced away, once deleted (metrics, tests). */
  onCoalesced?: (rows: readonly OutboxMessage[]) => void;
}

/**
 * Publishes the outbox with confirms and deletes a row only after the broker confirmed it, so a crash
 * between commit and publish loses nothing (the row is sent on the next start; consumers dedupe by
 * eventId). Rows are claimed from the store (ArtifactStore.claimOutbox), so every publisher node of a
 * region can run a dispatcher on one database without two of them sending the same row. Woken at
 * once by this process's commits and by other nodes' commits where the store reports them
 * (onOutboxCommit); the poll finds the rest: rows a dead node claimed and its database released.
 */
export class OutboxDispatcher {
  readonly #o: OutboxDispatcherOptions;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;
  /** True once a claim found nothing and no round was in flight (stop() waits for it). */
  #idle = false;
  /** Rows this dispatcher published and saw confirmed. */
  #confirmed = 0;
  #unsubscribe: (() => void) | undefined;
  /** What is known of the pending backlog, for coalescing (outbox-coalesce.ts). */
  readonly #coalescer = new OutboxCoalescer();
  /** No claim before this time (Date.now()): a round failed (see #run). */
  #pausedUntil = 0;

  constructor(options: OutboxDispatcherOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = this.#o.store.onOutboxCommit(() => this.wake());
    this.#loop = this.#run();
  }

  /** A commit happened: send now rather than at the next poll. */
  wake(): void {
    this.#woken = true;
    this.#idle = false;
    this.#wake?.();
  }

  /** Stop after trying to send what is pending (bounded by `timeoutMs`). */
  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.#running) return;
    await this.#untilIdle(timeoutMs);
    this.#running = false;
    this.#unsubscribe?.();
    this.wake();
    await this.#loop;
  }

  /**
   * Send everything pending (one-shot CLI use): runs the rounds itself when the dispatcher is not
   * started, else waits until the running loop found nothing left. Returns the number of rows this
   * dispatcher has seen confirmed since it was made.
   */
  async drain(timeoutMs = 30_000): Promise<number> {
    if (!this.#running) {
      for (;;) {
        this.#woken = false;
        const claim = await this.#o.store.claimOutbox(this.#readLimit());
        if (claim.rows.length === 0) {
          this.#coalescer.forget();
          break;
        }
        await this.#sendClaim(claim);
      }
    } else {
      await this.#untilIdle(timeoutMs);
    }
    return this.#confirmed;
  }

  /** Wakes the loop and waits until it found nothing to claim with nothing in flight (or timeout). */
  async #untilIdle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.wake();
    while (this.#o.publisher.ready && !this.#idle && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, IDLE_CHECK_MS));
    }
  }

  /**
   * Pipelined: the next rows are claimed and published while earlier ones still wait for their
   * confirms (up to MAX_ROUNDS_IN_FLIGHT rounds), so the broker's confirm latency does not cap the
   * rate (BENCHMARKS.md, B4). A failed round releases its rows, and the next claim takes them again
   * (consumers deduplicate by eventId) after a pause of `pollMs`: a publish that fails at once (a
   * channel closing, a broker refusing) is never retried in a loop of promises alone, which would hold
   * the event loop and with it the socket events and timers that end the failure.
   */
  async #run(): Promise<void> {
    const pollMs = this.#o.pollMs ?? DEFAULT_OUTBOX_POLL_MS;
    const rounds = new Set<Promise<void>>();
    while (this.#running) {
      const paused = this.#pausedUntil - Date.now();
      if (paused > 0) {
        await this.#sleep(paused, false);
        continue;
      }
      if (this.#o.publisher.ready) {
        this.#woken = false;
        let claim: OutboxClaim | undefined;
        try {
          claim = await this.#o.store.claimOutbox(this.#readLimit());
        } catch (err) {
          this.#o.logger.warn({ err: (err as Error).message }, "outbox read failed; will retry");
        }
        if (claim !== undefined && claim.rows.length > 0) {
          const round: Promise<void> = this.#sendClaim(claim)
            .catch((err: unknown) => {
              this.#pausedUntil = Date.now() + pollMs;
              this.#o.logger.warn(
                { err: (err as Error).message, retryInMs: pollMs },
                "outbox publish failed; will retry",
              );
            })
            .finally(() => rounds.delete(round));
          rounds.add(round);
          if (rounds.size >= MAX_ROUNDS_IN_FLIGHT) await Promise.race(rounds);
          continue;
        }
        if (rounds.size > 0) {
          await Promise.race(rounds);
          continue;
        }
        if (claim !== undefined) this.#coalescer.forget();
        if (claim !== undefined && !this.#woken) this.#idle = true;
      }
      if (!this.#running) break;
      if (this.#woken && this.#o.publisher.ready) {
        this.#woken = false;
        continue;
      }
      await this.#sleep(pollMs, true);
    }
    await Promise.allSettled([...rounds]);
  }

  /** Waits `ms` on a timer; stop() ends the wait, and so does a commit (wake()) when `woken` says so. */
  async #sleep(ms: number, woken: boolean): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        if (!woken && this.#running) return;
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  #readLimit(): number {
    const batching = (this.#o.batchRuntimeEvents ?? 0) > 1;
    return this.#o.batchSize ?? (batching ? BATCHING_OUTBOX_READ : DEFAULT_OUTBOX_BATCH);
  }

  /**
   * Publishes a claim's rows with confirms, then deletes them; a failed publish releases them (one
   * more attempt counted on each) and rethrows. Attempts are counted only on failure: no extra write
   * on the happy path.
   */
  async #sendClaim(claim: OutboxClaim): Promise<void> {
    const claimed = claim.rows;
    hop("outbox.claimed", String(claimed.length));
    const superseded = await this.#superseded(claimed);
    const skip = new Set(superseded);
    const rows = skip.size === 0 ? claimed : claimed.filter((r) => !skip.has(r));
    try {
      const sent = this.#o.publisher.publishAll(this.#messages(rows).map((group) => this.#outgoing(group)));
      hop("outbox.published", String(rows.length));
      await sent;
      hop("outbox.confirmed", String(rows.length));
    } catch (err) {
      await claim.release().catch((releaseErr: unknown) =>
        // The store's own error is less interesting than the broker's; the claim ends with its connection.
        this.#o.logger.debug({ err: (releaseErr as Error).message }, "could not release outbox rows"),
      );
      throw err;
    }
    await claim.sent();
    this.#confirmed += rows.length;
    if (rows.length > 0) this.#o.onSent?.(rows);
    if (superseded.length > 0) {
      this.#o.logger.debug(
        {
          coalesced: superseded.length,
          published: rows.length,
          messageIds: superseded.slice(0, 20).map((r) => r.messageId),
        },
        "outbox: deploy/remove events superseded by a later pending event of the same API and labels were not published",
      );
      this.#o.onCoalesced?.(superseded);
    }
  }

  /**
   * The claimed rows a later pending row supersedes (outbox-coalesce.ts). When the claim came back full
   * (a backlog, e.g. after a broker outage), the rows after it are read too, without claiming them, so
   * the whole backlog coalesces and not only one claim's window; each row is read once by look-aheads.
   * A claim with no row that could be superseded (runtime events only) reads no look-ahead.
   */
  async #superseded(rows: readonly OutboxMessage[]): Promise<OutboxMessage[]> {
    if (this.#o.coalesce === false) return [];
    const c = this.#coalescer;
    const keys = rows.map(coalesceKey);
    c.note(rows, keys);
    // Only a claimed row with a key can be superseded: a claim of runtime events alone (a burst of
    // revocations) reads no look-ahead, which would read every row of the backlog twice (issue 19, B4).
    if (rows.length >= this.#readLimit() && keys.some((k) => k !== undefined)) {
      try {
        let read = 0;
        while (read < MAX_LOOKAHEAD_ROWS) {
          const page = await this.#o.store.peekOutbox(LOOKAHEAD_PAGE, c.readUpTo);
          c.note(page);
          read += page.length;
          if (page.length < LOOKAHEAD_PAGE) break;
        }
      } catch (err) {
        // Coalescing only saves work: without the look-ahead, the claim coalesces within itself.
        this.#o.logger.debug(
          { err: (err as Error).message },
          "outbox look-ahead failed; coalescing within the claim",
        );
      }
    }
    return c.superseded(rows, keys);
  }

  #outgoing(group: readonly OutboxMessage[]): OutgoingMessage {
    const first = group[0]!;
    if (group.length > 1) {
      return {
        exchange: this.#o.exchange,
        routingKey: first.topic,
        body: encodeBatch(
          group.map((r) => ({ messageId: r.messageId, timestamp: r.createdAt, body: r.body })),
        ),
        options: {
          persistent: true,
          contentType: CONTENT_TYPE_BATCH,
          contentEncoding: TEXT_ENCODING,
          messageId: `${first.messageId}+${group.length}`,
          timestamp: first.createdAt,
          headers: { ...first.headers, [HEADER_BATCH]: group.length },
        },
      };
    }
    const wire = this.#wire(first);
    return {
      exchange: this.#o.exchange,
      routingKey: first.topic,
      body: wire.body,
      options: {
        persistent: true,
        contentType: wire.contentType,
        ...(wire.contentEncoding ? { contentEncoding: wire.contentEncoding } : {}),
        messageId: first.messageId,
        // JMSTimestamp in milliseconds, as the Qpid 0-x client writes it (docs/wso2-formats.md §4.9).
        timestamp: first.createdAt,
        headers: { ...first.headers, ...wire.headers },
      },
    };
  }

  /** One stored event as the hub's WSO2 consumers read it (a text message on 4.x, a map on 3.2.0). */
  #wire(row: OutboxMessage): HubWire {
    const dialect = this.#o.dialect ?? DEFAULT_HUB_DIALECT;
    try {
      if (isTopic(row.topic)) return toHubWire(dialect, row.topic, row.body, this.#o.mapFormat);
    } catch (err) {
      // Never a poison row: what cannot be mapped goes out as the 4.x text it is stored as.
      this.#o.logger.warn(
        { messageId: row.messageId, err: (err as Error).message },
        "event could not be converted to the hub's dialect; sent as 4.x text",
      );
    }
    return {
      body: row.body,
      contentType: CONTENT_TYPE_TEXT,
      contentEncoding: TEXT_ENCODING,
      headers: jmsTopicHeader(),
    };
  }

  /**
   * Groups rows into messages: with batching on, consecutive events of one runtime stream (same headers)
   * share a message up to the count and size caps; everything else is one message per row.
   */
  #messages(rows: readonly OutboxMessage[]): OutboxMessage[][] {
    const max = this.#o.batchRuntimeEvents ?? 0;
    if (max <= 1) return rows.map((r) => [r]);
    const maxBytes = (this.#o.maxMessageBytes ?? Number.POSITIVE_INFINITY) - batchEnvelopeBytes();
    const groups: OutboxMessage[][] = [];
    let group: OutboxMessage[] = [];
    let bytes = 0;
    let key = "";
    for (const r of rows) {
      const size = r.body.length + batchOverheadBytes(r);
      const rowKey = isBatchable(r.topic) ? `${r.topic}\n${JSON.stringify(r.headers)}` : "";
      const fits = rowKey !== "" && rowKey === key && group.length < max && bytes + size <= maxBytes;
      if (!fits && group.length > 0) {
        groups.push(group);
        group = [];
        bytes = 0;
      }
      group.push(r);
      bytes += size;
      key = rowKey;
    }
    if (group.length > 0) groups.push(group);
    return groups;
  }
}
