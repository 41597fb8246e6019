import { channel } from "node:diagnostics_channel";
import { performance } from "node:perf_hooks";

/**
 * Timestamps of the hops an artifact takes (docs/architecture.md#hops): published on the
 * `gwsync:hop` diagnostics channel, so they cost one boolean check when nobody listens, and a
 * profiler (the benchmarks' child processes, or an operator's `diagnostics_channel.subscribe`) sees
 * where a publish spends its time without a log line per event.
 */
export type Hop =
  // publisher, in the order one publish passes them
  | "publisher.received"
  | "publisher.validated"
  | "publisher.committed"
  | "publisher.answered"
  | "outbox.claimed"
  | "outbox.published"
  | "outbox.confirmed"
  | "data-api.served"
  // gateway
  | "gateway.delivered"
  | "gateway.fetched"
  | "gateway.staged"
  | "gateway.written"
  | "gateway.acked";

export interface HopRecord {
  hop: Hop;
  /** performance.timeOrigin + performance.now(): this process's clock, in ms. */
  t: number;
  /** What the hop is about where known (an API id, a sha256, an outbox row count). */
  key?: string;
}

export const HOP_CHANNEL = "gwsync:hop";
const hops = channel(HOP_CHANNEL);

/** Records that `hop` happened now (a no-op unless someone subscribed to HOP_CHANNEL). */
export function hop(name: Hop, key?: string): void {
  if (!hops.hasSubscribers) return;
  const record: HopRecord = { hop: name, t: performance.timeOrigin + performance.now() };
  if (key !== undefined) record.key = key;
  hops.publish(record);
}
