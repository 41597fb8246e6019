/**
 * The region ingress without RabbitMQ: RegionIngress.handle(envelope) → Outcome against a real SQLite
 * store. A relayed change is stored with its outbox event in one transaction and acked; a redelivery
 * is a duplicate; a message that can never be valid is dead-lettered with its reason.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { envelope } from "../../src/amqp/envelope.js";
import { sha256Hex } from "../../src/artifacts/digest.js";
import { loadConfig } from "../../src/config/load-config.js";
import { encodeRegionSync } from "../../src/events/region-sync.js";
import { HEADER_HOPS, HEADER_ORIGIN, HEADER_ORIGIN_SEQ } from "../../src/events/topics.js";
import { PublisherMetrics } from "../../src/http/metrics.js";
import { silentLogger } from "../../src/log.js";
import { RegionIngress } from "../../src/publisher/region-ingress.js";
import { openStore } from "../../src/store/open-store.js";
import { apiDto } from "../harness/api-dto.js";

const root = mkdtempSync(join(tmpdir(), "gwsync-ingress-"));
after(() => rmSync(root, { recursive: true, force: true }));

function host(name: string) {
  const dir = join(root, name);
  const { config } = loadConfig({
    text: `[gwsync]\nnode_id = "pub-${name}"\nregion = "rb"\ndata_dir = "${dir}"\n`,
    env: {},
    baseDir: root,
  });
  const store = openStore({ type: "sqlite", url: join(root, `${name}.db`) }, { region: "rb" });
  let wakes = 0;
  const h = {
    config,
    store,
    metrics: new PublisherMetrics(),
    signer: undefined,
    log: silentLogger,
    wakeOutbox: () => {
      wakes++;
    },
  };
  return { ingress: new RegionIngress({ publisher: h }), store, wakes: () => wakes };
}

function dto(name: string, revision: number) {
  return apiDto(name, {
    apiDefinition: `<api xmlns="http://ws.apache.org/ns/synapse" name="admin--${name}" context="/${name}/1.0.0" version="1.0.0"><!-- r${revision} --></api>`,
  });
}

function regionSync(name: string, revision: number, originSeq: number, over: { sha256?: string } = {}) {
  const artifact = JSON.stringify(dto(name, revision));
  const body = encodeRegionSync({
    origin: "ra",
    eventId: `ev-${name}-${originSeq}`,
    apiId: `id-${name}`,
    changes: [
      {
        labels: ["Default"],
        instruction: "Publish",
        revision,
        originSeq,
        sha256: over.sha256 ?? sha256Hex(artifact),
        artifact,
      },
    ],
  });
  return envelope("region-sync", body, {
    messageId: `ev-${name}-${originSeq}`,
    headers: { [HEADER_ORIGIN]: "ra", [HEADER_HOPS]: 0 },
  });
}

describe("RegionIngress.handle (no broker)", () => {
  test("a relayed artifact is stored with its origin and its outbox event, then acked; a redelivery is a duplicate", async () => {
    const t = host("a");
    const changes: string[] = [];
    t.ingress.events.on("change", (_origin: string, _api: string, result: string) => changes.push(result));
    assert.deepEqual(await t.ingress.handle(regionSync("Pizza", 4, 17)), { kind: "ack" });
    const stored = await t.store.getArtifact("id-Pizza", "Default");
    assert.equal(stored?.revision, 4);
    const claim = await t.store.claimOutbox(10);
    assert.equal(claim.rows.length, 1);
    assert.equal(claim.rows[0]!.topic, "notification");
    assert.equal(claim.rows[0]!.headers[HEADER_ORIGIN], "ra");
    assert.equal(claim.rows[0]!.headers[HEADER_ORIGIN_SEQ], 17);
    await claim.release();
    assert.equal(t.wakes(), 1);
    assert.deepEqual(await t.ingress.handle(regionSync("Pizza", 4, 17)), { kind: "ack" });
    assert.deepEqual(changes, ["stored", "duplicate"]);
    await t.store.close();
  });

  test("an older revision than the store holds is acked and not stored", async () => {
    const t = host("b");
    await t.ingress.handle(regionSync("Pizza", 5, 20));
    const changes: string[] = [];
    t.ingress.events.on("change", (_o: string, _a: string, result: string) => changes.push(result));
    assert.deepEqual(await t.ingress.handle(regionSync("Pizza", 3, 21)), { kind: "ack" });
    assert.deepEqual(changes, ["older"]);
    assert.equal((await t.store.getArtifact("id-Pizza", "Default"))?.revision, 5);
    await t.store.close();
  });

  test("a body that is no region-sync message, or an artifact not matching its sha256, is dead-lettered", async () => {
    const t = host("c");
    const garbage = await t.ingress.handle(envelope("region-sync", Buffer.from("{}")));
    assert.equal(garbage.kind, "reject");
    const forged = await t.ingress.handle(regionSync("Pizza", 2, 9, { sha256: "0".repeat(64) }));
    assert.equal(forged.kind, "reject");
    assert.match((forged as { reason: string }).reason, /GWSYNC_ARTIFACT_INVALID.*sha256/);
    assert.equal(await t.store.getArtifact("id-Pizza", "Default"), undefined);
    await t.store.close();
  });
});
