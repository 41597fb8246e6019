import { z } from "zod";
import type { ArtifactStore, GatewayApiReport, GatewayHeartbeat, GatewayReportCursor, StoredArtifact } from "../store/types.js";
import { gatewayState } from "./fleet-status.js";

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
  /** Changelog head minus applied seq. */
  lagSeq: z.number(),
  /** Age of the oldest change on its labels it has not applied yet (0 when none). */
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
export async function fleetCounts(store: ArtifactStore, now = Date.now()): Promise<Record<FleetState, number>> {
  const counts = Object.fromEntries(FLEET_STATES.map((s) => [s, 0])) as Record<FleetState, number>;
  for (const g of await store.listGateways()) counts[fleetState(g, now)]++;
  return counts;
}

export async function fleetView(store: ArtifactStore, now = Date.now()): Promise<FleetView> {
  const head = await store.headSeq();
  const cursors = new Map((await store.listReportCursors()).map((c) => [c.nodeId, c]));
  const counts: Record<string, number> = Object.fromEntries(FLEET_STATES.map((s) => [s, 0]));
  const gateways: FleetGateway[] = [];
  for (const g of await store.listGateways()) {
    const state = fleetState(g, now);
    counts[state] = (counts[state] ?? 0) + 1;
    let lagSeconds = 0;
    if (head > g.appliedSeq && g.labels.length > 0) {
      const [oldest] = await store.changesSince(g.appliedSeq, g.labels, 1);
      if (oldest !== undefined) lagSeconds = Math.max(0, Math.round((now - oldest.createdAt) / 100) / 10);
    }
    const c = cursors.get(g.nodeId);
    gateways.push({
      nodeId: g.nodeId,
      region: g.region,
      labels: g.labels,
      version: g.version,
      state,
      alive: state === "ready" || state === "stale" || state === "starting",
      appliedSeq: g.appliedSeq,
      lagSeq: Math.max(0, head - g.appliedSeq),
      lagSeconds,
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
const refusalSchema = z.object({ revision: z.number(), code: z.string(), message: z.string(), at: z.number() });

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
function expectedFor(rows: readonly StoredArtifact[], labels: ReadonlySet<string>): StoredArtifact | undefined {
  let best: StoredArtifact | undefined;
  for (const r of rows) {
    if (r.instruction !== "Publish" || !labels.has(r.label)) continue;
    if (best === undefined || r.revision > best.revision) best = r;
  }
  return best;
}

export function rolloutStatus(
  expected: StoredArtifact | undefined,
  removedAt: number,
  report: GatewayApiReport | undefined,
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

/** Undefined when the store has never had the API and no gateway reports it. */
export async function rolloutView(store: ArtifactStore, apiId: string, now = Date.now()): Promise<Rollout | undefined> {
  const rows = await store.listApiLabels(apiId);
  const reports = new Map((await store.listGatewayReports({ apiId })).map((r) => [r.nodeId, r]));
  if (rows.length === 0 && reports.size === 0) return undefined;
  const apiLabels = new Set(rows.map((r) => r.label));
  const cursors = new Map((await store.listReportCursors()).map((c) => [c.nodeId, c]));
  const removedAt = Math.max(0, ...rows.filter((r) => r.instruction === "Remove").map((r) => r.updatedAt));
  const counts: Record<string, number> = Object.fromEntries(ROLLOUT_STATUSES.map((s) => [s, 0]));
  const gateways: RolloutGateway[] = [];
  let complete = true;
  for (const g of await store.listGateways()) {
    const mine = g.labels.filter((l) => apiLabels.has(l));
    const report = reports.get(g.nodeId);
    if (mine.length === 0 && report === undefined) continue;
    const state = fleetState(g, now);
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
      reportComplete: cursors.get(g.nodeId)?.complete ?? false,
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
