import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import { freePort } from "../harness/fault-http.js";
import { assertClean } from "../harness/invariants.js";
import type { ChildMessage, ChildService } from "../harness/processes.js";
import { CHANGED, waitFor } from "../harness/wait.js";
import { FaultWorld, tinyApi } from "./world.js";

const KILLS = 10;
/** Ordinary publishes per round, beside the one that is killed. */
const NORMAL_PER_ROUND = 3;
const LABEL = "P";
/** High on purpose: what the restarted publisher sends, it sends because the outbox holds it at start. */
const OUTBOX_POLL_MS = 600_000;

async function outboxOf(file: string): Promise<number> {
  const store = SqliteArtifactStore.open(file, { readonly: true });
  try {
    return await store.outboxDepth();
  } finally {
    await store.close();
  }
}

describe("publisher kill -9 between commit and publish", () => {
  const world = new FaultWorld();
  after(() => world.close());

  test(`a publisher killed -9 ${KILLS} times right after a commit loses nothing: each restart announces what its outbox held`, async () => {
    const httpPort = await freePort();
    world.publisherUrl = `http://127.0.0.1:${httpPort}`;
    const pubOptions = { httpPort, outboxPollMs: OUTBOX_POLL_MS };
    let pub: ChildService = world.spawnPublisher(pubOptions);
    await pub.ready();
    // Catch-up off: the only way a change can reach the gateway is its event, from the outbox.
    // Generous fetch retries: an event may arrive while the control plane is being restarted, and a
    // restart under a loaded CI machine took longer than 8 retries from 50 ms (≈13–25 s) once: the
    // event was then given up and, with catch-up off, nothing else could bring the API. 12 retries
    // wait at least 200 s in all.
    const gw = await world.startGateway({
      name: "gw",
      labels: [LABEL],
      catchUpMs: 0,
      retryMs: 50,
      maxRetries: 12,
    });

    let seq = 0;
    const deploy = (p: ChildService, name: string, kill?: "after-commit") =>
      new Promise<ChildMessage>((resolve, reject) => {
        p.once("committed", resolve);
        p.once("error", (m: ChildMessage) => reject(new Error(String(m.message))));
        p.send({ type: "deploy", xml: tinyApi(name, ++seq), labels: [LABEL], ...(kill ? { kill } : {}) });
      });

    const rounds: string[] = [];
    for (let k = 1; k <= KILLS; k++) {
      for (let i = 0; i < NORMAL_PER_ROUND; i++) await deploy(pub, `Normal${k}x${i}`);
      const victim = `Victim${k}`;
      if (k % 2 === 1) {
        // The process SIGKILLs itself in the tick of the commit: committed, certainly not published.
        pub.send({ type: "deploy", xml: tinyApi(victim, ++seq), labels: [LABEL], kill: "after-commit" });
        const exit = await pub.exit();
        assert.equal(exit.signal, "SIGKILL");
        assert.ok(
          (await outboxOf(world.dbFile)) >= 1,
          `round ${k}: the committed event is still in the outbox`,
        );
      } else {
        // kill -9 from outside as soon as the commit is reported: anywhere between publish and confirm.
        await deploy(pub, victim);
        await pub.kill9();
      }
      const committed = await world.withTruth(async (s) =>
        (await s.listArtifacts({ label: LABEL })).find((a) => a.name === victim),
      );
      assert.ok(committed, `round ${k}: ${victim} is committed in the store`);
      pub = world.spawnPublisher(pubOptions);
      const ready = await pub.ready();
      rounds.push(`${k}:${ready.leftover}`);
      if (k % 2 === 1)
        assert.ok(
          Number(ready.leftover) >= 1,
          `round ${k}: the restarted publisher found the event in its outbox`,
        );
      await waitFor(
        gw.events,
        CHANGED,
        () => gw.deployer.get(committed.apiId)?.sha256 === committed.sha256,
        `round ${k}: ${victim} to reach the gateway`,
      );
    }
    await world.waitConverged("gw");
    const depth = await pub.request({ type: "outbox" }, "outbox");
    assert.equal(depth.depth, 0, "the outbox is empty at the end");
    assert.equal((await pub.stop()).code, 0);
    console.log(`rounds (kill: outbox rows found by the restarted publisher): ${rounds.join(" ")}`);
    assertClean(await world.judge("gw"));
  });
});
