/**
 * The relay's catch-up from the local changelog without a broker: what it sends (each API not yet
 * crossed, once, with its current state), what it skips (changes of other regions, APIs a live forward
 * covered), and the cursor it keeps on disk. (A unit test: it needs no RabbitMQ.)
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { OutgoingMessage } from "../../src/amqp/confirm-publisher.js";
import { ingressQueueName } from "../../src/amqp/topology.js";
import { decodeRegionSync } from "../../src/events/region-sync.js";
import { silentLogger } from "../../src/log.js";
import { toGatewayApiDto } from "../../src/publisher/artifact-input.js";
import { LabelDirectory } from "../../src/relay/artifact-snapshot.js";
import { RELAY_CURSOR_FILE, RelayCatchUp, RelayCursors } from "../../src/relay/catch-up.js";
import { openStore } from "../../src/store/open-store.js";
import { synapseApi } from "../harness/cluster.js";
import { tempDir } from "../harness/temp-dir.js";

const root = tempDir("gwsync-relay-catch-up-");
const store = openStore({ type: "sqlite", url: join(root, "a.db") }, { region: "ra" });

after(async () => {
  await store.close();
  rmSync(root, { recursive: true, force: true });
});

async function publish(name: string, labels: string[], mark = 1, origin?: { region: string; seq: number }) {
  const dto = toGatewayApiDto(synapseApi({ name, revision: mark, size: 300 }));
  return store.saveArtifact({ dto, labels, instruction: "Publish", ...(origin ? { origin } : {}) }, () => []);
}

function catchUp(dir: string, remote = "rb", sent: OutgoingMessage[][] = [], pageSize = 3) {
  const cursors = new RelayCursors(dir, "ra", silentLogger);
  const c = new RelayCatchUp({
    localRegion: "ra",
    remoteRegion: remote,
    store: () => store,
    labels: new LabelDirectory(() => store, 0),
    cursors,
    publish: async (m) => {
      sent.push(m);
    },
    pageSize,
    batchSize: 2,
    logger: silentLogger,
  });
  return { c, cursors, sent };
}

const apisOf = (sent: OutgoingMessage[][]) => sent.flat().map((m) => decodeRegionSync(m.body, 1 << 24).apiId);

describe("relay catch-up", () => {
  test("a region never served gets every local API once, at its current state, and the cursor reaches the head", async () => {
    const a = await publish("CuA", ["L1"], 1);
    await publish("CuA", ["L1", "L2"], 2); // the same API again: sent once, both labels
    const b = await publish("CuB", ["L2"]);
    const foreign = await publish("CuForeign", ["L1"], 1, { region: "rc", seq: 7 });
    const c = await publish("CuC", ["L1"]);
    const dir = join(root, "full");
    const { c: cu, sent } = catchUp(dir);
    const report = await cu.run("full");
    const head = await store.headSeq();
    assert.deepEqual(apisOf(sent).sort(), [a.apiId, b.apiId, c.apiId].sort(), "every local API once, not rc's");
    assert.ok(!apisOf(sent).includes(foreign.apiId));
    assert.equal(report.forwarded, 3);
    assert.equal(report.to, head);
    const msg = sent.flat().find((m) => decodeRegionSync(m.body, 1 << 24).apiId === a.apiId)!;
    assert.equal(msg.routingKey, ingressQueueName("rb"));
    const sync = decodeRegionSync(msg.body, 1 << 24);
    assert.equal(sync.origin, "ra");
    assert.deepEqual(sync.changes.flatMap((ch) => ch.labels).sort(), ["L1", "L2"]);
    assert.ok(sync.changes.every((ch) => ch.revision === 2), "the API's current revision");
    const onDisk = JSON.parse(readFileSync(join(dir, RELAY_CURSOR_FILE), "utf8"));
    assert.equal(onDisk.regions.rb.seq, head);

    // Restarted: the cursor on disk says everything crossed, nothing is sent again.
    const again = catchUp(dir);
    const r2 = await again.c.run("full");
    assert.equal(r2.forwarded, 0);
    assert.equal(again.sent.length, 0);
    assert.equal(r2.from, head);
  });

  test("an API a live forward covered is not sent; a change after the cover is", async () => {
    const dir = join(root, "covered");
    const { c: cu, sent, cursors } = catchUp(dir, "rb");
    await cu.run("full");
    const start = cursors.get("rb")!;
    sent.length = 0;
    const x = await publish("CovX", ["L1"]);
    const y = await publish("CovY", ["L1"]);
    cu.covered(x.apiId, x.seq);
    cu.covered(y.apiId, y.seq);
    const z = await publish("CovX", ["L1"], 5); // after the cover: must go
    const r = await cu.run("full");
    assert.deepEqual(apisOf(sent), [z.apiId]);
    assert.equal(r.from, start);
    assert.equal(r.to, z.seq);
  });

  test("check mode moves the cursor over what crossed and stops at a young change that has not", async () => {
    const dir = join(root, "check");
    const { c: cu, sent, cursors } = catchUp(dir, "rb");
    await cu.run("full");
    sent.length = 0;
    const p = await publish("ChkP", ["L1"]);
    const q = await publish("ChkQ", ["L1"]);
    const r = await publish("ChkR", ["L1"]);
    cu.covered(p.apiId, p.seq);
    cu.covered(r.apiId, r.seq);
    // Nothing is old enough to send: the cursor passes P and waits at Q.
    const young = await cu.run("check", Number.NEGATIVE_INFINITY);
    assert.equal(young.forwarded, 0);
    assert.equal(cursors.get("rb"), p.seq);
    // Q is older than the grace now: sent, and the cursor reaches the head.
    const old = await cu.run("check", Date.now() + 1000);
    assert.deepEqual(apisOf(sent), [q.apiId]);
    assert.equal(old.to, r.seq);
  });

  test("a cursor file of another region, or unreadable, is ignored (the region is caught up from 0)", async () => {
    const dir = join(root, "other");
    const { c: cu } = catchUp(dir);
    await cu.run("full");
    const file = join(dir, RELAY_CURSOR_FILE);
    const doc = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify({ ...doc, region: "elsewhere" }));
    assert.equal(new RelayCursors(dir, "ra", silentLogger).get("rb"), undefined);
    writeFileSync(file, "{not json");
    assert.equal(new RelayCursors(dir, "ra", silentLogger).get("rb"), undefined);
  });

  test("a cursor beyond the store's head (a new store) starts over from 0", async () => {
    const dir = join(root, "beyond");
    const cursors = new RelayCursors(dir, "ra", silentLogger);
    cursors.set("rb", 1_000_000);
    const { c: cu, sent } = catchUp(dir);
    const r = await cu.run("full");
    assert.equal(r.from, 0);
    assert.ok(sent.flat().length > 0);
    assert.equal(r.to, await store.headSeq());
  });
});
