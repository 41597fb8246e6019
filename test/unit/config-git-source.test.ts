import assert from "node:assert/strict";
import path from "node:path";
import { describe, test } from "node:test";
import { maskSecrets } from "../../src/security/secrets.js";
import { loadConfig } from "../../src/config/load-config.js";

const base = `
[apim.sync_runtime_artifacts.publisher]
artifact_saver = "DBSaver"
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = "/tmp/x.db"
`;

function load(section: string) {
  return loadConfig({ role: "publisher", env: {}, text: `${base}\n[gwsync.git_source]\n${section}\n` });
}

function problems(section: string): string[] {
  try {
    load(section);
  } catch (err) {
    return ((err as { problems?: { message: string }[] }).problems ?? []).map((p) => p.message);
  }
  return [];
}

describe("[gwsync.git_source]", () => {
  test("defaults, a URL kept as it is, a path resolved, the folder's slashes trimmed", () => {
    const c = load(`url = "https://git.example.com/team/apis.git"\nlabels = ["Default"]\nfolder = "/gateway/apis/"`).config;
    assert.deepEqual(c.gwsync.gitSource, {
      url: "https://git.example.com/team/apis.git",
      branch: "main",
      folder: "gateway/apis",
      labels: ["Default"],
      pollIntervalMs: 30_000,
      maxFileBytes: 8 * 1024 * 1024,
      maxFiles: 10_000,
    });
    const local = load(`url = "repos/apis.git"\nlabels = ["A"]\nbranch = "release/1.x"`).config.gwsync.gitSource!;
    assert.equal(local.url, path.resolve("repos/apis.git"));
    assert.equal(local.branch, "release/1.x");
    assert.equal(load(`url = "git@host:team/apis.git"\nlabels = ["A"]`).config.gwsync.gitSource?.url, "git@host:team/apis.git");
  });

  test("credentials: a password needs a username, and config check masks it", () => {
    const c = load(`url = "https://h/r.git"\nlabels = ["A"]\nusername = "ci"\npassword = "s3cret-pass"`).config;
    assert.equal(c.gwsync.gitSource?.password, "s3cret-pass");
    assert.doesNotMatch(JSON.stringify(maskSecrets(c)), /s3cret-pass/);
    assert.ok(problems(`url = "https://h/r.git"\nlabels = ["A"]\npassword = "s3cret-pass"`).some((m) => /username/.test(m)));
  });

  test("bad values are named: no labels, a folder outside the repository, a branch git refuses, an unknown key", () => {
    assert.ok(problems(`url = "/r.git"\nlabels = []`).some((m) => /at least one label/.test(m)));
    assert.ok(problems(`url = "/r.git"\nlabels = ["A"]\nfolder = "../etc"`).some((m) => /inside the repository/.test(m)));
    assert.ok(problems(`url = "/r.git"\nlabels = ["A"]\nbranch = "-x"`).some((m) => /branch name/.test(m)));
    assert.ok(problems(`url = "/r.git"\nlabels = ["A"]\nbrnach = "main"`).length > 0);
    assert.ok(problems(`labels = ["A"]`).length > 0, "url is required");
  });
});
