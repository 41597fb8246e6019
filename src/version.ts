import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * gwsync's version, from package.json, so heartbeats, `gwsync --version` and gwsync_build_info never
 * disagree with the package. The nearest package.json named gwsync above this module: src/ and dist/
 * sit one folder below it, a bundle (the benchmarks' children in .tmp/bench-build/) deeper.
 */
function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version: string;
      };
      if (pkg.name === "gwsync") return pkg.version;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`gwsync: no package.json named gwsync above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export const GWSYNC_VERSION: string = readVersion();
