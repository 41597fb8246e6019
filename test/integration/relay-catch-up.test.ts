/**
 * The relay catches regions up from the local changelog (issue 16): changes published before any relay
 * ran reach the other region, a region added to jndi_dir later gets every API that exists, and the
 * cursor each region has confirmed survives a restart of the relay. Region A on the machine's broker
 * (5672), B on a second node (5673 + offset), C in a vhost of that node.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import type { CatchUpReport } from "../../src/relay/catch-up.js";
import type { Relay } from "../../src/relay/relay.js";
import type { ArtifactStore } from "../../src/store/types.js";
import { testId } from "../harness/broker.js";
import { synapseApi } from "../harness/cluster.js";
import { Regions } from "../harness/regions.js";
import { TEST_PORT_OFFSET } from "../harness/rabbit-node.js";
import { REGION_B_PORT, SecondBroker } from "../harness/second-broker.js";
import { CHANGED, waitFor } from "../harness/wait.js";

const LABEL = "Production and Sandbox";
const APIS_IN_A = 40;
const APIS_IN_B = 5;
const CONVERGE_MS = 90_000;

/** What a region's store holds as published on the label: apiId → sha256. */
async function published(store: ArtifactStore, prefix: string): Promise<Map<string, string>> {
  return new Map(
    (await store.listArtifacts({ label: LABEL }))
      .filter((a) => a.name.startsWith(prefix))
      .map((a) => [a.apiId, a.sha256]),
  );
}

/** Wait until the gateway serves exactly `expected` among its APIs whose name starts with one of `prefixes`. */
async function converge(gw: Gateway, expected: Map<string, string>, prefixes: string[], what: string) {
  const mine = () => gw.deployer.deployed().filter((d) => prefixes.some((p) => d.name.startsWith(p)));
  await waitFor(
    gw.events,
    CHANGED,
    () => mine().length === expected.size && mine().every((d) => expected.get(d.apiId) === d.sha256),
    what,
    CONVERGE_MS,
  );
  assert.deepEqual(
    new Map(mine().map((d) => [d.apiId, d.sha256])),
    expected,
    `${what}: exactly the APIs expected, at the expected bytes`,
  );
}

/** The next full catch-up report of the relay for `region`. */
function fullPass(relay: Relay, region: string): Promise<CatchUpReport> {
  return new Promise((resolve) => {
    const on = (r: CatchUpReport) => {
      if (r.region !== region || r.mode !== "full") return;
      relay.events.off("caughtUp", on);
      resolve(r);
    };
    relay.events.on("caughtUp", on);
  });
}

/** No change of `origin` is stored twice on one label in `store`. */
async function noDuplicates(store: ArtifactStore, origin: string): Promise<void> {
  const rows = (await store.changesSince(0, [LABEL])).filter((c) => c.originRegion === origin);
  const keys = rows.map((c) => `${c.label}|${c.originSeq}`);
  assert.equal(new Set(keys).size, keys.length, `no change of ${origin} stored twice`);
}

describe("relay catch-up from the changelog: A (5672), B (second node), C added later (vhost)", () => {
  const brokerB = new SecondBroker({
    port: REGION_B_PORT,
    name: TEST_PORT_OFFSET === 0 ? "regionb" : `regionb${REGION_B_PORT}`,
  });
  const vhostC = testId("vh");
  const regions = new Regions();
  const a = regions.name("a");
  const b = regions.name("b");
  const c = regions.name("c");

  before(async () => {
    await brokerB.start();
    await brokerB.addVhost(vhostC);
    regions.addToJndi("a", { port: 5672, vhost: "/" });
    regions.addToJndi("b", { port: REGION_B_PORT, vhost: "/" });
    await regions.startPublisher("a");
    await regions.startPublisher("b");
  });

  after(async () => {
    await regions.close();
    await brokerB.deleteVhost(vhostC);
    await brokerB.stop();
  });

  test("changes made before any relay ran reach the other region once the relays start", async (t) => {
    const pa = regions.publishers.get("a")!.publisher;
    const pb = regions.publishers.get("b")!.publisher;
    // Before any relay: publishes, an update, and a publish then remove in A; publishes in B.
    for (let i = 0; i < APIS_IN_A; i++) await pa.deployApi(synapseApi({ name: `Early${i}`, size: 1200 }), [LABEL]);
    await pa.deployApi(synapseApi({ name: "Early0", revision: 2, size: 1200 }), [LABEL]);
    const gone = await pa.deployApi(synapseApi({ name: "EarlyGone", size: 800 }), [LABEL]);
    await pa.removeApi(gone.apiId, [LABEL]);
    for (let i = 0; i < APIS_IN_B; i++) await pb.deployApi(synapseApi({ name: `FromB${i}`, size: 900 }), [LABEL]);
    const gwB = await regions.startGateway("b", "b1", [LABEL]);
    const gwA = await regions.startGateway("a", "a1", [LABEL]);
    assert.equal(
      gwB.deployer.deployed().filter((d) => d.name.startsWith("Early")).length,
      0,
      "B's gateway starts with nothing of A",
    );

    const headA = await pa.store.headSeq();
    const relayA = regions.relay("a");
    const relayB = regions.relay("b");
    const passA = fullPass(relayA, b);
    const passB = fullPass(relayB, a);
    await relayA.start();
    await relayB.start();
    const [ra, rb] = await Promise.all([passA, passB]);
    t.diagnostic(`A → B: ${JSON.stringify(ra)}; B → A: ${JSON.stringify(rb)}`);
    // A: 40 APIs and the removed one (its Remove is its state); B: its 5.
    assert.equal(ra.forwarded, APIS_IN_A + 1);
    assert.equal(ra.from, 0);
    assert.ok(ra.to >= headA, `A's cursor for B reached A's head before the relays (${ra.to} ≥ ${headA})`);
    assert.equal(rb.forwarded, APIS_IN_B);

    const expectedA = await published(pa.store, "Early");
    assert.equal(expectedA.size, APIS_IN_A);
    await converge(gwB, expectedA, ["Early"], "B's gateway to serve A's early APIs");
    await converge(gwA, await published(pb.store, "FromB"), ["FromB"], "A's gateway to serve B's early APIs");
    assert.equal(
      (await pb.store.getArtifact((await pa.store.findApiId("Early0", "1.0.0"))!, LABEL))?.revision,
      2,
      "B holds Early0 at A's current revision",
    );
    assert.equal(await pb.store.getArtifact(gone.apiId, LABEL), undefined, "an API removed before the relay never appears in B");
    await noDuplicates(pb.store, a);
    await noDuplicates(pa.store, b);
  });

  test("a region added to jndi_dir later gets every API that exists, from each region's relay, then live changes", async (t) => {
    const pa = regions.publishers.get("a")!.publisher;
    const pb = regions.publishers.get("b")!.publisher;
    const relayA = regions.relays.get("a")!;
    const relayB = regions.relays.get("b")!;
    const passA = fullPass(relayA, c);
    const passB = fullPass(relayB, c);
    const started = performance.now();
    regions.addToJndi("c", { port: REGION_B_PORT, vhost: vhostC });
    const pc = (await regions.startPublisher("c")).publisher;
    const gwC = await regions.startGateway("c", "c1", [LABEL]);
    const [ra, rb] = await Promise.all([passA, passB]);
    assert.equal(ra.from, 0, "C was never served: A catches it up from 0");
    assert.equal(ra.forwarded, APIS_IN_A + 1);
    assert.equal(rb.forwarded, APIS_IN_B, "B sends only its own APIs (A's reach C from A)");
    assert.ok(relayA.remoteRegions.includes(c) && relayB.remoteRegions.includes(c));

    const expected = new Map([...(await published(pa.store, "Early")), ...(await published(pb.store, "FromB"))]);
    assert.equal(expected.size, APIS_IN_A + APIS_IN_B);
    await converge(gwC, expected, ["Early", "FromB"], "C's gateway to serve every existing API");
    t.diagnostic(`C added → ${expected.size} APIs on C's gateway in ${(performance.now() - started).toFixed(0)} ms`);
    await noDuplicates(pc.store, a);
    await noDuplicates(pc.store, b);

    // From now on C gets A's changes live.
    const live = await pa.deployApi(synapseApi({ name: "LiveAfterC", size: 700 }), [LABEL]);
    await waitFor(
      gwC.events,
      CHANGED,
      () => gwC.deployer.deployed().some((d) => d.apiId === live.apiId && d.sha256 === live.sha256),
      "C's gateway to get a live publish of A",
    );
  });

  test("a restarted relay resumes from the cursor its regions confirmed: nothing is sent again", async () => {
    const pa = regions.publishers.get("a")!.publisher;
    const old = regions.relays.get("a")!;
    await old.close();
    // The periodic pass moves the cursor over what crossed live (LiveAfterC).
    const relayA = regions.relay("a", { catchUpIntervalMs: 300 });
    const passes = [fullPass(relayA, b), fullPass(relayA, c)];
    await relayA.start();
    const reports = await Promise.all(passes);
    for (const r of reports) {
      assert.ok(r.from > 0, `${r.region}: resumed from its cursor`);
      // Only LiveAfterC may be sent again: it crossed live after the last full pass wrote the cursor.
      assert.ok(r.forwarded <= 1, `${r.region}: ${r.forwarded} sent again`);
    }
    const head = await pa.store.headSeq();
    await waitFor(
      relayA.events,
      "caughtUp",
      () => Object.values(relayA.catchUpStatus()).every((s) => s.cursor === head),
      "the periodic pass to move every cursor to the head",
    );
    await relayA.close();
    const again = regions.relay("a");
    const passes2 = [fullPass(again, b), fullPass(again, c)];
    await again.start();
    for (const r of await Promise.all(passes2)) {
      assert.equal(r.from, head);
      assert.equal(r.forwarded, 0, `${r.region}: nothing sent again`);
    }
  });
});
