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

export interface ApplyReporterOptions {
  nodeId: string;
  deployer: ApiDeployer;
  /** Publishes one report body; throws when it cannot (no channel). */
  send: (body: Buffer) => void;
  debounceMs?: number;
  now?: () => number;
}

/**
 * The gateway's side of the fleet view: which APIs changed (deployed, removed, refused) since the last
 * report, and the last refusal of each API. Deltas go out a moment after a change; a full snapshot on
 * every connect and on request (the heartbeat timer asks now and then), so a publisher that missed
 * messages, or started later, is repaired.
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
  /** A send failed: the next connect's full snapshot repairs it; deltas meanwhile are pointless. */
  #broken = false;

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

  #message(kind: GatewayReport["kind"], part: number, parts: number, apis: ReportEntry[]): GatewayReport {
    return {
      nodeId: this.#o.nodeId,
      boot: this.boot,
      seq: ++this.#seq,
      kind,
      part,
      parts,
      served: this.#o.deployer.size,
      refused: this.#refusals.size,
      apis,
      sentAt: this.#now(),
    };
  }

  #send(report: GatewayReport): boolean {
    try {
      this.#o.send(Buffer.from(JSON.stringify(report)));
      return true;
    } catch {
      return false;
    }
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
      const apis = ids.slice(i, i + MAX_REPORT_ENTRIES).map((id) => this.#entry(id));
      if (!this.#send(this.#message("delta", 1, 1, apis))) {
        this.#broken = true;
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
    const ids = new Set<string>();
    for (const d of this.#o.deployer.deployed()) ids.add(d.apiId);
    for (const id of this.#refusals.keys()) ids.add(id);
    // In API id order: each part then covers one range of ids, which the control plane's store indexes
    // by API id, so 200 gateways' snapshots land in a few index pages each rather than everywhere.
    const all = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const parts = Math.max(1, Math.ceil(all.length / MAX_REPORT_ENTRIES));
    // A refusal is marked fresh in the first message that carries it, whichever kind.
    for (let p = 0; p < parts; p++) {
      const apis = all.slice(p * MAX_REPORT_ENTRIES, (p + 1) * MAX_REPORT_ENTRIES).map((id) => this.#entry(id));
      if (!this.#send(this.#message("full", p + 1, parts, apis))) {
        this.#broken = true;
        return;
      }
    }
    this.#broken = false;
    this.#dirty.clear();
    this.#fresh.clear();
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
