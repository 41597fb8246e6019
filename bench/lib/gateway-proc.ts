/**
 * A gwsync gateway in its own process, for the benchmarks: `node gateway-proc.mjs <config.toml>`.
 * It starts on "start", and reports over IPC what the parent measures: when it was ready, each apply
 * (with its timestamp, when asked), when it converged on an expected set of sha256, how many runtime
 * events it applied. Timestamps come from this process's clock (performance.timeOrigin + now()).
 */
import { readFileSync } from "node:fs";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";
import { loadConfig } from "../../src/config/load-config.js";
import { Gateway } from "../../src/gateway/gateway.js";
import { type IpcMessage, send, serve } from "./child-ipc.js";
import { nowMs } from "./clock.js";

const configFile = process.argv[2];
if (!configFile) throw new Error("usage: gateway-proc <config.toml>");
const { config } = loadConfig({ text: readFileSync(configFile, "utf8"), role: "gateway", env: {} });

let gateway: Gateway | undefined;
let reportEach = false;
/** apiId → sha256 the parent expects; undefined until "expect". */
let expected: Map<string, string> | undefined;
const matched = new Set<string>();
let convergedSent = false;
let lastChangeT = 0;
let firstChangeT = 0;
let changes = 0;
let runtimeTarget = Number.POSITIVE_INFINITY;
let runtimeCount = 0;
let firstRuntimeT = 0;

function check(apiId: string): void {
  if (!expected || !gateway) return;
  const want = expected.get(apiId);
  if (want === undefined) return;
  if (gateway.deployer.get(apiId)?.sha256 === want) matched.add(apiId);
  else matched.delete(apiId);
}

function maybeConverged(): void {
  if (!expected || convergedSent || matched.size !== expected.size) return;
  convergedSent = true;
  send({
    type: "converged",
    t: lastChangeT,
    detectedAt: nowMs(),
    changes,
    firstChangeT,
    matched: matched.size,
  });
}

function attach(gw: Gateway): void {
  gw.events.on("applied", (outcome: string, apiId: string) => {
    const t = nowMs();
    if (outcome === "deployed" || outcome === "removed") {
      if (changes === 0) firstChangeT = t;
      changes++;
      lastChangeT = t;
    }
    if (reportEach && outcome === "deployed")
      send({ type: "applied", apiId, outcome, sha256: gw.deployer.get(apiId)?.sha256, t });
    if (expected) {
      check(apiId);
      maybeConverged();
    }
  });
  gw.events.on("runtime", (_stream: string, result: string) => {
    if (result !== "applied") return;
    const t = nowMs();
    if (runtimeCount === 0) firstRuntimeT = t;
    runtimeCount++;
    if (runtimeCount === runtimeTarget)
      send({ type: "runtime-done", t, firstT: firstRuntimeT, count: runtimeCount });
  });
  gw.events.on("rejected", (stream: string, reason: string) => send({ type: "rejected", stream, reason }));
}

async function handle(m: IpcMessage): Promise<void> {
  switch (m.type) {
    case "start": {
      reportEach = m.reportEach === true;
      const gw = new Gateway({ config });
      gateway = gw;
      attach(gw);
      const t0 = nowMs();
      await gw.start();
      const t = nowMs();
      send({ type: "ready", t0, t, startup: gw.startup, deployed: gw.deployer.deployed().length });
      if (expected) {
        for (const id of expected.keys()) check(id);
        maybeConverged();
      }
      return;
    }
    case "expect": {
      expected = new Map(m.entries as [string, string][]);
      matched.clear();
      convergedSent = false;
      if (gateway) {
        for (const id of expected.keys()) check(id);
        maybeConverged();
      }
      return;
    }
    case "report-each":
      reportEach = m.on === true;
      return;
    case "runtime-target":
      runtimeTarget = m.count as number;
      if (runtimeCount >= runtimeTarget)
        send({ type: "runtime-done", t: nowMs(), firstT: firstRuntimeT, count: runtimeCount });
      return;
    case "stats": {
      if (m.gc && typeof globalThis.gc === "function") {
        globalThis.gc();
        globalThis.gc();
      }
      const mem = process.memoryUsage();
      send({
        type: "stats",
        deployed: gateway?.deployer.deployed().length ?? 0,
        startup: gateway?.startup,
        changes,
        runtimeCount,
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        // Committed vs used per V8 space: says whether RSS is live objects or heap kept after garbage.
        heapSpaces: Object.fromEntries(
          getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]),
        ),
        external: mem.external,
        arrayBuffers: mem.arrayBuffers,
        rss: mem.rss,
      });
      return;
    }
    case "heap-snapshot": {
      if (typeof globalThis.gc === "function") globalThis.gc();
      send({ type: "heap-snapshot", file: writeHeapSnapshot(m.file as string) });
      return;
    }
    case "stop": {
      await gateway?.close();
      send({ type: "stopped" });
      process.exit(0);
    }
  }
}

serve(handle);
