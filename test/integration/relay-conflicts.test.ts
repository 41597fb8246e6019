/**
 * Conflicts in the live mesh (issue 16, docs/replication.md "Conflicts"): an API edited in regions A
 * and B at once, before either relay delivers, ends at the same revision and the same bytes in both
 * stores and on both regions' gateways; the winner is the greater key (same revision: greater sha256).
 * Region A on the machine's broker (5672), B on a second node (5673 + offset).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { synapseApi } from "../harness/cluster.js";
import { Regions } from "../harness/regions.js";
import { TEST_PORT_OFFSET } from "../harness/rabbit-node.js";
import { REGION_B_PORT, SecondBroker } from "../harness/second-broker.js";
import { CHANGED, waitFor } from "../harness/wait.js";

const LABEL = "Production and Sandbox";
const CONVERGE_MS = 90_000;

function serves(gw: Gateway, apiId: string, sha256: string): boolean {
  return gw.deployer.deployed().some((d) => d.apiId === apiId && d.sha256 === sha256);
}

describe("relay conflicts: one API edited in A (5672) and B (second node) at once", () => {
  const brokerB = new SecondBroker({
    port: REGION_B_PORT,
    name: TEST_PORT_OFFSET === 0 ? "regionb" : `regionb${REGION_B_PORT}`,
  });
  const regions = new Regions();

  before(async () => {
    await brokerB.start();
    regions.addToJndi("a", { port: 5672, vhost: "/" });
    regions.addToJndi("b", { port: REGION_B_PORT, vhost: "/" });
    await regions.startPublisher("a");
    await regions.startPublisher("b");
  });

  after(async () => {
    await regions.close();
    await brokerB.stop();
  });

  test("both regions converge on the winner: same revision, same sha256, in both stores and on both gateways", async (t) => {
    const pa = regions.publishers.get("a")!.publisher;
    const pb = regions.publishers.get("b")!.publisher;
    const gwA = await regions.startGateway("a", "a1", [LABEL]);
    const gwB = await regions.startGateway("b", "b1", [LABEL]);
    let relayA = regions.relay("a");
    let relayB = regions.relay("b");
    await relayA.start();
    await relayB.start();
    // The common base: published in A, relayed to B.
    const base = await pa.deployApi(synapseApi({ name: "Contested", size: 900 }), [LABEL]);
    await waitFor(gwB.events, CHANGED, () => serves(gwB, base.apiId, base.sha256), "B's gateway to serve the base");
    assert.equal((await pb.store.getArtifact(base.apiId, LABEL))?.revision, base.revision);

    // Both relays stopped: each region edits the API before hearing of the other's edit.
    await relayA.close();
    await relayB.close();
    const editA = await pa.deployApi(synapseApi({ name: "Contested", revision: 2, size: 900 }), [LABEL]);
    const editB = await pb.deployApi(synapseApi({ name: "Contested", revision: 3, size: 900 }), [LABEL]);
    assert.equal(editB.apiId, base.apiId, "B edits the same API");
    assert.equal(editA.revision, base.revision + 1);
    assert.equal(editB.revision, editA.revision, "both regions made the same next revision");
    assert.notEqual(editA.sha256, editB.sha256);
    await waitFor(gwA.events, CHANGED, () => serves(gwA, base.apiId, editA.sha256), "A's gateway to serve A's edit");
    await waitFor(gwB.events, CHANGED, () => serves(gwB, base.apiId, editB.sha256), "B's gateway to serve B's edit");
    const winner = editA.sha256 > editB.sha256 ? editA : editB;
    const loser = winner === editA ? editB : editA;
    t.diagnostic(`A ${editA.sha256.slice(0, 12)} vs B ${editB.sha256.slice(0, 12)}: ${winner === editA ? "A" : "B"} wins`);

    relayA = regions.relay("a");
    relayB = regions.relay("b");
    await relayA.start();
    await relayB.start();
    for (const gw of [gwA, gwB]) {
      await waitFor(gw.events, CHANGED, () => serves(gw, base.apiId, winner.sha256), "gateways to serve the winner", CONVERGE_MS);
    }
    for (const p of [pa, pb]) {
      const held = await p.store.getArtifact(base.apiId, LABEL);
      assert.deepEqual([held?.revision, held?.sha256, held?.instruction], [winner.revision, winner.sha256, "Publish"]);
    }
    for (const gw of [gwA, gwB]) {
      const d = gw.deployer.deployed().find((x) => x.apiId === base.apiId);
      assert.deepEqual([d?.revision, d?.sha256], [winner.revision, winner.sha256]);
    }
    // The losing region keeps its edit in the changelog, followed by the winner's row of the same revision.
    const loserStore = loser === editA ? pa.store : pb.store;
    const rows = (await loserStore.changesSince(0, [LABEL])).filter((c) => c.apiId === base.apiId);
    assert.deepEqual(
      rows.slice(-2).map((c) => [c.revision, c.sha256]),
      [
        [loser.revision, loser.sha256],
        [winner.revision, winner.sha256],
      ],
    );
    // The winner's region never stored the losing edit.
    const winnerStore = winner === editA ? pa.store : pb.store;
    const winnerRows = (await winnerStore.changesSince(0, [LABEL])).filter((c) => c.apiId === base.apiId);
    assert.ok(winnerRows.every((c) => c.sha256 !== loser.sha256));
  });
});
