import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import type { GwsyncConfig } from "../../src/config/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { openStore, sqliteFileOf } from "../../src/store/open-store.js";
import { tempDir as makeTempDir } from "../harness/temp-dir.js";

type DbConfig = GwsyncConfig["database"];

function tempDir(): string {
  return makeTempDir("gwsync-open-");
}

describe("openStore", () => {
  test("opens a SQLite store at the url path, creating its folder", async () => {
    const file = path.join(tempDir(), "data", "nested", "artifacts.db");
    const store = openStore({ type: "sqlite", url: file });
    try {
      assert.equal(await store.headSeq(), 0);
      assert.ok(fs.existsSync(file));
    } finally {
      await store.close();
    }
  });

  test("accepts a jdbc:sqlite: url and an upper-case type", async () => {
    const file = path.join(tempDir(), "artifacts.db");
    const store = openStore({ type: "SQLite", url: `jdbc:sqlite:${file}` });
    await store.close();
    assert.ok(fs.existsSync(file));
    assert.equal(sqliteFileOf("jdbc:sqlite:./data/a.db"), "./data/a.db");
    assert.equal(sqliteFileOf("./data/a.db"), "./data/a.db");
  });

  test("opens readonly without creating anything when asked", () => {
    const file = path.join(tempDir(), "missing", "artifacts.db");
    assert.throws(
      () => openStore({ type: "sqlite", url: file }, { readonly: true }),
      (err: unknown) => isGwsyncError(err, "GWSYNC_STORE_FAILED"),
    );
    assert.equal(fs.existsSync(path.dirname(file)), false);
  });

  for (const type of ["mysql", "postgresql", "h2"]) {
    test(`type "${type}" is refused as not supported yet, naming the config key and sqlite`, () => {
      const db: DbConfig = { type, url: "jdbc:mysql://db:3306/apim", username: "u", password: "secret-pw" };
      assert.throws(
        () => openStore(db),
        (err: unknown) =>
          isGwsyncError(err, "GWSYNC_CONFIG_INVALID") &&
          err.message.includes("database.sync_runtime_artifacts_db.type") &&
          /not supported yet/.test(err.message) &&
          /sqlite/.test(err.message) &&
          !err.message.includes("secret-pw"),
      );
    });
  }

  test("an unknown type and an empty url are configuration errors naming their keys", () => {
    assert.throws(
      () => openStore({ type: "mongo", url: "x" }),
      (err: unknown) =>
        isGwsyncError(err, "GWSYNC_CONFIG_INVALID") &&
        err.message.includes("database.sync_runtime_artifacts_db.type"),
    );
    assert.throws(
      () => openStore({ type: "sqlite", url: "jdbc:sqlite:" }),
      (err: unknown) =>
        isGwsyncError(err, "GWSYNC_CONFIG_INVALID") &&
        err.message.includes("database.sync_runtime_artifacts_db.url"),
    );
  });
});
