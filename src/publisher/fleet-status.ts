import { z } from "zod";
import { replicationStatus, replicationStatusSchema } from "../replication/status.js";
import { maskUrl } from "../security/secrets.js";
import type { ArtifactStore, GatewayHeartbeat } from "../store/types.js";

/**
 * What `gwsync status` shows and `GET /api/v1/status` answers: the store (APIs per label, head
 * sequence, outbox) and every gateway heard from. One builder for the REST and the local form, so
 * both say the same; each part is its own field, so a later part (per-API rollout) is one more field.
 */

/** A gateway silent for this many of its own heartbeat intervals is missing (one lost beat is not a death). */
export const MISSING_AFTER_INTERVALS = 3;

/** alive: beating; stopped: its last beat said so (clean shutdown); missing: silent too long. */
export type GatewayState = "alive" | "stopped" | "missing";

export const gatewayStatusSchema = z.object({
  nodeId: z.string(),
  region: z.string(),
  labels: z.array(z.string()),
  state: z.enum(["alive", "stopped", "missing"]),
  /** What the gateway itself last reported: starting, ready, stale or stopped. */
  status: z.string(),
  /** state === "alive" (kept for scripts written before `state`). */
  alive: z.boolean(),
  appliedSeq: z.number(),
  lag: z.number(),
  deployed: z.number(),
  version: z.string(),
  lastHeartbeatMsAgo: z.number(),
  intervalMs: z.number(),
});

export const fleetStatusSchema = z.object({
  /** Where the store is (a file, or a database URL with its password masked). */
  store: z.string(),
  headSeq: z.number(),
  outboxDepth: z.number(),
  /** Published APIs per label. */
  labels: z.record(z.string(), z.number()),
  gateways: z.array(gatewayStatusSchema),
  /** Replication agreements this publisher is party to, with their lag (src/replication/status.ts). */
  replication: z.array(replicationStatusSchema).default([]),
});

export type GatewayStatus = z.infer<typeof gatewayStatusSchema>;
export type FleetStatus = z.infer<typeof fleetStatusSchema>;

export function gatewayState(g: GatewayHeartbeat, now: number): GatewayState {
  if (g.status === "stopped") return "stopped";
  return now - g.lastSeen <= g.intervalMs * MISSING_AFTER_INTERVALS ? "alive" : "missing";
}

export async function fleetStatus(store: ArtifactStore, now = Date.now()): Promise<FleetStatus> {
  const perLabel = new Map<string, number>();
  for (const r of await store.listArtifacts()) perLabel.set(r.label, (perLabel.get(r.label) ?? 0) + 1);
  const head = await store.headSeq();
  const gateways = (await store.listGateways()).map((g): GatewayStatus => {
    const state = gatewayState(g, now);
    return {
      nodeId: g.nodeId,
      region: g.region,
      labels: g.labels,
      state,
      status: g.status,
      alive: state === "alive",
      appliedSeq: g.appliedSeq,
      lag: Math.max(0, head - g.appliedSeq),
      deployed: g.deployed,
      version: g.version,
      lastHeartbeatMsAgo: Math.max(0, now - g.lastSeen),
      intervalMs: g.intervalMs,
    };
  });
  return {
    store: maskUrl(store.location),
    headSeq: head,
    outboxDepth: await store.outboxDepth(),
    labels: Object.fromEntries([...perLabel].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    gateways,
    replication: await replicationStatus(store, now),
  };
}
