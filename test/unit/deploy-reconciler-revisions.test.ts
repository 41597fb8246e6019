import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ArtifactRetriever, RetrievedArtifact } from "../../src/gateway/retriever.js";
import { fakeArtifact } from "../harness/fake-control-plane.js";
import { memoryReconciler } from "../harness/memory-gateway.js";

const LABEL = "Default";

const artifact = (name: string, revision: number) => fakeArtifact(name, revision, LABEL);

/** A control plane holding `published` (apiId → artifact), answering in pages of two. */
function retriever(published: Map<string, RetrievedArtifact>): ArtifactRetriever {
  const sorted = () => [...published.values()].sort((a, b) => a.apiId.localeCompare(b.apiId));
  return {
    retrieveArtifact: async (apiId) => published.get(apiId),
    retrieveAllArtifacts: async () => ({ items: sorted(), head: 100 }),
    retrieveArtifactPage: async (_label, after, _limit) => {
      const rest = sorted().filter((a) => after === undefined || a.apiId > after);
      const items = rest.slice(0, 2);
      return rest.length > 2 ? { items, head: 100, next: items[1]!.apiId } : { items, head: 100 };
    },
    changesSince: async () => ({ head: 100, changes: [] }),
  };
}

describe("Reconciler revisions", () => {
  test("a deployed API's revision comes from the deployer; a removed one's is still remembered", async () => {
    const published = new Map(["A", "B", "C"].map((n, i) => [`id-${n}`, artifact(n, i + 3)]));
    const { deployer, reconciler } = memoryReconciler({
      labels: [LABEL],
      retriever: retriever(published),
      retries: 0,
    });
    const loaded = await reconciler.bulkLoad();
    assert.equal(loaded.deployed, 3);
    assert.equal(reconciler.isStale("id-A", 3), true);
    assert.equal(reconciler.isStale("id-A", 4), false);
    assert.equal(reconciler.isStale("id-C", 5), true);

    published.delete("id-B");
    // A 404 alone does not undeploy (WSO2 retries a 404); a REMOVE that the 404 confirms does.
    assert.equal(await reconciler.reconcile("id-B", [LABEL]), "unchanged");
    assert.ok(deployer.get("id-B"), "still deployed after a 404 without a REMOVE");
    assert.equal(await reconciler.reconcile("id-B", [LABEL], { action: "remove" }), "removed");
    assert.equal(deployer.get("id-B"), undefined);
    assert.equal(reconciler.isStale("id-B", 4), true, "the removed revision is remembered");
    assert.equal(reconciler.isStale("id-B", 5), false);

    reconciler.noteRevision("id-C", 9);
    assert.equal(reconciler.isStale("id-C", 9), true, "a noted revision above the deployed one counts");
  });
});
