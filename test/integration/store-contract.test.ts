/**
 * The store contract: the same cases against every engine in test/harness/store-engines.ts (SQLite,
 * the Git store, PostgreSQL, MySQL/MariaDB), on real databases each test creates and drops. Cases that need several
 * writer processes on one database (publisher nodes) run where the engine allows them.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import type { ArtifactStore, NewOutboxMessage, SaveArtifactResult } from "../../src/store/types.js";
import { ENGINES, type EngineFactory, type TestDatabase } from "../harness/store-engines.js";

const PROD = "Production and Sandbox";
const EU = "eu-gateways";

function dto(
  apiId: string,
  definition = `<api name="admin--${apiId}"/>`,
  name = `Api-${apiId}`,
): GatewayApiDto {
  return {
    name,
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId,
    apiDefinition: definition,
  };
}

function event(r: SaveArtifactResult): NewOutboxMessage {
  return {
    topic: "notification",
    messageId: `evt-${r.apiId}-${r.seq}`,
    body: Buffer.from(JSON.stringify({ apiId: r.apiId, revision: r.revision })),
    headers: { "x-gwsync-seq": r.seq, "x-gwsync-revision": r.revision, "x-gwsync-sha256": r.sha256 },
  };
}

const publish = (s: ArtifactStore, apiId: string, labels = [PROD], definition?: string) =>
  s.saveArtifact({ dto: dto(apiId, definition), labels, instruction: "Publish" }, (r) => [event(r)]);
const remove = (s: ArtifactStore, apiId: string, labels = [PROD]) =>
  s.saveArtifact({ dto: dto(apiId), labels, instruction: "Remove" }, (r) => [event(r)]);

const sha = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

function contract(engine: EngineFactory): void {
  describe(`store contract: ${engine.name}`, () => {
    let db: TestDatabase;
    const fresh: TestDatabase[] = [];
    before(async () => {
      db = await engine.create();
    });
    after(async () => {
      await db.drop();
      for (const d of fresh.splice(0)) await d.drop();
    });
    /** A store on a database of its own (cases that count rows from zero). */
    async function own(): Promise<{ d: TestDatabase; s: ArtifactStore }> {
      const d = await engine.create();
      fresh.push(d);
      return { d, s: d.open({ region: "region-a" }) };
    }

    test("a save writes artifact, changelog and outbox rows together and hands the assigned facts to buildMessages", async () => {
      const { s } = await own();
      let seen: SaveArtifactResult | undefined;
      const r = await s.saveArtifact({ dto: dto("api-1"), labels: [PROD], instruction: "Publish" }, (res) => {
        seen = res;
        return [event(res)];
      });
      assert.deepEqual(seen, r);
      assert.deepEqual(
        { changed: r.changed, revision: r.revision, seq: r.seq, labels: r.labels },
        {
          changed: true,
          revision: 1,
          seq: 1,
          labels: [PROD],
        },
      );
      const json = JSON.stringify(dto("api-1"));
      assert.equal(r.sha256, sha(json));
      const a = await s.getArtifact("api-1", PROD);
      assert.ok(a);
      assert.equal(a.artifactJson, json);
      assert.deepEqual(
        [a.instruction, a.sha256, a.seq, a.revision, a.name, a.version, a.provider, a.tenantDomain],
        ["Publish", r.sha256, 1, 1, "Api-api-1", "1.0.0", "admin", "carbon.super"],
      );
      assert.ok(a.updatedAt > 0);
      assert.equal(await s.headSeq(), 1);
      const [out] = await s.peekOutbox(10);
      assert.equal(out?.messageId, "evt-api-1-1");
      assert.equal(out?.headers["x-gwsync-sha256"], r.sha256);
      assert.equal(out?.headers["x-gwsync-seq"], 1);
      assert.equal(await s.outboxDepth(), 1);
    });

    test("a throwing buildMessages, or an invalid message from it, leaves nothing behind", async () => {
      const { s } = await own();
      await assert.rejects(
        s.saveArtifact({ dto: dto("api-x"), labels: [PROD], instruction: "Publish" }, () => {
          throw new Error("boom");
        }),
        /boom/,
      );
      await assert.rejects(
        s.saveArtifact({ dto: dto("api-x"), labels: [PROD], instruction: "Publish" }, () => [
          { topic: "notification", messageId: "m", body: "not a buffer" as unknown as Buffer, headers: {} },
        ]),
        (err: unknown) => isGwsyncError(err, "GWSYNC_EVENT_INVALID"),
      );
      assert.equal(await s.getArtifact("api-x", PROD), undefined);
      assert.equal(await s.headSeq(), 0);
      assert.equal(await s.outboxDepth(), 0);
      // The failed saves took no revision and no sequence number.
      const r = await publish(s, "api-x");
      assert.deepEqual([r.revision, r.seq], [1, 1]);
    });

    test("revisions grow per API across labels; an identical re-publish writes nothing; only changed labels are written", async () => {
      const { s } = await own();
      const r1 = await publish(s, "api-r", [PROD, EU]);
      assert.deepEqual([r1.revision, r1.seq, r1.labels], [1, 2, [PROD, EU]]);
      let called = false;
      const same = await s.saveArtifact(
        { dto: dto("api-r"), labels: [PROD, EU, PROD], instruction: "Publish" },
        () => {
          called = true;
          return [];
        },
      );
      assert.deepEqual(
        [same.changed, same.revision, same.seq, same.labels, called],
        [false, 1, 2, [], false],
      );
      const r2 = await publish(s, "api-r", [PROD], "<api v2/>");
      assert.deepEqual([r2.revision, r2.seq, r2.labels], [2, 3, [PROD]]);
      const r3 = await publish(s, "api-r", [PROD, EU], "<api v2/>");
      assert.deepEqual([r3.revision, r3.labels], [3, [EU]]);
      assert.equal((await s.getArtifact("api-r", PROD))?.revision, 2);
      assert.equal((await s.getArtifact("api-r", EU))?.revision, 3);
      const other = await publish(s, "api-other");
      assert.equal(other.revision, 1);
    });

    test("Remove flips the instruction and keeps the last artifact; removing what was never published is GWSYNC_NOT_FOUND", async () => {
      const { s } = await own();
      const p = await publish(s, "api-rm");
      const r = await remove(s, "api-rm");
      assert.deepEqual([r.changed, r.revision, r.seq], [true, 2, 2]);
      const a = await s.getArtifact("api-rm", PROD);
      assert.equal(a?.instruction, "Remove");
      assert.equal(a?.artifactJson, JSON.stringify(dto("api-rm")));
      assert.equal(a?.sha256, p.sha256);
      const again = await remove(s, "api-rm");
      assert.equal(again.changed, false);
      const changes = await s.changesSince(0, [PROD]);
      assert.deepEqual(
        changes.map((c) => [c.seq, c.instruction, c.revision]),
        [
          [1, "Publish", 1],
          [2, "Remove", 2],
        ],
      );
      await assert.rejects(remove(s, "api-rm", [EU]), (err: unknown) =>
        isGwsyncError(err, "GWSYNC_NOT_FOUND"),
      );
      assert.equal(await s.headSeq(), 2);
    });

    test("bad input is refused with the field named and writes nothing", async () => {
      const { s } = await own();
      await assert.rejects(
        s.saveArtifact({ dto: dto("a"), labels: [" padded "], instruction: "Publish" }, () => []),
        (err: unknown) => isGwsyncError(err, "GWSYNC_ARTIFACT_INVALID") && /labels/.test(err.message),
      );
      await assert.rejects(
        s.saveArtifact({ dto: { ...dto("a"), apiId: "" }, labels: [PROD], instruction: "Publish" }, () => []),
        (err: unknown) => isGwsyncError(err, "GWSYNC_ARTIFACT_INVALID") && /dto\.apiId/.test(err.message),
      );
      await assert.rejects(
        s.enqueue([{ topic: "", messageId: "m", body: Buffer.from("x"), headers: {} }]),
        (err: unknown) => isGwsyncError(err, "GWSYNC_EVENT_INVALID") && /topic/.test(err.message),
      );
      assert.equal(await s.headSeq(), 0);
      assert.equal(await s.outboxDepth(), 0);
    });

    test("a given artifactJson is stored byte for byte (UTF-8 included) and hashed as given", async () => {
      const { s } = await own();
      const json =
        '{"apiId":"api-u","name":"Ünïcødé ✓ 🍕","version":"1.0.0","provider":"admin","tenantDomain":"carbon.super"}';
      const r = await s.saveArtifact(
        {
          dto: JSON.parse(json) as GatewayApiDto,
          artifactJson: json,
          labels: [PROD],
          instruction: "Publish",
        },
        () => [],
      );
      assert.equal(r.sha256, sha(json));
      assert.equal((await s.getArtifact("api-u", PROD))?.artifactJson, json);
    });

    test("changesSince: rows after the seq, for the labels asked, in seq order, paged by limit; local origin", async () => {
      const { s } = await own();
      await publish(s, "c1", [PROD]);
      await publish(s, "c2", [EU]);
      await publish(s, "c3", [PROD, EU]);
      const prod = await s.changesSince(0, [PROD]);
      assert.deepEqual(
        prod.map((c) => [c.seq, c.apiId]),
        [
          [1, "c1"],
          [3, "c3"],
        ],
      );
      assert.deepEqual(
        (await s.changesSince(1, [PROD, EU])).map((c) => c.seq),
        [2, 3, 4],
      );
      assert.deepEqual(
        (await s.changesSince(0, [PROD, EU], 2)).map((c) => c.seq),
        [1, 2],
      );
      assert.deepEqual(await s.changesSince(0, []), []);
      assert.deepEqual(await s.changesSince(0, ["nobody"]), []);
      const [first] = prod;
      assert.deepEqual([first?.originRegion, first?.originSeq, first?.label], ["region-a", 1, PROD]);
      await assert.rejects(s.changesSince(-1, [PROD]), (err: unknown) => isGwsyncError(err, "GWSYNC_USAGE"));
    });

    test("listings: by label, removed left out unless asked, bodies only when asked, counts and keyset pages", async () => {
      const { s } = await own();
      for (const id of ["b-2", "a-1", "C-3", "d-4"]) await publish(s, id);
      await publish(s, "e-5", [EU]);
      await remove(s, "d-4");
      const meta = await s.listArtifacts({ label: PROD });
      // Byte order on every engine (upper case before lower case).
      assert.deepEqual(
        meta.map((a) => a.apiId),
        ["C-3", "a-1", "b-2"],
      );
      assert.ok(meta.every((a) => a.artifactJson === ""));
      const all = await s.listArtifacts({ label: PROD, includeRemoved: true, withBody: true });
      assert.deepEqual(
        all.map((a) => [a.apiId, a.instruction]),
        [
          ["C-3", "Publish"],
          ["a-1", "Publish"],
          ["b-2", "Publish"],
          ["d-4", "Remove"],
        ],
      );
      assert.equal(all[0]?.artifactJson, JSON.stringify(dto("C-3")));
      assert.deepEqual(
        (await s.listArtifacts()).map((a) => `${a.label}/${a.apiId}`),
        [`${PROD}/C-3`, `${PROD}/a-1`, `${PROD}/b-2`, `${EU}/e-5`],
      );
      assert.equal(await s.countArtifacts(PROD), 3);
      assert.equal(await s.countArtifacts("nobody"), 0);
      const page1 = await s.listArtifactPage(PROD, "", 2);
      assert.deepEqual(
        page1.map((a) => a.apiId),
        ["C-3", "a-1"],
      );
      assert.equal(page1[1]?.artifactJson, JSON.stringify(dto("a-1")));
      const page2 = await s.listArtifactPage(PROD, "a-1", 2);
      assert.deepEqual(
        page2.map((a) => a.apiId),
        ["b-2"],
      );
      assert.equal(await s.findApiId("Api-b-2", "1.0.0"), "b-2");
      assert.equal(await s.findApiId("Api-b-2", "1.0.0", "other.com"), undefined);
      assert.equal(await s.getArtifact("nobody", PROD), undefined);
    });

    test("a relayed change is stored once, adopts its origin revision, and an older one is skipped", async () => {
      const { s } = await own();
      const relay = (seq: number, revision: number | undefined, def: string) =>
        s.saveArtifact(
          {
            dto: dto("api-o", def),
            labels: [PROD],
            instruction: "Publish",
            origin: { region: "region-b", seq, ...(revision !== undefined ? { revision } : {}) },
          },
          () => [],
        );
      const r1 = await relay(7, 5, "<v5/>");
      assert.deepEqual([r1.changed, r1.revision], [true, 5]);
      assert.equal((await relay(7, 5, "<v5/>")).changed, false);
      assert.equal(await s.hasOriginChange("region-b", 7), true);
      assert.equal(await s.hasOriginChange("region-b", 8), false);
      assert.equal((await relay(8, 4, "<v4/>")).changed, false);
      const r3 = await relay(9, undefined, "<v6/>");
      assert.equal(r3.revision, 6);
      const [c] = await s.changesSince(0, [PROD]);
      assert.deepEqual([c?.originRegion, c?.originSeq], ["region-b", 7]);
      // This region's own change coming back through the mesh counts as stored.
      const local = await publish(s, "api-local");
      assert.equal(await s.hasOriginChange("region-a", local.seq), true);
    });

    test("conflict: a relayed change of the stored revision is written only when its key is greater, keeping the revision", async () => {
      // docs/replication.md, "Conflicts": (revision, Remove above Publish, sha256 as lowercase hex).
      const { s } = await own();
      const sha = (def: string) => createHash("sha256").update(JSON.stringify(dto("api-x", def))).digest("hex");
      const [low, high] = ["<x1/>", "<x2/>", "<x3/>"].sort((a, b) => (sha(a) < sha(b) ? -1 : 1)) as [string, string];
      const local = await s.saveArtifact({ dto: dto("api-x", low), labels: [PROD], instruction: "Publish" }, () => []);
      assert.equal(local.revision, 1);
      const relay = (seq: number, instruction: "Publish" | "Remove", def: string) =>
        s.saveArtifact(
          { dto: dto("api-x", def), labels: [PROD], instruction, origin: { region: "region-b", seq, revision: 1 } },
          () => [],
        );
      const win = await relay(3, "Publish", high);
      assert.deepEqual([win.changed, win.revision, win.labels], [true, 1, [PROD]]);
      const held = await s.getArtifact("api-x", PROD);
      assert.deepEqual([held?.revision, held?.sha256, held?.instruction], [1, sha(high), "Publish"]);
      const lose = await relay(4, "Publish", low);
      assert.equal(lose.changed, false, "the smaller sha256 of the same revision loses");
      assert.equal((await s.getArtifact("api-x", PROD))?.sha256, sha(high));
      const remove = await relay(5, "Remove", low);
      assert.deepEqual([remove.changed, remove.revision], [true, 1], "a Remove ranks above a Publish");
      assert.equal((await s.getArtifact("api-x", PROD))?.instruction, "Remove");
      assert.equal((await relay(6, "Remove", high)).changed, false, "Remove vs Remove never writes");
      assert.equal((await relay(7, "Publish", high)).changed, false);
      const rows = await s.changesSince(0, [PROD]);
      assert.deepEqual(
        rows.map((c) => [c.instruction, c.revision, c.originSeq ?? null]),
        [
          ["Publish", 1, local.seq],
          ["Publish", 1, 3],
          ["Remove", 1, 5],
        ],
        "the losing edit stays in the changelog; each winner is a new row of the same revision",
      );
    });

    test("a pulled change (origin without revision) older than what the label holds from that origin is skipped", async () => {
      const { s } = await own();
      const pull = (seq: number, def: string, region = "master") =>
        s.saveArtifact(
          { dto: dto("api-p", def), labels: [PROD], instruction: "Publish", origin: { region, seq } },
          () => [],
        );
      assert.equal((await pull(20, "<v20/>")).changed, true);
      // A stale puller's page: the master's change 10 came after its change 20 was stored.
      assert.equal((await pull(10, "<v10/>")).changed, false);
      assert.equal((await s.getArtifact("api-p", PROD))?.artifactJson.includes("v20"), true);
      assert.equal((await pull(21, "<v21/>")).changed, true);
      // Another origin's sequence numbers are not comparable: its change is not skipped.
      assert.equal((await pull(5, "<other/>", "elsewhere")).changed, true);
    });

    test("history: revisions newest first, grouped across labels, each with its exact bytes and source commit", async () => {
      const { s } = await own();
      const commit = "a".repeat(40);
      await s.saveArtifact(
        { dto: dto("h-1", "<v1/>"), labels: [PROD, EU], instruction: "Publish", sourceCommit: commit },
        () => [],
      );
      await publish(s, "h-1", [PROD], "<v2/>");
      await remove(s, "h-1", [PROD]);
      const history = await s.apiHistory("h-1");
      assert.deepEqual(
        history.map((r) => [r.revision, r.instruction, r.labels, r.commit]),
        [
          [3, "Remove", [PROD], undefined],
          [2, "Publish", [PROD], undefined],
          [1, "Publish", [PROD, EU], commit],
        ],
      );
      assert.ok(history.every((r) => r.hasContent && r.originRegion === "region-a"));
      // A Git store names the commit of its repository that holds each revision; other engines none.
      const commits = history.map((r) => r.storeCommit);
      if (engine.name === "git") {
        assert.ok(commits.every((c) => c !== undefined && /^[0-9a-f]{40}$/.test(c)), String(commits));
        assert.equal(new Set(commits).size, 3);
        assert.equal((await s.getRevision("h-1", 2))?.record.storeCommit, commits[1]);
      } else {
        assert.deepEqual(commits, [undefined, undefined, undefined]);
      }
      assert.deepEqual(
        (await s.apiHistory("h-1", 1)).map((r) => r.revision),
        [3],
      );
      const first = await s.getRevision("h-1", 1);
      assert.equal(first?.artifactJson, JSON.stringify(dto("h-1", "<v1/>")));
      assert.equal(first?.record.sha256, sha(JSON.stringify(dto("h-1", "<v1/>"))));
      assert.equal(await s.getRevision("h-1", 9), undefined);
      assert.deepEqual(await s.apiHistory("nobody"), []);
    });

    test("outbox: claims oldest first; sent() deletes exactly the claimed rows; release() hands them back with one more attempt", async () => {
      const { s } = await own();
      const msg = (i: number): NewOutboxMessage => ({
        topic: "tokenRevocation",
        messageId: `m-${i}`,
        body: Buffer.from([0, 255, i, 10, 13]),
        headers: { n: i, s: `é-${i}` },
      });
      await s.enqueue([msg(1), msg(2), msg(3)]);
      const c1 = await s.claimOutbox(2);
      assert.deepEqual(
        c1.rows.map((r) => r.messageId),
        ["m-1", "m-2"],
      );
      assert.deepEqual(c1.rows[0]?.body, Buffer.from([0, 255, 1, 10, 13]));
      assert.deepEqual(c1.rows[0]?.headers, { n: 1, s: "é-1" });
      assert.equal(c1.rows[0]?.attempts, 0);
      await c1.release();
      const c2 = await s.claimOutbox(10);
      assert.deepEqual(
        c2.rows.map((r) => [r.messageId, r.attempts]),
        [
          ["m-1", 1],
          ["m-2", 1],
          ["m-3", 0],
        ],
      );
      await c2.sent();
      await c2.sent(); // ending a claim twice does nothing
      assert.equal(await s.outboxDepth(), 0);
      const empty = await s.claimOutbox(5);
      assert.equal(empty.rows.length, 0);
      await empty.sent();
      await assert.rejects(s.claimOutbox(0), (err: unknown) => isGwsyncError(err, "GWSYNC_USAGE"));
    });

    test("outbox: peekOutbox(limit, afterId) reads the rows after an id in id order, claimed or not, and takes no claim (coalescing's look-ahead)", async () => {
      const { d, s } = await own();
      await s.enqueue(
        Array.from({ length: 10 }, (_, i) => ({
          topic: "notification",
          messageId: `p${i}`,
          body: Buffer.from("x"),
          headers: {},
        })),
      );
      const all = await s.peekOutbox(100);
      assert.equal(all.length, 10);
      const held = await s.claimOutbox(4);
      // Another node (or this one) reads past the claim without waiting for it; SQLite and Git have one
      // writer process, so the same store reads.
      const reader = engine.multiNode ? d.open({ region: "region-a" }) : s;
      const after = await reader.peekOutbox(3, all[1]!.id);
      assert.deepEqual(
        after.map((r) => r.messageId),
        ["p2", "p3", "p4"],
      );
      assert.deepEqual(
        (await reader.peekOutbox(100, all[9]!.id)).map((r) => r.messageId),
        [],
      );
      // The peek claimed nothing: the other 6 rows are still there to claim, the held 4 are not.
      const rest = await s.claimOutbox(100);
      assert.deepEqual(
        rest.rows.map((r) => r.messageId),
        ["p4", "p5", "p6", "p7", "p8", "p9"],
      );
      await held.sent();
      await rest.sent();
      assert.equal(await s.outboxDepth(), 0);
    });

    test("heartbeats are upserted by node id, listed, and forgotten", async () => {
      const { s } = await own();
      const hb = {
        nodeId: "gw-1",
        region: "eu",
        labels: [PROD],
        appliedSeq: 3,
        deployed: 2,
        version: "0.1.0",
        status: "ready",
        intervalMs: 5000,
        lastSeen: 1_700_000_000_000,
      };
      await s.recordHeartbeat(hb);
      await s.recordHeartbeat({ ...hb, appliedSeq: 9, status: "stale" });
      await s.recordHeartbeat({ ...hb, nodeId: "gw-0" });
      const list = await s.listGateways();
      assert.deepEqual(
        list.map((g) => [g.nodeId, g.appliedSeq, g.status]),
        [
          ["gw-0", 3, "ready"],
          ["gw-1", 9, "stale"],
        ],
      );
      assert.deepEqual(list[1], { ...hb, appliedSeq: 9, status: "stale" });
      assert.equal(await s.forgetGateway("gw-1"), true);
      assert.equal(await s.forgetGateway("gw-1"), false);
      assert.deepEqual(
        (await s.listGateways()).map((g) => g.nodeId),
        ["gw-0"],
      );
    });

    test("gateway reports (fleet view): upsert, delta removal, full replace, refusals newest first, cursors; forgetGateway drops them", async () => {
      const { s } = await own();
      const cursor = (seq: number, complete = true) => ({
        nodeId: "gw-r",
        boot: "boot-1",
        seq,
        complete,
        served: 2,
        refused: 1,
        updatedAt: 1_700_000_000_000 + seq,
      });
      const served = (apiId: string, revision: number) => ({
        nodeId: "gw-r",
        apiId,
        served: { revision, sha256: sha(`${apiId}-${revision}`) },
        reportedAt: 1_700_000_000_000,
      });
      const refused = (apiId: string, at: number) => ({
        nodeId: "gw-r",
        apiId,
        refusal: { revision: 3, code: "GWSYNC_ARTIFACT_CONFLICT", message: `${apiId} refused`, at },
        reportedAt: at,
      });
      await s.recordGatewayReports([served("api-a", 1), served("api-b", 2), refused("api-c", 10)], {
        replace: true,
        cursor: cursor(1),
      });
      await s.recordGatewayReports([refused("api-d", 20), served("api-a", 4)], {
        replace: false,
        cursor: cursor(2),
      });
      let rows = await s.listGatewayReports({ nodeId: "gw-r" });
      assert.deepEqual(
        rows.map((r) => [r.apiId, r.served?.revision ?? null, r.refusal?.code ?? null]),
        [
          ["api-a", 4, null],
          ["api-b", 2, null],
          ["api-c", null, "GWSYNC_ARTIFACT_CONFLICT"],
          ["api-d", null, "GWSYNC_ARTIFACT_CONFLICT"],
        ],
      );
      assert.deepEqual(rows[2], refused("api-c", 10));
      assert.deepEqual(
        (await s.listGatewayReports({ refused: true, limit: 1 })).map((r) => r.apiId),
        ["api-d"],
        "newest refusal first, limited",
      );
      // A delta entry that serves and refused nothing removes the row.
      await s.recordGatewayReports([{ nodeId: "gw-r", apiId: "api-b", reportedAt: 1 }], {
        replace: false,
        cursor: cursor(3, false),
      });
      assert.deepEqual(
        (await s.listGatewayReports({ apiId: "api-b" })).map((r) => r.apiId),
        [],
      );
      assert.deepEqual(await s.listReportCursors(), [cursor(3, false)]);
      // A full snapshot replaces everything the node had.
      await s.recordGatewayReports([served("api-z", 1)], { replace: true, cursor: cursor(4) });
      rows = await s.listGatewayReports();
      assert.deepEqual(
        rows.map((r) => r.apiId),
        ["api-z"],
      );
      await s.recordHeartbeat({
        nodeId: "gw-r",
        region: "region-a",
        labels: [PROD],
        appliedSeq: 1,
        deployed: 1,
        version: "0.1.0",
        status: "ready",
        intervalMs: 5000,
        lastSeen: 1,
      });
      assert.equal(await s.forgetGateway("gw-r"), true);
      assert.deepEqual(await s.listGatewayReports(), []);
      assert.deepEqual(await s.listReportCursors(), []);
    });

    test("replication agreements: put is an upsert per (id, role), listed in order, deleted once", async () => {
      const { s } = await own();
      await s.putAgreement({ id: "ag-2", role: "consumer", document: '{"v":1}', updatedAt: 1 });
      await s.putAgreement({ id: "ag-1", role: "supplier", document: '{"v":1}', updatedAt: 2 });
      await s.putAgreement({ id: "ag-2", role: "consumer", document: '{"v":2}', updatedAt: 3 });
      await s.putAgreement({ id: "ag-2", role: "supplier", document: '{"v":9}', updatedAt: 4 });
      assert.deepEqual(await s.listAgreements(), [
        { id: "ag-1", role: "supplier", document: '{"v":1}', updatedAt: 2 },
        { id: "ag-2", role: "consumer", document: '{"v":2}', updatedAt: 3 },
        { id: "ag-2", role: "supplier", document: '{"v":9}', updatedAt: 4 },
      ]);
      assert.equal(await s.deleteAgreement("ag-2", "consumer"), true);
      assert.equal(await s.deleteAgreement("ag-2", "consumer"), false);
      assert.deepEqual(
        (await s.listAgreements()).map((a) => `${a.id}/${a.role}`),
        ["ag-1/supplier", "ag-2/supplier"],
      );
    });

    test("one file, one API: a publish writing a file another API owns is 409 and stores nothing; a Remove frees it", async () => {
      const { s } = await own();
      const save = (apiId: string, files: string[], instruction: "Publish" | "Remove" = "Publish") =>
        s.saveArtifact({ dto: dto(apiId), labels: [PROD, EU], instruction, files }, () => []);
      await save("owner", ["api/a--X_v1.xml", "sequences/s.xml"]);
      await assert.rejects(
        save("intruder", ["api/b--Y_v1.xml", "sequences/s.xml"]),
        (err: unknown) =>
          isGwsyncError(err, "GWSYNC_ARTIFACT_CONFLICT") &&
          err.message.includes("sequences/s.xml") &&
          err.message.includes("owner"),
      );
      assert.equal(await s.getArtifact("intruder", PROD), undefined);
      // The owner may re-publish its own files.
      assert.equal(
        (
          await s.saveArtifact(
            {
              dto: dto("owner", "<v2/>"),
              labels: [PROD],
              instruction: "Publish",
              files: ["api/a--X_v1.xml", "sequences/s.xml"],
            },
            () => [],
          )
        ).changed,
        true,
      );
      await save("owner", [], "Remove");
      assert.equal((await save("intruder", ["api/b--Y_v1.xml", "sequences/s.xml"])).changed, true);
    });

    test("a readonly store reads what the writer committed and refuses writes", async () => {
      const { d, s } = await own();
      await publish(s, "ro-1");
      const ro = d.open({ readonly: true, region: "region-a" });
      assert.equal((await ro.getArtifact("ro-1", PROD))?.revision, 1);
      assert.equal(await ro.headSeq(), 1);
      await assert.rejects(
        publish(ro, "ro-2"),
        (err: unknown) => isGwsyncError(err, "GWSYNC_STORE_FAILED") && /readonly/.test(err.message),
      );
      const h = await ro.health();
      assert.equal(h.ok, true, h.detail);
      assert.equal(h.engine, engine.name);
    });

    test("a store opened again keeps everything and continues revisions and sequence numbers", async () => {
      const { d, s } = await own();
      await publish(s, "k-1", [PROD, EU]);
      await s.close();
      const again = d.open({ region: "region-a" });
      const r = await publish(again, "k-1", [PROD], "<v2/>");
      assert.deepEqual([r.revision, r.seq], [2, 3]);
      assert.equal(await again.outboxDepth(), 2);
      const h = await again.health();
      assert.deepEqual([h.ok, h.detail], [true, "ok"]);
      assert.ok(!h.location.includes("password"));
    });

    if (!engine.multiNode) return;

    test("nodes: several nodes opening a fresh database at once migrate it once", async () => {
      const d = await engine.create();
      fresh.push(d);
      const nodes = [d.open(), d.open(), d.open()];
      assert.deepEqual(await Promise.all(nodes.map((n) => n.headSeq())), [0, 0, 0]);
      for (const n of nodes) assert.equal((await n.health()).ok, true);
    });

    test("nodes: two nodes updating one API at once never lose an update; revisions are distinct and grow in seq order", async () => {
      const d = await engine.create();
      fresh.push(d);
      const [a, b] = [d.open(), d.open()];
      const N = 15;
      const results = await Promise.all(
        Array.from({ length: N * 2 }, (_, i) => publish(i % 2 === 0 ? a! : b!, "hot", [PROD], `<v${i}/>`)),
      );
      const revisions = results.map((r) => r.revision).sort((x, y) => x - y);
      assert.deepEqual(
        revisions,
        Array.from({ length: N * 2 }, (_, i) => i + 1),
      );
      const changes = await a!.changesSince(0, [PROD]);
      assert.equal(changes.length, N * 2);
      for (let i = 1; i < changes.length; i++) assert.ok(changes[i]!.revision > changes[i - 1]!.revision);
      const stored = await b!.getArtifact("hot", PROD);
      const winner = results.find((r) => r.revision === N * 2);
      assert.equal(stored?.revision, N * 2);
      assert.equal(stored?.sha256, winner?.sha256);
    });

    test("nodes: two APIs claiming one file at once: one wins, the other is told (409), never both", async () => {
      const d = await engine.create();
      fresh.push(d);
      const [a, b] = [d.open(), d.open()];
      for (let round = 0; round < 5; round++) {
        const file = `api/shared-${round}.xml`;
        const outcomes = await Promise.allSettled([
          a!.saveArtifact(
            { dto: dto(`x-${round}`), labels: [PROD], instruction: "Publish", files: [file] },
            () => [],
          ),
          b!.saveArtifact(
            { dto: dto(`y-${round}`), labels: [PROD], instruction: "Publish", files: [file] },
            () => [],
          ),
        ]);
        const won = outcomes.filter((o) => o.status === "fulfilled");
        const lost = outcomes.filter((o) => o.status === "rejected");
        assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(outcomes.map((o) => o.status))}`);
        assert.ok(isGwsyncError((lost[0] as PromiseRejectedResult).reason, "GWSYNC_ARTIFACT_CONFLICT"));
      }
    });

    test("nodes: claims of two nodes never share a row; a released row goes to whoever claims next", async () => {
      const d = await engine.create();
      fresh.push(d);
      const [a, b] = [d.open(), d.open()];
      await a!.enqueue(
        Array.from({ length: 10 }, (_, i) => ({
          topic: "notification",
          messageId: `m${i}`,
          body: Buffer.from("x"),
          headers: {},
        })),
      );
      const ca = await a!.claimOutbox(4);
      const cb = await b!.claimOutbox(10);
      const ids = [...ca.rows, ...cb.rows].map((r) => r.messageId);
      assert.equal(ca.rows.length, 4);
      assert.equal(cb.rows.length, 6);
      assert.equal(new Set(ids).size, 10);
      // While both claims live, nothing is left to claim.
      assert.equal((await b!.claimOutbox(10)).rows.length, 0);
      await ca.release();
      const again = await b!.claimOutbox(10);
      assert.deepEqual(
        again.rows.map((r) => r.messageId),
        ca.rows.map((r) => r.messageId),
      );
      await again.sent();
      await cb.sent();
      assert.equal(await a!.outboxDepth(), 0);
    });

    test("nodes: the changelog is gap-safe: a save holding seq N keeps a later save from becoming visible first", async () => {
      const d = await engine.create();
      fresh.push(d);
      let hold: (() => void) | undefined;
      let held: ((seq: number) => void) | undefined;
      const reachedCommit = new Promise<number>((r) => {
        held = r;
      });
      const a = d.open({
        beforeCommit: async (r) => {
          if (r.apiId !== "slow") return;
          held?.(r.seq);
          await new Promise<void>((r2) => {
            hold = r2;
          });
        },
      });
      const b = d.open();
      const reader = d.open({ readonly: true });
      await publish(b, "warm-up");
      const slow = publish(a, "slow");
      const n = await reachedCommit; // "slow" holds seq n, uncommitted
      assert.equal(n, 2);
      let fastDone = false;
      const fast = publish(b, "fast").then((r) => {
        fastDone = true;
        return r;
      });
      // While "slow" holds its seq, a reader must see nothing after 1: neither a gap nor "fast" before it.
      for (let i = 0; i < 25; i++) {
        assert.deepEqual(
          (await reader.changesSince(1, [PROD])).map((c) => c.seq),
          [],
        );
        assert.equal(await reader.headSeq(), 1);
      }
      assert.equal(fastDone, false, "a later save committed while an earlier sequence number was open");
      hold?.();
      const [rs, rf] = await Promise.all([slow, fast]);
      assert.deepEqual([rs.seq, rf.seq], [2, 3]);
      assert.deepEqual(
        (await reader.changesSince(1, [PROD])).map((c) => [c.seq, c.apiId]),
        [
          [2, "slow"],
          [3, "fast"],
        ],
      );
    });

    test("nodes: a reader following changesSince during concurrent saves from two nodes misses no sequence number", async () => {
      const d = await engine.create();
      fresh.push(d);
      const [a, b] = [d.open(), d.open()];
      await a!.headSeq(); // the first node migrates; a readonly reader needs the schema
      const reader = d.open({ readonly: true });
      const TOTAL = 120;
      let writing = true;
      const seen = new Set<number>();
      const follow = (async () => {
        let cursor = 0;
        for (;;) {
          const stop = !writing;
          const page = await reader.changesSince(cursor, [PROD, EU], 50);
          for (const c of page) {
            assert.ok(c.seq > cursor);
            seen.add(c.seq);
            cursor = c.seq;
          }
          if (stop && page.length === 0) return cursor;
        }
      })();
      const writer = async (s: ArtifactStore, prefix: string) => {
        for (let i = 0; i < TOTAL / 4; i++) {
          await Promise.all([publish(s, `${prefix}-${i}`, [PROD]), publish(s, `${prefix}-${i}-eu`, [EU])]);
        }
      };
      await Promise.all([writer(a!, "a"), writer(b!, "b")]);
      writing = false;
      const last = await follow;
      assert.equal(last, TOTAL);
      assert.equal(seen.size, TOTAL, "the reader skipped sequence numbers that committed late");
    });

    if (engine.name === "postgresql") {
      test("nodes: a commit on one node wakes the other's dispatcher (LISTEN/NOTIFY)", async () => {
        const d = await engine.create();
        fresh.push(d);
        const [a, b] = [d.open(), d.open()];
        await a!.headSeq();
        let calls = 0;
        let woke: () => void = () => undefined;
        const connected = new Promise<void>((r) => {
          woke = r;
        });
        const stop = a!.onOutboxCommit(() => {
          calls++;
          woke();
        });
        await connected; // the listener wakes once when it starts listening
        const before = calls;
        const wokeAgain = new Promise<void>((r) => {
          woke = r;
        });
        await publish(b!, "wake-me");
        await wokeAgain;
        assert.ok(calls > before);
        stop();
      });
    }
  });
}

for (const engine of ENGINES) contract(engine);
