import type { GatewayReport } from "../events/gateway-report.js";
import type { ArtifactStore, GatewayHeartbeat, StoredArtifact } from "../store/types.js";
import { gatewayState } from "./fleet-status.js";
import { ROLLOUT_STATUSES, type ReportedState, rolloutStatus } from "./fleet-view.js";

/**
 * Which APIs' rollouts are not complete, without judging every API on every gateway per request (the
 * status page's "only not complete" filter; 10,000 APIs × 200 gateways is 2 million judgements).
 *
 * A rollout is complete when every live gateway is "ok" for the API: it serves the sha256 of the newest
 * Publish among its labels, or, where none of its labels has one, serves nothing (fleet-view.ts,
 * buildRollout). Whether a gateway is ok for an API changes only when (a) the gateway reports the API,
 * (b) the API changes in the store, or (c) the gateway's labels change; whether it is live changes with
 * time. So the index keeps, per API, the set of gateways that are NOT ok (a bit per gateway; almost
 * always empty), updates it on (a) as reports are recorded, on (b) from the changelog at the next
 * query, on (c) from the heartbeats at the next query, and a query masks those sets with the gateways
 * live now: O(APIs × gateways / 32) word operations instead of 2 million judgements and 10,000 queries.
 * Beside the bit, it keeps each gateway's status for the API leaving liveness aside (a byte per gateway
 * and API), so one page of the API list has its rollout counts without reading a report (at 1,000
 * gateways, a page of 50 APIs was 50,000 report rows read and judged per refresh).
 *
 * It is built from the store at the first query (one report read per gateway), then kept up to date;
 * every update runs in one queue so that a store read and a report recorded meanwhile cannot overtake
 * each other. Reports of other publisher nodes are not missed: every node consumes every report.
 */

/** Above this many changed APIs since the last query, build afresh rather than re-read each one. */
const REBUILD_AFTER_CHANGES = 5000;
const CHANGES_PAGE = 10_000;

interface ApiEntry {
  apiId: string;
  /** Metadata of every (api, label) row, Remove rows too. */
  rows: StoredArtifact[];
  /** name \0 version \0 apiId: the listing's order. */
  key: string;
  published: boolean;
  /** When it was last removed from a label (0: never): what a refusal without a revision is judged against. */
  removedAt: number;
  /**
   * Per gateway slot, its rollout status for this API leaving liveness aside (STATUS_*), plus HAS_REPORT
   * when the store keeps a report row of it (such a gateway is part of the rollout even without the
   * API's labels). 0: not judged (a slot not in use).
   */
  codes: Uint8Array;
}

/** Rollout status codes kept per (API, gateway): fleet-view.ts rolloutStatus with the gateway taken as alive. */
const STATUS_DEPLOYED = 1;
const STATUS_REMOVED = 2;
const STATUS_REFUSED = 3;
/** pending when the gateway is alive, offline when not. */
const STATUS_PENDING = 4;
const STATUS_MASK = 7;
const HAS_REPORT = 8;

const STATUS_CODE: Record<string, number> = {
  deployed: STATUS_DEPLOYED,
  removed: STATUS_REMOVED,
  refused: STATUS_REFUSED,
  pending: STATUS_PENDING,
};

/** What a report row says for one API (served and/or refused); undefined when the store keeps none. */
type ReportState = ReportedState | undefined;

/** A report entry as the store keeps it: one with neither `served` nor `refusal` leaves no row. */
const rowOf = (e: ReportedState): ReportState =>
  e.served === undefined && e.refusal === undefined ? undefined : e;

/** One page item's rollout counts and completeness, as fleet-view.ts buildRollout gives them. */
export interface RolloutSummary {
  counts: Record<string, number>;
  complete: boolean;
}

interface NodeEntry {
  slot: number;
  labels: Set<string>;
  labelKey: string;
}

/** The row a gateway with these labels should serve (newest Publish among them), or undefined. */
function expectedRow(
  rows: readonly StoredArtifact[],
  labels: ReadonlySet<string>,
): StoredArtifact | undefined {
  let best: StoredArtifact | undefined;
  for (const r of rows) {
    if (r.instruction !== "Publish" || !labels.has(r.label)) continue;
    if (best === undefined || r.revision > best.revision) best = r;
  }
  return best;
}

function apiEntry(apiId: string, rows: StoredArtifact[], codes?: Uint8Array): ApiEntry {
  const first = rows[0]!;
  let removedAt = 0;
  for (const r of rows) if (r.instruction === "Remove" && r.updatedAt > removedAt) removedAt = r.updatedAt;
  return {
    apiId,
    rows,
    key: `${first.name}\u0000${first.version}\u0000${apiId}`,
    published: rows.some((r) => r.instruction === "Publish"),
    removedAt,
    codes: codes ?? new Uint8Array(0),
  };
}

const labelKeyOf = (labels: readonly string[]) => JSON.stringify([...new Set(labels)].sort());

export class RolloutIndex {
  readonly #store: ArtifactStore;
  #queue: Promise<unknown> = Promise.resolve();
  #built = false;
  #closed = false;
  #seq = 0;
  readonly #apis = new Map<string, ApiEntry>();
  #sorted: ApiEntry[] | undefined;
  readonly #nodes = new Map<string, NodeEntry>();
  #freeSlots: number[] = [];
  #nextSlot = 0;
  /** apiId → bitset (by node slot) of the gateways not ok for it; absent when none. */
  readonly #bad = new Map<string, Uint32Array>();
  /** Counters for tests and the benchmark. */
  readonly stats = { builds: 0, apiRefreshes: 0, nodeRefreshes: 0, reportEntries: 0 };

  constructor(store: ArtifactStore) {
    this.#store = store;
  }

  #run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.#queue.then(fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  // ---- bitsets ----

  #setBad(apiId: string, slot: number, bad: boolean): void {
    const word = slot >>> 5;
    const bit = 1 << (slot & 31);
    let bits = this.#bad.get(apiId);
    if (bits === undefined) {
      if (!bad) return;
      bits = new Uint32Array(Math.max(4, word + 1));
      this.#bad.set(apiId, bits);
    } else if (word >= bits.length) {
      if (!bad) return;
      const grown = new Uint32Array(Math.max(word + 1, bits.length * 2));
      grown.set(bits);
      bits = grown;
      this.#bad.set(apiId, bits);
    }
    if (bad) bits[word]! |= bit;
    else {
      bits[word]! &= ~bit;
      if (bits.every((w) => w === 0)) this.#bad.delete(apiId);
    }
  }

  #clearSlot(slot: number): void {
    for (const apiId of [...this.#bad.keys()]) this.#setBad(apiId, slot, false);
  }

  /**
   * Judge one gateway on one API from what the store keeps of its report: its status (kept in the API's
   * codes) and whether it is ok (its bit). An API the store never had is not listed: only its bit is kept
   * (serving one is not ok).
   */
  #judge(apiId: string, n: NodeEntry, report: ReportState): void {
    const a = this.#apis.get(apiId);
    if (a === undefined) {
      this.#setBad(apiId, n.slot, report?.served !== undefined);
      return;
    }
    const expected = expectedRow(a.rows, n.labels);
    // rolloutStatus with the gateway taken as alive: pending stands for pending or offline.
    const status = STATUS_CODE[rolloutStatus(expected, a.removedAt, report, true)]!;
    this.#setBad(apiId, n.slot, status !== STATUS_DEPLOYED && status !== STATUS_REMOVED);
    if (n.slot >= a.codes.length) {
      const grown = new Uint8Array(Math.max(n.slot + 1, this.#nextSlot, a.codes.length * 2, 32));
      grown.set(a.codes);
      a.codes = grown;
    }
    a.codes[n.slot] = status | (report === undefined ? 0 : HAS_REPORT);
  }

  // ---- (re)reading the store ----

  async #readApi(apiId: string): Promise<void> {
    const rows = await this.#store.listApiLabels(apiId);
    this.#sorted = undefined;
    if (rows.length === 0) {
      this.#apis.delete(apiId);
      return;
    }
    // Its codes are kept until it is judged again on every gateway (#judgeApi, right after).
    this.#apis.set(apiId, apiEntry(apiId, rows, this.#apis.get(apiId)?.codes));
  }

  /** Judge one API on every known gateway, from the store's reports of it. */
  async #judgeApi(apiId: string): Promise<void> {
    this.stats.apiRefreshes++;
    await this.#readApi(apiId);
    const reports = new Map<string, ReportState>();
    for (const r of await this.#store.listGatewayReports({ apiId })) reports.set(r.nodeId, r);
    for (const [nodeId, n] of this.#nodes) this.#judge(apiId, n, reports.get(nodeId));
  }

  /** Judge every API on one gateway, from the store's reports of that gateway. */
  async #judgeNode(nodeId: string, n: NodeEntry): Promise<void> {
    this.stats.nodeRefreshes++;
    const reports = new Map<string, ReportState>();
    try {
      for (const r of await this.#store.listGatewayReports({ nodeId })) reports.set(r.apiId, r);
    } catch (err) {
      // Not judged: forgotten, so that the next query or heartbeat adds and judges it again (a node
      // kept unjudged would have no status for any API).
      this.#dropNode(nodeId);
      throw err;
    }
    this.#clearSlot(n.slot);
    for (const a of this.#apis.values()) this.#judge(a.apiId, n, reports.get(a.apiId));
    // Reports of APIs the store never had: serving one is not ok.
    for (const [apiId, r] of reports) if (!this.#apis.has(apiId)) this.#judge(apiId, n, r);
  }

  #addNode(nodeId: string, labels: readonly string[]): NodeEntry {
    const slot = this.#freeSlots.pop() ?? this.#nextSlot++;
    const n: NodeEntry = { slot, labels: new Set(labels), labelKey: labelKeyOf(labels) };
    this.#nodes.set(nodeId, n);
    return n;
  }

  #dropNode(nodeId: string): void {
    const n = this.#nodes.get(nodeId);
    if (n === undefined) return;
    this.#clearSlot(n.slot);
    this.#nodes.delete(nodeId);
    this.#freeSlots.push(n.slot);
  }

  async #build(gateways: GatewayHeartbeat[]): Promise<void> {
    this.stats.builds++;
    // The watermark first: a change committed while the rows are read is read again next time.
    const head = await this.#store.headSeq();
    this.#apis.clear();
    this.#bad.clear();
    this.#nodes.clear();
    this.#freeSlots = [];
    this.#nextSlot = 0;
    this.#sorted = undefined;
    const byApi = new Map<string, StoredArtifact[]>();
    for (const r of await this.#store.listArtifacts({ includeRemoved: true })) {
      const list = byApi.get(r.apiId);
      if (list === undefined) byApi.set(r.apiId, [r]);
      else list.push(r);
    }
    for (const [apiId, rows] of byApi) this.#apis.set(apiId, apiEntry(apiId, rows));
    for (const g of gateways) {
      if (this.#closed) return; // stopping: nothing will ask
      await this.#judgeNode(g.nodeId, this.#addNode(g.nodeId, g.labels));
    }
    this.#seq = head;
    this.#built = true;
  }

  /** Bring the index up to date with the store's changelog and the gateways' labels. */
  async #refresh(gateways: GatewayHeartbeat[]): Promise<void> {
    if (!this.#built) {
      await this.#build(gateways);
      return;
    }
    const changed = new Set<string>();
    let seq = this.#seq;
    for (;;) {
      const page = await this.#store.apisChangedSince(seq, CHANGES_PAGE);
      for (const c of page) changed.add(c.apiId);
      if (page.length > 0) seq = page[page.length - 1]!.seq;
      if (page.length < CHANGES_PAGE || changed.size > REBUILD_AFTER_CHANGES) break;
    }
    if (changed.size > REBUILD_AFTER_CHANGES) {
      await this.#build(gateways);
      return;
    }
    // Gateways first (so each changed API is judged on the current set), then the changed APIs.
    const seen = new Set<string>();
    for (const g of gateways) {
      seen.add(g.nodeId);
      const n = this.#nodes.get(g.nodeId);
      if (n !== undefined && n.labelKey === labelKeyOf(g.labels)) continue;
      if (n !== undefined) this.#dropNode(g.nodeId);
      await this.#judgeNode(g.nodeId, this.#addNode(g.nodeId, g.labels));
    }
    for (const nodeId of [...this.#nodes.keys()]) if (!seen.has(nodeId)) this.#dropNode(nodeId);
    for (const apiId of changed) await this.#judgeApi(apiId);
    this.#seq = seq;
  }

  /**
   * A report message as the store recorded it (ReportIntake calls this after the write). Before the
   * first build nothing is kept: the build reads the store.
   */
  noteReport(report: GatewayReport, replace: boolean): Promise<void> {
    return this.#run(() => {
      if (!this.#built || this.#closed) return;
      const n = this.#nodes.get(report.nodeId);
      if (n === undefined) return; // a gateway not heard of yet: judged from the store when its heartbeat is seen
      if (replace) {
        // The first part of a full snapshot: the node's rows were dropped, so it serves nothing known.
        this.#clearSlot(n.slot);
        for (const a of this.#apis.values()) this.#judge(a.apiId, n, undefined);
      }
      for (const e of report.apis) {
        this.stats.reportEntries++;
        this.#judge(e.apiId, n, rowOf(e));
      }
    });
  }

  /**
   * A heartbeat as the store recorded it: a gateway not known yet, or whose labels changed, is judged
   * now (from the store's reports of it), so its reports can be followed one by one from then on.
   */
  noteHeartbeat(hb: { nodeId: string; labels: readonly string[] }): Promise<void> {
    return this.#run(async () => {
      if (!this.#built || this.#closed) return;
      const n = this.#nodes.get(hb.nodeId);
      if (n !== undefined && n.labelKey === labelKeyOf(hb.labels)) return;
      if (n !== undefined) this.#dropNode(hb.nodeId);
      await this.#judgeNode(hb.nodeId, this.#addNode(hb.nodeId, hb.labels));
    });
  }

  /** Build now (at the publisher's start), so the first request does not wait for it. */
  warm(): Promise<void> {
    return this.#run(async () => {
      if (!this.#built && !this.#closed) await this.#build(await this.#store.listGateways());
    });
  }

  /** Stop: a build in progress ends at its next gateway; resolves once nothing reads the store. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }

  /** A gateway forgotten (`gwsync status forget`): its reports are gone. */
  forget(nodeId: string): Promise<void> {
    return this.#run(() => this.#dropNode(nodeId));
  }

  /**
   * The published APIs in listing order, each with whether its rollout is complete on the gateways
   * live at `now`, and (`summary`) its rollout counts. `gateways` is the store's heartbeat list, read by
   * the caller for this request.
   */
  async apis(
    gateways: GatewayHeartbeat[],
    now = Date.now(),
  ): Promise<{
    list: readonly ApiEntry[];
    complete: (apiId: string) => boolean;
    summary: (apiId: string) => RolloutSummary;
  }> {
    return this.#run(async () => {
      await this.#refresh(gateways);
      this.#sorted ??= [...this.#apis.values()]
        .filter((a) => a.published)
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const alive = new Uint32Array(Math.max(1, (this.#nextSlot + 31) >>> 5));
      for (const g of gateways) {
        const n = this.#nodes.get(g.nodeId);
        if (n !== undefined && gatewayState(g, now) === "alive") alive[n.slot >>> 5]! |= 1 << (n.slot & 31);
      }
      const bad = this.#bad;
      const complete = (apiId: string): boolean => {
        const bits = bad.get(apiId);
        if (bits === undefined) return true;
        const len = Math.min(bits.length, alive.length);
        for (let i = 0; i < len; i++) if ((bits[i]! & alive[i]!) !== 0) return false;
        return true;
      };
      // The gateways of this request, in its order (fleet-view.ts buildRollout goes through them so).
      const members: { slot: number; labels: ReadonlySet<string>; alive: boolean }[] = [];
      for (const g of gateways) {
        const n = this.#nodes.get(g.nodeId);
        if (n !== undefined)
          members.push({ slot: n.slot, labels: n.labels, alive: gatewayState(g, now) === "alive" });
      }
      const apis = this.#apis;
      /**
       * The counts buildRollout gives, from the kept codes: a gateway is part of an API's rollout when
       * it has one of the API's labels or reports the API; pending becomes offline when not alive.
       */
      const summary = (apiId: string): RolloutSummary => {
        const counts: Record<string, number> = Object.fromEntries(ROLLOUT_STATUSES.map((s) => [s, 0]));
        const a = apis.get(apiId);
        if (a === undefined) return { counts, complete: true };
        const labels = [...new Set(a.rows.map((r) => r.label))];
        let complete = true;
        for (const m of members) {
          const code = a.codes[m.slot] ?? 0;
          if ((code & HAS_REPORT) === 0 && !labels.some((l) => m.labels.has(l))) continue;
          switch (code & STATUS_MASK) {
            case STATUS_DEPLOYED:
              counts.deployed!++;
              break;
            case STATUS_REMOVED:
              counts.removed!++;
              break;
            case STATUS_REFUSED:
              counts.refused!++;
              if (m.alive) complete = false;
              break;
            case STATUS_PENDING:
              if (m.alive) {
                counts.pending!++;
                complete = false;
              } else counts.offline!++;
              break;
            default:
              // Every gateway of the request was judged on every API (#refresh): a slot without a
              // code is a fault of this index, not a status to guess.
              throw new Error(`rollout index: gateway slot ${m.slot} not judged for API ${apiId}`);
          }
        }
        return { counts, complete };
      };
      return { list: this.#sorted, complete, summary };
    });
  }
}
