import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import amqp from "amqplib";
import { nodeDeployFs } from "../../src/gateway/deploy/deploy-fs.js";
import { readDeployState } from "../../src/gateway/deploy/deploy-state.js";
import { FaultControlPlane } from "../harness/fault-http.js";
import { assertClean } from "../harness/invariants.js";
import type { ChildMessage } from "../harness/processes.js";
import { waitFor } from "../harness/wait.js";
import { FaultWorld, tinyApi } from "./world.js";

const CLI = fileURLToPath(new URL("../../bin/gwsync.js", import.meta.url));
const APIS = 200;
const LABEL = "T";
/** A slow control plane keeps many deliveries in flight (prefetch 64) when SIGTERM comes. */
const FETCH_DELAY_MS = 200;
/** SIGTERM once the control plane answered this many fetches: some applied, many in flight, most queued. */
const SIGTERM_AFTER_ANSWERS = 30;
const GRACEFUL_EXIT_MS = 15_000;

/**
 * Waits until the gateway's /readyz says: startup done, broker connected, no catch-up running. A
 * catch-up a (re)connect starts reads the changelog once and fetches what it names in batches of up to
 * 100 APIs, and the events of those APIs are then acked as stale without a fetch of their own: one
 * still running while this test publishes takes its 200 deploys in 2 requests, and the "busy fetching"
 * moment below never comes (CI on 2afc314, under load: the broker connected after the startup load,
 * so its catch-up ran while the deploys were published). Bounded: 60 s.
 */
async function quiescent(httpUrl: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last: unknown;
  for (;;) {
    const res = await fetch(`${httpUrl}/readyz`);
    last = await res.json();
    const r = last as { startup?: string; broker?: string; catchUp?: string };
    if (r.startup === "done" && r.broker === "connected" && r.catchUp === "idle") return;
    if (Date.now() > deadline) throw new Error(`the gateway did not settle: /readyz ${JSON.stringify(last)}`);
    await delay(20);
  }
}

async function readyMessages(queue: string): Promise<number> {
  const conn = await amqp.connect("amqp://guest:guest@127.0.0.1:5672");
  try {
    const ch = await conn.createChannel();
    const q = await ch.checkQueue(queue);
    await ch.close();
    return q.messageCount;
  } finally {
    await conn.close();
  }
}

describe("graceful SIGTERM of `gwsync gateway`", () => {
  const world = new FaultWorld();
  const cp = new FaultControlPlane(() => world.publisherUrl);
  after(async () => {
    await cp.down();
    await world.close();
  });

  test("SIGTERM mid-work: exit 0, in-flight deliveries go back to the queue, the restarted gateway gets them and nothing is lost", async () => {
    const svc = await world.startPublisher();
    await cp.up();
    const spec = { name: "gw", labels: [LABEL], serviceUrl: cp.url, catchUpMs: 0 };
    const config = world.writeConfig("gw.toml", world.gatewayToml(spec));
    const proc = spawn(process.execPath, [CLI, "gateway", "--config", config], {
      env: { ...process.env, GWSYNC_LOG_LEVEL: "info", GWSYNC_LOG_FORMAT: "json" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = once(proc, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    const lines: string[] = [];
    // Logs go to stderr; stdout carries results only (none for a service).
    const rl = createInterface({ input: proc.stderr! });
    rl.on("line", (l) => lines.push(l));
    await waitFor(
      rl,
      "line",
      () => lines.some((l) => l.includes("gateway started")),
      "the CLI gateway to start",
      60_000,
    );
    const started = JSON.parse(lines.find((l) => l.includes("gateway started"))!) as { http: string };
    assert.match(started.http, /^http:\/\/127\.0\.0\.1:\d+$/, "the start line names the bound HTTP address");
    await quiescent(started.http);

    cp.rule = () => ({ delayMs: FETCH_DELAY_MS });
    for (let i = 0; i < APIS; i++) await svc.publisher.deployApi(tinyApi(`Term${i}`, 1), [LABEL]);
    await waitFor(
      cp,
      "answered",
      () => cp.answered >= SIGTERM_AFTER_ANSWERS,
      "the gateway to be busy fetching",
      60_000,
    );
    const t0 = Date.now();
    proc.kill("SIGTERM");
    const [code, signal] = await Promise.race([
      exited,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`no exit within ${GRACEFUL_EXIT_MS} ms of SIGTERM`)),
          GRACEFUL_EXIT_MS,
        ),
      ),
    ]);
    const exitMs = Date.now() - t0;
    assert.equal(signal, null);
    assert.equal(code, 0, "graceful shutdown exits 0");
    assert.ok(
      lines.some((l) => l.includes("gateway stopped")),
      "it said it stopped",
    );

    // Nothing lost: every event was either applied (in the state it flushed) or is back in its queue.
    const applied = (await readDeployState(nodeDeployFs, world.stateFile("gw"))).length;
    const queued = await readyMessages(world.queueOf("gw"));
    assert.ok(queued >= 1 && applied >= 1, "SIGTERM came mid-work: some applied, deliveries left");
    assert.ok(applied + queued >= APIS, `${applied} applied + ${queued} queued covers all ${APIS} events`);

    cp.rule = () => "forward";
    const child = world.spawnGateway(spec);
    const handledInLife2 = () => child.count("handled");
    await child.ready();
    await waitFor(
      child,
      "handled",
      () => handledInLife2() >= queued,
      `the ${queued} requeued deliveries to reach the restarted gateway`,
      60_000,
    );
    const state = (await child.request({ type: "deployed" }, "deployed")) as ChildMessage & {
      apis: unknown[];
    };
    assert.equal(state.apis.length, APIS);
    assert.equal((await child.stop()).code, 0);
    assert.equal(await readyMessages(world.queueOf("gw")), 0, "the queue is drained");
    console.log(
      `SIGTERM: exit 0 after ${exitMs} ms; ${applied} applied before, ${queued} requeued, redelivered to the restarted gateway`,
    );
    assertClean(await world.judgeStopped("gw", [LABEL]));
  });
});
