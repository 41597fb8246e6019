import { randomUUID } from "node:crypto";
import {
  type GatewayReport,
  MAX_REFUSAL_MESSAGE,
  MAX_REPORT_ENTRIES,
  type ReportEntry,
  type ReportRefusal,
} from "../events/gateway-report.js";
import type { ApiDeployer } from "./deploy/deployer.js";

/** Refusals kept per gateway (the oldest goes first): the report stays bounded whatever happens. */
export const MAX_KEPT_REFUSALS = 10_000;
/** A refusal or a deploy is reported this soon (well within one heartbeat). */
export const REPORT_DEBOUNCE_MS = 200;
/** A report the control plane's queue refused: it is sent again after this, doubling… */
export const REPORT_RETRY_BASE_MS = 1000;
/** …up to this (each delay drawn between half of it and all of it, so a fleet does not retry in step). */
export const REPORT_RETRY_MAX_MS = 60_000;

/**
 * The wait before the `attempt`th (0-based) resend of a refused snapshot: exponential from `baseMs`,
 * capped at `maxMs`, jittered into its upper half. Exported for the fleet benchmark's simulated gateways.
 */
export function reportRetryDelay(
  attempt: number,
  random: () => number = Math.random,
  baseMs = REPORT_RETRY_BASE_MS,
  maxMs = REPORT_RETRY_MAX_MS,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

export interface ApplyReporterOptions {
  nodeId: string;
  deployer: ApiDeployer;
  /**
   * Publishes one report body; throws when it cannot (no channel). Calls `settled` once the broker took
   * it (true) or refused it (false: the control plane's report queue is full, `x-overflow =
   * reject-publish`), where it can tell.
   */
  send: (body: Buffer, settled: (accepted: boolean) => void) => void;
  debounceMs?: number;
  now?: () => number;
  /** The resend of a refused snapshot (reportRetryDelay): first wait and cap. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  random?: () => number;
}

/** A part of the current full snapshot, as sent: enough to send it again under its own number. */
interface SnapshotPart {
  seq: number;
  part: number;
  parts: number;
  /** The APIs it covers (a range of the snapshot's sorted ids). */
  ids: string[];
  /** Those whose refusal it carried as fresh. */
  fresh: string[];
}

/**
 * The gateway's side of the fleet view: which APIs changed (deployed, removed, refused) since the last
 * report, and the last refusal of each API. Deltas go out a moment after a change; a full snapshot on
 * every connect and on request (the heartbeat timer asks now and then), so a publisher that missed
 * messages, or started later, is repaired.
 *
 * A snapshot part the control plane's full report queue refused is sent again after a back-off under
 * its own sequence number and part, with what this gateway serves of its APIs then (the publisher
 * takes a snapshot's parts in any order: src/publisher/gateway-reports.ts); the parts taken are not
 * sent again. A refused delta, or a send that failed, costs a whole new snapshot.
 */
export class ApplyReporter {
  readonly boot = randomUUID();
  readonly #o: ApplyReporterOptions;
  readonly #now: () => number;
  #seq = 0;
  readonly #dirty = new Set<string>();
  /** Last refusal per API, oldest first (re-inserted on each refusal). */
  readonly #refusals = new Map<string, ReportRefusal>();
  /** Refusals not yet reported (counted once by the publisher). */
  readonly #fresh = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  /**
   * A send failed or was refused: a full snapshot repairs it (the next connect's, or the retry's);
   * deltas meanwhile are pointless.
   */
  #broken = false;
  /** A refused report's resend is scheduled. */
  #retryTimer: NodeJS.Timeout | undefined;
  /** Resends since the control plane last took a whole snapshot. */
  #retries = 0;
  /** Parts of the current snapshot sent and not yet taken (by seq). */
  readonly #unsettled = new Map<number, SnapshotPart>();
  /** Parts of the current snapshot refused, to send again (by seq). */
  readonly #refusedParts = new Map<number, SnapshotPart>();
  /** A delta was refused or a send failed: only a whole new snapshot repairs that. */
  #needFull = false;
  /** APIs reported by deltas since the current snapshot began (sent again after a resumed snapshot). */
  readonly #deltaSinceFull = new Set<string>();
  /** Snapshot parts sent again under their own number (tests, the benchmark). */
  partsResent = 0;
  #closed = false;
  /** Reports the broker did not take: refused by a full queue, or their channel closed first (tests). */
  notTaken = 0;

  constructor(o: ApplyReporterOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  get refusalCount(): number {
    return this.#refusals.size;
  }

  /** The last refusal of an API this gateway keeps (tests, /status). */
  refusalOf(apiId: string): ReportRefusal | undefined {
    return this.#refusals.get(apiId);
  }

  /** An API was deployed or removed here. */
  noteApplied(apiId: string): void {
    this.#dirty.add(apiId);
    this.#schedule();
  }

  /** An artifact of an API was refused (not deployed; what was deployed of it stays). */
  noteRefused(apiId: string, r: { revision?: number | undefined; code: string; message: string }): void {
    this.#refusals.delete(apiId);
    this.#refusals.set(apiId, {
      revision: r.revision ?? 0,
      code: r.code.slice(0, 64),
      message: r.message.slice(0, MAX_REFUSAL_MESSAGE),
      at: this.#now(),
    });
    this.#fresh.add(apiId);
    while (this.#refusals.size > MAX_KEPT_REFUSALS) {
      const oldest = this.#refusals.keys().next().value as string;
      this.#refusals.delete(oldest);
      this.#fresh.delete(oldest);
      this.#dirty.add(oldest);
    }
    this.#dirty.add(apiId);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#o.debounceMs ?? REPORT_DEBOUNCE_MS);
    this.#timer.unref();
  }

  #entry(apiId: string): ReportEntry {
    const e: ReportEntry = { apiId };
    const d = this.#o.deployer.get(apiId);
    // A partial record (sha256 "") serves no complete revision.
    if (d !== undefined && d.sha256 !== "") e.served = { revision: d.revision, sha256: d.sha256 };
    const r = this.#refusals.get(apiId);
    if (r !== undefined) e.refusal = this.#fresh.has(apiId) ? { ...r, fresh: true } : r;
    return e;
  }

  #message(
    kind: GatewayReport["kind"],
    part: number,
    parts: number,
    apis: ReportEntry[],
    seq = ++this.#seq,
  ): GatewayReport {
    return {
      nodeId: this.#o.nodeId,
      boot: this.boot,
      seq,
      kind,
      part,
      parts,
      served: this.#o.deployer.size,
      refused: this.#refusals.size,
      apis,
      sentAt: this.#now(),
    };
  }

  /** Send one message; `part`: it is a part of the current snapshot (sent again alone if refused). */
  #send(report: GatewayReport, part?: SnapshotPart): boolean {
    if (part !== undefined) this.#unsettled.set(part.seq, part);
    try {
      this.#o.send(Buffer.from(JSON.stringify(report)), (accepted) => {
        // A part of a snapshot since replaced is no longer this reporter's business.
        const current = part !== undefined && this.#unsettled.get(part.seq) === part;
        if (current) this.#unsettled.delete(part.seq);
        if (!accepted) {
          if (part !== undefined && !current) {
            // A part of a snapshot since replaced: the current one stands for it.
            this.notTaken++;
            return;
          }
          if (part !== undefined) this.#refusedParts.set(part.seq, part);
          else this.#needFull = true;
          this.#refused();
        } else if (
          !this.#broken &&
          !this.#needFull &&
          this.#unsettled.size === 0 &&
          this.#refusedParts.size === 0
        ) {
          this.#retries = 0;
        }
      });
      return true;
    } catch {
      if (part !== undefined) this.#unsettled.delete(part.seq);
      return false;
    }
  }

  /**
   * The broker refused a report (the control plane's queue is full: a fleet reconnecting at once, each
   * gateway sending its snapshot): the control plane's view of this gateway is no longer whole. After a
   * jittered exponential wait (so that a thousand gateways refused together do not come back together)
   * the refused parts go again, or, if a delta was refused, a whole new snapshot.
   */
  #refused(): void {
    this.notTaken++;
    this.#broken = true;
    if (this.#retryTimer !== undefined || this.#closed) return;
    const delay = reportRetryDelay(this.#retries++, this.#o.random, this.#o.retryBaseMs, this.#o.retryMaxMs);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#resume();
    }, delay);
    this.#retryTimer.unref();
  }

  /** Send the refused parts of the current snapshot again, each under its own number, then the deltas. */
  #resume(): void {
    if (this.#closed) return;
    if (this.#needFull || this.#refusedParts.size === 0) {
      this.sendFull();
      return;
    }
    const parts = [...this.#refusedParts.values()].sort((a, b) => a.seq - b.seq);
    this.#refusedParts.clear();
    for (const p of parts) for (const id of p.fresh) this.#fresh.add(id);
    for (const p of parts) {
      const apis = p.ids.map((id) => this.#entry(id));
      const m = this.#message("full", p.part, p.parts, apis, p.seq);
      const again: SnapshotPart = { ...p, fresh: apis.filter((e) => e.refusal?.fresh).map((e) => e.apiId) };
      for (const id of p.ids) this.#fresh.delete(id);
      this.partsResent++;
      if (!this.#send(m, again)) {
        this.#broken = true;
        this.#needFull = true;
        return;
      }
    }
    // Deltas sent since the snapshot began may have reached the control plane before these parts,
    // the first of which (if none of the snapshot was taken before) replaced its rows: send them again.
    for (const id of this.#deltaSinceFull) this.#dirty.add(id);
    this.#broken = false;
    this.flush();
  }

  /** Report the APIs changed since the last report (no message when none did). */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#dirty.size === 0 || this.#broken) return;
    const ids = [...this.#dirty];
    this.#dirty.clear();
    for (let i = 0; i < ids.length; i += MAX_REPORT_ENTRIES) {
      const slice = ids.slice(i, i + MAX_REPORT_ENTRIES);
      const apis = slice.map((id) => this.#entry(id));
      for (const id of slice) this.#deltaSinceFull.add(id);
      if (!this.#send(this.#message("delta", 1, 1, apis))) {
        this.#broken = true;
        this.#needFull = true;
        return;
      }
    }
    this.#fresh.clear();
  }

  /** Everything this gateway serves and every refusal it keeps, in parts (on connect, and now and then). */
  sendFull(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
    }
    const ids = new Set<string>();
    for (const d of this.#o.deployer.deployed()) ids.add(d.apiId);
    for (const id of this.#refusals.keys()) ids.add(id);
    // In API id order: each part then covers one range of ids, which the control plane's store indexes
    // by API id, so 200 gateways' snapshots land in a few index pages each rather than everywhere.
    const all = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const parts = Math.max(1, Math.ceil(all.length / MAX_REPORT_ENTRIES));
    this.#unsettled.clear();
    this.#refusedParts.clear();
    this.#deltaSinceFull.clear();
    this.#needFull = false;
    // A refusal is marked fresh in the first message that carries it, whichever kind.
    for (let p = 0; p < parts; p++) {
      const slice = all.slice(p * MAX_REPORT_ENTRIES, (p + 1) * MAX_REPORT_ENTRIES);
      const apis = slice.map((id) => this.#entry(id));
      const m = this.#message("full", p + 1, parts, apis);
      const fresh = apis.filter((e) => e.refusal?.fresh).map((e) => e.apiId);
      if (!this.#send(m, { seq: m.seq, part: p + 1, parts, ids: slice, fresh })) {
        this.#broken = true;
        this.#needFull = true;
        return;
      }
    }
    this.#broken = false;
    this.#dirty.clear();
    this.#fresh.clear();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }
}
