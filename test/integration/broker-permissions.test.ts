import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import amqp, { type Channel } from "amqplib";
import { deadLetterQueueName, deadLetterRoutingKey, gatewayQueueNames } from "../../src/amqp/topology.js";
import { loadConfig } from "../../src/config/load-config.js";
import { Gateway } from "../../src/gateway/gateway.js";
import { PublisherService } from "../../src/publisher/service.js";
import { synapseApi, TEST_PASSWORD, TEST_USER } from "../harness/cluster.js";
import { tempDir } from "../harness/temp-dir.js";
import { CHANGED, waitFor } from "../harness/wait.js";

const SCRIPT = fileURLToPath(new URL("../../deploy/rabbitmq/permissions.sh", import.meta.url));
const rabbitmqctl = (...args: string[]) => execFileSync("rabbitmqctl", ["-q", ...args], { stdio: "pipe" }).toString();
const q = (s: string) => JSON.stringify(s);

interface BrokerUser {
  name: string;
  password: string;
}

/**
 * Issue item 7: a vhost of its own, one broker user per role with the permissions of
 * deploy/rabbitmq/permissions.sh (the script docs/production.md documents), set with the real
 * `rabbitmqctl add_user` / `set_permissions` / `set_topic_permissions`. gwsync works end to end on it,
 * and a gateway's user can read its own queues only and cannot publish any stream to the hub.
 */
describe("least privilege on the broker: one user per role, set with rabbitmqctl", () => {
  const id = randomBytes(4).toString("hex");
  const vhost = `gwsync-lp-${id}`;
  const root = tempDir("gwsync-lp-");
  const user = (role: string): BrokerUser => ({ name: `gwsync-${role}-${id}`, password: randomBytes(12).toString("hex") });
  const publisherUser = user("publisher");
  const nodeA = `lp-a-${id}`;
  const nodeB = `lp-b-${id}`;
  const gatewayUsers: Record<string, BrokerUser> = { [nodeA]: user("gw-a"), [nodeB]: user("gw-b") };
  let svc: PublisherService;
  const gateways: Gateway[] = [];

  const endpoint = (u: BrokerUser) =>
    `amqp://${encodeURIComponent(u.name)}:${encodeURIComponent(u.password)}@127.0.0.1:5672/${encodeURIComponent(vhost)}`;

  function connect(u: BrokerUser) {
    return amqp.connect(endpoint(u));
  }

  /** Runs `fn` on a fresh confirm channel of `u` and expects the broker to refuse it (403 ACCESS_REFUSED). */
  async function refused(u: BrokerUser, what: string, fn: (ch: amqp.ConfirmChannel) => Promise<unknown>): Promise<void> {
    const conn = await connect(u);
    try {
      const ch = await conn.createConfirmChannel();
      const closed = new Promise<Error>((resolve) => ch.once("error", resolve));
      const allowed = new Promise<Error>((resolve) =>
        setTimeout(() => resolve(new Error("no refusal within 5 s: the broker allowed it")), 5000).unref(),
      );
      const outcome = await Promise.race([fn(ch).then(() => undefined, (err: Error) => err), closed]);
      const err = outcome ?? (await Promise.race([closed, allowed]));
      assert.match(String(err?.message), /ACCESS_REFUSED|403/, `${what} must be refused`);
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  before(async () => {
    rabbitmqctl("add_vhost", vhost);
    for (const u of [publisherUser, ...Object.values(gatewayUsers)]) rabbitmqctl("add_user", u.name, u.password);
    execFileSync("sh", [SCRIPT, vhost, "publisher", publisherUser.name]);
    for (const [node, u] of Object.entries(gatewayUsers)) execFileSync("sh", [SCRIPT, vhost, "gateway", u.name, node]);

    const publisherToml = `
[gwsync]
node_id = ${q(`lp-pub-${id}`)}
data_dir = ${q(join(root, "publisher"))}
http_port = 0
outbox_poll_ms = 50
[gwsync.http]
username = ${q(TEST_USER)}
password = ${q(TEST_PASSWORD)}
[apim.sync_runtime_artifacts.publisher]
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${q(join(root, "publisher", "artifacts.db"))}
[apim.event_hub]
event_listening_endpoints = [${q(endpoint(publisherUser))}]
`;
    svc = new PublisherService({ config: loadConfig({ role: "publisher", env: {}, text: publisherToml }).config });
    await svc.start();
    for (const [node, u] of Object.entries(gatewayUsers)) {
      const gw = new Gateway({
        config: loadConfig({
          role: "gateway",
          env: {},
          text: `
[gwsync]
node_id = ${q(node)}
data_dir = ${q(join(root, node))}
http_port = 0
heartbeat_interval_ms = 200
[gwsync.http]
username = ${q(TEST_USER)}
password = ${q(TEST_PASSWORD)}
[apim.sync_runtime_artifacts.gateway]
gateway_labels = ["LP"]
deployment_retry_duration = 20
deployment_dir = ${q(join(root, node, "synapse"))}
[apim.event_hub]
service_url = ${q(svc.httpUrl!)}
username = ${q(TEST_USER)}
password = ${q(TEST_PASSWORD)}
event_listening_endpoints = [${q(endpoint(u))}]
`,
        }).config,
      });
      await gw.start();
      await waitFor(gw.events, "broker", () => gw.brokerStatus.state === "connected", "the gateway to connect");
      gateways.push(gw);
    }
  });

  after(async () => {
    for (const gw of gateways) await gw.close().catch(() => undefined);
    await svc?.close().catch(() => undefined);
    // Deleting the vhost deletes every queue and exchange in it.
    rabbitmqctl("delete_vhost", vhost);
    for (const u of [publisherUser, ...Object.values(gatewayUsers)]) rabbitmqctl("delete_user", u.name);
  });

  test("gwsync runs end to end with these permissions: deploys, revocations, heartbeats, reports, dead-letter copies", async () => {
    const pub = svc.publisher;
    const r = await Promise.resolve(pub.deployApi(synapseApi({ name: "LeastPrivilege" }), ["LP"]));
    await waitFor(gateways.map((g) => g.events), CHANGED, () => gateways.every((g) => g.deployer.get(r.apiId)), "the API on both gateways");

    await Promise.resolve(pub.emit({ stream: "tokenRevocation", event: { revokedToken: `lp-${id}`, expiryTime: Date.now() + 60_000, type: "JWT" } }));
    await waitFor(gateways.map((g) => g.events), "runtime", () => gateways.every((g) => g.runtime.revokedTokens.isRevoked(`lp-${id}`)), "the revocation on both");

    const seen = new Set<string>();
    pub.events.on("heartbeat", (hb: { nodeId: string }) => seen.add(hb.nodeId));
    await waitFor(pub.events, "heartbeat", () => seen.has(nodeA) && seen.has(nodeB), "both gateways' heartbeats");
    // Their reports too (the fleet view): what each serves reaches the publisher's store.
    await waitFor(pub.events, "report", async () => {
      const rows = await pub.store.listGatewayReports({ apiId: r.apiId });
      return [nodeA, nodeB].every((n) => rows.some((x) => x.nodeId === n && x.served?.revision === r.revision));
    }, "both gateways' reports of the API");

    // A message that can never be valid, published as the publisher may: each gateway copies it into
    // its own dead-letter queue through its own routing key, which its user may write.
    const conn = await connect(publisherUser);
    const ch = await conn.createConfirmChannel();
    ch.publish("amq.topic", "notification", Buffer.from("not json"), { messageId: `bad-${id}` });
    await ch.waitForConfirms();
    await conn.close();
    for (const [node, u] of Object.entries(gatewayUsers)) {
      const own = await connect(u);
      const c: Channel = await own.createChannel();
      const dlq = deadLetterQueueName(gatewayQueueNames(node).artifacts);
      let got: amqp.GetMessage | false = false;
      await waitFor(gateways[0]!.events, ["rejected", "handled"], async () => {
        got = await c.get(dlq, { noAck: true });
        return got !== false;
      }, `the dead-letter copy in ${dlq}`);
      assert.match(String((got as unknown as amqp.GetMessage).properties.headers?.["x-gwsync-reason"]), /not valid JSON/);
      await own.close();
    }
  });

  test("a gateway's user cannot publish any stream to the hub, nor into another gateway's routing keys", async () => {
    const a = gatewayUsers[nodeA]!;
    for (const key of ["notification", "tokenRevocation", "keyManager", "asyncWebhooksData", deadLetterRoutingKey(nodeB)]) {
      await refused(a, `publishing ${key}`, async (ch) => {
        ch.publish("amq.topic", key, Buffer.from("{}"));
        await ch.waitForConfirms();
      });
    }
  });

  test("a gateway's user cannot read, bind, declare or write another gateway's queues, nor bind to everything", async () => {
    const a = gatewayUsers[nodeA]!;
    const b = gatewayQueueNames(nodeB);
    await refused(a, "consuming another gateway's queue", (ch) => ch.consume(b.artifacts, () => undefined));
    await refused(a, "consuming another gateway's dead letters", (ch) => ch.get(b.deadLetter));
    await refused(a, "writing into another queue through the default exchange", async (ch) => {
      ch.sendToQueue(b.runtime, Buffer.from("{}"));
      await ch.waitForConfirms();
    });
    await refused(a, "declaring a queue of another name", (ch) => ch.assertQueue(`evil-${id}`));
    await refused(a, "binding its own queue to every routing key", (ch) =>
      ch.bindQueue(gatewayQueueNames(nodeA).artifacts, "amq.topic", "#"),
    );
    await refused(publisherUser, "the publisher reading a gateway's queue", (ch) => ch.consume(b.artifacts, () => undefined));
  });
});
