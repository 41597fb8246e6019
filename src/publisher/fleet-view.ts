import { z } from "zod";
import type {
  ArtifactStore,
  GatewayApiReport,
  GatewayHeartbeat,
  GatewayReportCursor,
  StoredArtifact,
} from "../store/types.js";
import { gatewayState } from "./fleet-status.js";
import type { RolloutIndex } from "./rollout-index.js";

/**
 * GET /api/v1/fleet and GET /api/v1/artifacts/{apiId}/rollout: every gateway with its lag, and one API's
 * rollout across the gateways of its labels. Built from the store's rows (the truth) and the gateways'
 * reports (what they say they serve and refused), so the REST API, `gwsync status` and /ui agree.
 */

/** ready/stale/starting: alive and its last beat said so; stopped: said goodbye; missing: silent. */
export const FLEET_STATES = ["ready", "stale", "starting", "stopped", "missing"] as const;
export type FleetState = (typeof FLEET_STATES)[number];

export const fleetGatewaySchema = z.object({
  nodeId: z.string(),
  region: z.string(),
  labels: z.array(z.string()),
  version: z.string(),
  state: z.enum(FLEET_STATES),
  alive: z.boolean(),
  appliedSeq: z.number(),
  /**
   * Changes on its labels it has not applied: after its applied seq, and not shown applied by its
   * reports (every change after its applied seq when its report stream is not complete).
   */
  lagSeq: z.number(),
  /** Age of the oldest of those changes (0 when none). */
  lagSeconds: z.number(),
  lastHeartbeatMsAgo: z.number(),
  /** APIs it serves and refusals it keeps, as its last report said. */
  served: z.number(),
  refused: z.number(),
  /** complete: its report stream is whole; incomplete: a message was missed (until its next full snapshot); none: no report yet. */
  report: z.enum(["complete", "incomplete", "none"]),
});

export const fleetViewSchema = z.object({
  headSeq: z.number(),
  /** Gateways per state. */
  counts: z.record(z.string(), z.number()),
  gateways: z.array(fleetGatewaySchema),
});

export type FleetGateway = z.infer<typeof fleetGatewaySchema>;
export type FleetView = z.infer<typeof fleetViewSchema>;

function fleetState(g: GatewayHeartbeat, now: number): FleetState {
  const s = gatewayState(g, now);
  if (s !== "alive") return s;
  return g.status === "stale" || g.status === "starting" ? g.status : "ready";
}

function reportState(c: GatewayReportCursor | undefined): FleetGateway["report"] {
  return c === undefined ? "none" : c.complete ? "complete" : "incomplete";
}

/** Gateways per state, from the heartbeats alone (what /metrics exports as gwsync_fleet_gateways). */
export async function fleetCounts(
  store: ArtifactStore,
  now = Date.now(),
): Promise<Record<FleetState, number>> {
  const counts = Object.fromEntries(FLEET_STATES.map((s) => [s, 0])) as Record<FleetState, number>;
  for (const g of await store.listGateways()) counts[fleetState(g, now)]++;
  return counts;
}

/** Changelog rows looked at per gateway to tell its lag; beyond, the oldest one's age is the lag. */
const LAG_SCAN = 1000;

/**
 * How far behind a gateway is: the changes on its labels after its watermark (the applied seq of its
 * heartbeat, which moves at its catch-ups) that its reports do not show applied — served at that
 * revision or newer, or refused — and the age of the oldest. Without a complete report stream, every
 * change after the watermark counts. Its reports of the changed APIs are read in one query.
 */
async function lagOf(store: ArtifactStore, g: GatewayHeartbeat, trustReports: boolean): Promise<Lag> {
  if (g.labels.length === 0) return { seq: 0, oldest: undefined };
  const changes = await store.changesSince(g.appliedSeq, g.labels, LAG_SCAN);
  if (changes.length === 0) return { seq: 0, oldest: undefined };
  const reports = new Map<string, GatewayApiReport>();
  if (trustReports) {
    const apiIds = [...new Set(changes.map((c) => c.apiId))];
    for (const r of await store.listGatewayReports({ nodeId: g.nodeId, apiIds })) reports.set(r.apiId, r);
  }
  let seq = 0;
  let oldest: number | undefined;
  for (const ch of changes) {
    if (trustReports) {
      const r = reports.get(ch.apiId);
      const served = r?.served?.revision;
      const done =
        (served !== undefined && served >= ch.revision) ||
        (ch.instruction === "Remove" && served === undefined) ||
        (r?.refusal !== undefined && r.refusal.revision >= ch.revision);
      if (done) continue;
    }
    seq++;
    oldest ??= ch.createdAt;
  }
  if (changes.length === LAG_SCAN && oldest === undefined) oldest = changes[0]?.createdAt;
  return { seq, oldest };
}

/** A gateway's lag: changes not applied, and when the oldest of them was made (undefined: none). */
interface Lag {
  seq: number;
  oldest: number | undefined;
}

const lagSeconds = (lag: Lag, now: number) =>
  lag.oldest === undefined ? 0 : Math.max(0, Math.round((now - lag.oldest) / 100) / 10);

/**
 * Each gateway's lag as /fleet last computed it, with what it was computed from: the changelog's head,
 * the gateway's applied seq and labels, whether its report stream was complete, and the version of its
 * reports (bumped by the publisher each time one of its report messages is recorded). While none of
 * these moved, the store would give the same changes and the same reports, so the lag is reused: at
 * 1,000 gateways /fleet read every gateway's changes since its applied seq, and a lagging gateway's
 * reports of up to 1,000 changed APIs, on every refresh. Its age (lagSeconds) is computed per request.
 * The changelog only grows, gap-free (ArtifactStore), so an unchanged head means unchanged changes.
 */
export class FleetLagCache {
  readonly #versions = new Map<string, number>();
  readonly #lags = new Map<string, { key: string; lag: Lag }>();
  /** Counters for tests and the benchmark. */
  readonly stats = { computed: 0, reused: 0 };

  /** A report message of the gateway was recorded (its rows in the store changed). */
  noteReport(nodeId: string): void {
    this.#versions.set(nodeId, (this.#versions.get(nodeId) ?? 0) + 1);
  }

  /** A gateway forgotten (`gwsync status forget`): its reports are gone. */
  forget(nodeId: string): void {
    this.noteReport(nodeId);
    this.#lags.delete(nodeId);
  }

  async lag(store: ArtifactStore, g: GatewayHeartbeat, trustReports: boolean, head: number): Promise<Lag> {
    // The version before the reads: a report recorded while they run makes the next request read again.
    const key = JSON.stringify([
      head,
      g.appliedSeq,
      trustReports,
      this.#versions.get(g.nodeId) ?? 0,
      g.labels,
    ]);
    const kept = this.#lags.get(g.nodeId);
    if (kept !== undefined && kept.key === key) {
      this.stats.reused++;
      return kept.lag;
    }
    this.stats.computed++;
    const lag = await lagOf(store, g, trustReports);
    this.#lags.set(g.nodeId, { key, lag });
    return lag;
  }

  /** Drop what is kept of gateways no longer in the store's list. */
  retain(nodeIds: ReadonlySet<string>): void {
    for (const id of this.#lags.keys()) if (!nodeIds.has(id)) this.#lags.delete(id);
  }
}

/** With `lags` (the publisher's), each gateway's lag is reused while nothing it depends on changed. */
export async function fleetView(
  store: ArtifactStore,
  now = Date.now(),
  lags?: FleetLagCache,
): Promise<FleetView> {
  const head = await store.headSeq();
  const cursors = new Map((await store.listReportCursors()).map((c) => [c.nodeId, c]));
  const counts: Record<string, number> = Object.fromEntries(FLEET_STATES.map((s) => [s, 0]));
  const gateways: FleetGateway[] = [];
  const list = await store.listGateways();
  lags?.retain(new Set(list.map((g) => g.nodeId)));
  for (const g of list) {
    const state = fleetState(g, now);
    counts[state] = (counts[state] ?? 0) + 1;
    const c = cursors.get(g.nodeId);
    const trust = c?.complete === true;
    const lag = lags === undefined ? await lagOf(store, g, trust) : await lags.lag(store, g, trust, head);
    gateways.push({
      nodeId: g.nodeId,
      region: g.region,
      labels: g.labels,
      version: g.version,
      state,
      alive: state === "ready" || state === "stale" || state === "starting",
      appliedSeq: g.appliedSeq,
      lagSeq: lag.seq,
      lagSeconds: lagSeconds(lag, now),
      lastHeartbeatMsAgo: Math.max(0, now - g.lastSeen),
      served: c?.served ?? g.deployed,
      refused: c?.refused ?? 0,
      report: reportState(c),
    });
  }
  return { headSeq: head, counts, gateways };
}

export const ROLLOUT_STATUSES = ["deployed", "removed", "pending", "refused", "offline"] as const;

const revisionSchema = z.object({ revision: z.number(), sha256: z.string() });
const refusalSchema = z.object({
  revision: z.number(),
  code: z.string(),
  message: z.string(),
  at: z.number(),
});

export const rolloutGatewaySchema = z.object({
  nodeId: z.string(),
  region: z.string(),
  /** The gateway's labels this API is (or was) published to. */
  labels: z.array(z.string()),
  state: z.enum(FLEET_STATES),
  /**
   * deployed: serves the store's artifact; removed: serves nothing, as the store says; refused: refused
   * the store's revision (see refusal); pending: not there yet; offline: not there and not alive.
   */
  status: z.enum(ROLLOUT_STATUSES),
  /** What it should serve (the newest Publish among its labels); absent when the API is removed there. */
  expected: revisionSchema.optional(),
  served: revisionSchema.optional(),
  refusal: refusalSchema.optional(),
  /** False when the gateway's report stream missed a message: `pending` may be out of date. */
  reportComplete: z.boolean(),
});

export const rolloutSchema = z.object({
  apiId: z.string(),
  name: z.string(),
  version: z.string(),
  /** The store's row per label. */
  labels: z.array(
    z.object({
      label: z.string(),
      instruction: z.enum(["Publish", "Remove"]),
      revision: z.number(),
      sha256: z.string(),
      seq: z.number(),
      updatedAt: z.number(),
    }),
  ),
  gateways: z.array(rolloutGatewaySchema),
  /** Gateways per status. */
  counts: z.record(z.string(), z.number()),
  /** Every live gateway of the labels serves what the store says (deployed or removed). */
  complete: z.boolean(),
});

export type RolloutGateway = z.infer<typeof rolloutGatewaySchema>;
export type Rollout = z.infer<typeof rolloutSchema>;

/** The artifact a gateway with these labels serves: the newest Publish among them (the reconciler's rule). */
function expectedFor(
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

/** What rolloutStatus reads of a gateway's report of the API (the store's row; absent when none). */
export type ReportedState = { served?: { sha256: string }; refusal?: { revision: number; at: number } };

export function rolloutStatus(
  expected: StoredArtifact | undefined,
  removedAt: number,
  report: ReportedState | GatewayApiReport | undefined,
  alive: boolean,
): RolloutGateway["status"] {
  const served = report?.served;
  const refusal = report?.refusal;
  if (expected !== undefined && served?.sha256 === expected.sha256) return "deployed";
  if (expected === undefined && served === undefined) return "removed";
  // A refusal counts against this revision when it names it (or a newer one), or, with no revision
  // known, when it came after the store's change.
  const since = expected?.updatedAt ?? removedAt;
  const target = expected?.revision ?? 0;
  if (
    refusal !== undefined &&
    ((refusal.revision > 0 && refusal.revision >= target) || (refusal.revision === 0 && refusal.at >= since))
  )
    return "refused";
  return alive ? "pending" : "offline";
}

/** What every rollout of one request shares: the gateways and their report cursors, read once. */
interface FleetContext {
  gateways: GatewayHeartbeat[];
  cursors: Map<string, GatewayReportCursor>;
  now: number;
}

async function fleetContext(store: ArtifactStore, now: number): Promise<FleetContext> {
  const [gateways, cursors] = await Promise.all([store.listGateways(), store.listReportCursors()]);
  return { gateways, cursors: new Map(cursors.map((c) => [c.nodeId, c])), now };
}

function buildRollout(
  apiId: string,
  rows: readonly StoredArtifact[],
  reportList: readonly GatewayApiReport[],
  ctx: FleetContext,
): Rollout | undefined {
  const reports = new Map(reportList.map((r) => [r.nodeId, r]));
  if (rows.length === 0 && reports.size === 0) return undefined;
  const apiLabels = new Set(rows.map((r) => r.label));
  const removedAt = Math.max(0, ...rows.filter((r) => r.instruction === "Remove").map((r) => r.updatedAt));
  const counts: Record<string, number> = Object.fromEntries(ROLLOUT_STATUSES.map((s) => [s, 0]));
  const gateways: RolloutGateway[] = [];
  let complete = true;
  for (const g of ctx.gateways) {
    const mine = g.labels.filter((l) => apiLabels.has(l));
    const report = reports.get(g.nodeId);
    if (mine.length === 0 && report === undefined) continue;
    const state = fleetState(g, ctx.now);
    const alive = state === "ready" || state === "stale" || state === "starting";
    const expected = expectedFor(rows, new Set(mine));
    const status = rolloutStatus(expected, removedAt, report, alive);
    counts[status] = (counts[status] ?? 0) + 1;
    if (alive && status !== "deployed" && status !== "removed") complete = false;
    const entry: RolloutGateway = {
      nodeId: g.nodeId,
      region: g.region,
      labels: mine,
      state,
      status,
      reportComplete: ctx.cursors.get(g.nodeId)?.complete ?? false,
    };
    if (expected !== undefined) entry.expected = { revision: expected.revision, sha256: expected.sha256 };
    if (report?.served !== undefined) entry.served = report.served;
    if (report?.refusal !== undefined) entry.refusal = report.refusal;
    gateways.push(entry);
  }
  const first = rows[0];
  return {
    apiId,
    name: first?.name ?? "",
    version: first?.version ?? "",
    labels: rows.map((r) => ({
      label: r.label,
      instruction: r.instruction,
      revision: r.revision,
      sha256: r.sha256,
      seq: r.seq,
      updatedAt: r.updatedAt,
    })),
    gateways,
    counts,
    complete,
  };
}

/** Undefined when the store has never had the API and no gateway reports it. */
export async function rolloutView(
  store: ArtifactStore,
  apiId: string,
  now = Date.now(),
): Promise<Rollout | undefined> {
  const [rows, reports, ctx] = await Promise.all([
    store.listApiLabels(apiId),
    store.listGatewayReports({ apiId }),
    fleetContext(store, now),
  ]);
  return buildRollout(apiId, rows, reports, ctx);
}

export const rolloutSummarySchema = z.object({
  apiId: z.string(),
  name: z.string(),
  version: z.string(),
  /** Labels it is published to (Publish rows). */
  labels: z.array(z.string()),
  revision: z.number(),
  counts: z.record(z.string(), z.number()),
  complete: z.boolean(),
});

export const rolloutPageSchema = z.object({
  /** APIs matching the query (before paging). */
  total: z.number(),
  offset: z.number(),
  items: z.array(rolloutSummarySchema),
});

export type RolloutPage = z.infer<typeof rolloutPageSchema>;

/** The most APIs one page of GET /api/v1/rollouts carries. */
export const MAX_ROLLOUT_PAGE = 200;

/**
 * One page of published APIs (by name, version, id), each with its rollout counts: the status page's
 * API list. `q` keeps the APIs whose name, version or id contains it (case-insensitive); `problems`
 * only those whose rollout is not complete. With an `index` (the publisher's RolloutIndex), the list
 * the "not complete" judgement and the page's counts come from it (no report read); without (a local
 * `gwsync status`), every matching API's rollout is judged from the store (one indexed read each), and
 * only the page's items are built in full.
 */
export async function rolloutPage(
  store: ArtifactStore,
  o: { q?: string; offset?: number; limit?: number; problems?: boolean; index?: RolloutIndex },
  now = Date.now(),
): Promise<RolloutPage> {
  const q = o.q?.trim().toLowerCase() ?? "";
  const offset = Math.max(0, o.offset ?? 0);
  const limit = Math.min(Math.max(1, o.limit ?? 50), MAX_ROLLOUT_PAGE);
  const ctx = await fleetContext(store, now);
  const matches = (r: StoredArtifact) =>
    q === "" ||
    r.name.toLowerCase().includes(q) ||
    r.version.toLowerCase().includes(q) ||
    r.apiId.toLowerCase().includes(q);
  const summarize = (rows: readonly StoredArtifact[], reports: readonly GatewayApiReport[]) => {
    const apiId = rows[0]!.apiId;
    const r = buildRollout(apiId, rows, reports, ctx)!;
    return {
      apiId,
      name: r.name,
      version: r.version,
      labels: rows.filter((x) => x.instruction === "Publish").map((x) => x.label),
      revision: Math.max(...rows.map((x) => x.revision)),
      counts: r.counts,
      complete: r.complete,
    };
  };
  /** The page's APIs, their reports read in one query. */
  const summarizeAll = async (page: readonly (readonly StoredArtifact[])[]) => {
    const byApi = new Map<string, GatewayApiReport[]>();
    const apiIds = page.map((rows) => rows[0]!.apiId);
    for (const r of apiIds.length === 0 ? [] : await store.listGatewayReports({ apiIds })) {
      const list = byApi.get(r.apiId);
      if (list === undefined) byApi.set(r.apiId, [r]);
      else list.push(r);
    }
    return page.map((rows) => summarize(rows, byApi.get(rows[0]!.apiId) ?? []));
  };
  if (o.index !== undefined) {
    const { list, complete, summary } = await o.index.apis(ctx.gateways, now);
    const apis = list.filter((a) => matches(a.rows[0]!) && (!o.problems || !complete(a.apiId)));
    // Counts from the index's kept statuses: no report read (test/unit/rollout-index.test.ts checks
    // they are buildRollout's).
    return {
      total: apis.length,
      offset,
      items: apis.slice(offset, offset + limit).map(({ apiId, rows }) => ({
        apiId,
        name: rows[0]!.name,
        version: rows[0]!.version,
        labels: rows.filter((x) => x.instruction === "Publish").map((x) => x.label),
        revision: Math.max(...rows.map((x) => x.revision)),
        ...summary(apiId),
      })),
    };
  }
  const byApi = new Map<string, StoredArtifact[]>();
  for (const r of await store.listArtifacts({ includeRemoved: true })) {
    const list = byApi.get(r.apiId);
    if (list === undefined) byApi.set(r.apiId, [r]);
    else list.push(r);
  }
  const apis = [...byApi.values()].filter(
    (rows) => rows.some((r) => r.instruction === "Publish") && matches(rows[0]!),
  );
  const key = (rows: StoredArtifact[]) => `${rows[0]!.name}\u0000${rows[0]!.version}\u0000${rows[0]!.apiId}`;
  apis.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  if (o.problems) {
    const all = [];
    for (const rows of apis) {
      const s = summarize(rows, await store.listGatewayReports({ apiId: rows[0]!.apiId }));
      if (!s.complete) all.push(s);
    }
    return { total: all.length, offset, items: all.slice(offset, offset + limit) };
  }
  return { total: apis.length, offset, items: await summarizeAll(apis.slice(offset, offset + limit)) };
}

export const refusalRowSchema = z.object({
  nodeId: z.string(),
  apiId: z.string(),
  name: z.string(),
  version: z.string(),
  refusal: refusalSchema,
  /** The refusal holds the API back on that gateway now (the store's revision, not served). */
  current: z.boolean(),
});

export type RefusalRow = z.infer<typeof refusalRowSchema>;

/** The newest refusals the gateways reported (at most `limit`), each judged against the store now. */
export async function refusalList(
  store: ArtifactStore,
  limit = 200,
  now = Date.now(),
): Promise<RefusalRow[]> {
  const reports = await store.listGatewayReports({ refused: true, limit });
  const ctx = await fleetContext(store, now);
  const gateways = new Map(ctx.gateways.map((g) => [g.nodeId, g]));
  const rowsOf = new Map<string, StoredArtifact[]>();
  const out: RefusalRow[] = [];
  for (const rep of reports) {
    let rows = rowsOf.get(rep.apiId);
    if (rows === undefined) {
      rows = await store.listApiLabels(rep.apiId);
      rowsOf.set(rep.apiId, rows);
    }
    const g = gateways.get(rep.nodeId);
    const expected = g === undefined ? undefined : expectedFor(rows, new Set(g.labels));
    const removedAt = Math.max(0, ...rows.filter((r) => r.instruction === "Remove").map((r) => r.updatedAt));
    const alive = g !== undefined && gatewayState(g, now) === "alive";
    out.push({
      nodeId: rep.nodeId,
      apiId: rep.apiId,
      name: rows[0]?.name ?? "",
      version: rows[0]?.version ?? "",
      refusal: rep.refusal!,
      current: rolloutStatus(expected, removedAt, rep, alive) === "refused",
    });
  }
  return out;
}
