/**
 * What the publisher spends turning a published 5 KB synapse API (REST `POST /api/v1/artifacts` with
 * application/xml, `gwsync publish file.xml`, the watched folder) into a validated GatewayAPIDTO:
 * toGatewayApiDto against its own floor, one checkXml of the same document (the scan every publish
 * needs once), interleaved document by document in one process. Each document is new (another
 * revision), as in B1 and B12. `node --import tsx bench/publish-input-cost.ts [documents]`
 */
import { checkXml } from "../src/artifacts/xml.js";
import { toGatewayApiDto } from "../src/publisher/artifact-input.js";
import { synapseApi } from "../test/harness/cluster.js";

const N = Number(process.argv[2] ?? 4_000);
const docs = Array.from({ length: N }, (_, i) =>
  synapseApi({ name: "B1Api", revision: i + 1, size: 5 * 1024 }),
);
const input: number[] = [];
const scan: number[] = [];
for (let i = 0; i < N; i++) {
  const doc = docs[i]!;
  const order = i % 2 === 0 ? ["input", "scan"] : ["scan", "input"];
  for (const which of order) {
    const t = performance.now();
    if (which === "input") toGatewayApiDto(doc);
    else checkXml(doc, "api");
    (which === "input" ? input : scan).push((performance.now() - t) * 1000);
  }
}
// The first quarter warms V8 up; the figures are over the rest.
const steady = (a: number[]) => a.slice(Math.floor(N / 4)).sort((x, y) => x - y);
const p50 = (a: number[]) => a[Math.floor((a.length - 1) / 2)]!;
const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
const [i, s] = [steady(input), steady(scan)];
console.log(
  `${N} documents of ${docs[0]!.length} chars (steady state, last ${i.length}): toGatewayApiDto mean ${mean(i).toFixed(1)} µs, p50 ${p50(i).toFixed(1)} µs; one checkXml mean ${mean(s).toFixed(1)} µs, p50 ${p50(s).toFixed(1)} µs; ratio ${(mean(i) / mean(s)).toFixed(2)}×`,
);
