import { z } from "zod";
import type { ArtifactStore } from "../store/types.js";
import { fromRecord, pullerView } from "./agreement.js";

/** One agreement as `gwsync status` shows it, on either side. */
export const replicationStatusSchema = z.object({
  identifier: z.string(),
  replicaType: z.enum(["CONSUMER", "SUPPLIER"]),
  state: z.string(),
  reason: z.string().optional(),
  enabled: z.boolean(),
  /** The other data center: the master's region on a clone, the clone's on a master. */
  peerRegion: z.string(),
  labels: z.array(z.string()),
  lastSequenceNumber: z.number(),
  /** Master changelog sequences the clone has not applied (clone) or not pulled (master). */
  lagSequence: z.number(),
  /** Age of the oldest of them, seconds (0 when caught up). */
  lagSeconds: z.number(),
  /** A clone agreement: the publisher node that pulls it (several nodes on one store), since when. */
  puller: z.object({ nodeId: z.string(), since: z.string(), url: z.string().optional() }).optional(),
});
export type ReplicationStatus = z.infer<typeof replicationStatusSchema>;

/**
 * The replication part of `gwsync status`, read from the store alone (so `--local` shows it too): a
 * clone's lag as its last pull saw the master, a master's lag as its changelog shows what the clone has
 * not pulled yet.
 */
export async function replicationStatus(
  store: ArtifactStore,
  now = Date.now(),
): Promise<ReplicationStatus[]> {
  const out: ReplicationStatus[] = [];
  const head = await store.headSeq();
  for (const record of await store.listAgreements()) {
    const a = fromRecord(record);
    let lagSequence: number;
    let lagSeconds: number;
    let peerRegion: string;
    if (a.type === "consumer") {
      peerRegion = a.master.region;
      lagSequence = Math.max(0, a.masterHead - a.lastSequenceNumber);
      lagSeconds =
        lagSequence > 0 && a.pendingSince !== undefined ? Math.max(0, (now - a.pendingSince) / 1000) : 0;
    } else {
      peerRegion = a.cloneRegion;
      const first = (await store.changesSince(a.lastSequenceNumber, a.labels, 1))[0];
      lagSequence = first === undefined ? 0 : Math.max(1, head - a.lastSequenceNumber);
      lagSeconds = first === undefined ? 0 : Math.max(0, (now - first.createdAt) / 1000);
    }
    out.push({
      identifier: a.id,
      replicaType: a.type === "consumer" ? "CONSUMER" : "SUPPLIER",
      state: a.state,
      ...(a.reason === undefined ? {} : { reason: a.reason }),
      enabled: a.enabled,
      peerRegion,
      labels: a.labels,
      lastSequenceNumber: a.lastSequenceNumber,
      lagSequence,
      lagSeconds,
      ...(a.type === "consumer" && a.enabled && a.puller !== undefined ? { puller: pullerView(a.puller) } : {}),
    });
  }
  return out;
}
