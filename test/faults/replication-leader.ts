/**
 * The body of replication-leader-{postgres,mariadb}.test.ts (issue 16, several publisher nodes of one
 * clone region): two clone publisher PROCESSES share one PostgreSQL or MariaDB database, the agreement
 * is created on node A (node B learns of it from the store), the master changes hundreds of APIs while
 * they pull, and the leader is killed -9 mid-stream. Proven:
 * - one puller: node B never pulls while A holds the agreement's leader lock (no change of B's before
 *   A's death), B's view names A, and B answers a manual pull with 409 naming A;
 * - the leader's lock session ended on the database (its process alive): it hears `lost` and stops, and
 *   a node (either) takes over from the store's sequence;
 * - that leader killed -9 mid-page: the other takes over (failover measured from the kill to its
 *   "leader" event), reading the reached sequence from the store: it goes on from at least the last
 *   sequence the dead one recorded, and no sequence ever goes back;
 * - every change of the master is stored once (no origin sequence twice in the clone's changelog) and
 *   none is lost (the clone holds exactly the master's state of the label, byte for byte);
 * - the survivor's REST view and `gwsync status` name it as the puller.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { PublisherService } from "../../src/publisher/service.js";
import type { ConsumerAgreement } from "../../src/replication/agreement.js";
import type { ArtifactStore } from "../../src/store/types.js";
import { cleanupBroker } from "../harness/broker.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { freePort } from "../harness/fault-http.js";
import { masterChanges } from "../harness/master-changes.js";
import { type ChildMessage, ChildService } from "../harness/processes.js";
import { type EngineFactory, endLockSession, type TestDatabase } from "../harness/store-engines.js";
import { tempDir } from "../harness/temp-dir.js";
import { waitFor } from "../harness/wait.js";

const LABEL = "P";
const BOOTSTRAP_APIS = 100;
/** Master changes made while the clone's nodes pull (updates, new APIs, removes). */
const CHANGES = 600;
const FEED_PAGE = 25;
/** The leader's lock session is ended on the database after this many changes of the feed (process alive). */
const DROP_AFTER = 77;
/** Then the leader of the next term is killed -9 after this many more changes of the feed (mid-page). */
const KILL_AFTER = 43;
const LEADER_RETRY_MS = 200;
const q = (s: string) => JSON.stringify(s);

export function leaderTest(engine: EngineFactory): void {
  describe(`replication: two clone nodes on one ${engine.name} database, the leader killed -9`, () => {
    const master = new TestCluster({ region: "eu" });
    const root = tempDir("gwsync-clone-leader-");
    const exchange = `${master.id}-us.topic`;
    const children = new Set<ChildService>();
    let db: TestDatabase | undefined;

    after(async () => {
      // What a node left running said (GWSYNC_TEST_LOG=warn makes the children log).
      for (const c of children) if (c.stderr !== "") console.error(`child ${c.pid}:\n${c.stderr.slice(-4000)}`);
      for (const c of children) await c.kill9().catch(() => undefined);
      await master.close();
      await db?.drop().catch(() => undefined);
      await cleanupBroker({ exchanges: [exchange] }).catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    });

    test(`${CHANGES} master changes, kill -9 of the pulling node after ${KILL_AFTER}: the other takes over, nothing lost or twice, the sequence never back`, async (t) => {
      db = await engine.create();
      const store: ArtifactStore = db.open({ readonly: true, region: "us" });
      const masterSvc = new PublisherService({ config: master.publisherConfig() });
      await masterSvc.start();
      master.publisher = masterSvc;
      master.publisherUrl = masterSvc.httpUrl!;
      const pm = masterSvc.publisher;
      for (let i = 0; i < BOOTSTRAP_APIS; i++) await pm.deployApi(synapseApi({ name: `L${i}`, size: 400 }), [LABEL]);

      const c = db.config;
      const database = [`type = ${q(c.type)}`, `url = ${q(c.url)}`]
        .concat(c.username === undefined ? [] : [`username = ${q(c.username)}`])
        .concat(c.password === undefined ? [] : [`password = ${q(c.password)}`])
        .join("\n");
      const node = async (name: string) => {
        const port = await freePort();
        mkdirSync(join(root, name), { recursive: true });
        const file = join(root, `${name}.toml`);
        writeFileSync(
          file,
          `
[gwsync]
node_id = ${q(name)}
region = "us"
data_dir = ${q(join(root, name))}
http_port = ${port}
exchange = ${q(exchange)}
outbox_poll_ms = 50
[gwsync.http]
username = ${q(TEST_USER)}
password = ${q(TEST_PASSWORD)}
[apim.sync_runtime_artifacts.publisher]
artifact_saver = "DBSaver"
[database.sync_runtime_artifacts_db]
${database}
[apim.event_hub]
event_listening_endpoints = ["tcp://127.0.0.1:5672"]
[apim.event_hub.jms]
username = "guest"
password = "guest"
`,
        );
        const child = ChildService.clone(file, {
          GWSYNC_TEST_FEED_PAGE: String(FEED_PAGE),
          GWSYNC_TEST_SNAPSHOT_PAGE: "40",
          GWSYNC_TEST_LEADER_RETRY_MS: String(LEADER_RETRY_MS),
          GWSYNC_TEST_KILL_AFTER_CHANGES: "",
          GWSYNC_TEST_KILL_PHASE: "",
        });
        children.add(child);
        await child.ready();
        return { name, child, url: `http://127.0.0.1:${port}` };
      };
      const rest = async (url: string, method = "GET") => {
        const res = await fetch(url, { method, headers: { authorization: authHeader() } });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };

      const nodes = [await node("clone-a"), await node("clone-b")];
      /** Every sequence the agreement was reported at, in arrival order, and who reported it. */
      const reached: { seq: number; from: string; at: number }[] = [];
      const changes = new Map(nodes.map((n) => [n.name, 0]));
      const feed = new Map(nodes.map((n) => [n.name, 0]));
      /** Each node's first change after the kill (cleared at the kill). */
      const changesAfter = new Map<string, number>();
      const leaders: { node: string; leading: boolean; at: number; from?: number }[] = [];
      for (const n of nodes) {
        n.child.on("progress", (m: ChildMessage) =>
          reached.push({ seq: Number(m.lastSequenceNumber), from: n.name, at: Date.now() }),
        );
        n.child.on("change", (m: ChildMessage) => {
          changes.set(n.name, changes.get(n.name)! + 1);
          if (m.phase === "feed") feed.set(n.name, feed.get(n.name)! + 1);
          if (!changesAfter.has(n.name)) changesAfter.set(n.name, Date.now());
        });
        n.child.on("leader", (m: ChildMessage) =>
          leaders.push({
            node: n.name,
            leading: m.leading === true,
            at: Number(m.at),
            ...(m.from === undefined ? {} : { from: Number(m.from) }),
          }),
        );
      }

      // The agreement, created on the first node; the other learns of it from the store. Whichever takes
      // the lock first pulls (usually the creator, which tries at once).
      const created = await fetch(`${nodes[0]!.url}/api/v1/replication/agreements`, {
        method: "POST",
        headers: { authorization: authHeader(), "content-type": "application/json" },
        body: JSON.stringify({
          master: { url: master.publisherUrl, username: TEST_USER, password: TEST_PASSWORD },
          labels: [LABEL],
          pollInterval: 0.1,
        }),
      });
      const id = ((await created.json()) as { identifier: string }).identifier;
      assert.equal(created.status, 201);
      await waitFor(
        nodes.map((n) => n.child),
        "leader",
        () => leaders.some((l) => l.leading),
        "a node to take the agreement's lock",
      );
      let a = nodes.find((n) => n.name === leaders.find((l) => l.leading)!.node)!;
      let b = nodes.find((n) => n !== a)!;
      t.diagnostic(`${a.name} pulls (created on ${nodes[0]!.name}), ${b.name} stands by`);

      // The master changes while the nodes pull.
      const changeMaster = masterChanges({
        publisher: pm,
        label: LABEL,
        prefix: "L",
        bootstrapApis: BOOTSTRAP_APIS,
        newPrefix: "N",
        size: 400,
      });
      const changing = changeMaster.make(CHANGES);

      // B knows the agreement (from the store), does not pull it, and names A.
      await waitFor(
        a.child,
        "change",
        async () => {
          const v = await rest(`${b.url}/api/v1/replication/agreements/${id}?type=consumer`);
          return v.status === 200 && (v.body.puller as { nodeId?: string } | undefined)?.nodeId === a.name;
        },
        "node B to show the agreement pulled by A",
        60_000,
      );
      const onB = await rest(`${b.url}/api/v1/replication/agreements/${id}?type=consumer`);
      assert.deepEqual(
        { nodeId: (onB.body.puller as { nodeId: string }).nodeId, thisNode: (onB.body.puller as { thisNode: boolean }).thisNode },
        { nodeId: a.name, thisNode: false },
      );
      const pullOnB = await rest(`${b.url}/api/v1/replication/agreements/${id}/pull`, "POST");
      assert.equal(pullOnB.status, 409, JSON.stringify(pullOnB.body));
      assert.match(String(pullOnB.body.message), new RegExp(`node "${a.name}" pulls it since`));
      assert.equal((pullOnB.body.details as { leader: { nodeId: string } }).leader.nodeId, a.name);

      // The leader's lock connection drops (its session ended on the database), its process alive: it
      // stops pulling at once and competes again; a node (either) takes over from the store's sequence.
      await waitFor(a.child, "change", () => feed.get(a.name)! >= DROP_AFTER, "A to apply changes of the feed", 120_000);
      assert.equal(changes.get(b.name), 0, "B applied nothing while A held the lock");
      const terms = () => leaders.filter((l) => l.leading);
      const firstTerms = terms().length;
      const droppedAt = Date.now();
      assert.equal(await endLockSession(engine.name, db, `replication-agreement:${id}`), 1, "one session held the lock");
      await waitFor(a.child, "leader", () => leaders.some((l) => l.node === a.name && !l.leading), "A to hear it lost the lock");
      await waitFor(
        nodes.map((n) => n.child),
        "leader",
        () => terms().length > firstTerms,
        "a node to take over after the dropped connection",
        60_000,
      );
      const second = terms().at(-1)!;
      const lastBeforeDrop = Math.max(0, ...reached.filter((r) => r.at <= droppedAt).map((r) => r.seq));
      assert.ok(second.from !== undefined && second.from >= lastBeforeDrop, `took over from ${second.from}`);
      t.diagnostic(
        `lock session of ${a.name} ended: ${a.name} heard it lost, ${second.node} took over ${second.at - droppedAt} ms later from seq ${second.from}`,
      );
      a = nodes.find((n) => n.name === second.node)!;
      b = nodes.find((n) => n !== a)!;
      const feedAtTerm = feed.get(a.name)!;

      // Kill -9 of the leader in the middle of the feed.
      await waitFor(
        a.child,
        "change",
        () => feed.get(a.name)! >= feedAtTerm + KILL_AFTER,
        "the leader to apply changes of the feed",
        120_000,
      );
      const lastOfA = Math.max(0, ...reached.map((r) => r.seq));
      assert.ok(lastOfA > BOOTSTRAP_APIS, `the leader had recorded feed pages (at ${lastOfA}) before it was killed`);
      const standbyChanges = changes.get(b.name)!;
      const killedAt = Date.now();
      changesAfter.clear();
      await a.child.kill9();
      children.delete(a.child);
      await waitFor(
        b.child,
        "leader",
        () => terms().some((l) => l.node === b.name && l.at >= killedAt - 1_000),
        "B to take over",
        60_000,
      );
      const took = terms().at(-1)!;
      assert.equal(took.node, b.name);
      const failoverMs = took.at - killedAt;

      await changing;
      const head = await pm.store.headSeq();
      const persisted = async () => {
        const r = (await store.listAgreements()).find((x) => x.id === id && x.role === "consumer");
        return r === undefined ? undefined : (JSON.parse(r.document) as ConsumerAgreement);
      };
      await waitFor(
        b.child,
        ["progress", "pulled"],
        async () => {
          const p = await persisted();
          return p?.state === "READY" && p.lastSequenceNumber >= head;
        },
        "B to reach the master's head",
        180_000,
      );
      const resumeMs = (changesAfter.get(b.name) ?? Number.NaN) - killedAt;
      const final = (await persisted())!;

      // The survivor names itself, in the REST view and in `gwsync status`.
      const view = await rest(`${b.url}/api/v1/replication/agreements/${id}?type=consumer`);
      const puller = view.body.puller as { nodeId: string; thisNode: boolean; since: string };
      assert.deepEqual({ nodeId: puller.nodeId, thisNode: puller.thisNode }, { nodeId: b.name, thisNode: true });
      assert.ok(Math.abs(Date.parse(puller.since) - took.at) < 5_000, `since ${puller.since}: when B took over`);
      const status = await rest(`${b.url}/api/v1/status`);
      const row = (status.body.replication as { identifier: string; puller?: { nodeId: string } }[]).find(
        (r) => r.identifier === id,
      );
      assert.equal(row?.puller?.nodeId, b.name);
      assert.equal(final.puller?.nodeId, b.name);

      // B went on from the store's sequence, at least where A had reported it; nothing went back.
      assert.ok(took.from !== undefined && took.from >= lastOfA, `B took over from ${took.from}, A had reported ${lastOfA}`);
      const all = [...reached, { seq: final.lastSequenceNumber, from: "store at the end", at: Date.now() }];
      for (let i = 1; i < all.length; i++) {
        assert.ok(
          all[i]!.seq >= all[i - 1]!.seq,
          `sequence went back from ${all[i - 1]!.seq} (${all[i - 1]!.from}) to ${all[i]!.seq} (${all[i]!.from})`,
        );
      }
      assert.equal(final.lastSequenceNumber, head);

      // Exactly once: each change of the master is one row of the clone's changelog; the state is the master's.
      const rows = (await store.changesSince(0, [LABEL])).filter((r) => r.originRegion === "eu");
      const seqs = rows.map((r) => r.originSeq);
      const twice = seqs.filter((s, i) => seqs.indexOf(s) !== i);
      const onMaster = await pm.store.listArtifacts({ label: LABEL, includeRemoved: true });
      const onClone = await store.listArtifacts({ label: LABEL, includeRemoved: true });
      const state = (list: typeof onMaster) =>
        new Map(list.map((r) => [r.apiId, `${r.instruction}:${r.instruction === "Publish" ? r.sha256 : ""}`]));
      const m = state(onMaster);
      const cl = state(onClone);
      const lost = [...m].filter(([api, v]) => v.startsWith("Publish") && cl.get(api) !== v).map(([api]) => api);
      const unexpected = [...cl].filter(([api, v]) => v.startsWith("Publish") && m.get(api) !== v).map(([api]) => api);
      t.diagnostic(
        `${engine.name}: master ${BOOTSTRAP_APIS} APIs + ${changeMaster.made} changes, head ${head}; ${a.name} (killed) handled ${changes.get(a.name)} changes (${feed.get(a.name)} of the feed), ${b.name} ${changes.get(b.name)} (those stored already: skipped); failover (kill -9 to ${b.name}'s takeover) ${failoverMs} ms, to its first applied change ${resumeMs} ms (lock retry ${LEADER_RETRY_MS} ms); it went on from seq ${took.from} (the killed leader had reported ${lastOfA}); clone changelog rows of the master ${rows.length}, stored twice ${twice.length}, lost ${lost.length}, unexpected ${unexpected.length}`,
      );
      assert.deepEqual({ twice, lost, unexpected }, { twice: [], lost: [], unexpected: [] });
      assert.equal(
        onClone.filter((r) => r.instruction === "Publish").length,
        onMaster.filter((r) => r.instruction === "Publish").length,
      );
      assert.equal(terms().length, 3, "three terms: the first, after the dropped connection, after the kill");
      assert.ok(changes.get(b.name)! >= standbyChanges);
      await b.child.stop();
      children.delete(b.child);
    });
  });
}
