/**
 * Issue 20 (B11 at 1,000 gateways × 10,000 APIs: 62,051 snapshot parts refused by the full report
 * queue and sent again on top of the 40,000 needed, because a refused gateway sent its whole snapshot
 * again): a refused part is now sent again alone, under its own sequence number, and the publisher's
 * intake takes a snapshot's parts in any order. Here: the intake's rules message by message, then a
 * gateway's reporter and the intake joined by a small queue that refuses at random while the gateway
 * deploys, removes and refuses APIs; once the queue takes everything, the store holds exactly what the
 * gateway serves and refused, and the stream is complete.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  decodeGatewayReport,
  type GatewayReport,
  MAX_REPORT_ENTRIES,
} from "../../src/events/gateway-report.js";
import { ApplyReporter } from "../../src/gateway/apply-report.js";
import { MemoryDeployer } from "../../src/gateway/deploy/memory-deployer.js";
import { silentLogger } from "../../src/log.js";
import { ReportIntake } from "../../src/publisher/gateway-reports.js";
import { openStore } from "../../src/store/open-store.js";
import type { ArtifactStore } from "../../src/store/types.js";
import { holdLoop, numberedApi, reportMessage, sha } from "../harness/gateway-reports.js";
import { tempDir } from "../harness/temp-dir.js";

const dto = (i: number) => numberedApi(i, `id-${String(i).padStart(4, "0")}`);

/** mulberry32: a fixed sequence per seed, so a failure can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const msg = reportMessage;

const served = (rev: number) => ({ revision: rev, sha256: sha(String(rev % 10)) });

async function withStore(fn: (store: ArtifactStore) => Promise<void>): Promise<void> {
  const store = openStore({ type: "sqlite", url: join(tempDir("gwsync-report-resume-"), "a.db") });
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

describe("report intake: a snapshot's parts in any order", () => {
  test("a refused part sent again under its own number completes the snapshot; the first part seen replaces the rows", async () => {
    await withStore(async (store) => {
      const intake = new ReportIntake({ store, logger: silentLogger, onRefused: () => undefined });
      const cursor = async () => (await store.listReportCursors()).find((c) => c.nodeId === "gw");
      const rows = async () =>
        (await store.listGatewayReports({ nodeId: "gw" })).map((r) => [r.apiId, r.served?.revision ?? null]);
      await intake.accept(msg({ seq: 1, apis: [{ apiId: "stale", served: served(1) }] }));
      // Snapshot at seq 2..4 (parts 1..3); part 1 (seq 2) refused: part 2 is the first seen.
      await intake.accept(
        msg({ seq: 3, kind: "full", part: 2, parts: 3, apis: [{ apiId: "b", served: served(1) }] }),
      );
      assert.deepEqual(await rows(), [["b", 1]], "the first part seen replaced the node's rows");
      await intake.accept(
        msg({ seq: 4, kind: "full", part: 3, parts: 3, apis: [{ apiId: "c", served: served(1) }] }),
      );
      assert.equal((await cursor())?.complete, false, "part 1 not seen yet");
      // A delta sent before the refusal was known, then part 1 again (seq 2), built later.
      await intake.accept(msg({ seq: 5, apis: [{ apiId: "c", served: served(2) }] }));
      assert.equal((await cursor())?.complete, false, "still missing seq 2");
      await intake.accept(
        msg({ seq: 2, kind: "full", part: 1, parts: 3, apis: [{ apiId: "a", served: served(1) }] }),
      );
      assert.deepEqual(
        [(await cursor())?.complete, (await cursor())?.seq],
        [true, 5],
        "every part and every message after the snapshot's first: complete; the cursor stays at the highest",
      );
      assert.deepEqual(await rows(), [
        ["a", 1],
        ["b", 1],
        ["c", 2],
      ]);
      // The same part again (another publisher node's queue refused it): nothing changes.
      await intake.accept(
        msg({ seq: 2, kind: "full", part: 1, parts: 3, apis: [{ apiId: "a", served: served(1) }] }),
      );
      assert.deepEqual(
        [(await cursor())?.complete, await rows()],
        [
          true,
          [
            ["a", 1],
            ["b", 1],
            ["c", 2],
          ],
        ],
      );
      await intake.accept(msg({ seq: 6, apis: [] }));
      assert.equal((await cursor())?.complete, true, "in order after it");
      // A delta lost for good (seq 7): incomplete, whatever follows, until a newer snapshot.
      await intake.accept(msg({ seq: 8, apis: [{ apiId: "d", served: served(1) }] }));
      assert.equal((await cursor())?.complete, false, "seq 7 missing");
      await intake.accept(
        msg({ seq: 9, kind: "full", part: 1, parts: 1, apis: [{ apiId: "d", served: served(1) }] }),
      );
      assert.deepEqual(
        [(await cursor())?.complete, await rows()],
        [true, [["d", 1]]],
        "a newer snapshot forgives what came before it",
      );
    });
  });

  test("a gateway that sends its whole snapshot again under new numbers (before this change) still completes", async () => {
    await withStore(async (store) => {
      const intake = new ReportIntake({ store, logger: silentLogger, onRefused: () => undefined });
      const cursor = async () => (await store.listReportCursors()).find((c) => c.nodeId === "gw");
      await intake.accept(
        msg({ seq: 1, kind: "full", part: 1, parts: 2, apis: [{ apiId: "a", served: served(1) }] }),
      );
      // seq 2 (part 2) refused; the whole snapshot again as seq 3..4.
      await intake.accept(
        msg({ seq: 3, kind: "full", part: 1, parts: 2, apis: [{ apiId: "a", served: served(1) }] }),
      );
      assert.equal((await cursor())?.complete, false);
      await intake.accept(
        msg({ seq: 4, kind: "full", part: 2, parts: 2, apis: [{ apiId: "b", served: served(1) }] }),
      );
      assert.equal((await cursor())?.complete, true);
    });
  });

  test("a stream that skips more numbers than the intake counts is incomplete until a snapshot after the skip", async () => {
    await withStore(async (store) => {
      const intake = new ReportIntake({ store, logger: silentLogger, onRefused: () => undefined });
      const cursor = async () => (await store.listReportCursors()).find((c) => c.nodeId === "gw");
      await intake.accept(msg({ seq: 1, kind: "full", part: 1, parts: 1, apis: [] }));
      await intake.accept(msg({ seq: 1_000_000, apis: [] }));
      assert.equal((await cursor())?.complete, false);
      await intake.accept(msg({ seq: 999_999, kind: "full", part: 1, parts: 1, apis: [] }));
      assert.equal(
        (await cursor())?.complete,
        false,
        "a snapshot that began before the skip does not cover it",
      );
      await intake.accept(msg({ seq: 1_000_001, kind: "full", part: 1, parts: 1, apis: [] }));
      assert.equal((await cursor())?.complete, true);
    });
  });
});

/**
 * A report queue of a given capacity, as the broker's with `x-overflow: reject-publish`: a message is
 * refused (settled false) when it is full, else taken (settled true) and consumed later by `drain`.
 */
function queue(capacity: () => number) {
  const held: Buffer[] = [];
  const waiting: (() => void)[] = [];
  let sends = 0;
  return {
    held,
    get sends() {
      return sends;
    },
    send(body: Buffer, settled: (accepted: boolean) => void): void {
      sends++;
      const taken = held.length < capacity();
      if (taken) held.push(body);
      queueMicrotask(() => settled(taken));
      for (const w of waiting.splice(0)) w();
    },
    /** Resolves at the reporter's next send (its retry timer's). */
    nextSend(): Promise<void> {
      return new Promise((resolve) => waiting.push(resolve));
    },
    async drain(intake: ReportIntake, n = Number.POSITIVE_INFINITY): Promise<void> {
      for (let i = 0; i < n && held.length > 0; i++) await intake.accept(decodeGatewayReport(held.shift()!)!);
    },
  };
}

describe("report stream: refused parts sent again alone, end to end", () => {
  for (const seed of [3, 11, 2026]) {
    test(`the store ends with exactly what the gateway reports (seed ${seed})`, {
      timeout: 120_000,
    }, async () => {
      const rnd = prng(seed);
      await withStore(async (store) => {
        const intake = new ReportIntake({ store, logger: silentLogger, onRefused: () => undefined });
        let capacity = 2;
        const q = queue(() => capacity);
        const deployer = new MemoryDeployer({ keepContent: false });
        const API_COUNT = MAX_REPORT_ENTRIES * 4 + 17;
        for (let i = 0; i < API_COUNT; i++) {
          await deployer.deploy(dto(i), { revision: 1, sha256: sha("1"), seq: i + 1, labels: ["L"] });
        }
        let resent = 0;
        const reporter = new ApplyReporter({
          nodeId: "gw",
          deployer,
          debounceMs: 60_000, // flushed by the test
          retryBaseMs: 1,
          retryMaxMs: 2,
          random: rnd,
          send: (body, settled) => q.send(body, settled),
        });
        const release = holdLoop();
        try {
          reporter.sendFull();
          for (let step = 0; step < 300; step++) {
            const roll = rnd();
            const i = Math.floor(rnd() * (API_COUNT + 20));
            if (roll < 0.3) {
              const rev = 2 + Math.floor(rnd() * 5);
              await deployer.deploy(dto(i), {
                revision: rev,
                sha256: sha(String(rev)),
                seq: 0,
                labels: ["L"],
              });
              reporter.noteApplied(dto(i).apiId);
            } else if (roll < 0.4) {
              await deployer.undeploy(dto(i).apiId);
              reporter.noteApplied(dto(i).apiId);
            } else if (roll < 0.45) {
              reporter.noteRefused(dto(i).apiId, { revision: 9, code: "GWSYNC_X", message: "no" });
            } else if (roll < 0.6) {
              reporter.flush();
            } else if (roll < 0.63) {
              reporter.sendFull();
            } else if (roll < 0.75) {
              capacity = Math.floor(rnd() * 4);
            } else if (roll < 0.95) {
              await q.drain(intake, 1 + Math.floor(rnd() * 3));
            } else if (reporter.notTaken > 0) {
              // Let a pending resend go out (the reporter's own timer).
              await Promise.race([q.nextSend(), new Promise<void>((r) => setImmediate(r))]);
            }
          }
          // From now on the queue takes everything: the stream must end complete and right.
          capacity = Number.POSITIVE_INFINITY;
          const want = () =>
            [...new Set([...deployer.deployed().map((d) => d.apiId), ...refusedIds])]
              .sort()
              .map((apiId) => [
                apiId,
                deployer.get(apiId)?.revision ?? null,
                reporter.refusalOf(apiId)?.code ?? null,
              ]);
          const got = async () =>
            (await store.listGatewayReports({ nodeId: "gw" })).map((r) => [
              r.apiId,
              r.served?.revision ?? null,
              r.refusal?.code ?? null,
            ]);
          const refusedIds = new Set<string>();
          for (let k = 0; k < API_COUNT + 20; k++)
            if (reporter.refusalOf(dto(k).apiId)) refusedIds.add(dto(k).apiId);
          for (;;) {
            reporter.flush();
            await q.drain(intake);
            const c = (await store.listReportCursors()).find((x) => x.nodeId === "gw");
            if (c?.complete && JSON.stringify(await got()) === JSON.stringify(want())) break;
            await q.nextSend();
          }
          resent = reporter.partsResent;
          assert.ok(reporter.notTaken > 0, "the queue refused something (else this test proves nothing)");
          assert.ok(resent > 0, "some refused parts were sent again alone");
        } finally {
          release();
          reporter.close();
        }
      });
    });
  }

  test("a refused part goes again alone with its own number; a refused delta costs a new snapshot", async () => {
    const deployer = new MemoryDeployer({ keepContent: false });
    for (let i = 0; i < MAX_REPORT_ENTRIES * 3; i++) {
      await deployer.deploy(dto(i), { revision: 1, sha256: sha("1"), seq: i + 1, labels: ["L"] });
    }
    const sent: GatewayReport[] = [];
    let refuse = (_m: GatewayReport) => false;
    let onSend: () => void = () => undefined;
    const r = new ApplyReporter({
      nodeId: "gw",
      deployer,
      debounceMs: 60_000,
      retryBaseMs: 1,
      retryMaxMs: 1,
      send: (body, settled) => {
        const m = decodeGatewayReport(body)!;
        sent.push(m);
        const no = refuse(m);
        queueMicrotask(() => settled(!no));
        onSend();
      },
    });
    const sends = (n: number) =>
      new Promise<void>((resolve) => {
        onSend = () => {
          if (sent.length >= n) resolve();
        };
      });
    const release = holdLoop();
    try {
      let once = 0;
      refuse = (m) => m.kind === "full" && m.part === 2 && once++ === 0;
      let done = sends(4);
      r.sendFull();
      await done;
      assert.deepEqual(
        sent.map((m) => [m.kind, m.seq, m.part, m.parts]),
        [
          ["full", 1, 1, 3],
          ["full", 2, 2, 3],
          ["full", 3, 3, 3],
          ["full", 2, 2, 3],
        ],
        "only the refused part again, under its own seq",
      );
      assert.deepEqual(
        sent[3]!.apis.map((a) => a.apiId),
        sent[1]!.apis.map((a) => a.apiId),
        "the same APIs",
      );
      assert.equal(r.partsResent, 1);
      // A refused delta: a whole new snapshot after the back-off.
      refuse = (m) => m.kind === "delta";
      await deployer.deploy(dto(0), { revision: 2, sha256: sha("2"), seq: 0, labels: ["L"] });
      r.noteApplied(dto(0).apiId);
      done = sends(8);
      r.flush();
      refuse = (m) => m.kind === "delta" && m.seq === 4;
      await done;
      assert.deepEqual(
        sent.slice(4).map((m) => [m.kind, m.seq, m.part]),
        [
          ["delta", 4, 1],
          ["full", 5, 1],
          ["full", 6, 2],
          ["full", 7, 3],
        ],
      );
      assert.equal(sent[5]!.apis.find((a) => a.apiId === dto(0).apiId)?.served?.revision, 2);
    } finally {
      release();
      r.close();
    }
  });
});
