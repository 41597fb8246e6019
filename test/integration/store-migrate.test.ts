/**
 * `gwsync store migrate --from sqlite:… --to postgres://…|mysql://…` and `gwsync config check`'s
 * connection test, through the CLI, on the machine's PostgreSQL and MariaDB.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import type { ArtifactStore, NewOutboxMessage, SaveArtifactResult } from "../../src/store/types.js";
import { mysqlEngine, postgresEngine, type TestDatabase } from "../harness/store-engines.js";
import { tempDir } from "../harness/temp-dir.js";

const BIN = fileURLToPath(new URL("../../bin/gwsync.js", import.meta.url));
const PROD = "Production and Sandbox";

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GWSYNC_")) base[k] = v;
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...base, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString("utf8");
  });
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, out, err })));
}

const event = (r: SaveArtifactResult): NewOutboxMessage[] => [
  {
    topic: "notification",
    messageId: `evt-${r.seq}`,
    body: Buffer.from([1, 2, 3, r.seq]),
    headers: { seq: r.seq, api: r.apiId },
  },
];
const dto = (apiId: string, v = 1) => ({
  apiId,
  name: `N-${apiId}`,
  version: "1.0.0",
  provider: "admin",
  tenantDomain: "carbon.super",
  apiDefinition: `<api v="${v}" é="✓"/>`,
});

/** A SQLite store with a bit of everything: publishes, a remove, a relayed change, files, outbox, gateways. */
async function filledSqlite(): Promise<string> {
  const file = path.join(tempDir("gwsync-migrate-"), "artifacts.db");
  const s = SqliteArtifactStore.open(file, { region: "eu" });
  for (let i = 0; i < 30; i++) {
    await s.saveArtifact(
      {
        dto: dto(`api-${i}`),
        labels: [PROD, "EU"],
        instruction: "Publish",
        files: [`api/a--N-api-${i}_v1.0.0.xml`],
      },
      event,
    );
  }
  await s.saveArtifact({ dto: dto("api-3", 2), labels: [PROD], instruction: "Publish" }, event);
  await s.saveArtifact({ dto: dto("api-4"), labels: [PROD], instruction: "Remove" }, event);
  await s.saveArtifact(
    {
      dto: dto("relayed", 7),
      labels: [PROD],
      instruction: "Publish",
      origin: { region: "us", seq: 99, revision: 7 },
    },
    event,
  );
  // Some outbox rows were already sent: the copy keeps only those waiting.
  const claim = await s.claimOutbox(10);
  await claim.sent();
  await s.recordHeartbeat({
    nodeId: "gw-1",
    region: "eu",
    labels: [PROD],
    appliedSeq: 60,
    deployed: 31,
    version: "0.1.0",
    status: "ready",
    intervalMs: 5000,
    lastSeen: 1_700_000_000_000,
  });
  await s.close();
  return file;
}

async function snapshot(s: ArtifactStore) {
  return {
    artifacts: await s.listArtifacts({ includeRemoved: true, withBody: true }),
    changes: await s.changesSince(0, [PROD, "EU"]),
    head: await s.headSeq(),
    outbox: (await s.peekOutbox(1000)).map(({ id: _id, ...rest }) => rest),
    gateways: await s.listGateways(),
  };
}

for (const engine of [postgresEngine, mysqlEngine]) {
  describe(`gwsync store migrate to ${engine.name}`, () => {
    const dbs: TestDatabase[] = [];
    after(async () => {
      for (const d of dbs.splice(0)) await d.drop();
    });

    test("copies everything, keeps every seq and revision, and the destination continues the sequence", async () => {
      const file = await filledSqlite();
      const d = await engine.create();
      dbs.push(d);
      const cfgFile = path.join(tempDir("gwsync-migrate-cfg-"), "publisher.toml");
      writeFileSync(
        cfgFile,
        `[database.sync_runtime_artifacts_db]\ntype = "${d.config.type}"\nurl = "${d.config.url}"\nusername = "${d.config.username}"\n`,
      );
      const r = await run(["store", "migrate", "--from", `sqlite:${file}`, "--to-config", cfgFile, "--json"]);
      assert.equal(r.code, 0, r.err);
      const report = JSON.parse(r.out) as { lastSeq: number; rows: Record<string, number> };
      assert.equal(report.lastSeq, 63);
      assert.equal(report.rows.GWSYNC_CHANGELOG, 63);
      assert.equal(report.rows.GWSYNC_OUTBOX, 23);

      const source = SqliteArtifactStore.open(file, { readonly: true, region: "eu" });
      const dest = d.open({ region: "eu" });
      try {
        const [a, b] = [await snapshot(source), await snapshot(dest)];
        assert.deepEqual(b.changes, a.changes);
        assert.equal(b.head, 63);
        assert.deepEqual(b.outbox, a.outbox);
        assert.deepEqual(b.gateways, a.gateways);
        assert.deepEqual(
          b.artifacts.map(({ updatedAt: _u, ...x }) => x),
          a.artifacts.map(({ updatedAt: _u, ...x }) => x),
        );
        assert.equal(await dest.hasOriginChange("us", 99), true);
        assert.deepEqual(await dest.apiHistory("api-3"), await source.apiHistory("api-3"));
        assert.equal(
          (await dest.getRevision("api-3", 1))?.artifactJson,
          (await source.getRevision("api-3", 1))?.artifactJson,
        );
        // The sequence, the revisions and the files continue where the source stopped.
        const next = await dest.saveArtifact(
          { dto: dto("api-3", 3), labels: [PROD], instruction: "Publish" },
          () => [],
        );
        assert.deepEqual([next.seq, next.revision], [64, 3]);
        await assert.rejects(
          dest.saveArtifact(
            {
              dto: dto("intruder"),
              labels: [PROD],
              instruction: "Publish",
              files: ["api/a--N-api-5_v1.0.0.xml"],
            },
            () => [],
          ),
          /owns there/,
        );
      } finally {
        await source.close();
      }

      // A second copy into the now non-empty database is refused and changes nothing.
      const again = await run(["store", "migrate", "--from", `sqlite:${file}`, "--to-config", cfgFile]);
      assert.equal(again.code, 2);
      assert.match(again.err, /migrate into an empty database/);
    });

    test("config check connects to the database and reports its schema; an unreachable one fails with exit 1", async () => {
      const d = await engine.create();
      dbs.push(d);
      const dir = tempDir("gwsync-check-");
      const good = path.join(dir, "good.toml");
      writeFileSync(
        good,
        `[database.sync_runtime_artifacts_db]\ntype = "${d.config.type}"\nurl = "${d.config.url}"\nusername = "${d.config.username}"\n` +
          `[database.sync_runtime_artifacts_db.pool_options]\nmaxActive = 20\nmaxWait = 5000\n`,
      );
      const ok = await run(["config", "check", good, "--json"]);
      assert.equal(ok.code, 0, ok.out + ok.err);
      const report = JSON.parse(ok.out) as {
        database: { ok: boolean; schemaVersion: number; detail: string };
      };
      assert.equal(report.database.ok, true);
      assert.equal(report.database.schemaVersion, 0);
      assert.match(report.database.detail, /no gwsync schema yet/);

      const bad = path.join(dir, "bad.toml");
      const port = engine.name === "postgresql" ? 1 : 2; // nothing listens there
      writeFileSync(
        bad,
        `[database.sync_runtime_artifacts_db]\ntype = "${d.config.type}"\nurl = "${d.config.url.replace(/\/\/[^/]+\//, `//127.0.0.1:${port}/`)}"\nusername = "u"\npassword = "Very-S3cret-pw"\n`,
      );
      const failed = await run(["config", "check", bad]);
      assert.equal(failed.code, 1, failed.out + failed.err);
      assert.match(failed.out, /database: FAILED/);
      assert.match(failed.out, /cannot be reached|ECONNREFUSED/);
      assert.ok(!failed.out.includes("Very-S3cret-pw") && !failed.err.includes("Very-S3cret-pw"));
      assert.equal((await run(["config", "check", bad, "--offline"])).code, 0);
    });
  });
}
