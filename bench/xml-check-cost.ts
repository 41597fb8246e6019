/**
 * What checkXml costs per 5 KB API (B1's artifact: every publish and every gateway's deploy run it),
 * with its fast path (src/artifacts/xml-fast.ts) against saxes alone, interleaved document by document
 * in one process so the machine's load falls on both alike. Each document is new (another revision),
 * as in B1, where a gateway checks one document per update between other work.
 * `node --import tsx bench/xml-check-cost.ts [documents]`; `node --max-opt=1 ...` runs it as code
 * that never reaches V8's optimizing tier.
 */
import { performance } from "node:perf_hooks";
import { checkXml, readXmlRootWithChildren } from "../src/artifacts/xml.js";
import { synapseApi } from "../test/harness/cluster.js";

const N = Number(process.argv[2] ?? 2_000);
const docs = Array.from({ length: N }, (_, i) =>
  synapseApi({ name: "B1Api", revision: i + 1, size: 5 * 1024 }),
);
const fast: number[] = [];
const saxes: number[] = [];
for (let i = 0; i < N; i++) {
  const doc = docs[i]!;
  // Alternate which goes first, so neither always runs on a warmer cache.
  const order = i % 2 === 0 ? ["fast", "saxes"] : ["saxes", "fast"];
  for (const which of order) {
    const t = performance.now();
    // readXmlRootWithChildren always reads with saxes (the fast path answers checkXml and readXmlRoot only).
    if (which === "fast") checkXml(doc, "api");
    else readXmlRootWithChildren(doc, "api");
    (which === "fast" ? fast : saxes).push((performance.now() - t) * 1000);
  }
}
const pct = (a: number[], p: number) => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) * p)]!;
const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
for (const [name, a] of [
  ["checkXml (fast path)", fast],
  ["saxes", saxes],
] as const) {
  const first = a.slice(0, 100);
  console.log(
    `${name.padEnd(22)} µs per ${docs[0]!.length}-char API: mean ${mean(a).toFixed(1)}, p50 ${pct(a, 0.5).toFixed(1)}, p99 ${pct(a, 0.99).toFixed(1)}; first 100: mean ${mean(first).toFixed(1)}`,
  );
}
console.log(`fast ÷ saxes, mean: ${(mean(fast) / mean(saxes)).toFixed(2)}`);
