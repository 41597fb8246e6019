/**
 * kill -9 of a clone's puller (issue 16): the clone publisher runs in a child process and is killed in
 * the middle of a page — of the bootstrap and of the changelog — while its master keeps changing APIs.
 * After each restart the clone goes on from the sequence it had recorded; at the end it holds exactly
 * the master's state, no change of the master is stored twice, and the sequence the agreement has
 * reached never went backwards (neither in what the clone reported nor in what its store kept).
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { PublisherService } from "../../src/publisher/service.js";
import type { ConsumerAgreement } from "../../src/replication/agreement.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import { cleanupBroker } from "../harness/broker.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { freePort } from "../harness/fault-http.js";
import { masterChanges } from "../harness/master-changes.js";
import { type ChildMessage, ChildService } from "../harness/processes.js";
import { tempDir } from "../harness/temp-dir.js";
import { waitFor } from "../harness/wait.js";

const LABEL = "P";
const BOOTSTRAP_APIS = 300;
/** Master changes made while the clone is down, and while it pulls, per round. */
const CHANGES_PER_ROUND = 150;
const FEED_PAGE = 50;
const SNAPSHOT_PAGE = 40;
/**
 * Per life: kill after this many changes of the life (self: in the tick of the commit; external: kill -9
 * when the parent heard of it). None is a multiple of a page, so each lands inside a page.
 */
const KILLS: { after: number; how: "self" | "external"; phase: "bootstrap" | "feed" }[] = [
  { after: 130, how: "self", phase: "bootstrap" },
  { after: 77, how: "external", phase: "bootstrap" },
  { after: 171, how: "self", phase: "feed" },
  { after: 93, how: "external", phase: "feed" },
  { after: 61, how: "self", phase: "feed" },
  { after: 142, how: "external", phase: "feed" },
];
const q = (s: string) => JSON.stringify(s);

describe("replication: kill -9 of the clone's puller mid-page", () => {
  const master = new TestCluster({ region: "eu" });
  const root = tempDir("gwsync-clone-kill-");
  const cloneDb = join(root, "clone", "artifacts.db");
  const exchange = `${master.id}-us.topic`;
  const children = new Set<ChildService>();

  after(async () => {
    for (const c of children) await c.kill9().catch(() => undefined);
    await master.close();
    await cleanupBroker({ exchanges: [exchange] }).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  async function withClone<T>(fn: (s: SqliteArtifactStore) => Promise<T>): Promise<T> {
    const store = SqliteArtifactStore.open(cloneDb, { readonly: true });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  async function persisted(): Promise<ConsumerAgreement | undefined> {
    return withClone(async (store) => {
      const r = (await store.listAgreements()).find((x) => x.role === "consumer");
      return r === undefined ? undefined : (JSON.parse(r.document) as ConsumerAgreement);
    });
  }

  test(`${KILLS.length} kills while bootstrapping ${BOOTSTRAP_APIS} APIs and pulling ${KILLS.length * CHANGES_PER_ROUND * 2} changes: nothing lost, nothing twice, the sequence never back`, async (t) => {
    const masterSvc = new PublisherService({ config: master.publisherConfig() });
    await masterSvc.start();
    master.publisher = masterSvc;
    master.publisherUrl = masterSvc.httpUrl!;
    const pm = masterSvc.publisher;
    for (let i = 0; i < BOOTSTRAP_APIS; i++) await pm.deployApi(synapseApi({ name: `K${i}`, size: 600 }), [LABEL]);

    const httpPort = await freePort();
    mkdirSync(join(root, "clone"), { recursive: true });
    const configFile = join(root, "clone.toml");
    writeFileSync(
      configFile,
      `
[gwsync]
node_id = "clone-us"
region = "us"
data_dir = ${q(join(root, "clone"))}
http_port = ${httpPort}
exchange = ${q(exchange)}
outbox_poll_ms = 50
[gwsync.http]
username = ${q(TEST_USER)}
password = ${q(TEST_PASSWORD)}
[apim.sync_runtime_artifacts.publisher]
artifact_saver = "DBSaver"
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${q(cloneDb)}
[apim.event_hub]
event_listening_endpoints = ["tcp://127.0.0.1:5672"]
[apim.event_hub.jms]
username = "guest"
password = "guest"
`,
    );
    const env = (kill?: (typeof KILLS)[number]) => ({
      GWSYNC_TEST_FEED_PAGE: String(FEED_PAGE),
      GWSYNC_TEST_SNAPSHOT_PAGE: String(SNAPSHOT_PAGE),
      GWSYNC_TEST_KILL_AFTER_CHANGES: kill?.how === "self" ? String(kill.after) : "",
      GWSYNC_TEST_KILL_PHASE: kill?.phase ?? "",
    });
    const spawn = (kill?: (typeof KILLS)[number]) => {
      const c = ChildService.clone(configFile, env(kill));
      children.add(c);
      return c;
    };

    /** Every sequence the agreement was seen at, in order: reported after each write, and read at each start. */
    const reached: { seq: number; from: string }[] = [];
    const watch = (c: ChildService, life: number) =>
      c.on("progress", (m: ChildMessage) => reached.push({ seq: Number(m.lastSequenceNumber), from: `life ${life}` }));
    const changeMaster = masterChanges({
      publisher: pm,
      label: LABEL,
      prefix: "K",
      bootstrapApis: BOOTSTRAP_APIS,
      newPrefix: "New",
      size: 600,
    });

    let id = "";
    for (const [life, kill] of KILLS.entries()) {
      const child = spawn(kill);
      let phaseChanges = 0;
      child.on("change", (m: ChildMessage) => {
        if (m.phase === kill.phase) phaseChanges++;
      });
      watch(child, life);
      const ready = await child.ready();
      const held = (ready.agreements as { lastSequenceNumber: number }[])[0];
      if (held !== undefined) reached.push({ seq: held.lastSequenceNumber, from: `store at start of life ${life}` });
      if (life === 0) {
        const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/replication/agreements`, {
          method: "POST",
          headers: { authorization: authHeader(), "content-type": "application/json" },
          body: JSON.stringify({
            master: { url: master.publisherUrl, username: TEST_USER, password: TEST_PASSWORD },
            labels: [LABEL],
            pollInterval: 0.1,
          }),
        });
        const body = (await res.json()) as { identifier: string };
        assert.equal(res.status, 201, JSON.stringify(body));
        id = body.identifier;
      }
      // The master keeps changing while the clone pulls.
      const changing = changeMaster.make(CHANGES_PER_ROUND);
      if (kill.how === "external") {
        await waitFor(
          child,
          "change",
          () => phaseChanges >= kill.after,
          `life ${life}: ${kill.after} changes of the ${kill.phase}`,
          120_000,
        );
        await child.kill9();
      }
      const exit = await child.exit(120_000);
      children.delete(child);
      assert.equal(exit.signal, "SIGKILL", `life ${life} ended by kill -9`);
      await changing;
      const stored = await persisted();
      assert.ok(stored, "the agreement survives the kill");
      t.diagnostic(
        `life ${life}: killed (${kill.how}) after ${kill.after} changes of the ${kill.phase}; stored at seq ${stored.lastSequenceNumber}, bootstrapped ${stored.bootstrapComplete === true}`,
      );
      reached.push({ seq: stored.lastSequenceNumber, from: `store after kill ${life}` });
      if (kill.how === "self" && kill.phase === "feed") {
        // Mid-page for sure: the clone committed changes beyond the sequence its record had reached.
        const beyond = await withClone(async (s) =>
          (await s.changesSince(0, [LABEL])).filter(
            (r) => r.originRegion === "eu" && r.originSeq > stored.lastSequenceNumber,
          ),
        );
        assert.ok(beyond.length > 0, `life ${life}: changes committed after the recorded sequence`);
      }
      // While the clone is down, the master changes more.
      await changeMaster.make(CHANGES_PER_ROUND);
    }

    // Last life: no kill; it must converge on the master's head.
    const last = spawn();
    watch(last, KILLS.length);
    await last.ready();
    const head = await pm.store.headSeq();
    await waitFor(
      last,
      ["progress", "pulled"],
      async () => {
        const a = await persisted();
        return a?.state === "READY" && a.lastSequenceNumber >= head;
      },
      "the clone to reach the master's head",
      180_000,
    );
    const final = (await persisted())!;
    reached.push({ seq: final.lastSequenceNumber, from: "store at the end" });

    // The sequence never went backwards.
    for (let i = 1; i < reached.length; i++) {
      assert.ok(
        reached[i]!.seq >= reached[i - 1]!.seq,
        `sequence went back from ${reached[i - 1]!.seq} (${reached[i - 1]!.from}) to ${reached[i]!.seq} (${reached[i]!.from})`,
      );
    }
    assert.equal(final.lastSequenceNumber, head);
    await last.stop();
    children.delete(last);

    // Nothing lost: the clone holds exactly the master's state of the label, byte for byte.
    const clone = SqliteArtifactStore.open(cloneDb, { readonly: true });
    try {
      const onMaster = await pm.store.listArtifacts({ label: LABEL, includeRemoved: true });
      const onClone = await clone.listArtifacts({ label: LABEL, includeRemoved: true });
      const view = (rows: typeof onMaster) =>
        new Map(rows.map((r) => [r.apiId, `${r.instruction}:${r.instruction === "Publish" ? r.sha256 : ""}`]));
      const m = view(onMaster);
      const c = view(onClone);
      const lost = [...m].filter(([apiId, v]) => v.startsWith("Publish") && c.get(apiId) !== v).map(([a]) => a);
      const unexpected = [...c].filter(([apiId, v]) => v.startsWith("Publish") && m.get(apiId) !== v).map(([a]) => a);
      // Nothing twice: each change of the master is one row of the clone's changelog.
      const rows = (await clone.changesSince(0, [LABEL])).filter((r) => r.originRegion === "eu");
      const seqs = rows.map((r) => r.originSeq);
      const twice = seqs.filter((s, i) => seqs.indexOf(s) !== i);
      t.diagnostic(
        `master: ${changeMaster.made} changes after ${BOOTSTRAP_APIS} APIs, head ${head}; clone: ${onClone.filter((r) => r.instruction === "Publish").length} published, ${rows.length} changelog rows of the master; lost ${lost.length}, unexpected ${unexpected.length}, stored twice ${twice.length}`,
      );
      assert.deepEqual({ lost, unexpected, twice }, { lost: [], unexpected: [], twice: [] });
      assert.equal(
        onClone.filter((r) => r.instruction === "Publish").length,
        onMaster.filter((r) => r.instruction === "Publish").length,
      );
    } finally {
      await clone.close();
    }
    assert.ok(id !== "");
  });
});
