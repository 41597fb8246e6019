import assert from "node:assert/strict";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { renderStatus, type StatusReport } from "../../src/cli/status-render.js";
import { agreementView, type ConsumerAgreement, toRecord } from "../../src/replication/agreement.js";
import { replicationStatus } from "../../src/replication/status.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import { tempDir } from "../harness/temp-dir.js";

/**
 * Which publisher node pulls a clone agreement (docs/replication.md, "Several publisher nodes"): the
 * agreement's view, `gwsync status` read from the store, and its text line name the puller and since
 * when, and say nothing of a puller while the agreement is disabled. On SQLite the one process is
 * always the leader: its lock is granted once per name.
 */

const opened: SqliteArtifactStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

const SINCE = Date.UTC(2026, 11, 6, 1, 2, 3, 456);

function clone(over: Partial<ConsumerAgreement> = {}): ConsumerAgreement {
  return {
    id: "2026120601020304560001",
    type: "consumer",
    master: { url: "https://cp.eu.example.com", username: "r", password: "secret", region: "eu" },
    cloneRegion: "us",
    labels: ["P"],
    pollIntervalSec: 60,
    enabled: true,
    state: "READY",
    startingSequenceNumber: 100,
    lastSequenceNumber: 550,
    masterHead: 560,
    bootstrapped: 100,
    applied: 450,
    skipped: 0,
    refused: 0,
    createdAt: SINCE - 1000,
    updatedAt: SINCE,
    puller: { nodeId: "clone-b", since: SINCE, url: "http://10.0.0.6:9443" },
    ...over,
  };
}

describe("replication: the puller in the views", () => {
  test("the agreement's view names the puller while enabled, not while disabled", () => {
    const v = agreementView(clone()) as { puller?: unknown };
    assert.deepEqual(v.puller, { nodeId: "clone-b", since: "2026-12-06T01:02:03.456Z", url: "http://10.0.0.6:9443" });
    assert.equal("puller" in agreementView(clone({ enabled: false, state: "DISABLED" })), false);
    assert.equal(JSON.stringify(v).includes("secret"), false, "the password never");
  });

  test("gwsync status reads the puller from the store and prints it on the agreement's line", async () => {
    const store = SqliteArtifactStore.open(path.join(tempDir("gwsync-puller-view-"), "artifacts.db"));
    opened.push(store);
    await store.putAgreement(toRecord(clone()));
    const [row] = await replicationStatus(store);
    assert.deepEqual(row?.puller, { nodeId: "clone-b", since: "2026-12-06T01:02:03.456Z", url: "http://10.0.0.6:9443" });
    const text = renderStatus({
      store: "sqlite",
      headSeq: 0,
      outboxDepth: 0,
      labels: {},
      replication: [row!],
      fleet: { gateways: [], counts: {} },
    } as unknown as StatusReport);
    assert.match(text, /clone of eu\s+READY seq=550 lag=10 seq .* pulled-by=clone-b since 2026-12-06T01:02:03.456Z/);
  });

  test("SQLite: the one process owns the store, so its lock is always granted (once per name)", async () => {
    const store = SqliteArtifactStore.open(path.join(tempDir("gwsync-puller-view-"), "artifacts.db"));
    opened.push(store);
    const a = store.leaderLock("replication-agreement:x");
    const b = store.leaderLock("replication-agreement:x");
    assert.equal(await a.acquire(), true);
    assert.equal(await b.acquire(), false, "two holders in one process take turns");
    await a.release();
    assert.equal(await b.acquire(), true);
    await b.release();
  });
});
