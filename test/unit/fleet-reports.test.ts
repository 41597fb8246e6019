import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import {
  decodeGatewayReport,
  type GatewayReport,
  MAX_REPORT_BYTES,
  MAX_REPORT_ENTRIES,
} from "../../src/events/gateway-report.js";
import { ApplyReporter, MAX_KEPT_REFUSALS } from "../../src/gateway/apply-report.js";
import { MemoryDeployer } from "../../src/gateway/deploy/memory-deployer.js";
import { silentLogger } from "../../src/log.js";
import { rolloutStatus } from "../../src/publisher/fleet-view.js";
import { ReportIntake } from "../../src/publisher/gateway-reports.js";
import { openStore } from "../../src/store/open-store.js";
import type { StoredArtifact } from "../../src/store/types.js";
import { holdLoop, numberedApi, reportMessage, sha } from "../harness/gateway-reports.js";
import { tempDir } from "../harness/temp-dir.js";

const dto = (i: number) => numberedApi(i);

function reporter(deployer: MemoryDeployer) {
  const sent: GatewayReport[] = [];
  const r = new ApplyReporter({
    nodeId: "gw-1",
    deployer,
    debounceMs: 60_000, // flushed by hand
    send: (body) => {
      const decoded = decodeGatewayReport(body);
      assert.ok(decoded, "every message the gateway sends decodes");
      assert.ok(body.length <= MAX_REPORT_BYTES);
      sent.push(decoded);
    },
  });
  return { r, sent };
}

describe("gateway report stream: the gateway's side", () => {
  test("a full snapshot lists every served API and every refusal, in parts of at most MAX_REPORT_ENTRIES", async () => {
    const deployer = new MemoryDeployer({ keepContent: false });
    const n = MAX_REPORT_ENTRIES * 2 + 7;
    for (let i = 0; i < n; i++)
      await deployer.deploy(dto(i), { revision: 3, sha256: sha("a"), seq: i + 1, labels: ["L"] });
    const { r, sent } = reporter(deployer);
    r.noteRefused("id-x", { revision: 4, code: "GWSYNC_ARTIFACT_CONFLICT", message: "m".repeat(5000) });
    r.sendFull();
    assert.deepEqual(
      sent.map((m) => [m.kind, m.part, m.parts, m.seq]),
      [
        ["full", 1, 3, 1],
        ["full", 2, 3, 2],
        ["full", 3, 3, 3],
      ],
    );
    const entries = sent.flatMap((m) => m.apis);
    assert.equal(entries.length, n + 1);
    assert.equal(entries.filter((e) => e.served?.revision === 3 && e.served.sha256 === sha("a")).length, n);
    const x = entries.find((e) => e.apiId === "id-x")!;
    assert.equal(x.served, undefined);
    assert.equal(x.refusal?.code, "GWSYNC_ARTIFACT_CONFLICT");
    assert.equal(x.refusal?.fresh, true, "new since the last report");
    assert.equal(x.refusal?.message.length, 512, "cut to the limit");
    assert.deepEqual([sent[0]!.served, sent[0]!.refused], [n, 1]);
    sent.length = 0;
    r.flush();
    assert.equal(sent.length, 0, "nothing changed since: no delta");
  });

  test("deltas name only the APIs that changed; a refusal is fresh once; removed APIs say they serve nothing", async () => {
    const deployer = new MemoryDeployer({ keepContent: false });
    await deployer.deploy(dto(1), { revision: 1, sha256: sha("a"), seq: 1, labels: ["L"] });
    const { r, sent } = reporter(deployer);
    r.sendFull();
    sent.length = 0;
    await deployer.deploy(dto(2), { revision: 1, sha256: sha("b"), seq: 2, labels: ["L"] });
    r.noteApplied("id-2");
    r.noteRefused("id-3", { revision: 7, code: "GWSYNC_SIGNATURE_INVALID", message: "bad signature" });
    await deployer.undeploy("id-1");
    r.noteApplied("id-1");
    r.flush();
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]!.apis, [
      { apiId: "id-2", served: { revision: 1, sha256: sha("b") } },
      {
        apiId: "id-3",
        refusal: {
          revision: 7,
          code: "GWSYNC_SIGNATURE_INVALID",
          message: "bad signature",
          at: sent[0]!.apis[1]!.refusal!.at,
          fresh: true,
        },
      },
      { apiId: "id-1" },
    ]);
    assert.equal(sent[0]!.seq, 2, "numbered after the full snapshot");
    r.noteApplied("id-3");
    r.flush();
    assert.equal(sent[1]!.apis[0]!.refusal?.fresh, undefined, "reported before: not fresh again");
  });

  test("refusals kept are bounded: the oldest goes, and is reported gone", async () => {
    const { r, sent } = reporter(new MemoryDeployer());
    for (let i = 0; i <= MAX_KEPT_REFUSALS; i++) r.noteRefused(`id-${i}`, { code: "C", message: "m" });
    assert.equal(r.refusalCount, MAX_KEPT_REFUSALS);
    assert.equal(r.refusalOf("id-0"), undefined);
    r.flush();
    const all = sent.flatMap((m) => m.apis);
    assert.deepEqual(
      all.find((e) => e.apiId === "id-0"),
      { apiId: "id-0" },
      "the dropped one is reported without a refusal",
    );
  });

  test("a send that fails stops the deltas until the next full snapshot (which repairs what was missed)", async () => {
    const deployer = new MemoryDeployer();
    let up = false;
    const sent: GatewayReport[] = [];
    const r = new ApplyReporter({
      nodeId: "gw",
      deployer,
      debounceMs: 60_000,
      send: (body) => {
        if (!up) throw new Error("channel closed");
        sent.push(decodeGatewayReport(body)!);
      },
    });
    r.noteRefused("id-1", { code: "C", message: "m" });
    r.flush();
    up = true;
    r.noteRefused("id-2", { code: "C", message: "m" });
    r.flush();
    assert.equal(sent.length, 0, "no delta after a lost one: the publisher would see a gap anyway");
    r.sendFull();
    assert.deepEqual(
      sent.map((m) => [m.kind, m.apis.map((a) => a.apiId)]),
      [["full", ["id-1", "id-2"]]],
    );
  });

  test("decoding refuses what is not a report, and oversized bodies", () => {
    assert.equal(decodeGatewayReport(Buffer.from("{}")), undefined);
    assert.equal(decodeGatewayReport(Buffer.from("not json")), undefined);
    assert.equal(decodeGatewayReport(Buffer.alloc(MAX_REPORT_BYTES + 1, 32)), undefined);
    const base = {
      nodeId: "n",
      boot: "b",
      seq: 1,
      kind: "full",
      part: 2,
      parts: 1,
      served: 0,
      refused: 0,
      apis: [],
      sentAt: 1,
    };
    assert.equal(decodeGatewayReport(Buffer.from(JSON.stringify(base))), undefined, "part beyond parts");
    const many = {
      ...base,
      part: 1,
      apis: Array.from({ length: MAX_REPORT_ENTRIES + 1 }, (_, i) => ({ apiId: `a${i}` })),
    };
    assert.equal(decodeGatewayReport(Buffer.from(JSON.stringify(many))), undefined, "too many entries");
    assert.ok(decodeGatewayReport(Buffer.from(JSON.stringify({ ...base, part: 1 }))));
  });
});

describe("gateway report stream: the publisher's side and the store", () => {
  const msg = reportMessage;

  test("a full snapshot replaces the node's rows and completes the stream; a lost message makes it incomplete until the next full one", async () => {
    const store = openStore({ type: "sqlite", url: join(tempDir("gwsync-reports-"), "a.db") });
    try {
      const refused: string[] = [];
      const intake = new ReportIntake({ store, logger: silentLogger, onRefused: (c) => refused.push(c) });
      const cursor = async () => (await store.listReportCursors()).find((c) => c.nodeId === "gw");
      const served = (rev: number) => ({ revision: rev, sha256: sha("a") });
      await intake.accept(msg({ seq: 1, apis: [{ apiId: "old", served: served(1) }] }));
      assert.equal((await cursor())?.complete, false, "no full snapshot yet");

      await intake.accept(
        msg({ seq: 2, kind: "full", part: 1, parts: 2, apis: [{ apiId: "x", served: served(1) }] }),
      );
      assert.equal((await cursor())?.complete, false, "half a snapshot");
      assert.deepEqual(
        (await store.listGatewayReports({ nodeId: "gw" })).map((r) => r.apiId),
        ["x"],
        "replaced",
      );
      await intake.accept(
        msg({
          seq: 3,
          kind: "full",
          part: 2,
          parts: 2,
          served: 1,
          refused: 1,
          apis: [
            {
              apiId: "y",
              refusal: {
                revision: 2,
                code: "GWSYNC_ARTIFACT_CONFLICT",
                message: "owned",
                at: 5,
                fresh: true,
              },
            },
          ],
        }),
      );
      assert.deepEqual(
        [(await cursor())?.complete, (await cursor())?.served, (await cursor())?.refused],
        [true, 1, 1],
      );
      assert.deepEqual(refused, ["GWSYNC_ARTIFACT_CONFLICT"]);

      await intake.accept(msg({ seq: 4, apis: [{ apiId: "x" }] }));
      assert.equal((await cursor())?.complete, true);
      assert.deepEqual(
        (await store.listGatewayReports({ nodeId: "gw" })).map((r) => r.apiId),
        ["y"],
        "x serves nothing: row gone",
      );

      await intake.accept(msg({ seq: 6, apis: [{ apiId: "z", served: served(2) }] }));
      assert.equal((await cursor())?.complete, false, "seq 5 was lost");
      await intake.accept(msg({ seq: 7, apis: [] }));
      assert.equal((await cursor())?.complete, false, "still, until a full snapshot");
      await intake.accept(
        msg({ boot: "b2", seq: 1, kind: "full", parts: 1, apis: [{ apiId: "z", served: served(2) }] }),
      );
      assert.equal((await cursor())?.complete, true, "a new boot's full snapshot");
      assert.deepEqual(
        (await store.listGatewayReports()).map((r) => [r.apiId, r.served?.revision]),
        [["z", 2]],
      );

      // A publisher that restarts reads the cursor back from the store.
      const again = new ReportIntake({ store, logger: silentLogger, onRefused: () => undefined });
      await again.accept(msg({ boot: "b2", seq: 2, apis: [] }));
      assert.equal((await cursor())?.complete, true, "in order after the stored cursor");

      // forget drops the heartbeat, the rows and the cursor.
      await store.recordHeartbeat({
        nodeId: "gw",
        region: "r",
        labels: ["L"],
        appliedSeq: 0,
        deployed: 1,
        version: "v",
        status: "ready",
        intervalMs: 1000,
        lastSeen: Date.now(),
      });
      assert.equal(await store.forgetGateway("gw"), true);
      assert.deepEqual([await store.listGatewayReports(), await store.listReportCursors()], [[], []]);
    } finally {
      await store.close();
    }
  });

  test("a store of schema 4 gains the report tables when opened", async () => {
    const file = join(tempDir("gwsync-reports-"), "old.db");
    (await Promise.resolve(openStore({ type: "sqlite", url: file }))).close();
    const raw = new Database(file);
    raw.exec(
      "DROP TABLE GWSYNC_GATEWAY_APIS; DROP TABLE GWSYNC_GATEWAY_REPORTS; DROP INDEX GWSYNC_IDX_LABEL_STATE_API",
    );
    raw.pragma("user_version = 4");
    raw.close();
    const store = openStore({ type: "sqlite", url: file });
    try {
      assert.deepEqual(await store.listReportCursors(), []);
      assert.deepEqual(await store.listGatewayReports({ apiId: "a" }), []);
    } finally {
      await store.close();
    }
  });
});

describe("rollout status of one gateway", () => {
  const row = (o: Partial<StoredArtifact> = {}): StoredArtifact => ({
    apiId: "a",
    label: "L",
    instruction: "Publish",
    artifactJson: "",
    name: "A",
    version: "1",
    provider: "admin",
    tenantDomain: "carbon.super",
    revision: 5,
    sha256: sha("b"),
    seq: 9,
    updatedAt: 1000,
    ...o,
  });
  const report = (o: object) => ({ nodeId: "g", apiId: "a", reportedAt: 1, ...o });

  test("deployed when it serves the store's sha256; pending or offline when not; removed when both say nothing", () => {
    assert.equal(
      rolloutStatus(row(), 0, report({ served: { revision: 5, sha256: sha("b") } }), true),
      "deployed",
    );
    assert.equal(
      rolloutStatus(row(), 0, report({ served: { revision: 4, sha256: sha("c") } }), true),
      "pending",
    );
    assert.equal(rolloutStatus(row(), 0, undefined, true), "pending");
    assert.equal(rolloutStatus(row(), 0, undefined, false), "offline");
    assert.equal(rolloutStatus(undefined, 1000, undefined, true), "removed");
    assert.equal(
      rolloutStatus(undefined, 1000, report({ served: { revision: 4, sha256: sha("c") } }), true),
      "pending",
    );
  });

  test("refused when the refusal names this revision or a newer one, or (revision unknown) came after the change", () => {
    const refusal = (revision: number, at: number) =>
      report({ refusal: { revision, code: "C", message: "m", at } });
    assert.equal(rolloutStatus(row(), 0, refusal(5, 1), true), "refused");
    assert.equal(rolloutStatus(row(), 0, refusal(4, 2000), true), "pending", "an older revision's refusal");
    assert.equal(rolloutStatus(row(), 0, refusal(0, 2000), true), "refused");
    assert.equal(rolloutStatus(row(), 0, refusal(0, 500), true), "pending", "before the change");
    const both = report({
      served: { revision: 5, sha256: sha("b") },
      refusal: { revision: 5, code: "C", message: "m", at: 1 },
    });
    assert.equal(rolloutStatus(row(), 0, both, true), "deployed", "serving it outranks an old refusal of it");
  });
});

describe("--wait durations", () => {
  test("30s, 500ms, 2m, bare seconds; anything else and beyond ten minutes is a usage error", async () => {
    const { parseWait, MAX_WAIT_MS, DEFAULT_WAIT_MS } = await import("../../src/publisher/rollout-wait.js");
    assert.deepEqual(
      ["30s", "500ms", "2m", "45", "1.5s", undefined].map((t) => parseWait(t)),
      [30_000, 500, 120_000, 45_000, 1500, DEFAULT_WAIT_MS],
    );
    for (const bad of ["soon", "-1s", "1h", "11m", "1e3"]) {
      assert.throws(
        () => parseWait(bad),
        (err: Error & { code?: string }) => err.code === "GWSYNC_USAGE",
        bad,
      );
    }
    assert.equal(parseWait("10m"), MAX_WAIT_MS);
  });
});

describe("gateway report stream: a report the broker refused", () => {
  test("reportRetryDelay doubles from the base, stays in the upper half of its step, and is capped", async () => {
    const { reportRetryDelay } = await import("../../src/gateway/apply-report.js");
    assert.deepEqual(
      [0, 1, 2, 3].map((a) => reportRetryDelay(a, () => 0, 1000, 60_000)),
      [500, 1000, 2000, 4000],
    );
    assert.equal(
      reportRetryDelay(3, () => 1, 1000, 60_000),
      8000,
    );
    assert.equal(
      reportRetryDelay(40, () => 1, 1000, 60_000),
      60_000,
    );
    assert.equal(
      reportRetryDelay(40, () => 0, 1000, 60_000),
      30_000,
    );
  });

  test("a refused part is sent again alone after the back-off; deltas wait for it; a taken snapshot resets the back-off", async () => {
    const deployer = new MemoryDeployer({ keepContent: false });
    for (let i = 0; i < MAX_REPORT_ENTRIES + 1; i++) {
      await deployer.deploy(dto(i), { revision: 1, sha256: sha("a"), seq: i + 1, labels: ["L"] });
    }
    const sent: GatewayReport[] = [];
    let refuse = new Set([2]); // the second message the broker sees
    let snapshotsDone: () => void = () => undefined;
    const r = new ApplyReporter({
      nodeId: "gw-1",
      deployer,
      debounceMs: 60_000,
      retryBaseMs: 10,
      retryMaxMs: 10,
      random: () => 1,
      send: (body, settled) => {
        const m = decodeGatewayReport(body)!;
        sent.push(m);
        const n = sent.length;
        queueMicrotask(() => {
          settled(!refuse.has(n));
          if (m.kind === "full" && m.part === m.parts && n > 2) snapshotsDone();
        });
      },
    });
    const again = new Promise<void>((resolve) => {
      snapshotsDone = resolve;
    });
    r.sendFull();
    const release = holdLoop(); // the resend waits on the reporter's unref'd retry timer
    await again.finally(release);
    refuse = new Set();
    assert.deepEqual(
      sent.map((m) => [m.kind, m.seq, m.part, m.parts]),
      [
        ["full", 1, 1, 2],
        ["full", 2, 2, 2],
        ["full", 2, 2, 2],
      ],
      "the refused part alone, under its own seq (test/unit/report-resume.test.ts has the rest)",
    );
    assert.equal(r.notTaken, 1);
    // Taken whole: deltas flow again.
    r.noteApplied("id-1");
    r.flush();
    assert.equal(sent.at(-1)?.kind, "delta");
    r.close();
  });
});
