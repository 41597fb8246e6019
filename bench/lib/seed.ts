import { setImmediate as tick } from "node:timers/promises";
import { synapseApi } from "../../test/harness/cluster.js";
import type { PublisherService } from "../../src/publisher/service.js";
import { LABEL } from "./world.js";

export const API_SIZE_BYTES = 5000;
/** Let the outbox dispatcher and I/O run between synchronous deployApi calls. */
const YIELD_EVERY = 100;
const DRAIN_POLL_MS = 20;
const DRAIN_TIMEOUT_MS = 600_000;

export function apiName(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(6, "0")}`;
}

/**
 * Publish `count` 5 KB APIs (names prefix000000...) through the plugin hook; returns apiId → sha256
 * of what the store now holds.
 */
export async function publishApis(
  svc: PublisherService,
  o: { count: number; prefix?: string; revision?: number; log?: (m: string) => void },
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const prefix = o.prefix ?? "Api";
  for (let i = 0; i < o.count; i++) {
    const xml = synapseApi({ name: apiName(prefix, i), revision: o.revision ?? 1, size: API_SIZE_BYTES });
    const r = await svc.publisher.deployApi(xml, [LABEL]);
    out.set(r.apiId, r.sha256);
    if ((i + 1) % YIELD_EVERY === 0) await tick();
    if (o.log && (i + 1) % 20_000 === 0) o.log(`published ${i + 1}/${o.count}`);
  }
  return out;
}

/** Wait until the outbox is empty (every event confirmed by the broker). */
export async function drainOutbox(svc: PublisherService): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  while ((await svc.publisher.store.outboxDepth()) > 0) {
    if (Date.now() > deadline)
      throw new Error(`outbox still holds ${await svc.publisher.store.outboxDepth()} events`);
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  }
}
