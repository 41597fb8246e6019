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

  for (const type of ["h2", "oracle", "mssql"]) {
    test(`type "${type}" is refused as not supported, naming the config key and the engines that are`, () => {
      const db: DbConfig = { type, url: "jdbc:h2:./db", username: "u", password: "secret-pw" };
      assert.throws(
        () => openStore(db),
        (err: unknown) =>
          isGwsyncError(err, "GWSYNC_CONFIG_INVALID") &&
          err.message.includes("database.sync_runtime_artifacts_db.type") &&
          /not supported/.test(err.message) &&
          /postgre/.test(err.message) &&
          /mysql/.test(err.message) &&
          !err.message.includes("secret-pw"),
      );
    });
  }

  for (const [type, url, engine] of [
    ["postgre", "jdbc:postgresql://db.example:5432/apim", "postgresql"],
    ["PostgreSQL", "postgres://db.example/apim", "postgresql"],
    ["mysql", "jdbc:mysql://db.example:3306/apim?useSSL=false", "mysql"],
    ["mariadb", "jdbc:mariadb://db.example/apim", "mysql"],
  ] as const) {
    test(`type "${type}" opens a ${engine} store without connecting until first use; its location hides the password`, async () => {
      const store = openStore({ type, url, username: "apim", password: "secret-pw" });
      try {
        assert.equal(store.engine, engine);
        assert.ok(store.location.includes("db.example"));
        assert.ok(store.location.includes("apim@"));
        assert.ok(!store.location.includes("secret-pw"));
      } finally {
        await store.close();
      }
    });
  }

  test("a networked type with a URL of another engine, or without a database, names the url key", () => {
    for (const db of [
      { type: "postgre", url: "jdbc:mysql://db:3306/apim" },
      { type: "mysql", url: "jdbc:mysql://db:3306/" },
      { type: "postgre", url: "not a url" },
    ]) {
      assert.throws(
        () => openStore(db),
        (err: unknown) =>
          isGwsyncError(err, "GWSYNC_CONFIG_INVALID") &&
          err.message.includes("database.sync_runtime_artifacts_db.url"),
        db.url,
      );
    }
  });

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
