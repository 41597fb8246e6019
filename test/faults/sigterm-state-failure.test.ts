import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { waitFor } from "../harness/wait.js";
import { FaultWorld } from "./world.js";

const CLI = fileURLToPath(new URL("../../bin/gwsync.js", import.meta.url));
const EXIT_WITHIN_MS = 15_000;

/**
 * Issue item 3's last symptom: once runtime state could not be saved, SIGTERM no longer stopped the
 * gateway (close() threw before it closed the HTTP server, which then held the process). Here the
 * state cannot be written because its folder became a file: every step of the stop still runs, the
 * failure is logged, and the process ends.
 */
describe("SIGTERM stops `gwsync gateway` even when its runtime state cannot be written", () => {
  const world = new FaultWorld();
  after(() => world.close());

  test("the save fails, is logged as an error, and SIGTERM still ends the process", async () => {
    await world.startPublisher();
    const config = world.writeConfig("gw.toml", world.gatewayToml({ name: "gw", labels: ["T"] }));
    const proc = spawn(process.execPath, [CLI, "gateway", "--config", config], {
      env: { ...process.env, GWSYNC_LOG_LEVEL: "info", GWSYNC_LOG_FORMAT: "json" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = once(proc, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    const lines: string[] = [];
    // Logs go to stderr; stdout carries results only (none for a service).
    const rl = createInterface({ input: proc.stderr! });
    rl.on("line", (l) => lines.push(l));
    try {
      // Started and connected: its queues are declared, so the event below reaches it.
      const started = () => lines.some((l) => l.includes("gateway started")) && lines.some((l) => l.includes("connected to broker"));
      await waitFor(rl, "line", started, "the gateway to start and connect", 60_000);

      // The runtime folder becomes a file: no state file can be written in it any more.
      const runtime = join(world.dataDir("gw"), "runtime");
      renameSync(runtime, `${runtime}.moved`);
      writeFileSync(runtime, "not a folder");
      await world.publisher!.publisher.emit({
        stream: "keyManager",
        event: { action: "add", name: "Okta", type: "Okta", enabled: true, organization: "carbon.super", config: { a: 1 } },
      });
      await waitFor(rl, "line", () => lines.some((l) => l.includes("runtime state could not be saved")), "the failed save logged", 30_000);

      const t0 = Date.now();
      proc.kill("SIGTERM");
      const [code, signal] = await Promise.race([
        exited,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`no exit within ${EXIT_WITHIN_MS} ms of SIGTERM`)), EXIT_WITHIN_MS),
        ),
      ]);
      assert.equal(signal, null, "it exited by itself, not by a signal");
      assert.equal(code, 1, "a stop that could not save everything exits 1");
      assert.ok(lines.some((l) => l.includes("gateway stopped")));
      console.log(`SIGTERM with unwritable runtime state: exit ${code} after ${Date.now() - t0} ms`);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    }
  });
});
