import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import type { GitSourceOutcome } from "../../src/publisher/git-source.js";
import { authHeader, synapseApi, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

/**
 * GitOps on a local bare repository and the real broker: the publisher follows a branch's folder; a
 * commit's added and changed files are published, its removed files undeployed, each revision names
 * its commit; a force-push, a corrupt commit or an invalid file refuses the whole commit and nothing
 * reaches a gateway.
 */

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "dev",
  GIT_AUTHOR_EMAIL: "dev@example.com",
  GIT_COMMITTER_NAME: "dev",
  GIT_COMMITTER_EMAIL: "dev@example.com",
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8" }).trim();
}

const N = 200;
const apiXml = (i: number, rev = 1) => synapseApi({ name: `Git${i}`, revision: rev, size: 600 });

type Snapshot = Map<string, string>;
function snapshot(gw: Gateway): Snapshot {
  return new Map(gw.deployer.deployed().map((d) => [d.name, d.sha256]));
}

describe("GitOps source: a branch of a local bare repository", () => {
  const cluster = new TestCluster();
  const origin = join(cluster.root, "origin.git");
  const work = join(cluster.root, "work");
  const apis = join(work, "apis");
  const specs = [
    { name: "g1", labels: ["G"] },
    { name: "g2", labels: ["G"] },
  ];
  const outcomes: GitSourceOutcome[] = [];
  let start = "";

  const poll = async () => {
    const o = await cluster.publisher!.gitSource!.poll();
    outcomes.push(o);
    return o;
  };
  const commitAll = (message: string) => {
    git(work, "add", "-A");
    git(work, "commit", "-q", "-m", message);
    git(work, "push", "-q", "origin", "HEAD:main");
    return git(work, "rev-parse", "HEAD");
  };
  const converged = async (want: number, check: (gw: Gateway) => boolean, what: string) => {
    for (const s of specs) {
      const gw = cluster.gateways.get(s.name)!;
      await waitFor(gw.events, CHANGED, () => gw.deployer.deployed().length === want && check(gw), `${s.name}: ${what}`, 60_000);
    }
  };

  before(async () => {
    git(cluster.root, "init", "-q", "--bare", "-b", "main", origin);
    git(cluster.root, "init", "-q", "-b", "main", work);
    git(work, "remote", "add", "origin", origin);
    writeFileSync(join(work, "README.md"), "APIs live in apis/\n");
    start = commitAll("start");
    await cluster.startPublisher(
      "",
      `\n[gwsync.git_source]\nurl = ${JSON.stringify(origin)}\nbranch = "main"\nfolder = "apis"\nlabels = ["G"]\npoll_interval_ms = 3600000\nmax_file_bytes = 20000\n`,
    );
    for (const s of specs) await cluster.startGateway(s);
  });
  after(() => cluster.close());

  test("200 APIs published from one commit, then a commit changing 3 and deleting 1 makes exactly those changes", async () => {
    mkdirSync(apis, { recursive: true });
    for (let i = 0; i < N; i++) writeFileSync(join(apis, `api-${i}.xml`), apiXml(i));
    // Not artifacts of the folder: a subfolder, a dotfile, another extension.
    mkdirSync(join(apis, "drafts"));
    writeFileSync(join(apis, "drafts", "draft.xml"), apiXml(9999));
    writeFileSync(join(apis, ".hidden.xml"), apiXml(9998));
    writeFileSync(join(apis, "notes.txt"), "not an API\n");
    const c1 = commitAll("200 APIs");
    const o1 = await poll();
    // The publisher applied "start" (no APIs) when it started.
    assert.deepEqual(o1, { kind: "applied", commit: c1, from: start, published: N, unchanged: 0, removed: 0 });
    await converged(N, () => true, `${N} APIs`);
    const before1 = snapshot(cluster.gateways.get("g1")!);
    assert.ok(!before1.has("Git9999") && !before1.has("Git9998"), "subfolders and dotfiles are not the folder's APIs");

    for (const i of [3, 50, 150]) writeFileSync(join(apis, `api-${i}.xml`), apiXml(i, 2));
    rmSync(join(apis, "api-7.xml"));
    const c2 = commitAll("change 3, delete 1");
    const o2 = await poll();
    assert.deepEqual(o2, { kind: "applied", commit: c2, from: c1, published: 3, unchanged: 0, removed: 1 });

    const store = cluster.publisher!.publisher.store;
    const expected = new Map(before1);
    expected.delete("Git7");
    for (const i of [3, 50, 150]) {
      const id = (await store.findApiId(`Git${i}`, "1.0.0"))!;
      const a = await store.getArtifact(id, "G");
      expected.set(`Git${i}`, a!.sha256);
      assert.notEqual(a!.sha256, before1.get(`Git${i}`));
      // The revision records the commit it came from.
      const [latest] = await store.apiHistory(id, 1);
      assert.equal(latest?.commit, c2);
      assert.equal(latest?.revision, 2);
    }
    const same = (a: Snapshot, b: Snapshot) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
    await converged(N - 1, (gw) => same(snapshot(gw), expected), "3 changed, 1 removed");
    for (const s of specs) {
      // Exactly those changes: every other API holds the bytes it held before.
      assert.deepEqual(snapshot(cluster.gateways.get(s.name)!), expected, s.name);
    }
    const removedId = (await store.findApiId("Git7", "1.0.0"))!;
    assert.equal((await store.apiHistory(removedId, 1))[0]?.commit, c2);
    // Nothing new: an unchanged poll.
    assert.deepEqual(await poll(), { kind: "unchanged", commit: c2 });
  });

  test("a force-push is refused, nothing deployed; a commit on top of the applied one goes on", async () => {
    const store = cluster.publisher!.publisher.store;
    const applied = cluster.publisher!.gitSource!.appliedCommit!;
    const head = await store.headSeq();
    const held = snapshot(cluster.gateways.get("g1")!);
    git(work, "reset", "-q", "--hard", "HEAD~1");
    writeFileSync(join(apis, "api-0.xml"), apiXml(0, 3));
    git(work, "commit", "-q", "-am", "rewritten history");
    git(work, "push", "-q", "--force", "origin", "HEAD:main");
    const forced = git(work, "rev-parse", "HEAD");
    const o = await poll();
    assert.equal(o.kind, "refused");
    assert.equal(o.commit, forced);
    assert.match(o.kind === "refused" ? o.reason : "", /force-pushed: .* does not descend from .*nothing deployed/);
    assert.equal(await store.headSeq(), head, "nothing stored");
    assert.equal(cluster.publisher!.gitSource!.appliedCommit, applied);

    // The branch is restored and moves on: the new commit applies from the one applied last.
    git(work, "reset", "-q", "--hard", applied);
    writeFileSync(join(apis, "api-1.xml"), apiXml(1, 4));
    git(work, "commit", "-q", "-am", "on top of the applied commit");
    git(work, "push", "-q", "--force", "origin", "HEAD:main");
    const next = git(work, "rev-parse", "HEAD");
    const o2 = await poll();
    assert.deepEqual(o2, { kind: "applied", commit: next, from: applied, published: 1, unchanged: 0, removed: 0 });
    await converged(N - 1, (gw) => snapshot(gw).get("Git1") !== held.get("Git1"), "Git1 updated");
  });

  test("a corrupt commit or an invalid file refuses the whole commit; nothing reaches a gateway", async () => {
    const store = cluster.publisher!.publisher.store;
    const applied = cluster.publisher!.gitSource!.appliedCommit!;
    const head = await store.headSeq();
    // A commit object git's fsck rejects (a date that is not one), pushed straight into the bare repository.
    const tree = git(origin, "rev-parse", `${applied}^{tree}`);
    const corrupt = execFileSync(
      "git",
      ["hash-object", "-t", "commit", "--literally", "-w", "--stdin"],
      {
        cwd: origin,
        env: GIT_ENV,
        encoding: "utf8",
        input: `tree ${tree}\nparent ${applied}\nauthor dev <dev@example.com> yesterday +0000\ncommitter dev <dev@example.com> yesterday +0000\n\nbroken\n`,
      },
    ).trim();
    git(origin, "update-ref", "refs/heads/main", corrupt);
    const o = await poll();
    assert.equal(o.kind, "refused");
    assert.match(o.kind === "refused" ? o.reason : "", /corrupt commit/);
    assert.equal(await store.headSeq(), head);
    git(origin, "update-ref", "refs/heads/main", applied);

    // A valid change beside an invalid file and a symlink: none of it is published.
    const held = snapshot(cluster.gateways.get("g1")!);
    writeFileSync(join(apis, "api-2.xml"), apiXml(2, 5));
    writeFileSync(join(apis, "broken.xml"), "<api name='x'");
    symlinkSync("api-2.xml", join(apis, "link.xml"));
    writeFileSync(join(apis, "big.json"), `{"pad":"${"x".repeat(30_000)}"}`);
    const bad = commitAll("one good, three bad");
    const o2 = await poll();
    assert.equal(o2.kind, "refused");
    const reason = o2.kind === "refused" ? o2.reason : "";
    assert.match(reason, new RegExp(`commit ${bad} of main refused, nothing deployed`));
    assert.match(reason, /apis\/broken\.xml: /);
    assert.match(reason, /apis\/link\.xml is a symbolic link/);
    assert.match(reason, /apis\/big\.json is \d+ bytes, over the 20000-byte limit/);
    assert.equal(await store.headSeq(), head, "nothing stored");
    assert.deepEqual(snapshot(cluster.gateways.get("g1")!), held);

    // Fixed in the next commit: the good change of the refused commit is applied with it.
    rmSync(join(apis, "broken.xml"));
    rmSync(join(apis, "link.xml"));
    rmSync(join(apis, "big.json"));
    const fixed = commitAll("fix");
    const o3 = await poll();
    assert.deepEqual(o3, { kind: "applied", commit: fixed, from: applied, published: 1, unchanged: 0, removed: 0 });
    await converged(N - 1, (gw) => snapshot(gw).get("Git2") !== held.get("Git2"), "Git2 updated");
  });

  test("POST /api/v1/git-source/poll polls now (a webhook's target), with credentials", async () => {
    const url = cluster.publisher!.httpUrl!;
    const anon = await fetch(`${url}/api/v1/git-source/poll`, { method: "POST" });
    assert.equal(anon.status, 401);
    const res = await fetch(`${url}/api/v1/git-source/poll`, { method: "POST", headers: { authorization: authHeader() } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { kind: "unchanged", commit: cluster.publisher!.gitSource!.appliedCommit });
  });
});
