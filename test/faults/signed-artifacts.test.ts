import assert from "node:assert/strict";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import amqp from "amqplib";
import { deadLetterQueueName } from "../../src/amqp/topology.js";
import { sha256Hex } from "../../src/artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { HEADER_SIGNATURE } from "../../src/events/topics.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { buildGatewayEvent } from "../../src/publisher/events-out.js";
import { ArtifactSigner, generateSigningKeyPair } from "../../src/security/signing.js";
import { BROKER_URL, drainQueueUntil, publishRaw } from "../harness/broker.js";
import { synapseApi, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

const LABEL = "S";

async function signatureRejections(gw: Gateway, reason: string): Promise<number> {
  const text = await gw.metrics.registry.getSingleMetricAsString("gwsync_signature_rejected_total");
  const m = new RegExp(`reason="${reason}"[^\\n]* (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Issue item 6's fault tests, on the real broker: with signing on, a DEPLOY without a signature, one
 * signed with another key, and an altered one are dead-lettered with the reason and counted; keys rotate
 * (both trusted, then the old one dropped); a replayed old signed revision changes nothing, before and
 * after the API was removed and the gateway restarted.
 */
describe("signed artifacts: no signature, wrong key, rotation, replay", () => {
  const cluster = new TestCluster();
  const keyDir = join(cluster.root, "keys");
  const key1 = generateSigningKeyPair();
  const key2 = generateSigningKeyPair();
  const attacker = generateSigningKeyPair();
  let gw: Gateway;
  /** Every notification published on the test's exchange, as an eavesdropper with read rights sees them. */
  const captured: { body: Buffer; headers: Record<string, unknown>; messageId: string }[] = [];
  let tap: amqp.ChannelModel;

  const write = (name: string, text: string) => {
    const file = join(keyDir, name);
    writeFileSync(file, text, { mode: 0o600 });
    chmodSync(file, 0o600);
    return file;
  };
  const publisherSigning = (keyFile: string) => `[gwsync.signing]\nprivate_key_file = ${JSON.stringify(keyFile)}\n`;
  const gatewaySpec = (trusted: string[]) => ({
    name: "gw",
    labels: [LABEL],
    extra: "accept_inline_artifacts = true",
    gwsyncExtra: `[gwsync.signing]\ntrusted_keys = ${JSON.stringify(trusted)}`,
  });

  before(async () => {
    const { mkdirSync } = await import("node:fs");
    mkdirSync(keyDir, { recursive: true });
    write("k1.key", key1.privateKeyPem);
    write("k1.pub", key1.publicKeyPem);
    write("k2.key", key2.privateKeyPem);
    write("k2.pub", key2.publicKeyPem);
    await cluster.startPublisher("publish_directly_to_gateway = true", publisherSigning(join(keyDir, "k1.key")));
    gw = await cluster.startGateway(gatewaySpec([join(keyDir, "k1.pub")]));
    tap = await amqp.connect(BROKER_URL);
    const ch = await tap.createChannel();
    const q = await ch.assertQueue("", { exclusive: true, autoDelete: true });
    await ch.bindQueue(q.queue, cluster.exchange, "notification");
    await ch.consume(q.queue, (m) => {
      if (m) captured.push({ body: m.content, headers: m.properties.headers ?? {}, messageId: String(m.properties.messageId) });
    }, { noAck: true });
  });
  after(async () => {
    await tap?.close().catch(() => undefined);
    await cluster.close();
  });

  const deadLetters = (n: number) => drainQueueUntil(deadLetterQueueName(gw.queueName), n);

  test("a signed publish deploys (inline, no fetch); the data API serves each artifact with its signature", async () => {
    const pub = cluster.publisher!.publisher;
    const r = await Promise.resolve(pub.deployApi(synapseApi({ name: "Signed", revision: 1 }), [LABEL]));
    await waitFor(gw.events, CHANGED, () => gw.deployer.get(r.apiId)?.revision === r.revision, "the signed API deployed");
    const res = await fetch(`${cluster.publisherUrl}/internal/data/v1/runtime-artifacts?gatewayLabel=${LABEL}`, {
      headers: { authorization: `Basic ${Buffer.from("gwsync-test:not-a-default-secret").toString("base64")}` },
    });
    const body = (await res.json()) as { gwsync: { items: { signature?: string }[] } };
    assert.match(String(body.gwsync.items[0]?.signature), /^gws1\./);
  });

  test("no signature and a wrong key are dead-lettered with the reason and counted; an altered artifact too", async () => {
    const pub = cluster.publisher!.publisher;
    const apiId = (await pub.store.findApiId("Signed", "1.0.0"))!;
    const stored = JSON.parse((await Promise.resolve(pub.store.getArtifact(apiId, LABEL)))!.artifactJson) as GatewayApiDto;
    const evil: GatewayApiDto = { ...stored, apiDefinition: stored.apiDefinition.replace("gwsync.revision", "evil.marker") };
    const forged = (signer: ArtifactSigner | undefined, dto: GatewayApiDto, signedDto = dto) => {
      const result = { apiId, revision: 50, sha256: sha256Hex(JSON.stringify(signedDto)), seq: 10_000, labels: [LABEL], changed: true };
      const m = buildGatewayEvent({ action: "deploy", dto, labels: [LABEL], result, region: "test", inlineArtifact: { maxBytes: 1 << 20 }, signer });
      return { body: m.body, headers: m.headers, id: m.messageId };
    };
    const cases = [
      forged(undefined, evil),
      forged(new ArtifactSigner(attacker.privateKeyPem), evil),
      // A genuine signature (key 1) of other content: the artifact was altered on the way.
      forged(new ArtifactSigner(key1.privateKeyPem), evil, stored),
    ];
    for (const c of cases) await publishRaw(cluster.exchange, "notification", [c.body], { headers: c.headers, messageId: () => c.id });
    const dead = await deadLetters(3);
    const reasons = dead.map((m) => String(m.headers["x-gwsync-reason"]));
    assert.ok(reasons.includes("signature: unsigned"), reasons.join(" | "));
    assert.ok(reasons.some((r) => /signature: signed by untrusted key/.test(r)), reasons.join(" | "));
    assert.ok(reasons.some((r) => /signature: signed for other content/.test(r)), reasons.join(" | "));
    assert.equal(await signatureRejections(gw, "unsigned"), 1);
    assert.equal(await signatureRejections(gw, "untrusted-key"), 1);
    assert.equal(await signatureRejections(gw, "mismatch"), 1);
    const file = readFileSync(join(cluster.deploymentDir("gw"), "api", "admin--Signed_v1.0.0.xml"), "utf8");
    assert.doesNotMatch(file, /evil\.marker/);
  });

  test("rotation: a publisher on a new key is refused until gateways trust it; with both keys trusted both work, then the old one can go", async () => {
    await cluster.publisher!.close();
    await cluster.startPublisher("publish_directly_to_gateway = true", publisherSigning(join(keyDir, "k2.key")));
    const before = await signatureRejections(gw, "untrusted-key");
    const r = await Promise.resolve(cluster.publisher!.publisher.deployApi(synapseApi({ name: "Rotated" }), [LABEL]));
    await waitFor(gw.events, "rejected", async () => (await signatureRejections(gw, "untrusted-key")) > before, "the new key refused");
    assert.equal(gw.deployer.get(r.apiId), undefined);

    await cluster.stopGateway("gw");
    gw = await cluster.startGateway(gatewaySpec([join(keyDir, "k1.pub"), join(keyDir, "k2.pub")]));
    await waitFor(gw.events, CHANGED, () => gw.deployer.get(r.apiId) !== undefined, "the rotated key's API deployed once trusted");
    const r2 = await Promise.resolve(cluster.publisher!.publisher.deployApi(synapseApi({ name: "Rotated", revision: 2 }), [LABEL]));
    await waitFor(gw.events, CHANGED, () => gw.deployer.get(r.apiId)?.revision === r2.revision, "new-key events applied");

    await cluster.stopGateway("gw");
    gw = await cluster.startGateway(gatewaySpec([join(keyDir, "k2.pub")]));
    assert.equal(gw.deployer.get(r.apiId)?.revision, r2.revision, "the old key dropped: the new one still serves");
  });

  test("a replayed old signed revision changes nothing, also after the API was removed and the gateway restarted", async () => {
    const pub = cluster.publisher!.publisher;
    const r1 = await Promise.resolve(pub.deployApi(synapseApi({ name: "Replayed", revision: 1 }), [LABEL]));
    await waitFor(gw.events, CHANGED, () => gw.deployer.get(r1.apiId)?.revision === r1.revision, "revision 1");
    await waitFor(gw.events, CHANGED, () => captured.some((m) => m.headers["x-gwsync-revision"] === r1.revision && String(m.headers[HEADER_SIGNATURE]).startsWith("gws1.")), "revision 1 captured");
    const old = captured.find((m) => m.headers["x-gwsync-revision"] === r1.revision)!;
    const r2 = await Promise.resolve(pub.deployApi(synapseApi({ name: "Replayed", revision: 2 }), [LABEL]));
    await waitFor(gw.events, CHANGED, () => gw.deployer.get(r1.apiId)?.revision === r2.revision, "revision 2");
    const file = join(cluster.deploymentDir("gw"), "api", "admin--Replayed_v1.0.0.xml");
    const v2 = readFileSync(file, "utf8");

    const replay = async () => {
      const id = `${old.messageId}-replay-${Math.random()}`;
      const handled = new Promise<void>((resolve) => {
        const on = (_s: string, _k: string, mid: string | undefined) => {
          if (mid !== id) return;
          gw.events.off("handled", on);
          resolve();
        };
        gw.events.on("handled", on);
      });
      await publishRaw(cluster.exchange, "notification", [old.body], { headers: old.headers, messageId: () => id });
      await handled;
    };
    await replay();
    assert.equal(readFileSync(file, "utf8"), v2, "revision 1 replayed over revision 2: nothing changed");
    assert.equal(gw.deployer.get(r1.apiId)?.revision, r2.revision);

    await Promise.resolve(pub.removeApi(r1.apiId, [LABEL]));
    await waitFor(gw.events, CHANGED, () => gw.deployer.get(r1.apiId) === undefined, "removed");
    await cluster.stopGateway("gw");
    gw = await cluster.startGateway(gatewaySpec([join(keyDir, "k1.pub"), join(keyDir, "k2.pub")]));
    await replay();
    assert.equal(gw.deployer.get(r1.apiId), undefined, "a replay of a removed API's old revision does not bring it back");
  });
});
