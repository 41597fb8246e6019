/**
 * The test harness's private RabbitMQ nodes outlive a test file that the runner kills at its timeout
 * (it never runs its `after`): the next run's FaultBroker or BrokerCluster then found its port taken
 * and failed before testing anything (seen in CI after quorum-cluster timed out, issue 20). Their start
 * now ends nodes whose owner process is gone (test/harness/rabbit-node.ts, reclaimAbandonedNodes).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { FaultBroker } from "../harness/fault-broker.js";
import { nodeProcessesOf, portOpen, processAlive, TEST_PORT_OFFSET } from "../harness/rabbit-node.js";

/** Apart from every other node of the suite (5673–5677, 5690 + offset). */
const PORT = 5678 + TEST_PORT_OFFSET;
const NAME = `gwsyncabandoned${PORT}`;
const HARNESS = fileURLToPath(new URL("../harness/fault-broker.ts", import.meta.url));

describe("a node whose test process was killed is ended by the next start", () => {
  let child: ChildProcess | undefined;
  let broker: FaultBroker | undefined;
  after(async () => {
    child?.kill("SIGKILL");
    await broker?.destroy();
  });

  test("the orphaned node held the port; the next FaultBroker.start() on it ends that node and boots its own", async () => {
    assert.equal(await portOpen(PORT), false, `port ${PORT} must be free before the test`);
    // A test process that starts its node and is then killed -9, as the runner does at a timeout.
    const script = `import { FaultBroker } from ${JSON.stringify(HARNESS)};
const b = new FaultBroker({ port: ${PORT}, name: ${JSON.stringify(NAME)} });
await b.start();
console.log("started " + b.dir);
setInterval(() => {}, 60_000);`;
    child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout! });
    let orphanDir: string | undefined;
    for await (const line of lines) {
      const m = /^started (.+)$/.exec(line);
      if (m) {
        orphanDir = m[1];
        break;
      }
    }
    assert.ok(orphanDir, "the child started its node");
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
    child = undefined;

    // What the next run found: the owner gone, its node still running and holding the port.
    const orphanPids = nodeProcessesOf(orphanDir);
    assert.ok(orphanPids.length > 0, "the killed process's node is still running");
    assert.equal(await portOpen(PORT), true, "and still holds the port");

    broker = new FaultBroker({ port: PORT, name: NAME });
    await broker.start();
    assert.deepEqual(orphanPids.filter(processAlive), [], "the orphaned node's processes were ended");
    assert.equal(existsSync(orphanDir), false, "its folder was removed");
    assert.ok(nodeProcessesOf(broker.dir).length > 0, "the new node runs from its own folder");
    assert.equal(await portOpen(PORT), true, "and listens on the port");
  });
});
