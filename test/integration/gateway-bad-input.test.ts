import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { deadLetterQueueName } from "../../src/amqp/topology.js";
import { isGwsyncError } from "../../src/errors.js";
import { encodeNotification, deployApiEvent } from "../../src/events/encode.js";
import { buildGatewayEvent } from "../../src/publisher/events-out.js";
import { drainQueueUntil, publishRaw } from "../harness/broker.js";
import { synapseApi, TestCluster } from "../harness/cluster.js";
import { CHANGED, counter, waitFor } from "../harness/wait.js";

describe("bad input is rejected with a reason and changes nothing; the gateway keeps serving", () => {
  const cluster = new TestCluster();

  before(async () => {
    await cluster.startPublisher();
    await cluster.startGateway({ name: "gw", labels: ["X"], extra: "" });
  });
  after(() => cluster.close());

  test("the publisher refuses a DOCTYPE, malformed XML and an escaping name before storing anything", async () => {
    const pub = cluster.publisher!.publisher;
    const head = await pub.store.headSeq();
    const bad = [
      `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><api name="a--b" context="/b" version="1"/>`,
      `<api name="a--b" context="/b" version="1"><resource></api>`,
      synapseApi({ name: "../../../etc/evil" }),
      "not xml at all",
    ];
    for (const xml of bad) {
      await assert.rejects(
        () => pub.deployApi(xml, ["X"]),
        (err: unknown) => isGwsyncError(err) && err.message.length > 10,
      );
    }
    assert.equal(await pub.store.headSeq(), head, "nothing was committed");
    assert.equal(await pub.store.outboxDepth(), 0);
  });

  test("malformed, oversized and unsafe events are dead-lettered with their reason; valid ones still deploy", async () => {
    const gw = cluster.gateways.get("gw")!;
    const store = cluster.publisher!.publisher.store;
    // Every refusal with its reason: the consumer's (dead-lettered messages) and the reconciler's (an
    // artifact refused by a catch-up, e.g. the one that follows the gateway's connect, after which its
    // event is skipped as already seen). Either path may refuse the two bad artifacts first.
    const refusals: string[] = [];
    const onRejected = (_stream: string, reason: string) => refusals.push(reason);
    gw.events.on("rejected", onRejected);

    // An artifact that bypassed the publisher's checks (written straight into the store): a name that
    // escapes deployment_dir, and XML with a DOCTYPE. The gateway re-validates what it fetches.
    const evilDtos = [
      { name: "evil", provider: "admin", apiDefinition: synapseApi({ name: "evil" }).replace('name="admin--evil"', 'name="../../escape"') },
      { name: "bomb", provider: "admin", apiDefinition: `<!DOCTYPE x [<!ENTITY a "aaaa">]>${synapseApi({ name: "bomb" })}` },
    ];
    const evilIds = evilDtos.map((_, i) => `00000000-0000-4000-8000-00000000000${i}`);
    for (const [i, d] of evilDtos.entries()) {
      const dto = { ...d, version: "1.0.0", tenantDomain: "carbon.super", apiId: evilIds[i]! };
      await store.saveArtifact({ dto, labels: ["X"], instruction: "Publish" }, (r) => [
        buildGatewayEvent({ action: "deploy", dto, labels: ["X"], result: r, region: "test" }),
      ]);
    }

    await publishRaw(cluster.exchange, "notification", [
      Buffer.from("this is not json"),
      Buffer.from(JSON.stringify({ event: { payloadData: { eventType: "DEPLOY_API_IN_GATEWAY", timestamp: 1, event: "%%%" } } })),
      Buffer.alloc(5 * 1024 * 1024, 0x20), // over the 4 MiB default cap
    ]);
    await publishRaw(cluster.exchange, "tokenRevocation", [Buffer.from(JSON.stringify({ event: { payloadData: { revokedToken: 5 } } }))]);

    const refused = (pattern: RegExp) => refusals.some((r) => pattern.test(r));
    await waitFor(
      gw.events,
      "rejected",
      () =>
        refused(/not valid JSON/i) &&
        refused(/base64/i) &&
        refused(/over the \d+-byte limit/) &&
        refused(/eventId/) &&
        evilIds.every((id) => refused(new RegExp(`${id} refused`))),
      "the four bad messages and the two bad artifacts refused",
    );
    gw.events.off("rejected", onRejected);
    assert.ok(refused(/DOCTYPE/), refusals.join(" | "));
    assert.ok(refused(/escape/), refusals.join(" | "));
    // The four messages that can never be valid are in the dead-letter queue with their reason.
    const dead = await drainQueueUntil(deadLetterQueueName(gw.queueName), 4);
    const reasons = dead.map((m) => String(m.headers["x-gwsync-reason"]));
    for (const pattern of [/not valid JSON/i, /base64/i, /over the \d+-byte limit/, /eventId/]) {
      assert.ok(reasons.some((r) => pattern.test(r)), `${pattern} in ${reasons.join(" | ")}`);
    }
    // Nothing escaped the deployment folder, nothing partial was left.
    const root = cluster.deploymentDir("gw");
    assert.ok(!existsSync(join(root, "..", "escape.xml")) && !existsSync(join(root, "escape.xml")));
    const leftovers = existsSync(join(root, "api")) ? readdirSync(join(root, "api")).filter((f) => !f.endsWith(".xml")) : [];
    assert.deepEqual(leftovers, []);

    // Still serving: a valid API deploys after all that.
    const ok = await cluster.publisher!.publisher.deployApi(synapseApi({ name: "StillAlive" }), ["X"]);
    await waitFor(
      gw.events,
      CHANGED,
      () => gw.deployer.get(ok.apiId) !== undefined,
      "valid API after bad input",
    );
    for (const id of evilIds) assert.equal(gw.deployer.get(id), undefined, `${id} is not deployed`);
  });

  test("an event with empty gatewayLabels is a logged no-op", async () => {
    const gw = cluster.gateways.get("gw")!;
    const enc = encodeNotification(
      deployApiEvent({ uuid: "11111111-1111-4111-8111-111111111111", name: "n", version: "1", provider: "p", context: "/n", gatewayLabels: [] }),
    );
    const handled = counter(gw.events, "handled", (_s, _k, id) => id === enc.eventId);
    const before = gw.deployer.deployed().length;
    await publishRaw(cluster.exchange, "notification", [enc.body], { messageId: () => enc.eventId });
    await waitFor(gw.events, CHANGED, () => handled.count === 1, "the empty-label event to be handled");
    assert.equal(gw.deployer.deployed().length, before);
    assert.equal(await gw.metrics.registry.getSingleMetricAsString("gwsync_events_skipped_total").then((t) => /why="no-labels"[^\n]* 1/.test(t)), true);
  });
});
