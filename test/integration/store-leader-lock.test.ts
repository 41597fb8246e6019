/**
 * The store's leader lock (src/store/leader-lock.ts) on every engine, two nodes (two stores) on one
 * database: a second acquirer is refused while the lock is held and takes it once released; on
 * PostgreSQL and MariaDB the database releases it when the holder's connection closes (terminated from
 * the server side here: the holder hears `lost`, the other node takes it). Also the agreements'
 * compare-and-set write (putAgreement with ifDocument) the replication puller relies on.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { ENGINES, endLockSession, type TestDatabase } from "../harness/store-engines.js";

for (const engine of ENGINES) {
  describe(`leader lock on ${engine.name}`, () => {
    let db: TestDatabase | undefined;
    after(async () => {
      await db?.drop();
    });

    test("one holder at a time; released on release() and on the holder's connection closing", async () => {
      db = await engine.create();
      const s1 = db.open();
      const s2 = db.open();
      await s1.headSeq();
      await s2.headSeq();
      const a = s1.leaderLock("replication:one");
      const b = s2.leaderLock("replication:one");
      const other = s2.leaderLock("replication:two");

      assert.equal(await a.acquire(), true, "the first acquirer takes it");
      assert.equal(await a.acquire(), true, "acquiring a held lock again is a no-op");
      assert.equal(await b.acquire(), false, "a second acquirer is refused while it is held");
      assert.equal(b.held, false);
      assert.equal(await other.acquire(), true, "another name is another lock");
      assert.equal(await a.check(), true, "the holder's connection answers");
      assert.equal(await b.check(), false, "a node that does not hold it says so");

      await a.release();
      assert.equal(a.held, false);
      assert.equal(await b.acquire(), true, "released: the other node takes it");
      assert.equal(await a.acquire(), false, "now the first is refused");
      await other.release();

      if (!engine.multiNode) {
        // One process owns an SQLite file: nothing to kill but the process; release() is the only way out.
        await b.release();
        assert.equal(await a.acquire(), true);
        await a.release();
        return;
      }
      // The holder's session ends on the server: the database releases the lock, the holder hears `lost`.
      const lost = new Promise<string>((resolve) => b.on("lost", resolve));
      assert.equal(await endLockSession(engine.name, db, "replication:one"), 1, "one session held it");
      const reason = await lost;
      assert.equal(b.held, false, `b lost it (${reason})`);
      assert.equal(await a.acquire(), true, "the survivor takes it over");
      assert.equal(await b.acquire(), false, "the old holder, reconnected, is refused");
      await a.release();
      await b.release();
    });

    test("putAgreement with ifDocument writes only over the document it read", async () => {
      db ??= await engine.create();
      const s = db.open();
      const rec = (document: string, updatedAt: number) =>
        ({ id: "cas-1", role: "consumer", document, updatedAt }) as const;
      assert.equal(await s.putAgreement(rec('{"seq":1}', 1)), true);
      assert.equal(await s.putAgreement(rec('{"seq":2}', 2), '{"seq":1}'), true, "over what it read");
      assert.equal(await s.putAgreement(rec('{"seq":0}', 3), '{"seq":1}'), false, "a stale writer is refused");
      assert.equal(await s.putAgreement(rec('{"seq":2}', 2), '{"seq":2}'), true, "the same document again");
      assert.equal(await s.putAgreement({ ...rec('{"x":1}', 4), id: "missing" }, "{}"), false, "no row, no write");
      const held = (await s.listAgreements()).filter((r) => r.id === "cas-1" || r.id === "missing");
      assert.deepEqual(
        held.map((r) => r.document),
        ['{"seq":2}'],
      );
    });
  });
}
