import type { ConfirmPublisher } from "../amqp/confirm-publisher.js";
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
import type { ArtifactStore, OutboxMessage } from "../store/types.js";

export const DEFAULT_OUTBOX_BATCH = 256;
/** Rounds of rows published and still awaiting their confirms, at most. */
export const MAX_ROUNDS_IN_FLIGHT = 4;
/** Rows read per round when runtime events are batched: enough to fill a few batch messages. */
export const BATCHING_OUTBOX_READ = 2048;
export const DEFAULT_OUTBOX_POLL_MS = 200;

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
  onSent?: (rows: OutboxMessage[]) => void;
  /** What the hub's WSO2 consumers read (src/events/dialect.ts). Default "4.x". */
  dialect?: HubDialect;
  /** A 3.2.0 hub's MapMessage layout. */
  mapFormat?: MapFormat;
}

/**
 * Publishes the outbox with confirms and deletes a row only after the broker confirmed it, so a crash
 * between commit and publish loses nothing (the row is sent on the next start; consumers dedupe by
 * eventId). Woken at once after each local commit; polls otherwise (another process may have written).
 */
export class OutboxDispatcher {
  readonly #o: OutboxDispatcherOptions;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #woken = false;

  constructor(options: OutboxDispatcherOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** A commit happened: send now rather than at the next poll. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Stop after trying to send what is pending (bounded by `timeoutMs`). */
  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.#running) return;
    const deadline = Date.now() + timeoutMs;
    while (this.#o.publisher.ready && this.#o.store.outboxDepth() > 0 && Date.now() < deadline) {
      this.wake();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#running = false;
    this.wake();
    await this.#loop;
  }

  /** Send everything pending once (CLI use); returns the number of rows confirmed. */
  async flushOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const sent = await this.#sendBatch();
      if (sent === 0) return total;
      total += sent;
    }
  }

  /**
   * Pipelined: the next rows are read and published while earlier ones still wait for their confirms
   * (up to MAX_ROUNDS_IN_FLIGHT rounds), so the broker's confirm latency does not cap the rate
   * (BENCHMARKS.md, B4). Rows are read after the last one handed out; a failed round rewinds to the
   * start, so everything unconfirmed is sent again (consumers deduplicate by eventId).
   */
  async #run(): Promise<void> {
    const pollMs = this.#o.pollMs ?? 200;
    const rounds = new Set<Promise<void>>();
    let after = 0;
    while (this.#running) {
      if (this.#o.publisher.ready) {
        this.#woken = false;
        let rows: OutboxMessage[] = [];
        try {
          rows = this.#o.store.pendingOutbox(this.#readLimit(), after);
        } catch (err) {
          this.#o.logger.warn({ err: (err as Error).message }, "outbox read failed; will retry");
        }
        if (rows.length > 0) {
          after = rows[rows.length - 1]!.id;
          const round: Promise<void> = this.#sendRows(rows)
            .catch((err: unknown) => {
              this.#o.logger.warn({ err: (err as Error).message }, "outbox publish failed; will retry");
              after = 0;
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
      }
      if (!this.#running) break;
      if (this.#woken && this.#o.publisher.ready) {
        this.#woken = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
      // Nothing in flight: read from the start (rows another process wrote, or a failed round left).
      if (rounds.size === 0) after = 0;
    }
    await Promise.allSettled([...rounds]);
  }

  #readLimit(): number {
    const batching = (this.#o.batchRuntimeEvents ?? 0) > 1;
    return this.#o.batchSize ?? (batching ? BATCHING_OUTBOX_READ : DEFAULT_OUTBOX_BATCH);
  }

  /** One round, awaited (flushOnce). */
  async #sendBatch(): Promise<number> {
    this.#woken = false;
    const rows = this.#o.store.pendingOutbox(this.#readLimit());
    if (rows.length === 0) return 0;
    await this.#sendRows(rows);
    return rows.length;
  }

  /** Publishes rows with confirms, then deletes them; a failure counts an attempt on each and rethrows. */
  async #sendRows(rows: OutboxMessage[]): Promise<void> {
    const ids = rows.map((r) => r.id);
    // Attempts are counted only when a publish fails: no extra fsynced write on the happy path.
    await this.#o.publisher
      .publishAll(
        this.#messages(rows).map((group) => {
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
        }),
      )
      .catch((err: unknown) => {
        try {
          this.#o.store.recordAttempt?.(ids);
        } catch {
          // the store's own error is less interesting than the broker's
        }
        throw err;
      });
    this.#o.store.markSent(ids);
    this.#o.onSent?.(rows);
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
  #messages(rows: OutboxMessage[]): OutboxMessage[][] {
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
