/**
 * What signed artifacts cost per artifact, against what every artifact already costs in the same run:
 * the sha256 of its JSON and the XML checks of validateDto (both done on every publish and every
 * deploy). `node --import tsx bench/signing-cost.ts [iterations]`. End to end, `GWSYNC_BENCH_SIGNED=1
 * npm run bench -- B1 B3 B4` runs the benchmarks with signing on (BENCHMARKS.md).
 */
import { performance } from "node:perf_hooks";
import { sha256Hex, validateDto } from "../src/artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../src/artifacts/types.js";
import { type ArtifactClaims, ArtifactSigner, generateSigningKeyPair, TrustedKeys } from "../src/security/signing.js";
import { synapseApi } from "../test/harness/cluster.js";

const N = Number(process.argv[2] ?? 20_000);
const pair = generateSigningKeyPair();
const signer = new ArtifactSigner(pair.privateKeyPem);
const keys = new TrustedKeys([{ pem: pair.publicKeyPem, what: "bench" }]);
const dto: GatewayApiDto = {
  name: "Bench",
  version: "1.0.0",
  provider: "admin",
  tenantDomain: "carbon.super",
  apiId: "0b7d5c1e-5f4a-4c1b-9d2e-3a4b5c6d7e8f",
  apiDefinition: synapseApi({ name: "Bench", size: 5 * 1024 }),
};
const json = JSON.stringify(dto);
const claims = (i: number): ArtifactClaims => ({
  action: "deploy",
  apiId: dto.apiId,
  tenant: dto.tenantDomain,
  labels: ["Production and Sandbox"],
  revision: i,
  sha256: sha256Hex(json),
  seq: i,
  region: "bench",
});

function perOp(name: string, fn: (i: number) => unknown): { name: string; us: number } {
  for (let i = 0; i < 1000; i++) fn(i); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < N; i++) fn(i);
  return { name, us: ((performance.now() - t0) * 1000) / N };
}

const tokens = Array.from({ length: 64 }, (_, i) => signer.sign(claims(i)));
const rows = [
  perOp("sha256 of the 5 KB artifact JSON (baseline, every artifact)", () => sha256Hex(json)),
  perOp("validateDto of a fresh 5 KB DTO (baseline, every artifact)", () => validateDto({ ...dto })),
  perOp("sign (publisher, per DEPLOY/REMOVE and per served artifact)", (i) => signer.sign(claims(i))),
  perOp("verify (gateway, per event and per fetched artifact)", (i) => keys.verify(tokens[i % tokens.length])),
];
const base = rows[0]!.us;
process.stdout.write(`signing cost per artifact, ${N} iterations each (node ${process.version})\n`);
for (const r of rows) process.stdout.write(`  ${r.name.padEnd(64)} ${r.us.toFixed(1).padStart(7)} µs  (${(r.us / base).toFixed(1)}× sha256)\n`);
