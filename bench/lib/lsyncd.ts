import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeAtomic } from "./atomic-write.js";
import { nowMs } from "./clock.js";

export const LSYNCD = "/usr/bin/lsyncd";
const POLL_MS = 0.5;
const SYNC_TIMEOUT_MS = 30_000;

export function lsyncdInstalled(): boolean {
  return existsSync(LSYNCD);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(check: () => boolean, what: string): Promise<number> {
  const deadline = nowMs() + SYNC_TIMEOUT_MS;
  for (;;) {
    if (check()) return nowMs();
    if (nowMs() > deadline) throw new Error(`lsyncd: timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

function holds(file: string, body: string): boolean {
  try {
    return readFileSync(file, "utf8") === body;
  } catch {
    return false;
  }
}

/**
 * The file-sync baseline: lsyncd (Debian package) with `delay = 0`, one source folder rsynced to
 * `targets` local folders; latency = atomic write in the source → the same bytes in every target
 * (polled every POLL_MS).
 */
export async function measureLsyncd(root: string, bodies: string[], targets = 4): Promise<number[]> {
  const src = join(root, "lsyncd-src");
  mkdirSync(src, { recursive: true });
  const dsts = Array.from({ length: targets }, (_, i) => join(root, `lsyncd-dst${i + 1}`));
  for (const d of dsts) mkdirSync(d, { recursive: true });
  const conf = join(root, "lsyncd.lua");
  writeFileSync(
    conf,
    [
      `settings { nodaemon = true, logfile = ${JSON.stringify(join(root, "lsyncd.log"))}, insist = true }`,
      ...dsts.map(
        // checksum: rsync's quick check compares size and mtime in whole seconds, so a file of the same
        // size rewritten within the same second is skipped and the target keeps the stale bytes
        // (rsync(1), --checksum). lsyncd with rsync's defaults does exactly that to same-size updates.
        (d) =>
          `sync { default.rsync, source = ${JSON.stringify(src)}, target = ${JSON.stringify(d)}, delay = 0, rsync = { checksum = true } }`,
      ),
    ].join("\n"),
  );
  const proc: ChildProcess = spawn(LSYNCD, [conf], { stdio: "ignore" });
  try {
    const file = "admin--BenchLatency_v1.0.0.xml";
    const warm = "warm-up";
    writeAtomic(join(src, file), warm);
    await until(() => dsts.every((d) => holds(join(d, file), warm)), "lsyncd's first sync");
    const out: number[] = [];
    for (const body of bodies) {
      const t0 = nowMs();
      writeAtomic(join(src, file), body);
      const t = await until(
        () => dsts.every((d) => holds(join(d, file), body)),
        "a change to reach every target",
      );
      out.push(t - t0);
    }
    return out;
  } finally {
    proc.kill("SIGTERM");
  }
}
