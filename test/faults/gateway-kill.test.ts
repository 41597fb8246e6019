import assert from "node:assert/strict";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { after, describe, test } from "node:test";
import { assertClean, truthFor } from "../harness/invariants.js";
import type { ChildMessage, ChildService } from "../harness/processes.js";
import { waitFor } from "../harness/wait.js";
import { FaultWorld, tinyApi } from "./world.js";

const UPDATES = 5000;
const KILLS = 10;
const APIS = 100;
/** Commits per event-loop turn: the publisher's REST API (the gateway fetches from it) shares the loop. */
const BATCH = 25;
const LABEL = "K";

describe("gateway kill -9", () => {
  const world = new FaultWorld();
  after(() => world.close());

  test(`a gateway killed -9 ${KILLS} times during ${UPDATES} updates ends with exactly the latest revision of every API, nothing lost or applied twice`, async () => {
    const svc = await world.startPublisher();
    const pub = svc.publisher;
    const spec = { name: "gw", labels: [LABEL], heartbeatSec: 5 };
    // What the gateway holds, as its lives report it (ready: its last-known-good; then every apply).
    const held = new Map<string, string>();
    const track = (child: ChildService) => {
      child.on("applied", (m: ChildMessage) => {
        if (m.outcome === "deployed") held.set(String(m.apiId), String(m.sha256));
        if (m.outcome === "removed") held.delete(String(m.apiId));
      });
      return child;
    };
    let child = track(world.spawnGateway(spec));
    await child.ready();

    const kills: { at: number; handledInLife: number; restartMs: number }[] = [];
    let published = 0;
    let ready = child.ready();
    for (let k = 0; k <= KILLS; k++) {
      // Commit the next slice of updates; the gateway (maybe still booting) works through them.
      const end = Math.floor(((k + 1) * UPDATES) / (KILLS + 1));
      while (published < end) {
        for (let i = 0; i < BATCH && published < end; i++, published++) {
          await pub.deployApi(tinyApi(`Api${published % APIS}`, published), [LABEL]);
        }
        await yieldToLoop();
      }
      if (k === KILLS) break;
      // Kill this life while it is busy applying: some deliveries handled, more in its queue.
      await ready;
      await waitFor(
        child,
        "handled",
        () => child.count("handled") >= 5,
        `gateway life ${k + 1} to handle deliveries`,
        60_000,
      );
      const handledInLife = child.count("handled");
      const t0 = Date.now();
      await child.kill9();
      assert.equal(child.exited?.signal, "SIGKILL");
      child = track(world.spawnGateway(spec));
      ready = child.ready().then((m) => {
        kills.push({ at: published, handledInLife, restartMs: Date.now() - t0 });
        return m;
      });
    }
    await ready;
    assert.equal(kills.length, KILLS);

    const truth = await truthFor(pub.store, [LABEL]);
    assert.equal(truth.size, APIS);
    const converged = () => [...truth].every(([id, t]) => held.get(id) === t.sha256);
    // The last life starts from the state file: seed `held` from it once, then count applies.
    const state = (await child.request({ type: "deployed" }, "deployed")).apis as {
      apiId: string;
      sha256: string;
    }[];
    held.clear();
    for (const a of state) held.set(a.apiId, a.sha256);
    await waitFor(
      child,
      ["applied", "handled"],
      converged,
      "the last life to converge on the latest revisions",
      120_000,
    );
    const exit = await child.stop();
    assert.equal(exit.code, 0, "graceful stop after the run");
    console.log(
      `kills (published, handled in that life, restart ms): ${kills.map((k) => `${k.at}/${k.handledInLife}/${k.restartMs}`).join(" ")}`,
    );
    assertClean(await world.judgeStopped("gw", [LABEL]));
  });
});
