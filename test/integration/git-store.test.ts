/**
 * The Git store (src/store/git/, docs/git-store.md) beyond the store contract it passes like every
 * engine (store-contract.test.ts): what the repository holds, recovery of what a crash or an operator
 * left, the import of an existing store, and a remote. Local bare repositories only (no network but
 * a loopback HTTP server that records what git sends).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import amqp from "amqplib";
import { encodeLabels } from "../../src/data-api/wire.js";
import { HEADER_COMMIT } from "../../src/events/topics.js";
import { GitArtifactStore } from "../../src/store/git/git-store.js";
import { openStore } from "../../src/store/open-store.js";
import type { ArtifactStore, SaveArtifactResult } from "../../src/store/types.js";
import { BROKER_URL, drainQueueUntil } from "../harness/broker.js";
import { authHeader, synapseApi, TestCluster } from "../harness/cluster.js";
import { gitStoreDatabase } from "../harness/store-engines.js";
import { runCli } from "../harness/cli-run.js";
import { tempDir } from "../harness/temp-dir.js";

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

const publish = (s: ArtifactStore, d: GatewayApiDto, labels = [PROD]) =>
  s.saveArtifact({ dto: d, labels, instruction: "Publish" }, () => []);
const remove = (s: ArtifactStore, d: GatewayApiDto, labels = [PROD]) =>
  s.saveArtifact({ dto: d, labels, instruction: "Remove" }, () => []);

function git(repo: string, ...args: string[]): string {
  return execFileSync("git", [`--git-dir=${repo}`, ...args], { encoding: "utf8", stdio: "pipe" }).trim();
}

function open(dir: string, options: { remote?: string; logs?: string[] } = {}): GitArtifactStore {
  const logger =
    options.logs === undefined
      ? undefined
      : createLogger({
          level: "debug",
          destination: new Writable({
            write(chunk, _enc, cb) {
              options.logs!.push(String(chunk));
              cb();
            },
          }),
        });
  const s = openStore(gitStoreDatabase(dir, options.remote), {
    region: "region-a",
    ...(logger === undefined ? {} : { logger }),
  });
  assert.ok(s instanceof GitArtifactStore);
  return s;
}

/** A commit gwsync did not record, made on the branch with git itself (what a crash leaves, or an operator). */
function commitOnBranch(repo: string, message: string): string {
  const head = branchHead(repo);
  const tree =
    head === ""
      ? git(repo, "hash-object", "-t", "tree", "-w", "/dev/null")
      : git(repo, "rev-parse", `${head}^{tree}`);
  const commit = execFileSync(
    "git",
    [`--git-dir=${repo}`, "commit-tree", tree, ...(head === "" ? [] : ["-p", head]), "-m", message],
    {
      encoding: "utf8",
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "x",
        GIT_AUTHOR_EMAIL: "x@x",
        GIT_COMMITTER_NAME: "x",
        GIT_COMMITTER_EMAIL: "x@x",
      },
    },
  ).trim();
  git(repo, "update-ref", "refs/heads/main", commit);
  return commit;
}

function branchHead(repo: string): string {
  try {
    return git(repo, "rev-parse", "--verify", "-q", "main");
  } catch {
    return "";
  }
}

describe("git store: the repository", () => {
  test("every publish, update and remove is one commit: WSO2-named files per label, the exact bytes, a message naming API, revision and origin, the changelog's seq", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const repo = join(dir, "artifacts.git");
    const s = open(dir);
    const seen: SaveArtifactResult[] = [];
    const v1 = dto("a-1", "<api v1/>");
    const r1 = await s.saveArtifact({ dto: v1, labels: [PROD, EU], instruction: "Publish" }, (r) => {
      seen.push(r);
      return [];
    });
    const c1 = branchHead(repo);
    assert.equal(r1.commit, c1);
    assert.equal(seen[0]?.commit, c1, "buildMessages sees the commit (the event carries it)");
    const json1 = JSON.stringify(v1);
    assert.equal(git(repo, "show", `main:${PROD}/admin--Api-a-1_v1.0.0.json`), json1);
    assert.equal(git(repo, "show", `main:${EU}/admin--Api-a-1_v1.0.0.json`), json1);
    assert.equal(
      git(repo, "log", "-1", "--format=%s", "main"),
      "Publish Api-a-1:1.0.0 revision 1 (region region-a)",
    );
    const trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)", "main");
    assert.match(trailers, /^Gwsync-Api-Id: a-1$/m);
    assert.match(trailers, /^Gwsync-Revision: 1$/m);
    assert.match(trailers, /^Gwsync-Seq: 1 2$/m);
    assert.match(trailers, new RegExp(`^Gwsync-Sha256: ${r1.sha256}$`, "m"));
    assert.match(trailers, /^Gwsync-Label: Production and Sandbox$/m);

    const v2 = dto("a-1", "<api v2/>");
    const r2 = await publish(s, v2);
    const c2 = branchHead(repo);
    assert.equal(r2.commit, c2);
    assert.equal(git(repo, "rev-parse", `${c2}^`), c1);
    assert.equal(git(repo, "show", `main:${PROD}/admin--Api-a-1_v1.0.0.json`), JSON.stringify(v2));
    assert.equal(
      git(repo, "show", `main:${EU}/admin--Api-a-1_v1.0.0.json`),
      json1,
      "the other label keeps its file",
    );

    const r3 = await remove(s, v2);
    const c3 = branchHead(repo);
    assert.equal(r3.commit, c3);
    assert.equal(
      git(repo, "log", "-1", "--format=%s", "main"),
      "Remove Api-a-1:1.0.0 revision 3 (region region-a)",
    );
    assert.deepEqual(git(repo, "ls-tree", "-r", "--name-only", "main").split("\n"), [
      `${EU}/admin--Api-a-1_v1.0.0.json`,
    ]);
    // An identical re-publish commits nothing.
    assert.equal((await publish(s, v1, [EU])).changed, false);
    assert.equal(git(repo, "rev-list", "--count", "main"), "3");

    // History reads Git: each revision names its commit and gets its bytes back (a Remove: what it removed).
    assert.deepEqual(
      (await s.apiHistory("a-1")).map((r) => [r.revision, r.storeCommit]),
      [
        [3, c3],
        [2, c2],
        [1, c1],
      ],
    );
    assert.equal((await s.getRevision("a-1", 1))?.artifactJson, json1);
    assert.equal((await s.getRevision("a-1", 3))?.artifactJson, JSON.stringify(v2));
    // The artifact as a commit holds it (what the data API's commit= answers).
    assert.equal((await s.artifactAtCommit("a-1", PROD, c1))?.artifactJson, json1);
    assert.equal((await s.artifactAtCommit("a-1", PROD, c2))?.revision, 2);
    assert.equal(await s.artifactAtCommit("a-1", PROD, c3), undefined, "removed at c3");
    assert.equal((await s.artifactAtCommit("a-1", EU, c3))?.artifactJson, json1);
    assert.equal(await s.artifactAtCommit("a-1", PROD, "f".repeat(40)), undefined);
    await s.close();
    git(repo, "fsck", "--strict", "--no-dangling");
  });

  test("an API whose name changes moves its file; two APIs with one WSO2 name get two files", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const repo = join(dir, "artifacts.git");
    const s = open(dir);
    await publish(s, dto("x", "<x/>", "Shop"));
    await publish(s, dto("x", "<x2/>", "Store"));
    assert.deepEqual(git(repo, "ls-tree", "-r", "--name-only", "main").split("\n"), [
      `${PROD}/admin--Store_v1.0.0.json`,
    ]);
    await publish(s, dto("y", "<y/>", "Store"));
    assert.deepEqual(git(repo, "ls-tree", "-r", "--name-only", "main").split("\n").sort(), [
      `${PROD}/admin--Store_v1.0.0.json`,
      `${PROD}/admin--Store_v1.0.0.y.json`,
    ]);
    await remove(s, dto("x", "<x2/>", "Store"));
    await publish(s, dto("y", "<y2/>", "Store"));
    assert.equal(
      git(repo, "show", `main:${PROD}/admin--Store_v1.0.0.y.json`),
      JSON.stringify(dto("y", "<y2/>", "Store")),
    );
    await s.close();
  });
});

describe("git store: recovery", () => {
  test("a commit whose store transaction never committed (a crash between the two) leaves the branch at the next start", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const repo = join(dir, "artifacts.git");
    const s = open(dir);
    await publish(s, dto("o-1"));
    const recorded = branchHead(repo);
    await s.close();
    const orphan = commitOnBranch(
      repo,
      "Publish Api-o-2:1.0.0 revision 1 (region region-a)\n\nGwsync-Api-Id: o-2\nGwsync-Seq: 2",
    );
    const logs: string[] = [];
    const again = open(dir, { logs });
    const r = await publish(again, dto("o-3"));
    assert.equal(r.seq, 2, "the orphan's sequence number was never taken");
    assert.equal(
      git(repo, "rev-parse", `${r.commit}^`),
      recorded,
      "the new commit follows the recorded head, not the orphan",
    );
    assert.equal(git(repo, "rev-parse", `refs/gwsync/orphans/${orphan}`), orphan, "the orphan is kept");
    assert.ok(
      logs.some((l) => l.includes("never committed") && l.includes(orphan.slice(0, 12))),
      "the repair is logged",
    );
    await again.close();
  });

  test("the very first commit orphaned: the branch is unborn again", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const repo = join(dir, "artifacts.git");
    execFileSync("git", ["init", "--bare", "--quiet", "-b", "main", repo]);
    commitOnBranch(repo, "Publish Api-f:1.0.0 revision 1 (region region-a)\n\nGwsync-Seq: 1");
    const again = open(dir);
    const r = await publish(again, dto("f"));
    assert.equal(r.seq, 1);
    assert.equal(git(repo, "rev-list", "--count", "main"), "1");
    await again.close();
  });

  test("a branch reset or rewritten behind the store's back stops it, saying how to repair it", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const repo = join(dir, "artifacts.git");
    const s = open(dir);
    const first = (await publish(s, dto("w-1"))).commit!;
    const second = (await publish(s, dto("w-2"))).commit!;
    await s.close();
    git(repo, "update-ref", "refs/heads/main", first);
    const reset = open(dir);
    await assert.rejects(
      publish(reset, dto("w-3")),
      (err: unknown) =>
        isGwsyncError(err, "GWSYNC_STORE_FAILED") &&
        err.message.includes(`update-ref refs/heads/main ${second}`),
    );
    const h = await reset.health();
    assert.equal(h.ok, false);
    await reset.close();
    // The command the message gives repairs it.
    git(repo, "update-ref", "refs/heads/main", second);
    const repaired = open(dir);
    assert.equal((await publish(repaired, dto("w-3"))).seq, 3);
    await repaired.close();
  });

  test("a commit made on the branch outside gwsync is refused, not taken off silently", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const repo = join(dir, "artifacts.git");
    const s = open(dir);
    await publish(s, dto("m-1"));
    await s.close();
    commitOnBranch(repo, "an operator's commit");
    const again = open(dir);
    await assert.rejects(
      publish(again, dto("m-2")),
      (err: unknown) => isGwsyncError(err, "GWSYNC_STORE_FAILED") && /gwsync did not make/.test(err.message),
    );
    await again.close();
  });

  test("a new store refuses a repository that holds another store's history", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const s = open(dir);
    await publish(s, dto("h-1"));
    await publish(s, dto("h-2"));
    await s.close();
    for (const f of ["artifacts.db", "artifacts.db-wal", "artifacts.db-shm"])
      rmSync(join(dir, f), { force: true });
    const other = open(dir);
    await assert.rejects(
      publish(other, dto("h-3")),
      (err: unknown) =>
        isGwsyncError(err, "GWSYNC_STORE_FAILED") && /another|already holds/.test(err.message),
    );
    await other.close();
  });

  test("a store that held artifacts becomes a Git store: one import commit, earlier revisions still readable", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const repo = join(dir, "artifacts.git");
    const plain = openStore({ type: "sqlite", url: join(dir, "artifacts.db") }, { region: "region-a" });
    await publish(plain, dto("i-1", "<i1 v1/>"));
    await publish(plain, dto("i-1", "<i1 v2/>"));
    await publish(plain, dto("i-2"), [PROD, EU]);
    await plain.close();
    const s = open(dir);
    const r = await publish(s, dto("i-3"));
    assert.equal(r.seq, 5);
    const log = git(repo, "log", "--format=%s", "main").split("\n");
    assert.deepEqual(log, [
      "Publish Api-i-3:1.0.0 revision 1 (region region-a)",
      "Import 2 APIs (3 files) from the store at changelog seq 4",
    ]);
    assert.equal(
      git(repo, "show", `main:${PROD}/admin--Api-i-1_v1.0.0.json`),
      JSON.stringify(dto("i-1", "<i1 v2/>")),
    );
    assert.equal(git(repo, "show", `main:${EU}/admin--Api-i-2_v1.0.0.json`), JSON.stringify(dto("i-2")));
    // Revision 1 of i-1 predates the repository: the SQLite store kept its bytes.
    const old = await s.getRevision("i-1", 1);
    assert.equal(old?.artifactJson, JSON.stringify(dto("i-1", "<i1 v1/>")));
    assert.equal(old?.record.storeCommit, undefined);
    // An update after the import is a commit like any other.
    await publish(s, dto("i-1", "<i1 v3/>"));
    assert.equal((await s.getRevision("i-1", 3))?.artifactJson, JSON.stringify(dto("i-1", "<i1 v3/>")));
    await s.close();
  });
});

describe("git store: a remote", () => {
  test("the branch is pushed after each commit; a lost repository is restored from the remote; history survives", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const repo = join(dir, "artifacts.git");
    const remote = join(dir, "remote.git");
    execFileSync("git", ["init", "--bare", "--quiet", "-b", "main", remote]);
    const s = open(dir, { remote });
    const pushed: string[] = [];
    s.events.on("pushed", (c) => pushed.push(c));
    await publish(s, dto("r-1", "<r v1/>"));
    await publish(s, dto("r-1", "<r v2/>"));
    const last = (await publish(s, dto("r-2"))).commit!;
    while (!pushed.includes(last)) await once(s.events, "pushed");
    assert.equal(git(remote, "rev-parse", "main"), last);
    await s.close();

    rmSync(repo, { recursive: true, force: true });
    const restored = open(dir, { remote });
    assert.equal((await restored.health()).ok, true);
    assert.equal(git(repo, "rev-parse", "main"), last);
    assert.equal((await restored.getRevision("r-1", 1))?.artifactJson, JSON.stringify(dto("r-1", "<r v1/>")));
    const next = await publish(restored, dto("r-3"));
    assert.equal(git(repo, "rev-parse", `${next.commit}^`), last);
    await restored.close();
  });

  test("a remote with commits the store does not know is never forced; publishing goes on and health says why", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const remote = join(dir, "remote.git");
    execFileSync("git", ["init", "--bare", "--quiet", "-b", "main", remote]);
    commitOnBranch(remote, "someone else's commit");
    const foreign = branchHead(remote);
    const s = open(dir, { remote });
    const failed = once(s.events, "pushFailed");
    const r = await publish(s, dto("d-1"));
    assert.equal(r.changed, true);
    const [reason] = (await failed) as [string];
    assert.match(reason, /never forces/);
    assert.equal(branchHead(remote), foreign);
    const h = await s.health();
    assert.equal(h.ok, true);
    assert.match(h.detail, /remote .* is behind: .*never forces/);
    await s.close();
  });

  test("credentials reach an HTTP remote as a Basic header, never git's command line, and never a log line", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const headers: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      headers.push(req.headers.authorization);
      res.statusCode = 403;
      res.end("no");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as AddressInfo).port;
    const secret = "s3cret-token-value";
    const logs: string[] = [];
    const db = gitStoreDatabase(dir, `http://127.0.0.1:${port}/ops/artifacts.git`);
    db.git = { ...db.git!, username: "deployer", password: secret };
    const logger = createLogger({
      level: "debug",
      destination: new Writable({
        write(chunk, _enc, cb) {
          logs.push(String(chunk));
          cb();
        },
      }),
    });
    const s = openStore(db, { region: "region-a", logger }) as GitArtifactStore;
    try {
      const failed = once(s.events, "pushFailed");
      await publish(s, dto("c-1"));
      await failed;
      assert.ok(headers.length > 0, "git called the remote");
      assert.equal(headers[0], `Basic ${Buffer.from(`deployer:${secret}`).toString("base64")}`);
      assert.ok(!logs.join("").includes(secret), "the password is in no log line");
      assert.ok(!(await s.health()).detail.includes(secret));
    } finally {
      await s.close();
      server.close();
    }
  });

  test("a readonly store reads history from the repository and never creates one", async () => {
    const dir = tempDir("gwsync-gitstore-");
    const s = open(dir);
    await publish(s, dto("ro", "<ro v1/>"));
    await publish(s, dto("ro", "<ro v2/>"));
    await s.close();
    const ro = openStore(gitStoreDatabase(dir), { readonly: true, region: "region-a" });
    assert.equal((await ro.getRevision("ro", 1))?.artifactJson, JSON.stringify(dto("ro", "<ro v1/>")));
    await ro.close();
    const empty = tempDir("gwsync-gitstore-");
    const fresh = open(empty);
    await fresh.close();
    assert.equal(
      existsSync(join(empty, "artifacts.git")),
      false,
      "opening creates no repository; the first write does",
    );
  });
});

describe("git store: behind a publisher", () => {
  test("each event names its commit, and the data API answers the artifact as that commit holds it", async () => {
    const cluster = new TestCluster({ store: "git" });
    const conn = await amqp.connect(BROKER_URL);
    const queue = `${cluster.id}.events`;
    try {
      const svc = await cluster.startPublisher();
      const ch = await conn.createChannel();
      await ch.assertQueue(queue, { autoDelete: false, durable: false });
      await ch.bindQueue(queue, cluster.exchange, "notification");
      const pub = svc.publisher;
      const v1 = await pub.deployApi(synapseApi({ name: "AtCommit", revision: 1 }), [PROD]);
      const v2 = await pub.deployApi(synapseApi({ name: "AtCommit", revision: 2 }), [PROD]);
      assert.ok(v1.commit && v2.commit && v1.commit !== v2.commit);
      const events = await drainQueueUntil(queue, 2);
      assert.deepEqual(
        events.map((e) => e.headers[HEADER_COMMIT]),
        [v1.commit, v2.commit],
      );
      const url = `${svc.httpUrl}/internal/data/v1/runtime-artifacts`;
      const ask = async (commit?: string) => {
        const q = new URLSearchParams({
          apiId: v1.apiId,
          gatewayLabel: encodeLabels([PROD]),
          type: "Synapse",
        });
        if (commit !== undefined) q.set("commit", commit);
        const res = await fetch(`${url}?${q}`, { headers: { authorization: authHeader() } });
        return {
          status: res.status,
          body: res.status === 200 ? ((await res.json()) as { list: string[] }) : undefined,
        };
      };
      const at1 = await ask(v1.commit);
      assert.equal(at1.status, 200);
      assert.match(at1.body!.list[0]!, /gwsync\.revision\\" value=\\"1\\"/);
      const at2 = await ask(v2.commit);
      assert.match(at2.body!.list[0]!, /gwsync\.revision\\" value=\\"2\\"/);
      assert.deepEqual((await ask()).body?.list, at2.body?.list, "without commit=: the latest, as always");
      assert.equal((await ask("0".repeat(40))).status, 404);
      await ch.deleteQueue(queue);
    } finally {
      await conn.close();
      await cluster.close();
    }
  });
});

describe("git store: config check", () => {
  test("config check reads GitSaver and [gwsync.git_store], checks the repository against the store and the remote, masks the password", async () => {
    const dir = tempDir("gwsync-gitcheck-");
    const remote = join(dir, "remote.git");
    execFileSync("git", ["init", "--bare", "--quiet", "-b", "main", remote]);
    const file = join(dir, "publisher.toml");
    const toml = (remoteUrl: string) =>
      `[gwsync]\ndata_dir = "${dir}"\n[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "GitSaver"\n` +
      `[gwsync.git_store]\nremote_url = "${remoteUrl}"\nusername = "deployer"\npassword = "Very-S3cret-pw"\n`;
    writeFileSync(file, toml(remote));
    const ok = await runCli(["config", "check", file, "--role", "publisher", "--json"], dir);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const report = JSON.parse(ok.stdout) as {
      config: { database: { git: { repository: string; branch: string; password: string } } };
      gitStore: { ok: boolean; detail: string; remote: { ok: boolean; detail: string } };
    };
    assert.equal(report.config.database.git.repository, join(dir, "artifacts.git"));
    assert.equal(report.config.database.git.branch, "main");
    assert.equal(report.config.database.git.password, "***");
    assert.deepEqual(
      [report.gitStore.ok, report.gitStore.detail],
      [true, "no repository yet: the publisher creates it"],
    );
    assert.equal(report.gitStore.remote.ok, true);
    assert.match(report.gitStore.remote.detail, /does not exist yet/);

    // A branch moved behind the store's back: the check says the publisher would refuse, exit 1.
    const s = open(dir);
    const first = (await publish(s, dto("cc-1"))).commit!;
    const second = (await publish(s, dto("cc-2"))).commit!;
    await s.close();
    git(join(dir, "artifacts.git"), "update-ref", "refs/heads/main", first);
    const moved = await runCli(["config", "check", file, "--role", "publisher", "--offline"], dir);
    assert.equal(moved.code, 1, moved.stdout + moved.stderr);
    assert.match(moved.stdout, /^git store: FAILED .* does not reach .*refuses to start/m);
    assert.match(moved.stdout, /remote .*not checked \(--offline\)/);

    // An unreachable remote fails the check (exit 1), its password in no output.
    writeFileSync(file, toml("http://127.0.0.1:1/nothing.git"));
    git(join(dir, "artifacts.git"), "update-ref", "refs/heads/main", second);
    const down = await runCli(["config", "check", file, "--role", "publisher"], dir);
    assert.equal(down.code, 1);
    assert.match(down.stdout, /remote http:\/\/127\.0\.0\.1:1\/nothing\.git: FAILED/);
    assert.ok(!(down.stdout + down.stderr).includes("Very-S3cret-pw"));
  });

  test("a [gwsync.git_store] beside another saver, or on PostgreSQL, is a configuration problem", async () => {
    const dir = tempDir("gwsync-gitcheck-");
    const file = join(dir, "p.toml");
    writeFileSync(
      file,
      `[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "DBSaver"\n[gwsync.git_store]\nbranch = "main"\n`,
    );
    const both = await runCli(["config", "check", file, "--role", "publisher"], dir);
    assert.equal(both.code, 2);
    assert.match(
      both.stdout,
      /gwsync\.git_store configures the Git store, but .*artifact_saver is "DBSaver"/,
    );
    writeFileSync(
      file,
      `[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "GitSaver"\n[database.sync_runtime_artifacts_db]\ntype = "postgre"\nurl = "jdbc:postgresql://db/apim"\n`,
    );
    const pg = await runCli(["config", "check", file, "--role", "publisher", "--offline"], dir);
    assert.equal(pg.code, 2);
    assert.match(pg.stdout, /keeps its changelog and outbox in SQLite/);
  });
});
