/**
 * The relay's decisions without a broker: which messages cross, where to, with which headers, and the
 * region-sync format. (A unit test: it needs no RabbitMQ.)
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type Envelope, envelope } from "../../src/amqp/envelope.js";
import { ingressQueueName } from "../../src/amqp/topology.js";
import { isGwsyncError } from "../../src/errors.js";
import { encodeBatch, HEADER_BATCH } from "../../src/events/batch.js";
import { encodeTokenRevocation } from "../../src/events/encode.js";
import { decodeRegionSync, encodeRegionSync } from "../../src/events/region-sync.js";
import { regionSyncRefusal } from "../../src/events/region-sync-trust.js";
import { readRelayFacts } from "../../src/events/relay-headers.js";
import { HEADER_HOPS, HEADER_ORIGIN } from "../../src/events/topics.js";
import { toGatewayApiDto } from "../../src/publisher/artifact-input.js";
import { buildGatewayEvent } from "../../src/publisher/events-out.js";
import { LabelDirectory, snapshotChanges } from "../../src/relay/artifact-snapshot.js";
import { type ForwardContext, planForward } from "../../src/relay/forward-plan.js";
import { ArtifactSigner, generateSigningKeyPair, TrustedKeys } from "../../src/security/signing.js";
import { openStore } from "../../src/store/open-store.js";
import type { NewOutboxMessage } from "../../src/store/types.js";
import { synapseApi } from "../harness/cluster.js";
import { tempDir } from "../harness/temp-dir.js";

const root = tempDir("gwsync-relay-plan-");
const store = openStore({ type: "sqlite", url: join(root, "a.db") }, { region: "ra" });
const MAX_BYTES = 4 * 1024 * 1024;

function ctx(over: Partial<ForwardContext> = {}): ForwardContext {
  return {
    localRegion: "ra",
    remoteRegion: "rb",
    maxHops: 1,
    maxMessageBytes: MAX_BYTES,
    remoteExchange: "amq.topic",
    routingKeyOf: (s) => (s === "tokenRevocation" ? "tokenRevocationRenamed" : s),
    store: () => store,
    labels: new LabelDirectory(() => store, 0),
    ...over,
  };
}

function delivery(
  routingKey: string,
  body: Buffer,
  headers?: Record<string, unknown>,
  messageId?: string,
): Envelope {
  return envelope(routingKey, body, {
    headers,
    messageId,
    timestamp: 1_700_000_000_000,
    contentType: "application/json",
  });
}

function fromOutbox(m: NewOutboxMessage): Envelope {
  return delivery(m.topic, m.body, m.headers, m.messageId);
}

async function publish(name: string, labels: string[], revisionMark = 1): Promise<NewOutboxMessage> {
  const dto = toGatewayApiDto(synapseApi({ name, revision: revisionMark, size: 400 }));
  let out: NewOutboxMessage | undefined;
  await store.saveArtifact({ dto, labels, instruction: "Publish" }, (r) => {
    out = buildGatewayEvent({ action: "deploy", dto, labels, result: r, region: "ra" });
    return [out];
  });
  assert.ok(out);
  return out;
}

after(async () => {
  await store.close();
  rmSync(root, { recursive: true, force: true });
});

describe("relay headers", () => {
  test("a message without gwsync headers (WSO2's own) was born here, zero hops", async () => {
    assert.deepEqual(readRelayFacts(undefined, "ra"), { origin: "ra", hops: 0 });
  });
  test("hops written as a string by a JMS producer count; a corrupt hops header counts as too far", async () => {
    assert.equal(readRelayFacts({ [HEADER_HOPS]: "1", [HEADER_ORIGIN]: "rc" }, "ra").hops, 1);
    assert.ok(readRelayFacts({ [HEADER_HOPS]: "many" }, "ra").hops >= 1);
  });
  test("an origin that is not a region name is ignored", async () => {
    assert.equal(readRelayFacts({ [HEADER_ORIGIN]: "../etc" }, "ra").origin, "ra");
  });
});

describe("planForward", () => {
  test("a token revocation crosses as it is, to the remote's mapped topic, origin kept and one more hop", async () => {
    const enc = encodeTokenRevocation({ revokedToken: "abc", expiryTime: 0, type: "JWT" });
    const d = await planForward(
      delivery("tokenRevocation", enc.body, { [HEADER_ORIGIN]: "ra", [HEADER_HOPS]: 0 }, enc.eventId),
      ctx(),
    );
    assert.equal(d.kind, "forward");
    if (d.kind !== "forward") return;
    const [m] = d.messages;
    assert.equal(m?.exchange, "amq.topic");
    assert.equal(m?.routingKey, "tokenRevocationRenamed");
    assert.equal(m?.body, enc.body);
    assert.equal(m?.options.messageId, enc.eventId);
    assert.deepEqual(m?.options.headers, { [HEADER_ORIGIN]: "ra", [HEADER_HOPS]: 1 });
  });

  test("a gwsync batch of revocations crosses as it is, still a batch; one with an invalid event is refused", async () => {
    const events = ["b1", "b2"].map((t) =>
      encodeTokenRevocation({ revokedToken: t, expiryTime: 0, type: "JWT" }),
    );
    const body = encodeBatch(events.map((e) => ({ messageId: e.eventId, timestamp: 1, body: e.body })));
    const headers = { [HEADER_ORIGIN]: "ra", [HEADER_HOPS]: 0, [HEADER_BATCH]: 2 };
    const d = await planForward(delivery("tokenRevocation", body, headers, `${events[0]!.eventId}+2`), ctx());
    assert.equal(d.kind, "forward");
    if (d.kind !== "forward") return;
    assert.equal(d.messages[0]?.body, body);
    assert.equal(d.messages[0]?.options.headers?.[HEADER_BATCH], 2);
    assert.equal(d.messages[0]?.options.headers?.[HEADER_HOPS], 1);

    const bad = encodeBatch([
      { messageId: events[0]!.eventId, timestamp: 1, body: events[0]!.body },
      { messageId: "x", timestamp: 1, body: Buffer.from('{"event":{"payloadData":{"revokedToken":7}}}') },
    ]);
    const refused = await planForward(delivery("tokenRevocation", bad, headers), ctx());
    assert.equal(refused.kind, "reject");
    assert.match(refused.kind === "reject" ? refused.reason : "", /event x of the batch/);
  });

  test("a message that already crossed a region is never forwarded again (full mesh, max hops 1)", async () => {
    const enc = encodeTokenRevocation({ revokedToken: "abc", expiryTime: 0, type: "JWT" });
    const d = await planForward(
      delivery("tokenRevocation", enc.body, { [HEADER_ORIGIN]: "rc", [HEADER_HOPS]: 1 }),
      ctx(),
    );
    assert.deepEqual(d, { kind: "skip", why: "hops" });
  });

  test("a message is never sent back to its origin region", async () => {
    const enc = encodeTokenRevocation({ revokedToken: "abc", expiryTime: 0, type: "JWT" });
    const d = await planForward(
      delivery("tokenRevocation", enc.body, { [HEADER_ORIGIN]: "rb", [HEADER_HOPS]: 0 }),
      ctx({ maxHops: 3 }),
    );
    assert.deepEqual(d, { kind: "skip", why: "origin" });
  });

  test("a DEPLOY whose API the store holds goes, with its artifact, to the remote ingress queue", async () => {
    const out = await publish("Plan1", ["P"]);
    const d = await planForward(fromOutbox(out), ctx());
    assert.equal(d.kind, "forward");
    if (d.kind !== "forward") return;
    assert.equal(d.stream, "region-sync");
    const [m] = d.messages;
    assert.equal(m?.exchange, "");
    assert.equal(m?.routingKey, ingressQueueName("rb"));
    const sync = decodeRegionSync(m!.body, MAX_BYTES);
    const stored = await store.getArtifact(sync.apiId, "P");
    assert.ok(stored);
    assert.equal(sync.origin, "ra");
    assert.deepEqual(sync.changes, [
      {
        labels: ["P"],
        instruction: "Publish",
        revision: stored.revision,
        originSeq: stored.seq,
        sha256: stored.sha256,
        artifact: stored.artifactJson,
      },
    ]);
  });

  test("a DEPLOY of an API the store does not hold (forged on the hub) is not forwarded; relay_foreign_artifact_events lets WSO2's cross", async () => {
    const out = await publish("Plan2", ["P"]);
    const empty = openStore({ type: "sqlite", url: join(root, "empty.db") }, { region: "ra" });
    try {
      const at = { store: () => empty, labels: new LabelDirectory(() => empty, 0) };
      assert.deepEqual(await planForward(fromOutbox(out), ctx(at)), { kind: "skip", why: "not-in-store" });
      const d = await planForward(fromOutbox(out), ctx({ ...at, forwardForeignArtifactEvents: true }));
      assert.equal(d.kind === "forward" && d.stream, "notification");
    } finally {
      await empty.close();
    }
  });

  test("with a key, each change is signed; the receiving ingress refuses unsigned, foreign-key and altered changes", async () => {
    const out = await publish("PlanSigned", ["P"]);
    const key = generateSigningKeyPair();
    const other = generateSigningKeyPair();
    const d = await planForward(fromOutbox(out), ctx({ signer: new ArtifactSigner(key.privateKeyPem) }));
    assert.ok(d.kind === "forward");
    const sync = decodeRegionSync(d.messages[0]!.body, MAX_BYTES);
    const keys = new TrustedKeys([{ pem: key.publicKeyPem, what: "relay-a.pub" }]);
    assert.equal(regionSyncRefusal(sync, keys), undefined);
    const change = sync.changes[0]!;
    const { signature: _drop, ...unsigned } = change;
    assert.match(String(regionSyncRefusal({ ...sync, changes: [unsigned] }, keys)), /unsigned/);
    assert.match(String(regionSyncRefusal(sync, new TrustedKeys([{ pem: other.publicKeyPem, what: "x" }]))), /untrusted key/);
    assert.match(String(regionSyncRefusal({ ...sync, changes: [{ ...change, revision: change.revision + 1 }] }, keys)), /another revision/);
    assert.match(String(regionSyncRefusal({ ...sync, changes: [{ ...change, labels: ["P", "Q"] }] }, keys)), /label "Q"/);
    assert.match(String(regionSyncRefusal({ ...sync, origin: "rz" }, keys)), /another region/);
  });

  test("a body that can never be valid is rejected with its reason", async () => {
    const d = await planForward(delivery("notification", Buffer.from("{not json")), ctx());
    assert.equal(d.kind, "reject");
  });

  test("the snapshot covers every label of the API, oldest revision first, whatever labels the event named", async () => {
    await publish("Plan3", ["L1"], 1);
    const later = await publish("Plan3", ["L2"], 2);
    await publish("Plan3", ["L1"], 3);
    const d = await planForward(fromOutbox(later), ctx());
    assert.equal(d.kind, "forward");
    if (d.kind !== "forward") return;
    const sync = decodeRegionSync(d.messages[0]!.body, MAX_BYTES);
    assert.deepEqual(
      sync.changes.map((c) => [c.labels.join(","), c.revision]),
      [
        ["L2", 2],
        ["L1", 3],
      ],
    );
    const direct = await snapshotChanges(store, sync.apiId, ["L1", "L2", "nowhere"]);
    assert.equal(direct.length, 2);
  });
});

describe("region-sync format", () => {
  const valid = {
    origin: "ra",
    eventId: "e1",
    apiId: "api-1",
    changes: [
      {
        labels: ["P"],
        instruction: "Publish" as const,
        revision: 1,
        originSeq: 1,
        sha256: "a".repeat(64),
        artifact: "{}",
      },
    ],
  };

  test("round-trips", async () => {
    assert.equal(decodeRegionSync(encodeRegionSync(valid), MAX_BYTES).apiId, "api-1");
  });

  test("refuses an oversized body before parsing it", async () => {
    await assert.rejects(
      async () => decodeRegionSync(encodeRegionSync(valid), 10),
      (err) => isGwsyncError(err, "GWSYNC_EVENT_TOO_LARGE"),
    );
  });

  test("names the bad field of an invalid message", async () => {
    const bad = Buffer.from(
      JSON.stringify({ ...JSON.parse(encodeRegionSync(valid).toString()), origin: "a/b" }),
    );
    await assert.rejects(
      async () => decodeRegionSync(bad, MAX_BYTES),
      (err) => isGwsyncError(err, "GWSYNC_EVENT_INVALID") && /origin/.test(err.message),
    );
  });
});
