/**
 * The publisher on the Git store (docs/git-store.md) killed -9 at random points while it publishes:
 * inside a git write, between the git commit and the SQLite transaction, between commit and publish.
 * A client sends again what the dying publisher did not answer. Catch-up is off on the gateways, so
 * what reaches them reaches them through the outbox. At the end every gateway holds exactly the
 * store's latest revision of every API (lost 0, applied twice 0, stale 0), and the repository follows
 * the changelog: git fsck is clean, the branch is at the recorded head, every changelog row's commit is
 * on the branch with the row's bytes at its file and its sequence number in the commit's trailers, one
 * commit per (API, revision). Orphan commits the crashes left are off the branch.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { openStore } from "../../src/store/open-store.js";
import { freePort } from "../harness/fault-http.js";
import { assertClean } from "../harness/invariants.js";
import type { ChildMessage, ChildService } from "../harness/processes.js";
import { FaultWorld, pollUntil, prng, tinyApi } from "./world.js";

const PUBLISHES = Number(process.env.GWSYNC_GIT_KILL_PUBLISHES ?? 300);
const KILLS = 4;
const APIS = 40;
/** Publishes in flight at once (the store commits them one after the other). */
const WINDOW = 4;
const GATEWAYS = [
  { name: "gw1", labels: ["P"] },
  { name: "gw2", labels: ["P", "Q"] },
];
const labelsOf = (i: number) => [["P"], ["P", "Q"], ["Q"]][i % 3]!;

interface ChangeRow {
  SEQ: number;
  API_ID: string;
  GATEWAY_INSTRUCTION: string;
  REVISION: number;
  SHA256: string;
  COMMIT_ID: string | null;
  PATH: string | null;
}

function git(repo: string, args: string[], input?: string): string {
  return execFileSync("git", [`--git-dir=${repo}`, ...args], {
    encoding: "utf8",
    stdio: "pipe",
    maxBuffer: 256 * 1024 * 1024,
    ...(input === undefined ? {} : { input }),
  });
}

describe("the Git store's publisher killed -9 while publishing", () => {
  const world = new FaultWorld();
  world.gitStore = true;
  after(() => world.close());

  test(`${PUBLISHES} publishes, ${KILLS} kill -9 at random points: gateways converge, nothing lost or applied twice, the repository follows the changelog`, {
    timeout: 900_000,
  }, async () => {
    const port = await freePort();
    world.publisherUrl = `http://127.0.0.1:${port}`;
    const options = { httpPort: port, outboxPollMs: 100 };
    let proc: ChildService = world.spawnPublisher(options);
    await proc.ready();
    let live = true;
    for (const g of GATEWAYS) {
      await world.startGateway({ ...g, catchUpMs: 0, retryMs: 50, maxRetries: 12, maxRetryDelayMs: 1000 });
    }

    const rnd = prng(21);
    let sent = 0;
    let resent = 0;
    let answered = 0;
    const killAt = Array.from({ length: KILLS }, (_, k) => Math.round(((k + 1) * PUBLISHES) / (KILLS + 1)));
    const kills: string[] = [];
    let restarting: Promise<void> = Promise.resolve();

    /** One publish; sent again after the publisher that had it died before answering. */
    const publishOnce = async (xml: string, labels: string[], n: number): Promise<void> => {
      for (let attempt = 0; attempt < 20; attempt++) {
        while (!live || proc.exited) await restarting;
        const p = proc;
        const outcome = await new Promise<"ok" | "died" | Error>((resolve) => {
          const id = `${n}-${attempt}`;
          const done = (v: "ok" | "died" | Error) => {
            p.removeListener("committed", onCommitted);
            p.removeListener("error", onError);
            p.removeListener("exit", onExit);
            resolve(v);
          };
          const onCommitted = (m: ChildMessage) => m.req === id && done("ok");
          const onError = (m: ChildMessage) => m.req === id && done(new Error(String(m.message)));
          const onExit = () => done("died");
          p.on("committed", onCommitted);
          p.on("error", onError);
          p.once("exit", onExit);
          p.send({ type: "deploy", xml, labels, req: id });
        });
        if (outcome === "ok") {
          answered++;
          return;
        }
        if (outcome instanceof Error) throw outcome;
        resent++;
      }
      throw new Error(`publish ${n} was never answered`);
    };

    const work = async (): Promise<void> => {
      while (sent < PUBLISHES) {
        const n = sent++;
        if (killAt.includes(n) && live) {
          // kill -9 a little later, at a random point of whatever the publisher is doing then.
          const delay = Math.floor(rnd() * 40);
          live = false;
          const victim = proc;
          restarting = (async () => {
            await new Promise((r) => setTimeout(r, delay));
            await victim.kill9();
            kills.push(`@${n}+${delay}ms`);
            proc = world.spawnPublisher(options);
            await proc.ready();
            live = true;
          })();
        }
        const api = Math.floor(rnd() * APIS);
        await publishOnce(tinyApi(`Api${api}`, n), labelsOf(api), n);
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, () => work()));
    await restarting;
    assert.equal(answered, PUBLISHES);

    await pollUntil(
      () => world.withTruth(async (s) => (await s.outboxDepth()) === 0),
      "the outbox to drain",
      120_000,
    );
    for (const g of GATEWAYS) await world.waitConverged(g.name, 180_000);
    assertClean(await Promise.all(GATEWAYS.map((g) => world.judge(g.name))));
    assert.equal((await proc.stop()).code, 0);

    // The repository follows the changelog.
    const repo = world.gitRepository;
    git(repo, ["fsck", "--strict", "--no-dangling"]);
    const db = new Database(world.dbFile, { readonly: true });
    let rows: ChangeRow[];
    let recorded: string | null;
    try {
      rows = db
        .prepare(
          `SELECT c.SEQ, c.API_ID, c.GATEWAY_INSTRUCTION, c.REVISION, c.SHA256, g.COMMIT_ID, g.PATH
           FROM GWSYNC_CHANGELOG c LEFT JOIN GWSYNC_GIT_CHANGES g ON g.SEQ = c.SEQ ORDER BY c.SEQ`,
        )
        .all() as ChangeRow[];
      recorded = (
        db.prepare("SELECT HEAD FROM GWSYNC_GIT_STATE WHERE ID = 1").get() as { HEAD: string | null }
      ).HEAD;
    } finally {
      db.close();
    }
    assert.ok(rows.length >= APIS / 2, "the run changed many APIs");
    assert.deepEqual(
      rows.filter((r) => r.COMMIT_ID === null).map((r) => r.SEQ),
      [],
      "every changelog row has its commit",
    );
    assert.equal(git(repo, ["rev-parse", "main"]).trim(), recorded, "the branch is at the recorded head");
    const onBranch = git(repo, ["rev-list", "--first-parent", "main"]).trim().split("\n");
    const branchSet = new Set(onBranch);
    const commits = new Map<string, ChangeRow[]>();
    for (const r of rows) {
      assert.ok(branchSet.has(r.COMMIT_ID!), `seq ${r.SEQ}: commit ${r.COMMIT_ID} is on the branch`);
      commits.set(r.COMMIT_ID!, [...(commits.get(r.COMMIT_ID!) ?? []), r]);
    }
    assert.equal(onBranch.length, commits.size, "one commit per (API, revision), none else on the branch");
    // Each commit's trailers name its rows' sequence numbers, API and revision.
    const log = git(repo, [
      "log",
      "--first-parent",
      "--format=%H%x00%(trailers:key=Gwsync-Seq,valueonly,separator=%x20)%x00%(trailers:key=Gwsync-Api-Id,valueonly)%x00%(trailers:key=Gwsync-Revision,valueonly)%x1e",
      "main",
    ]);
    for (const rec of log.split("\x1e")) {
      const [id, seqs, apiId, revision] = rec.trim().split("\0");
      if (!id) continue;
      const mine = commits.get(id)!;
      assert.deepEqual(
        seqs!.trim().split(/\s+/).map(Number),
        mine.map((r) => r.SEQ),
        `${id}: Gwsync-Seq`,
      );
      assert.equal(apiId!.trim(), mine[0]!.API_ID);
      assert.equal(Number(revision), mine[0]!.REVISION);
    }
    // Each committed revision is findable: the Publish rows' files hold their bytes at their commits.
    const publishes = rows.filter((r) => r.GATEWAY_INSTRUCTION === "Publish");
    const raw = Buffer.from(
      execFileSync("git", [`--git-dir=${repo}`, "cat-file", "--batch"], {
        input: publishes.map((r) => `${r.COMMIT_ID}:${r.PATH}\n`).join(""),
        maxBuffer: 256 * 1024 * 1024,
      }),
    );
    let at = 0;
    for (const r of publishes) {
      const nl = raw.indexOf(10, at);
      const header = raw.subarray(at, nl).toString("utf8");
      assert.ok(!header.endsWith("missing"), `seq ${r.SEQ}: ${r.PATH} at ${r.COMMIT_ID}`);
      const size = Number(header.split(" ")[2]);
      const body = raw.subarray(nl + 1, nl + 1 + size);
      assert.equal(
        createHash("sha256").update(body).digest("hex"),
        r.SHA256,
        `seq ${r.SEQ}: the file's bytes`,
      );
      at = nl + 1 + size + 1;
    }
    // And the store reads every revision back from the repository.
    const reader = openStore(world.parse(world.publisherToml(), "publisher").database, {
      readonly: true,
      region: "test",
    });
    try {
      for (const r of publishes.filter((_, i) => i % 7 === 0)) {
        const got = await reader.getRevision(r.API_ID, r.REVISION);
        assert.equal(got?.record.storeCommit, r.COMMIT_ID);
        assert.ok(got?.artifactJson !== undefined);
      }
    } finally {
      await reader.close();
    }
    const orphans = git(repo, ["for-each-ref", "--format=%(refname)", "refs/gwsync/orphans/"]).trim();
    console.log(
      `git store: ${PUBLISHES} publishes (${resent} sent again), ${rows.length} changelog rows in ${commits.size} commits, kills ${kills.join(" ")}, orphan commits taken off the branch: ${orphans === "" ? 0 : orphans.split("\n").length}`,
    );
  });
});
