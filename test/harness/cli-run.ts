import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The CLI's exit codes (docs/architecture.md#exit-codes). */
export const EXIT = { OK: 0, RUNTIME: 1, USAGE: 2, REJECTED: 3, NOT_FOUND: 4, AUTH: 5 };

const BIN = path.join(fileURLToPath(new URL("../../", import.meta.url)), "bin", "gwsync.js");
const RUN_TIMEOUT_MS = 60_000;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `gwsync ARGS` in `cwd` with none of this process's GWSYNC_* variables, only `env`'s. */
export function runCli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<RunResult> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GWSYNC_")) base[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...base, GWSYNC_LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: RUN_TIMEOUT_MS,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
