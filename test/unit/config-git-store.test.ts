import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { maskSecrets } from "../../src/security/secrets.js";
import { loadConfig } from "../../src/config/load-config.js";
import { changeMessage, gwsyncTrailers } from "../../src/store/git/commit-message.js";
import { apiFileBase, apiFileWithId, encodeSegment, labelFolder } from "../../src/store/git/paths.js";
import { tempDir } from "../harness/temp-dir.js";

const DB = `[database.sync_runtime_artifacts_db]\ntype = "sqlite"\nurl = "/data/artifacts.db"\n`;

function load(text: string, env: Record<string, string> = {}, role: "publisher" | "gateway" = "publisher") {
  return loadConfig({ role, env, text, baseDir: "/etc/gwsync" });
}

function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    load(text, env);
  } catch (err) {
    return ((err as { problems?: { message: string }[] }).problems ?? []).map((p) => p.message);
  }
  return [];
}

describe("config: the Git store", () => {
  test('artifact_saver = "GitSaver" (WSO2\'s key) chooses it with defaults: <data_dir>/artifacts.git, branch main', () => {
    const c = load(
      `[gwsync]\ndata_dir = "/var/gwsync"\n[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "GitSaver"\n${DB}`,
    ).config;
    assert.equal(c.publisher.artifactSaver, "GitSaver");
    assert.deepEqual(c.database.git, {
      repository: "/var/gwsync/artifacts.git",
      branch: "main",
      pushRetryMs: 5000,
      authorName: "gwsync",
      authorEmail: "gwsync@localhost",
    });
    assert.equal(c.database.url, "/data/artifacts.db", "the changelog stays in the SQLite file");
  });

  test("[gwsync.git_store] alone chooses it (gwsync's own form); paths resolve against the file's folder; credentials are masked", () => {
    const dir = tempDir("gwsync-gitcfg-");
    const secret = path.join(dir, "token");
    writeFileSync(secret, "tok-3n-value\n");
    const c = load(
      `[apim.sync_runtime_artifacts.publisher]\n${DB}[gwsync.git_store]\nrepository = "repo/artifacts.git"\nbranch = "gateways/prod"\n` +
        `remote_url = "https://git.example.com/ops/gateways.git"\nusername = "deployer"\npassword_file = "${secret}"\npush_retry_ms = 250\n` +
        `author_name = "CP eu-1"\nauthor_email = "cp-eu-1@example.com"\n`,
    ).config;
    assert.equal(c.publisher.artifactSaver, "GitSaver");
    assert.deepEqual(c.database.git, {
      repository: "/etc/gwsync/repo/artifacts.git",
      branch: "gateways/prod",
      remoteUrl: "https://git.example.com/ops/gateways.git",
      username: "deployer",
      password: "tok-3n-value",
      pushRetryMs: 250,
      authorName: "CP eu-1",
      authorEmail: "cp-eu-1@example.com",
    });
    assert.doesNotMatch(JSON.stringify(maskSecrets(c)), /tok-3n-value/);
    // A local remote is a path, resolved like the others.
    const local = load(
      `[apim.sync_runtime_artifacts.publisher]\n${DB}[gwsync.git_store]\nremote_url = "backup/gw.git"\n`,
    ).config;
    assert.equal(local.database.git?.remoteUrl, "/etc/gwsync/backup/gw.git");
  });

  test("the remote's credentials come from GWSYNC_GIT_STORE_* as well", () => {
    const c = load(`[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "GitSaver"\n${DB}`, {
      GWSYNC_GIT_STORE_REMOTE_URL: "https://git.example.com/x.git",
      GWSYNC_GIT_STORE_USERNAME: "ci",
      GWSYNC_GIT_STORE_PASSWORD: "from-env-pw",
    }).config;
    assert.deepEqual(
      [c.database.git?.remoteUrl, c.database.git?.username, c.database.git?.password],
      ["https://git.example.com/x.git", "ci", "from-env-pw"],
    );
  });

  test("what does not fit is a problem naming the key", () => {
    const git = `[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "GitSaver"\n`;
    assert.deepEqual(
      problems(`${git}[database.sync_runtime_artifacts_db]\ntype = "mysql"\nurl = "jdbc:mysql://db/apim"\n`),
      [
        'database.sync_runtime_artifacts_db.type is "mysql", but the Git store (artifact_saver = "GitSaver") keeps its changelog and outbox in SQLite: set type = "sqlite"',
      ],
    );
    assert.deepEqual(problems(`${git}${DB}[gwsync.git_store]\nbranch = "-x"\n`), [
      'gwsync.git_store.branch is not a branch name git accepts: "-x"',
    ]);
    assert.deepEqual(problems(`${git}${DB}[gwsync.git_store]\npassword = "pw-only-here"\n`), [
      "gwsync.git_store.username is required with a password (HTTP Basic credentials for the remote)",
      "gwsync.git_store.remote_url is required with a username or password (they are the remote's credentials)",
    ]);
    assert.match(problems(`${git}${DB}[gwsync.git_store]\nbrnach = "main"\n`).join("\n"), /brnach/);
    assert.deepEqual(
      problems(
        `[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "DBSaver"\n${DB}[gwsync.git_store]\n`,
      ),
      [
        'gwsync.git_store configures the Git store, but apim.sync_runtime_artifacts.publisher.artifact_saver is "DBSaver": set it to "GitSaver" (or leave it out), or remove the section',
      ],
    );
    assert.deepEqual(problems(`[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "S3Saver"\n${DB}`), [
      'apim.sync_runtime_artifacts.publisher.artifact_saver is "S3Saver", but role publisher implements only "DBSaver" and "GitSaver"',
    ]);
  });

  test('a gateway takes artifact_retriever = "GitRetriever" (it fetches through the data API either way)', () => {
    const c = load(
      `[apim.sync_runtime_artifacts.gateway]\ngateway_labels = ["A"]\nartifact_retriever = "GitRetriever"\n`,
      {},
      "gateway",
    ).config;
    assert.equal(c.gateway.artifactRetriever, "GitRetriever");
    assert.equal(c.database.git, undefined);
  });
});

describe("git store: file names and commit messages", () => {
  test("WSO2's file name with .json; a label is its folder; bytes outside the safe set are %XX", () => {
    assert.equal(
      apiFileBase({ provider: "admin", name: "PizzaShackAPI", version: "1.0.0" }),
      "admin--PizzaShackAPI_v1.0.0.json",
    );
    assert.equal(
      apiFileBase({ provider: "admin-AT-abc.com", name: "Stock", version: "" }),
      "admin-AT-abc.com--Stock.json",
    );
    assert.equal(
      apiFileWithId({ provider: "admin", name: "P", version: "1", apiId: "0b5e-77" }),
      "admin--P_v1.0b5e-77.json",
    );
    assert.equal(labelFolder("Production and Sandbox"), "Production and Sandbox");
    assert.equal(encodeSegment("a/b%c\nd"), "a%2Fb%25c%0Ad");
    assert.equal(encodeSegment(".hidden"), "%2Ehidden");
    assert.equal(encodeSegment("Ünï"), "%C3%9Cn%C3%AF");
  });

  test("the message names the API, revision and origin; its trailers carry the changelog's seq", () => {
    const m = changeMessage({
      instruction: "Publish",
      apiId: "id-1",
      name: "Pizza",
      version: "1.0.0",
      provider: "admin",
      tenantDomain: "carbon.super",
      revision: 7,
      sha256: "ab".repeat(32),
      labels: ["A", "B\nC"],
      seqs: [41, 42],
      origin: { region: "eu", seq: 9 },
      sourceCommit: "c".repeat(40),
    });
    assert.equal(m.split("\n")[0], "Publish Pizza:1.0.0 revision 7 (region eu seq 9)");
    const t = gwsyncTrailers(m);
    assert.equal(t.get("Gwsync-Seq"), "41 42");
    assert.equal(t.get("Gwsync-Revision"), "7");
    assert.equal(t.get("Gwsync-Origin"), "eu seq 9");
    assert.equal(t.get("Gwsync-Source-Commit"), "c".repeat(40));
    assert.ok(m.includes("Gwsync-Label: B C"), "a newline in a label cannot end a trailer");
  });
});
