import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made = new Set<string>();
let hooked = false;

/**
 * A fresh folder under the system temp folder, removed when the test process exits (node --test runs
 * each file in a process of its own), so a run leaves nothing behind however its tests end.
 */
export function tempDir(prefix = "gwsync-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix.endsWith("-") ? prefix : `${prefix}-`));
  made.add(dir);
  if (!hooked) {
    hooked = true;
    process.once("exit", removeTempDirs);
  }
  return dir;
}

/** Remove every folder tempDir made so far (also done at exit). */
export function removeTempDirs(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
}
