import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { deadLetterQueueName } from "../../src/amqp/topology.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { decodeEvent } from "../../src/events/decode.js";
import { KEY_MANAGER_FIELDS } from "../../src/events/key-manager.js";
import { NOTIFICATION_FIELDS } from "../../src/events/notification.js";
import { TOKEN_REVOCATION_FIELDS } from "../../src/events/token-revocation.js";
import { TOPICS, type Topic } from "../../src/events/topics.js";
import { WEBHOOK_FIELDS } from "../../src/events/webhook-subscription.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { buildGatewayEvent } from "../../src/publisher/events-out.js";
import type { NewOutboxMessage } from "../../src/store/types.js";
import { drainQueue, drainQueueUntil } from "../harness/broker.js";
import { assertClean } from "../harness/invariants.js";
import { counter, waitFor } from "../harness/wait.js";
import { FaultWorld, publishMessages, tinyApi } from "./world.js";

const RUNS_PER_STREAM = 1000;
/** A label no random string will hit by chance. */
const LABEL = "fuzz-label-7f3a";
const SEED = 20_240_601;

const FIELDS: Record<Topic, readonly string[]> = {
  notification: NOTIFICATION_FIELDS,
  tokenRevocation: TOKEN_REVOCATION_FIELDS,
  keyManager: KEY_MANAGER_FIELDS,
  asyncWebhooksData: WEBHOOK_FIELDS,
};

const envelope = (payloadData: unknown) => Buffer.from(JSON.stringify({ event: { payloadData } }));

/** Random bytes, random JSON, random text, and envelopes made of the stream's own field names. */
function bodies(topic: Topic): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
    fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
    fc
      .dictionary(
        fc.oneof(fc.constantFrom(...FIELDS[topic]), fc.string({ maxLength: 8 })),
        fc.jsonValue({ maxDepth: 2 }),
        { maxKeys: 20 },
      )
      .map(envelope),
  );
}

/** Names that try to leave deployment_dir or confuse a file system: each must be refused. */
const TRAVERSAL_NAMES = [
  "../escape",
  "../../../../etc/passwd",
  "..",
  ".",
  "/etc/passwd",
  "a/../../b",
  "a/b",
  "..\\..\\windows",
  "C:\\evil",
  "\\\\server\\share",
  "%2e%2e%2fescape",
  "..%2f..%2fescape",
  "....//escape",
  "nul\u0000byte",
  "line\nbreak",
  "~/escape",
  ".hidden",
  "\u2025escape",
  "x".repeat(300),
  " ",
  "",
  "a\u202eb",
];

/** Entity tricks: a billion laughs, an external entity (XXE), a parameter entity, a remote DTD. */
const XML_BOMBS = [
  `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><api name="admin--Bomb" context="/bomb" version="1.0.0">&lol3;</api>`,
  `<?xml version="1.0"?><!DOCTYPE api [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><api name="admin--Xxe" context="/xxe" version="1.0.0">&xxe;</api>`,
  `<?xml version="1.0"?><!DOCTYPE api [<!ENTITY % p SYSTEM "http://127.0.0.1:1/evil.dtd">%p;]><api name="admin--Param" context="/param" version="1.0.0"/>`,
  `<?xml version="1.0"?><!DOCTYPE api SYSTEM "http://127.0.0.1:1/evil.dtd"><api name="admin--Remote" context="/remote" version="1.0.0"/>`,
];

function dtoNamed(name: string, i: number, where: "api" | "sequence" | "endpoint"): GatewayApiDto {
  const apiName = where === "api" ? name : `Safe${i}`;
  return {
    name: apiName,
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: randomUUID(),
    apiDefinition: `<api name="admin--${apiName}" context="/t${i}" version="1.0.0"><resource methods="GET"><inSequence><send/></inSequence></resource></api>`,
    ...(where === "sequence" ? { sequenceToBeAdd: [{ name, content: `<sequence name="s${i}"/>` }] } : {}),
    ...(where === "endpoint"
      ? { endpointEntriesToBeAdd: [{ name, content: `<endpoint name="e${i}"/>` }] }
      : {}),
  };
}

/** Every file under `root` except the deployment folder's expected tree and the services' own data. */
function filesOutside(root: string, deploymentDir: string): string[] {
  const out: string[] = [];
  for (const p of readdirSync(root, { recursive: true }) as string[]) {
    const rel = relative(root, join(root, p));
    if (/escape|passwd|evil|windows/.test(rel) && !join(root, p).startsWith(deploymentDir)) out.push(rel);
  }
  return out;
}

describe("bad input: rejected before any effect, no crash, no unhandled rejection", () => {
  const world = new FaultWorld();
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  let gw: Gateway;

  before(async () => {
    process.on("unhandledRejection", onUnhandled);
    process.on("uncaughtException", onUnhandled);
    const svc = await world.startPublisher();
    for (let i = 0; i < 3; i++) await svc.publisher.deployApi(tinyApi(`Good${i}`, 1), [LABEL]);
    gw = await world.startGateway({ name: "gw", labels: [LABEL], catchUpMs: 0 });
    await world.waitConverged("gw");
  });
  after(async () => {
    process.removeListener("unhandledRejection", onUnhandled);
    process.removeListener("uncaughtException", onUnhandled);
    await world.close();
  });

  test(`${RUNS_PER_STREAM} random payloads per stream (fast-check, seed ${SEED}): exactly the undecodable ones are dead-lettered, nothing deployed`, async () => {
    const messages: (NewOutboxMessage & { valid: boolean })[] = [];
    for (const [t, topic] of TOPICS.entries()) {
      for (const body of fc.sample(bodies(topic), { numRuns: RUNS_PER_STREAM, seed: SEED + t })) {
        const valid = decodeEvent(topic, body, { maxBytes: gw.config.gwsync.maxMessageBytes }).ok;
        messages.push({ topic, messageId: randomUUID(), body, headers: {}, valid });
      }
    }
    const before = gw.deployer
      .deployed()
      .map((d) => `${d.apiId}:${d.sha256}`)
      .sort();
    const handled = counter(gw.events, "handled");
    const rejected: string[] = [];
    const onHandled = (_s: string, kind: string, id: string | undefined) =>
      kind === "reject" && rejected.push(id ?? "");
    gw.events.on("handled", onHandled);
    const deployed = counter(gw.events, "applied", (o) => o === "deployed" || o === "removed");
    await publishMessages(world.exchange, messages);
    await waitFor(
      gw.events,
      "handled",
      () => handled.count >= messages.length,
      `${messages.length} deliveries handled`,
      120_000,
    );
    gw.events.removeListener("handled", onHandled);

    const invalid = messages.filter((m) => !m.valid).map((m) => m.messageId);
    assert.deepEqual(
      new Set(rejected),
      new Set(invalid),
      "dead-lettered exactly the payloads the wire format refuses",
    );
    assert.equal(deployed.count, 0, "no deploy or undeploy");
    assert.deepEqual(
      gw.deployer
        .deployed()
        .map((d) => `${d.apiId}:${d.sha256}`)
        .sort(),
      before,
    );
    const dead = await drainQueueUntil(deadLetterQueueName(gw.queueName), invalid.length);
    assert.equal(
      dead.length,
      invalid.length,
      "each refused payload is in the dead-letter queue once, with its reason",
    );
    assert.ok(dead.every((d) => typeof d.headers["x-gwsync-reason"] === "string"));
    assert.deepEqual(unhandled, [], "no unhandled rejection or uncaught exception");
    console.log(
      `fuzz: ${messages.length} payloads, ${invalid.length} refused, ${messages.length - invalid.length} valid by the wire contract`,
    );
    assertClean(await world.judge("gw"));
  });

  test(`${TRAVERSAL_NAMES.length * 3} path-traversal names (API, sequence, endpoint) and ${XML_BOMBS.length} XML bombs: refused by the publisher and, if they reach the store anyway, by the gateway`, async () => {
    const pub = world.publisher!.publisher;
    const dtos: GatewayApiDto[] = [];
    for (const [i, name] of TRAVERSAL_NAMES.entries()) {
      for (const where of ["api", "sequence", "endpoint"] as const) dtos.push(dtoNamed(name, i, where));
    }
    for (const [i, xml] of XML_BOMBS.entries())
      dtos.push({ ...dtoNamed(`Bomb${i}`, 1000 + i, "api"), apiDefinition: xml });
    const head = await pub.store.headSeq();
    for (const dto of dtos) {
      await assert.rejects(
        () => pub.deployApi(JSON.stringify(dto), [LABEL]),
        (err: unknown) => isGwsyncError(err),
        `publisher refuses ${JSON.stringify(dto.name)}`,
      );
    }
    for (const xml of XML_BOMBS)
      await assert.rejects(
        () => pub.deployApi(xml, [LABEL]),
        (err: unknown) => isGwsyncError(err),
      );
    assert.equal(await pub.store.headSeq(), head, "the publisher committed nothing");

    // Written straight into the store (a compromised or buggy control plane) and announced.
    const rejected = counter(gw.events, "rejected");
    const handled = counter(gw.events, "handled");
    const events: NewOutboxMessage[] = [];
    const stored: GatewayApiDto[] = [];
    for (const dto of dtos) {
      try {
        await pub.store.saveArtifact({ dto, labels: [LABEL], instruction: "Publish" }, (r) => {
          events.push(
            buildGatewayEvent({ action: "deploy", dto, labels: [LABEL], result: r, region: "test" }),
          );
          return [];
        });
        stored.push(dto);
      } catch (err) {
        // The store's own checks (name lengths) refuse some before any effect: fine too.
        assert.ok(isGwsyncError(err), String(err));
      }
    }
    assert.ok(stored.length >= 20, `${stored.length} evil artifacts reached the store to test the gateway`);
    await publishMessages(world.exchange, events);
    await waitFor(
      gw.events,
      "handled",
      () => handled.count >= events.length,
      `${events.length} evil events handled`,
      60_000,
    );
    assert.equal(rejected.count, stored.length, "every evil artifact refused by the gateway");
    for (const dto of dtos) assert.equal(gw.deployer.get(dto.apiId), undefined);
    assert.deepEqual(
      filesOutside(world.root, world.deploymentDir("gw")),
      [],
      "nothing written outside the deployment folder",
    );
    assert.ok(!existsSync("/etc/passwd.xml"));
    assert.deepEqual(unhandled, []);
    // Take them out of the store again, so the truth is what a sane control plane holds.
    for (const dto of stored) await pub.removeApi(dto.apiId, [LABEL]);
    await drainQueue(deadLetterQueueName(gw.queueName));
    assertClean(await world.judge("gw"));
  });
});
