/**
 * What a single deploy and a deploy-state flush cost alone, on the file system of os.tmpdir() (where
 * the benchmarks' gateways deploy): a FileDeployer deploys B1's 5 KB API N times, each deploy
 * followed by flush() (the folder fsync and the atomic state-file write its timer would make), and
 * prints the mean CPU of this process (thread pool included) and wall time of each (issue 19,
 * BENCHMARKS.md "the gateway's CPU per update, third pass").
 * Usage: node --import tsx bench/deploy-flush-cost.ts [N=200]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dtoFromSynapseXml, sha256Hex } from "../src/artifacts/gateway-api-dto.js";
import { FileDeployer } from "../src/gateway/deploy/file-deployer.js";
import { synapseApi } from "../test/harness/cluster.js";

const WARMUP = 20;
const n = Number(process.argv[2] ?? 200);
const root = mkdtempSync(join(tmpdir(), "gwsync-flush-cost-"));
const deployer = new FileDeployer({ deploymentDir: join(root, "deploy"), stateWriteDelayMs: 1e9 });
await deployer.load();
const cpuSince = (c: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(c);
  return d.user + d.system;
};
const sum = { deployCpu: 0, deployMs: 0, flushCpu: 0, flushMs: 0 };
try {
  for (let i = 0; i < WARMUP + n; i++) {
    const dto = dtoFromSynapseXml(synapseApi({ name: "BenchLatency", revision: i + 1, size: 5000 }));
    const meta = { revision: i + 1, sha256: sha256Hex(JSON.stringify(dto)), seq: i + 1, labels: ["default"] };
    let c = process.cpuUsage();
    let t = performance.now();
    await deployer.deploy(dto, meta);
    if (i >= WARMUP) {
      sum.deployCpu += cpuSince(c);
      sum.deployMs += performance.now() - t;
    }
    c = process.cpuUsage();
    t = performance.now();
    await deployer.flush();
    if (i >= WARMUP) {
      sum.flushCpu += cpuSince(c);
      sum.flushMs += performance.now() - t;
    }
    // B1's gateways are idle between updates: let the thread pool settle.
    await new Promise((r) => setTimeout(r, 5));
  }
  console.log(
    `${n} deploys: deploy ${(sum.deployCpu / n).toFixed(0)} µs CPU, ${(sum.deployMs / n).toFixed(2)} ms wall; ` +
      `flush ${(sum.flushCpu / n).toFixed(0)} µs CPU, ${(sum.flushMs / n).toFixed(2)} ms wall`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
