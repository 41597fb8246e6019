/**
 * The layer rules of docs/architecture.md#layers are Biome `noRestrictedImports` overrides in biome.json,
 * run by `npm run lint`. This test proves they bite: a scratch tree with the project's biome.json and
 * one file per edge, linted by the project's Biome; every forbidden edge is reported, every allowed
 * edge is not.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIOME = join(ROOT, "node_modules", ".bin", "biome");

/** [file in src/, the module it imports (relative to src/, or a package name), allowed?] */
const EDGES: Array<[string, string, boolean]> = [
  // foundation
  ["errors.ts", "config/types", false],
  ["log.ts", "errors", true],
  ["version.ts", "security/secrets", true],
  ["zod-reason.ts", "security/signing", false],
  // security: only the foundation
  ["security/x.ts", "config/defaults", false],
  ["security/x.ts", "artifacts/types", false],
  ["security/x.ts", "errors", true],
  // artifacts: security and the foundation
  ["artifacts/x.ts", "events/topics", false],
  ["artifacts/x.ts", "security/json-limits", true],
  // wire formats: artifacts, security, foundation
  ["events/x.ts", "config/jndi", false],
  ["events/x.ts", "relay/relay", false],
  ["events/x.ts", "amqp/topology", false],
  ["events/x.ts", "artifacts/gateway-api-dto", true],
  ["data-api/x.ts", "store/types", false],
  // config: wire formats and below
  ["config/x.ts", "store/types", false],
  ["config/x.ts", "amqp/connection", false],
  ["config/x.ts", "events/dialect", true],
  // adapters: config and below, not each other, not the services
  ["store/x.ts", "amqp/topology", false],
  ["store/sqlite/x.ts", "publisher/publisher", false],
  ["store/x.ts", "config/types", true],
  // the Git store drives git through git/ (the one edge between adapters); git/ knows no store
  ["store/git/x.ts", "git/git-cli", true],
  ["git/x.ts", "store/types", false],
  ["amqp/x.ts", "gateway/gateway", false],
  ["amqp/x.ts", "store/types", false],
  ["amqp/x.ts", "events/topics", true],
  ["http/x.ts", "amqp/connection", false],
  ["http/x.ts", "config/types", true],
  // the services' shared skeleton: below the services
  ["service/x.ts", "gateway/gateway", false],
  ["service/x.ts", "http/server", true],
  ["http/x.ts", "service/skeleton", false],
  ["relay/x.ts", "service/skeleton", true],
  // services: everything below, never each other
  ["publisher/x.ts", "relay/relay", false],
  ["relay/x.ts", "publisher/publisher", false],
  ["gateway/deploy/x.ts", "publisher/publisher", false],
  ["gateway/x.ts", "relay/relay", false],
  ["relay/x.ts", "amqp/topology", true],
  ["publisher/x.ts", "store/types", true],
  ["gateway/x.ts", "http/server", true],
  // the top imports anything of src/
  ["cli/x.ts", "relay/relay", true],
  // amqplib: src/amqp/ only
  ["amqp/x.ts", "amqplib", true],
  ["gateway/x.ts", "amqplib", false],
  ["relay/x.ts", "amqplib", false],
  ["publisher/x.ts", "amqplib", false],
  ["cli/x.ts", "amqplib", false],
  ["config/x.ts", "amqplib", false],
];

interface Diagnostic {
  category: string;
  location: { path: { file: string } | string };
}

/** One scratch file per edge; the foundation's files keep their names (the rule names the files). */
function scratchName(file: string, i: number): string {
  return file.includes("/") ? file.replace(/\.ts$/, `-${i}.ts`) : file;
}

let dir: string;
let reported: Map<string, string[]>;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "gwsync-layers-"));
  const config = JSON.parse(readFileSync(join(ROOT, "biome.json"), "utf8")) as Record<string, unknown>;
  // The scratch tree is no git checkout; everything else (the overrides) as the project has it.
  config.vcs = { enabled: false };
  config.files = { includes: ["src/**"] };
  writeFileSync(join(dir, "biome.json"), JSON.stringify(config));
  EDGES.forEach(([file, target], i) => {
    const path = join(dir, "src", scratchName(file, i));
    mkdirSync(dirname(path), { recursive: true });
    const depth = file.split("/").length - 1;
    const spec = target.includes("/") ? `${depth === 0 ? "./" : "../".repeat(depth)}${target}.js` : target;
    writeFileSync(path, `import * as m from "${spec}";\nexport const used = m;\n`);
  });
  let out: string;
  try {
    out = execFileSync(BIOME, ["lint", "--reporter=json", "--max-diagnostics=1000", "."], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    out = (err as { stdout: string }).stdout;
  }
  const report = JSON.parse(out) as { diagnostics: Diagnostic[] };
  reported = new Map();
  for (const d of report.diagnostics) {
    const p = d.location.path;
    const file = (typeof p === "string" ? p : p.file).replace(/^.*?src\//, "");
    reported.set(file, [...(reported.get(file) ?? []), d.category]);
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe("layer rules (biome.json noRestrictedImports)", () => {
  EDGES.forEach(([file, target, allowed], i) => {
    const name = `${allowed ? "allows" : "refuses"} src/${file.replace(/\/x\.ts$/, "/")} → ${target}`;
    test(name, () => {
      const categories = reported.get(scratchName(file, i)) ?? [];
      const restricted = categories.filter((c) => c === "lint/style/noRestrictedImports");
      assert.equal(restricted.length, allowed ? 0 : 1, `diagnostics: ${categories.join(", ") || "none"}`);
    });
  });
});
