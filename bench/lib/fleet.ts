/**
 * A fleet of gateways for B8–B10: `n` full gwsync gateways spread over a few processes
 * (bench/lib/fleet-proc.ts), each with its own node id, AMQP connection and durable queues, as in
 * production; and the same number of raw amqplib consumers for the baselines.
 */
import { gatewayQueueNames } from "../../src/amqp/topology.js";
import { type BenchChild, spawnChild } from "./children.js";
import { nowMs } from "./clock.js";
import type { BenchWorld } from "./world.js";

/** Gateways per process at most; 4 processes of 250 hold 1,000. */
export const GATEWAYS_PER_PROCESS = 250;
/** At least this many processes (when there are gateways enough), so both cores work. */
const MIN_PROCESSES = 4;
/** Starting 1,000 gateways on a loaded 2-core machine takes minutes. */
export const FLEET_START_TIMEOUT_MS = 20 * 60_000;

export function processCount(n: number): number {
  return Math.max(Math.min(MIN_PROCESSES, n), Math.ceil(n / GATEWAYS_PER_PROCESS));
}

/** Split 0..n-1 into `parts` nearly equal slices. */
export function slices(n: number, parts: number): number[][] {
  const out: number[][] = Array.from({ length: parts }, () => []);
  for (let i = 0; i < n; i++) out[i % parts]!.push(i);
  return out;
}

export const fleetName = (i: number) => `fl${String(i).padStart(4, "0")}`;

/**
 * Start `n` gateways (memory-only deployer, sync startup) in `processCount(n)` processes; resolves when
 * all are ready, with the processes (clock offsets measured) and how long the start took.
 */
export async function startFleet(
  world: BenchWorld,
  n: number,
  extraToml = "",
): Promise<{ procs: BenchChild[]; startMs: number }> {
  const parts = slices(n, processCount(n));
  const procs: BenchChild[] = [];
  for (let p = 0; p < parts.length; p++) {
    const name = `fleet${p}`;
    const child = await spawnChild(name, "fleet-proc", []);
    world.children.set(name, child);
    procs.push(child);
  }
  for (const c of procs) await c.measureClockOffset();
  const t0 = nowMs();
  await Promise.all(
    procs.map((c, p) => {
      const configs = parts[p]!.map((i) => {
        const name = fleetName(i);
        for (const q of Object.values(gatewayQueueNames(world.gatewayNodeId(name)))) world.queues.add(q);
        return world.gatewayToml({ name, saveLocally: false }) + extraToml;
      });
      return c.request({ type: "start", configs }, "ready", FLEET_START_TIMEOUT_MS);
    }),
  );
  return { procs, startMs: nowMs() - t0 };
}

/** `n` raw consumers over a few processes, on `queues` (one per consumer, or one stream for all). */
export async function startRawFleet(
  world: BenchWorld,
  queues: string[],
  o: { stream: boolean; prefetch: number },
): Promise<BenchChild[]> {
  const parts = slices(queues.length, processCount(queues.length));
  const procs: BenchChild[] = [];
  for (let p = 0; p < parts.length; p++) {
    const name = `raw${o.stream ? "s" : "q"}${p}`;
    const child = await spawnChild(name, "fleet-proc", []);
    world.children.set(name, child);
    procs.push(child);
  }
  for (const c of procs) await c.measureClockOffset();
  await Promise.all(
    procs.map((c, p) =>
      c.request(
        {
          type: "start-raw",
          url: world.brokerUrl,
          queues: parts[p]!.map((i) => queues[i]!),
          stream: o.stream,
          prefetch: o.prefetch,
        },
        "consuming",
        FLEET_START_TIMEOUT_MS,
      ),
    ),
  );
  return procs;
}

/** Stop the fleet processes (gateways closed gracefully) and forget them. */
export async function stopFleet(world: BenchWorld, procs: BenchChild[]): Promise<void> {
  await Promise.all(procs.map((c) => c.stop(60_000).catch(() => c.kill())));
  for (const c of procs) world.children.delete(c.name);
}

export interface RestPublish {
  sha256: string;
  apiId: string;
  /** How long the REST call took, ms. */
  ms: number;
}

/** REST publishes sent a second time after "fetch failed" (see restPublisher). */
export let restRetries = 0;

/** POST /api/v1/artifacts to the publisher process, as B1's REST path (keep-alive, another process). */
export function restPublisher(world: BenchWorld, label: string): (xml: string) => Promise<RestPublish> {
  const url = world.publisherUrl;
  if (url === undefined) throw new Error("start the publisher process first");
  const target = `${url}/api/v1/artifacts?label=${encodeURIComponent(label)}`;
  const headers = { authorization: world.authorization, "content-type": "application/xml" };
  return async (xml) => {
    const t0 = nowMs();
    // A keep-alive socket the server closed while idle (seconds between publishes at 1,000 gateways)
    // fails the next call before any byte is answered ("fetch failed"): send it again, once, timed as
    // one call. Publishing the same artifact twice is one change (same sha256).
    const res = await fetch(target, { method: "POST", body: xml, headers }).catch((err: unknown) => {
      if ((err as Error).message !== "fetch failed") throw err;
      restRetries++;
      return fetch(target, { method: "POST", body: xml, headers });
    });
    const body = (await res.json()) as { sha256?: string; apiId?: string; message?: string };
    const ms = nowMs() - t0;
    if (!res.ok || typeof body.sha256 !== "string") {
      throw new Error(`POST /api/v1/artifacts answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
    }
    return { sha256: body.sha256, apiId: String(body.apiId), ms };
  };
}
