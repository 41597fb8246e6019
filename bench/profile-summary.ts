/**
 * Summarise V8 CPU profiles written by `node --cpu-prof` (or GWSYNC_BENCH_CPU_PROF=<dir> for the
 * bench children): self time per function and per source file, so BENCHMARKS.md can say where the
 * time goes. Usage: node --import tsx bench/profile-summary.ts <file.cpuprofile>... [--top N]
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const i = url.indexOf("/work/main/");
  const s = i >= 0 ? url.slice(i + "/work/main/".length) : url.replace(/^file:\/\//, "");
  return s.replace(/^.*node_modules\//, "node_modules/");
}

function summarize(file: string, top: number): string {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
  }
  const total = p.endTime - p.startTime;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : "";
    const key = `${functionName || "(anonymous)"} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const fileKey = url ? shortUrl(url).replace(/:\d+$/, "") : functionName;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const lines = [`${file}: ${(total / 1e6).toFixed(2)} s profiled`];
  lines.push("  self time by function:");
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`  ${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  lines.push("  self time by file:");
  for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top))
    lines.push(`  ${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  return lines.join("\n");
}

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : 20;
const files = args.filter((a, i) => a !== "--top" && (topAt < 0 || i !== topAt + 1));
if (files.length === 0) {
  process.stderr.write("usage: node --import tsx bench/profile-summary.ts <file.cpuprofile>... [--top N]\n");
  process.exit(2);
}
for (const f of files) process.stdout.write(`${summarize(f, top)}\n\n`);
