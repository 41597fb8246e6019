import type { GatewayReport } from "../events/gateway-report.js";
import type { Logger } from "../log.js";
import type { ArtifactStore, GatewayApiReport, GatewayReportCursor } from "../store/types.js";

/**
 * The publisher's side of the gateways' report stream (src/events/gateway-report.ts): each message is
 * written to the store in order, and the stream's cursor says whether what the store holds for that
 * gateway is whole. A report is only a report: nothing here changes what the store serves.
 */
export class ReportIntake {
  readonly #store: ArtifactStore;
  readonly #log: Logger;
  readonly #onRefused: (code: string) => void;
  readonly #onRecorded: ((report: GatewayReport, replace: boolean) => void) | undefined;
  /** Cursor per node, read from the store once, then kept here. */
  #cursors: Map<string, GatewayReportCursor> | undefined;
  /** Where a full snapshot in progress is (its next part), per node. */
  readonly #fullInProgress = new Map<string, { boot: string; next: number; whole: boolean }>();
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
      this.#log.warn({ node: report.nodeId, err: (err as Error).message }, "could not record a gateway report"),
    );
    return run;
  }

  async #record(r: GatewayReport): Promise<void> {
    this.#cursors ??= new Map((await this.#store.listReportCursors()).map((c) => [c.nodeId, c]));
    const prev = this.#cursors.get(r.nodeId);
    const inOrder = prev !== undefined && prev.boot === r.boot && prev.seq === r.seq - 1;
    let complete: boolean;
    let replace = false;
    if (r.kind === "full") {
      if (r.part === 1) {
        replace = true;
        this.#fullInProgress.set(r.nodeId, { boot: r.boot, next: 2, whole: true });
      } else {
        const f = this.#fullInProgress.get(r.nodeId);
        if (f !== undefined && (f.boot !== r.boot || f.next !== r.part || !inOrder)) f.whole = false;
        if (f !== undefined) f.next = r.part + 1;
      }
      const f = this.#fullInProgress.get(r.nodeId);
      // Whole once every part arrived in order; until then what the store holds is being replaced.
      complete = r.part === r.parts && f !== undefined && f.whole;
      if (r.part === r.parts) this.#fullInProgress.delete(r.nodeId);
    } else {
      complete = inOrder && prev.complete && !this.#fullInProgress.has(r.nodeId);
    }
    if (!complete && r.kind === "delta" && prev?.complete) {
      this.#log.info(
        { node: r.nodeId, boot: r.boot, seq: r.seq, expected: prev.boot === r.boot ? prev.seq + 1 : 1 },
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
      seq: r.seq,
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
    this.#fullInProgress.delete(nodeId);
  }
}
