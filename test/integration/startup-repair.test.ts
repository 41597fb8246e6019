import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { nodeDeployFs } from "../../src/gateway/deploy/deploy-fs.js";
import { readDeployState, writeDeployState } from "../../src/gateway/deploy/deploy-state.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { buildGatewayEvent } from "../../src/publisher/events-out.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { synapseApi, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

const LABEL = "R";
const MAX_SEQ = 9_007_199_254_740_991;

/**
 * Issue items 1 and 4 at startup: the startup load repairs every local record the store does not
 * confirm (a seq above the store's head included), and one API that cannot be deployed is refused with
 * its reason while the others deploy and the gateway becomes ready, not stale.
 */
describe("the startup load trusts the store over the local records, and skips one bad API", () => {
  const cluster = new TestCluster();
  let gw: Gateway;
  const stateFile = () => join(cluster.root, "gw", "data", "gateway-state.json");

  before(async () => {
    await cluster.startPublisher();
    gw = await cluster.startGateway({ name: "gw", labels: [LABEL] });
  });
  after(() => cluster.close());

  test("a record claiming revision 999999 and seq 2^53-1, and one for an API in no store, are repaired at restart", async () => {
    const pub = cluster.publisher!.publisher;
    const real = await Promise.resolve(pub.deployApi(synapseApi({ name: "Kept" }), [LABEL]));
    const ghost = await Promise.resolve(pub.deployApi(synapseApi({ name: "Ghost" }), [LABEL]));
    await waitFor(gw.events, CHANGED, () => gw.deployer.size === 2, "both deployed");
    await cluster.stopGateway("gw");
    // What a forged event used to leave behind: records the store never made.
    await Promise.resolve(pub.removeApi(ghost.apiId, [LABEL]));
    const records = await readDeployState(nodeDeployFs, stateFile());
    for (const r of records) {
      r.revision = 999_999;
      r.seq = MAX_SEQ;
    }
    await writeDeployState(nodeDeployFs, stateFile(), records, true);

    gw = await cluster.startGateway({ name: "gw", labels: [LABEL] });
    assert.equal(gw.startup.phase, "done");
    assert.equal(gw.deployer.get(ghost.apiId), undefined, "the API the store removed is gone, whatever seq its record claimed");
    assert.ok(!existsSync(join(cluster.deploymentDir("gw"), "api", "admin--Ghost_v1.0.0.xml")));
    const kept = gw.deployer.get(real.apiId)!;
    assert.equal(kept.revision, real.revision, "the store's revision, not 999999");
    assert.equal(kept.seq, real.seq);

    const next = await Promise.resolve(pub.deployApi(synapseApi({ name: "Kept", revision: 2 }), [LABEL]));
    await waitFor(gw.events, CHANGED, () => gw.deployer.get(real.apiId)?.revision === next.revision, "the next publish applied, not stale");
  });

  test("two stored APIs owning one file: the startup load deploys one, refuses the other with its reason, and is ready", async () => {
    const store = cluster.publisher!.publisher.store;
    // Written past the publisher's checks (its 409 refuses this): provider a--b + name X and provider a
    // + name b--X are both admin file a--b--X_v1.xml.
    const xml = synapseApi({ provider: "a--b", name: "X", version: "1" });
    const dto = (provider: string, name: string, apiId: string): GatewayApiDto => ({
      name,
      version: "1",
      provider,
      tenantDomain: "carbon.super",
      apiId,
      apiDefinition: xml,
    });
    const first = dto("a--b", "X", "11111111-2222-4333-8444-555555555551");
    const second = dto("a", "b--X", "11111111-2222-4333-8444-555555555552");
    for (const d of [first, second]) {
      await Promise.resolve(
        store.saveArtifact({ dto: d, labels: [LABEL], instruction: "Publish" }, (r) => [
          buildGatewayEvent({ action: "deploy", dto: d, labels: [LABEL], result: r, region: "test" }),
        ]),
      );
    }
    await cluster.stopGateway("gw");
    const refused: string[] = [];
    gw = cluster.makeGateway({ name: "gw", labels: [LABEL] });
    gw.events.on("rejected", (_s: string, reason: string) => refused.push(reason));
    await gw.start();
    assert.equal(gw.startup.phase, "done", "not stale");
    const owners = [first.apiId, second.apiId].filter((id) => gw.deployer.get(id) !== undefined);
    assert.equal(owners.length, 1, "one of the two holds the file");
    assert.ok(refused.some((r) => /already owned by API/.test(r)), refused.join(" | "));
  });
});
