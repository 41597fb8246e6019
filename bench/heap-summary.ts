/**
 * Summarise a V8 heap snapshot (.heapsnapshot, e.g. GWSYNC_BENCH_HEAP_SNAPSHOT=<dir> in B6): retained
 * self size by node type and constructor/string kind, to say what a gateway keeps per API.
 * Usage: node --import tsx bench/heap-summary.ts <file.heapsnapshot> [--top N]
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const file = process.argv[2];
const topAt = process.argv.indexOf("--top");
const top = topAt > 0 ? Number(process.argv[topAt + 1]) : 25;
if (!file) {
  process.stderr.write("usage: node --import tsx bench/heap-summary.ts <file.heapsnapshot> [--top N]\n");
  process.exit(2);
}
const snap = JSON.parse(readFileSync(file, "utf8")) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const F = fields.length;
const iType = fields.indexOf("type");
const iName = fields.indexOf("name");
const iSize = fields.indexOf("self_size");
const byKey = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += F) {
  const type = types[snap.nodes[i + iType]!] ?? "?";
  let name = snap.strings[snap.nodes[i + iName]!] ?? "?";
  if (type === "string" || type === "concatenated string" || type === "sliced string")
    name = name.length > 40 ? `${name.slice(0, 40).replace(/\s+/g, " ")}…` : name;
  const key =
    type === "object" || type === "closure" || type === "native"
      ? `${type} ${name}`
      : type === "string"
        ? `string ${name.startsWith("<?xml") ? "(XML)" : name.startsWith("{") ? "(JSON)" : "(other)"}`
        : type;
  const size = snap.nodes[i + iSize]!;
  total += size;
  const e = byKey.get(key) ?? { count: 0, bytes: 0 };
  e.count++;
  e.bytes += size;
  byKey.set(key, e);
}
process.stdout.write(`${file}: ${(total / 2 ** 20).toFixed(1)} MB in the heap snapshot\n`);
for (const [k, e] of [...byKey].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top)) {
  process.stdout.write(
    `${(e.bytes / 2 ** 20).toFixed(1).padStart(8)} MB ${String(e.count).padStart(9)}  ${k}\n`,
  );
}
