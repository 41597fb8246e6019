/**
 * Issue 20 (B11 at 1,000 gateways × 10,000 APIs: after 10 minutes 142 of 1,000 gateways' views were
 * complete): a fleet sending its full report snapshots at once overflowed the publisher's report
 * queue, which dropped the oldest messages, and a gateway whose snapshot lost a part stayed
 * incomplete in the fleet view until its next periodic snapshot. Now the queue refuses what it cannot
 * hold (`x-overflow: reject-publish`: a basic.nack on the gateway's confirm channel), the publisher
 * acknowledges a report once stored, and the gateway sends the refused parts again, alone and under
 * their own sequence numbers, after a jittered back-off (the intake takes a snapshot's parts in any
 * order). On the real broker: 24 gateways' reporters (the gateway's own ApplyReporter and deployer)
 * send 8-part snapshots at once into a publisher whose report queue holds 4; some are refused, all end
 * complete with every API, and no part that was taken is sent again.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import amqp from "amqplib";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { MAX_REPORT_ENTRIES, REPORT_ROUTING_KEY } from "../../src/events/gateway-report.js";
import { ApplyReporter } from "../../src/gateway/apply-report.js";
import { MemoryDeployer } from "../../src/gateway/deploy/memory-deployer.js";
import { Publisher } from "../../src/publisher/publisher.js";
import { BROKER_URL } from "../harness/broker.js";
import { TestCluster } from "../harness/cluster.js";
import { waitFor } from "../harness/wait.js";

const GATEWAYS = 24;
const PARTS = 8;
const APIS = MAX_REPORT_ENTRIES * PARTS;
const QUEUE_MAX = 4;

const dto = (i: number): GatewayApiDto => ({
  name: `A${i}`,
  version: "1.0.0",
  provider: "admin",
  tenantDomain: "carbon.super",
  apiId: `api-${String(i).padStart(5, "0")}`,
  apiDefinition: `<api name="admin--A${i}" context="/a${i}" version="1.0.0"/>`,
});

const cluster = new TestCluster();
let publisher: Publisher | undefined;
let conn: amqp.ChannelModel | undefined;
const reporters: ApplyReporter[] = [];

after(async () => {
  for (const r of reporters) r.close();
  await conn?.close().catch(() => undefined);
  await publisher?.close();
  await cluster.close();
});

test(`${GATEWAYS} gateways' ${PARTS}-part snapshots at once into a report queue of ${QUEUE_MAX}: refused parts are sent again, every view ends complete`, async () => {
  publisher = new Publisher({ config: cluster.publisherConfig(), reportQueueMaxLength: QUEUE_MAX });
  await publisher.connect();
  const exchange = publisher.exchange;

  conn = await amqp.connect(BROKER_URL);
  const ch = await conn.createConfirmChannel();
  for (let g = 0; g < GATEWAYS; g++) {
    const deployer = new MemoryDeployer({ keepContent: false });
    for (let i = 0; i < APIS; i++) {
      await deployer.deploy(dto(i), {
        revision: 1,
        sha256: String(g % 10).repeat(64),
        seq: i + 1,
        labels: ["L"],
      });
    }
    reporters.push(
      new ApplyReporter({
        nodeId: `${cluster.id}-gw-${g}`,
        deployer,
        retryBaseMs: 20,
        retryMaxMs: 400,
        // As the gateway sends (src/gateway/gateway.ts): a confirm channel, refused parts report false.
        send: (body, settled) => {
          ch.publish(exchange, REPORT_ROUTING_KEY, body, { contentType: "application/json" }, (err) =>
            settled(err === null || err === undefined),
          );
        },
      }),
    );
  }

  const complete = async () => {
    const cursors = (await publisher!.store.listReportCursors()).filter((c) =>
      c.nodeId.startsWith(cluster.id),
    );
    return cursors.filter((c) => c.complete && c.served === APIS).length;
  };
  for (const r of reporters) r.sendFull();
  await waitFor(
    publisher.events,
    "report",
    async () => (await complete()) === GATEWAYS,
    `every gateway's view to be complete with ${APIS} APIs`,
    120_000,
  );
  const refused = reporters.reduce((s, r) => s + r.notTaken, 0);
  const resent = reporters.reduce((s, r) => s + r.partsResent, 0);
  const rows = await publisher.store.listReportCursors();
  console.log(
    `${GATEWAYS} × ${PARTS} parts into a queue of ${QUEUE_MAX}: ${refused} refused, ${resent} parts sent again; ${await complete()} of ${GATEWAYS} views complete`,
  );
  // The mechanism was exercised (the queue could not hold the burst), and nothing was lost to it.
  assert.ok(refused > 0, "the burst overflowed the report queue (else this test proves nothing)");
  assert.equal(rows.filter((c) => c.nodeId.startsWith(cluster.id) && !c.complete).length, 0);
  // Each refusal cost one part sent again (no deltas here, so never a whole new snapshot).
  assert.equal(resent, refused, "every refused part sent again alone, nothing else");
});
