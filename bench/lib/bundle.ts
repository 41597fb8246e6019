import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, "..", "..");
/** Inside the repo so that the bundles resolve node_modules; .tmp/ is gitignored. */
const OUT_DIR = join(REPO_ROOT, ".tmp", "bench-build");

export const CHILD_ENTRIES = [
  "gateway-proc",
  "publisher-proc",
  "raw-consumer-proc",
  "raw-loader-proc",
  "fleet-proc",
  "floor-proc",
] as const;
export type ChildEntry = (typeof CHILD_ENTRIES)[number];

export interface ChildLaunch {
  /** Arguments for `node` before the script's own arguments. */
  nodeArgs: string[];
  script: string;
  /** How the children run, for the report. */
  mode: "bundle" | "tsx";
}

let built: Map<ChildEntry, ChildLaunch> | undefined;

/**
 * Child processes run from an esbuild bundle with plain `node` (as a built gwsync would run), so that
 * their RSS and start-up do not include tsx's loader thread. GWSYNC_BENCH_TSX=1, or esbuild missing,
 * runs them under tsx instead (and the report says so).
 */
export async function childLaunchers(): Promise<Map<ChildEntry, ChildLaunch>> {
  if (built) return built;
  const out = new Map<ChildEntry, ChildLaunch>();
  const tsx = (e: ChildEntry): ChildLaunch => ({
    nodeArgs: ["--import", "tsx"],
    script: join(HERE, `${e}.ts`),
    mode: "tsx",
  });
  let esbuild: typeof import("esbuild") | undefined;
  if (process.env.GWSYNC_BENCH_TSX !== "1") {
    try {
      esbuild = await import("esbuild");
    } catch {
      esbuild = undefined;
    }
  }
  if (!esbuild) {
    for (const e of CHILD_ENTRIES) out.set(e, tsx(e));
  } else {
    mkdirSync(OUT_DIR, { recursive: true });
    await esbuild.build({
      entryPoints: CHILD_ENTRIES.map((e) => join(HERE, `${e}.ts`)),
      outdir: OUT_DIR,
      outExtension: { ".js": ".mjs" },
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      sourcemap: true,
      logLevel: "error",
    });
    for (const e of CHILD_ENTRIES) {
      out.set(e, { nodeArgs: ["--enable-source-maps"], script: join(OUT_DIR, `${e}.mjs`), mode: "bundle" });
    }
  }
  built = out;
  return out;
}
