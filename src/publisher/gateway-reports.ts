import type { GatewayReport } from "../events/gateway-report.js";
import type { Logger } from "../log.js";
import type { ArtifactStore, GatewayApiReport, GatewayReportCursor } from "../store/types.js";

/** Sequence numbers a stream may be missing at once; beyond, it is incomplete until its next snapshot. */
const MAX_MISSING = 10_000;

/**
 * What the intake knows of one gateway's stream in this process: the highest sequence number seen,
 * the ones below it not seen (a message the broker refused is sent again under its own number, so a
 * gap may still fill), and the latest full snapshot: its first sequence number (seq − part + 1, the
 * same for every part however often sent) and the parts of it seen.
 */
interface StreamState {
  boot: string;
  maxSeq: number;
  missing: Set<number>;
  /**
   * More numbers were missing than MAX_MISSING, all below this one (0: none): not counted, so the
   * stream is incomplete until a snapshot that begins at or after it.
   */
  lostBelow: number;
  snapshot: { first: number; parts: number; seen: Set<number> } | undefined;
}

/**
 * The publisher's side of the gateways' report stream (src/events/gateway-report.ts): each message is
 * written to the store as it arrives, and the stream's cursor says whether what the store holds for
 * that gateway is whole: a full snapshot with every part seen, and every message after its first part
 * seen. The parts of a snapshot may arrive in any order: a part the report queue refused comes again
 * later under its own sequence number, built from what the gateway serves then (a gateway resends only
 * the refused parts). The first part seen of a snapshot (whichever) replaces the node's rows; the
 * others add to them. A report is only a report: nothing here changes what the store serves.
 */
export class ReportIntake {
  readonly #store: ArtifactStore;
  readonly #log: Logger;
  readonly #onRefused: (code: string) => void;
  readonly #onRecorded: ((report: GatewayReport, replace: boolean) => void) | undefined;
  /** Cursor per node, read from the store once, then kept here. */
  #cursors: Map<string, GatewayReportCursor> | undefined;
  /** Each node's stream as seen by this process (from its stored cursor at first). */
  readonly #streams = new Map<string, StreamState>();
  /** One message at a time, in arrival order. */
  #chain: Promise<void> = Promise.resolve();

  constructor(o: {
    store: ArtifactStore;
    logger: Logger;
    onRefused: (code: string) => void;
    /** Called once the message is in the store (the rollout index follows it). */
    onRecorded?: (report: GatewayReport, replace: boolean) => void;
  }) {
    this.#store = o.store;
    this.#log = o.logger;
    this.#onRefused = o.onRefused;
    this.#onRecorded = o.onRecorded;
  }

  /** Record one report (queued behind the ones before it); resolves once it is in the store. */
  accept(report: GatewayReport): Promise<void> {
    const run = this.#chain.then(() => this.#record(report));
    this.#chain = run.catch((err: unknown) =>
      this.#log.warn(
        { node: report.nodeId, err: (err as Error).message },
        "could not record a gateway report",
      ),
    );
    return run;
  }

  /** The node's stream state, from the stored cursor when this process has not seen it yet. */
  #stream(r: GatewayReport, prev: GatewayReportCursor | undefined): StreamState {
    let st = this.#streams.get(r.nodeId);
    if (st === undefined || st.boot !== r.boot) {
      const known = st === undefined && prev !== undefined && prev.boot === r.boot;
      st = {
        boot: r.boot,
        maxSeq: known ? prev.seq : 0,
        missing: new Set(),
        lostBelow: 0,
        // A complete stored cursor stands for a snapshot whole up to its seq (a publisher restarted).
        snapshot: known && prev.complete ? { first: 0, parts: 0, seen: new Set() } : undefined,
      };
      this.#streams.set(r.nodeId, st);
    }
    return st;
  }

  async #record(r: GatewayReport): Promise<void> {
    this.#cursors ??= new Map((await this.#store.listReportCursors()).map((c) => [c.nodeId, c]));
    const prev = this.#cursors.get(r.nodeId);
    const st = this.#stream(r, prev);
    const wasComplete = prev?.complete === true && prev.boot === r.boot;
    // The sequence numbers: a new highest leaves the ones skipped missing; a lower one fills its gap.
    if (r.seq > st.maxSeq) {
      if (r.seq - st.maxSeq - 1 + st.missing.size > MAX_MISSING) st.lostBelow = r.seq;
      else for (let s = st.maxSeq + 1; s < r.seq; s++) st.missing.add(s);
      st.maxSeq = r.seq;
    } else st.missing.delete(r.seq);
    let replace = false;
    if (r.kind === "full") {
      const first = r.seq - r.part + 1;
      const snap = st.snapshot;
      if (snap === undefined || first > snap.first) {
        // A newer snapshot: it stands for everything before it.
        replace = true;
        st.snapshot = { first, parts: r.parts, seen: new Set([r.part]) };
        for (const s of st.missing) if (s < first) st.missing.delete(s);
        if (st.lostBelow <= first) st.lostBelow = 0;
      } else if (first === snap.first && r.parts === snap.parts) snap.seen.add(r.part);
      // else: a part of an older snapshot, sent again before the newer one began: its rows only.
    }
    const snap = st.snapshot;
    const complete =
      snap !== undefined && snap.seen.size === snap.parts && st.missing.size === 0 && st.lostBelow === 0;
    if (!complete && wasComplete && r.kind === "delta") {
      this.#log.info(
        { node: r.nodeId, boot: r.boot, seq: r.seq, missing: [...st.missing].slice(0, 5) },
        "a gateway report was missed: its view is incomplete until its next full snapshot",
      );
    }
    const now = Date.now();
    // Written in API id order (the store's index on API_ID then takes them page by page).
    const apis = [...r.apis].sort((a, b) => (a.apiId < b.apiId ? -1 : a.apiId > b.apiId ? 1 : 0));
    const reports: GatewayApiReport[] = apis.map((a) => {
      const row: GatewayApiReport = { nodeId: r.nodeId, apiId: a.apiId, reportedAt: now };
      if (a.served) row.served = a.served;
      if (a.refusal) {
        row.refusal = {
          revision: a.refusal.revision,
          code: a.refusal.code,
          message: a.refusal.message,
          at: a.refusal.at,
        };
      }
      return row;
    });
    const cursor: GatewayReportCursor = {
      nodeId: r.nodeId,
      boot: r.boot,
      seq: st.maxSeq,
      complete,
      served: r.served,
      refused: r.refused,
      updatedAt: now,
    };
    await this.#store.recordGatewayReports(reports, { replace, cursor });
    this.#cursors.set(r.nodeId, cursor);
    this.#onRecorded?.(r, replace);
    for (const a of r.apis) if (a.refusal?.fresh) this.#onRefused(a.refusal.code);
  }

  /** A gateway forgotten by `gwsync status forget`. */
  forget(nodeId: string): void {
    this.#cursors?.delete(nodeId);
    this.#streams.delete(nodeId);
  }
}
