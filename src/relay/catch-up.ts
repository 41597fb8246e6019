import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { OutgoingMessage } from "../amqp/confirm-publisher.js";
import { fsErrorCode, GwsyncError } from "../errors.js";
import { changeClaims } from "../events/region-sync-trust.js";
import type { Logger } from "../log.js";
import { parseJsonText } from "../security/json-limits.js";
import { PRIVATE_FILE_MODE, writeFileAtomicSync } from "../security/safe-write.js";
import type { ArtifactSigner } from "../security/signing.js";
import type { ArtifactStore } from "../store/types.js";
import { type LabelDirectory, snapshotChanges } from "./artifact-snapshot.js";
import { regionSyncMessage } from "./forward-plan.js";

/** The relay's record of how far each remote region has confirmed the local changelog (in data_dir). */
export const RELAY_CURSOR_FILE = "relay-cursors.json";
/** Changelog rows read per page of a catch-up. */
export const DEFAULT_CATCH_UP_PAGE = 500;
/** APIs published to the remote per confirm round trip. */
export const DEFAULT_CATCH_UP_BATCH = 64;

const cursorFile = z.object({
  kind: z.literal("gwsync.relay-cursors"),
  version: z.literal(1),
  region: z.string(),
  regions: z.record(z.string(), z.object({ seq: z.number().int().nonnegative(), updatedAt: z.number() })),
});
type CursorFile = z.infer<typeof cursorFile>;

/**
 * Per remote region, the local changelog sequence up to which the remote region's hub confirmed every
 * local change (forwarded live, or by a catch-up): `data_dir/relay-cursors.json`, written whole
 * (temp file, fsync, rename). A region that has no entry was never served: its catch-up starts at 0.
 * A file that cannot be read is ignored (logged): forwarding again is safe, the remote dedupes.
 */
export class RelayCursors {
  readonly file: string;
  readonly #region: string;
  #doc: CursorFile;

  constructor(dataDir: string, region: string, log: Logger) {
    this.file = path.join(dataDir, RELAY_CURSOR_FILE);
    this.#region = region;
    this.#doc = { kind: "gwsync.relay-cursors", version: 1, region, regions: {} };
    let text: string | undefined;
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        log.warn({ file: this.file, err: (err as Error).message }, "relay cursors unreadable; catching up from 0");
    }
    if (text === undefined) return;
    let parsed: ReturnType<typeof cursorFile.safeParse>;
    try {
      parsed = cursorFile.safeParse(parseJsonText(text));
    } catch (err) {
      log.warn({ file: this.file, err: (err as Error).message }, "relay cursors unreadable; catching up from 0");
      return;
    }
    if (!parsed.success || parsed.data.region !== region) {
      log.warn(
        { file: this.file, region: parsed.success ? parsed.data.region : undefined },
        "relay cursors are not this region's; catching up from 0",
      );
      return;
    }
    this.#doc = parsed.data;
  }

  /** The sequence the remote confirmed everything up to; undefined for a region never served. */
  get(remote: string): number | undefined {
    return this.#doc.regions[remote]?.seq;
  }

  all(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.#doc.regions).map(([r, c]) => [r, c.seq]));
  }

  set(remote: string, seq: number): void {
    if (this.get(remote) === seq) return;
    this.#doc.regions[remote] = { seq, updatedAt: Date.now() };
    writeAtomic(this.file, `${JSON.stringify(this.#doc, null, 2)}\n`);
  }

  get region(): string {
    return this.#region;
  }
}

function writeAtomic(file: string, data: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(file, data, { mode: PRIVATE_FILE_MODE });
  } catch (err) {
    throw new GwsyncError(fsErrorCode(err), `cannot write the relay's cursors ${file}: check free space and rights`, {
      cause: err,
    });
  }
}

/**
 * `full`: forward every local change after the cursor that has not crossed (the relay's start, a
 * region added to jndi_dir). `check`: the periodic pass; it moves the cursor over what crossed live and
 * forwards only what is older than `forwardBefore` (an event that never reached the relay's queue).
 */
export type CatchUpMode = "full" | "check";

/** What one catch-up pass did (relay.events "caughtUp", logs). */
export interface CatchUpReport {
  region: string;
  mode: CatchUpMode;
  /** The cursor before and after the pass. */
  from: number;
  to: number;
  /** The local changelog head when the pass began. */
  head: number;
  /** Changelog rows read. */
  scanned: number;
  /** APIs whose current state was sent to the remote region. */
  forwarded: number;
  ms: number;
}

export interface CatchUpOptions {
  localRegion: string;
  remoteRegion: string;
  store: () => ArtifactStore;
  labels: LabelDirectory;
  cursors: RelayCursors;
  /** Publish to the remote region's hub; resolves once every message is confirmed there. */
  publish: (messages: OutgoingMessage[], signal: AbortSignal) => Promise<void>;
  signer?: ArtifactSigner | undefined;
  pageSize?: number;
  batchSize?: number;
  logger: Logger;
  onReport?: (report: CatchUpReport) => void;
}

/**
 * Brings one remote region up to date from the local changelog. The relay forwards live what reaches
 * its queue; a change whose event never did (published before the relay first declared its queue, or
 * before the region was added to jndi_dir) is in the changelog. A pass reads the changelog after the
 * region's cursor, and for each API with a local change that has not crossed (no live forward covers
 * it), sends the API's current state on every label as one region-sync message to the remote ingress,
 * exactly as a live forward does; once the remote hub confirmed a page, the cursor moves past it and is
 * written to disk. The remote ingress dedupes by (origin region, origin seq) and skips revisions not
 * above its own, so a change sent twice (live and by a catch-up, or again after a restart) is a no-op.
 *
 * Only changes made in this region are sent (each region's relay sends its own: with max hops 1 a
 * relayed change is not passed on). Passes of one region run one at a time.
 */
export class RelayCatchUp {
  readonly #o: CatchUpOptions;
  readonly #stop = new AbortController();
  /** API → highest local seq of it confirmed at the remote (live forwards and catch-ups); above the cursor only. */
  readonly #covered = new Map<string, number>();
  #tail: Promise<unknown> = Promise.resolve();
  #last: CatchUpReport | undefined;
  #running = false;

  constructor(o: CatchUpOptions) {
    this.#o = o;
  }

  get lastReport(): CatchUpReport | undefined {
    return this.#last;
  }

  get cursor(): number | undefined {
    return this.#o.cursors.get(this.#o.remoteRegion);
  }

  get running(): boolean {
    return this.#running;
  }

  /** A live forward of the API's state up to `seq` was confirmed by the remote. */
  covered(apiId: string, seq: number): void {
    if (seq <= (this.cursor ?? 0)) return;
    if ((this.#covered.get(apiId) ?? 0) < seq) this.#covered.set(apiId, seq);
  }

  /** Run a pass after the ones already asked for. Rejects only when stopped or the store fails. */
  run(mode: CatchUpMode, forwardBefore = Number.POSITIVE_INFINITY): Promise<CatchUpReport> {
    const next = this.#tail.catch(() => undefined).then(() => this.#pass(mode, forwardBefore));
    this.#tail = next;
    return next;
  }

  stop(): void {
    this.#stop.abort();
  }

  async #pass(mode: CatchUpMode, forwardBefore: number): Promise<CatchUpReport> {
    const o = this.#o;
    const signal = this.#stop.signal;
    if (signal.aborted) throw new GwsyncError("GWSYNC_SHUTTING_DOWN", "relay catch-up stopped");
    this.#running = true;
    const started = performance.now();
    try {
      const store = o.store();
      const stored = this.cursor ?? 0;
      // Head first, then the labels: a change at or below the head is on a label the list holds.
      const head = await store.headSeq();
      let from = stored;
      if (from > head) {
        o.logger.warn(
          { region: o.remoteRegion, cursor: from, head },
          "relay cursor is beyond the store's head (a new store?): catching up from 0",
        );
        from = 0;
        o.cursors.set(o.remoteRegion, 0);
        this.#covered.clear();
      }
      const labels = await o.labels.refresh();
      const page = o.pageSize ?? DEFAULT_CATCH_UP_PAGE;
      const report: CatchUpReport = {
        region: o.remoteRegion,
        mode,
        from,
        to: from,
        head,
        scanned: 0,
        forwarded: 0,
        ms: 0,
      };
      let pos = from;
      while (pos < head && labels.length > 0) {
        if (signal.aborted) throw new GwsyncError("GWSYNC_SHUTTING_DOWN", "relay catch-up stopped");
        const rows = await store.changesSince(pos, labels, page);
        const toSend: string[] = [];
        const queued = new Set<string>();
        let end = pos;
        let halted = false;
        for (const row of rows) {
          if (row.seq > head) break;
          report.scanned++;
          const needs =
            row.originRegion === o.localRegion &&
            (this.#covered.get(row.apiId) ?? 0) < row.seq &&
            !queued.has(row.apiId);
          if (needs) {
            if (row.createdAt >= forwardBefore) {
              // Young and not crossed yet: its live event is probably on the way; look again next pass.
              halted = true;
              break;
            }
            queued.add(row.apiId);
            toSend.push(row.apiId);
          }
          end = row.seq;
        }
        for (let i = 0; i < toSend.length; i += o.batchSize ?? DEFAULT_CATCH_UP_BATCH) {
          report.forwarded += await this.#send(store, toSend.slice(i, i + (o.batchSize ?? DEFAULT_CATCH_UP_BATCH)), signal);
        }
        // Every local change up to here is confirmed at the remote (live or just now).
        const full = rows.length === page && rows.at(-1)!.seq <= head;
        pos = halted || full ? end : head;
        this.#advance(pos);
        if (halted || !full) break;
      }
      if (!signal.aborted && pos >= head) this.#advance(head);
      report.to = this.cursor ?? 0;
      report.ms = Math.round(performance.now() - started);
      this.#last = report;
      if (report.forwarded > 0 || mode === "full") {
        o.logger.info(
          { region: o.remoteRegion, mode, from: report.from, to: report.to, forwarded: report.forwarded, ms: report.ms },
          "relay catch-up from the changelog done",
        );
      }
      o.onReport?.(report);
      return report;
    } finally {
      this.#running = false;
    }
  }

  /** Send the current state of these APIs (one region-sync each) and wait for the remote's confirms. */
  async #send(store: ArtifactStore, apiIds: string[], signal: AbortSignal): Promise<number> {
    const o = this.#o;
    const signer = o.signer;
    const messages: OutgoingMessage[] = [];
    const covers: [string, number][] = [];
    for (const apiId of apiIds) {
      const labels = (await store.listApiLabels(apiId)).map((r) => r.label);
      const changes = await snapshotChanges(
        store,
        apiId,
        labels,
        signer === undefined
          ? undefined
          : (c, tenant) => signer.sign(changeClaims(apiId, o.localRegion, tenant, c)),
      );
      if (changes.length === 0) continue;
      const originSeq = Math.max(...changes.map((c) => c.originSeq));
      messages.push(
        regionSyncMessage({
          remoteRegion: o.remoteRegion,
          origin: o.localRegion,
          hops: 1,
          eventId: `catch-up:${originSeq}`,
          apiId,
          changes,
          timestamp: Date.now(),
        }),
      );
      covers.push([apiId, originSeq]);
    }
    await o.publish(messages, signal);
    for (const [apiId, seq] of covers) this.covered(apiId, seq);
    return messages.length;
  }

  #advance(seq: number): void {
    const now = this.cursor;
    if (now !== undefined && seq <= now) return;
    // The cursor never goes back, so a crash leaves it at a sequence every change below was confirmed.
    this.#o.cursors.set(this.#o.remoteRegion, seq);
    for (const [apiId, s] of this.#covered) if (s <= seq) this.#covered.delete(apiId);
  }
}
