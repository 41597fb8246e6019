import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isGwsyncError } from "../../src/errors.js";
import { connectionSettings, networkEngineOf, poolOptionsOf } from "../../src/store/connection.js";

// WSO2's own spelling of the engines and URLs, as its API-M 3.2.0 -> 4.0.0 upgrade guide (wso2/docs-apim,
// "Step 1 - Migrate the API Manager configurations") writes deployment.toml:
//   [database.apim_db]  type = "postgre"  url = "jdbc:postgresql://localhost:5432/mig_am_db"
//   username = "username"  password = "password"  driver = "org.postgresql.Driver"  validationQuery = "SELECT 1"
// and docs/wso2-formats.md §8 ([database.sync_runtime_artifacts_db] type = "mysql",
// url = "jdbc:mysql://localhost:3306/WSO2AS_DB"; also driver, validationQuery, pool_options.*).
describe("database connection settings", () => {
  test("WSO2's type names map to the engines", () => {
    assert.equal(networkEngineOf("postgre"), "postgresql");
    assert.equal(networkEngineOf("PostgreSQL"), "postgresql");
    assert.equal(networkEngineOf("mysql"), "mysql");
    assert.equal(networkEngineOf("mariadb"), "mysql");
    assert.equal(networkEngineOf("sqlite"), undefined);
    assert.equal(networkEngineOf("h2"), undefined);
  });

  test("a JDBC PostgreSQL URL with the section's username and password", () => {
    const s = connectionSettings({
      type: "postgre",
      url: "jdbc:postgresql://db.example:5433/am_db?sslmode=require&currentSchema=gw&loggerLevel=OFF",
      username: "wso2carbon",
      password: "p@ss:word/1",
    });
    assert.deepEqual(
      [s.engine, s.host, s.port, s.database, s.user, s.password, s.ssl, s.schema],
      ["postgresql", "db.example", 5433, "am_db", "wso2carbon", "p@ss:word/1", true, "gw"],
    );
    assert.deepEqual(s.ignoredParams, ["loggerLevel"]);
    assert.equal(s.location, "postgresql://wso2carbon@db.example:5433/am_db?currentSchema=gw");
  });

  test("a JDBC MySQL URL: default port, useSSL=false, driver tuning named as ignored", () => {
    const s = connectionSettings({
      type: "mysql",
      url: "jdbc:mysql://mysql.local/am_db?useSSL=false&autoReconnect=true",
      username: "root",
    });
    assert.deepEqual(
      [s.engine, s.host, s.port, s.database, s.ssl, s.password],
      ["mysql", "mysql.local", 3306, "am_db", false, undefined],
    );
    assert.deepEqual(s.ignoredParams, ["autoReconnect"]);
    assert.equal(connectionSettings({ type: "mysql", url: "jdbc:mysql://h/db?useSSL=true" }).ssl, true);
    assert.equal(connectionSettings({ type: "mysql", url: "jdbc:mysql://h/db?sslMode=REQUIRED" }).ssl, true);
  });

  test("a driver URL's credentials are used when the section has none, and never shown", () => {
    const s = connectionSettings({ type: "postgres", url: "postgres://gw:secret@10.0.0.5/gwdb" });
    assert.deepEqual([s.user, s.password, s.port], ["gw", "secret", 5432]);
    assert.ok(!s.location.includes("secret"));
  });

  test("WSO2 pool options map where the drivers have them; bad values are named", () => {
    assert.deepEqual(
      poolOptionsOf({
        maxActive: 50,
        maxWait: 60000,
        minIdle: 5,
        testOnBorrow: true,
        validationQuery: "SELECT 1",
      }),
      {
        max: 50,
        minIdle: 5,
        maxWaitMs: 60000,
      },
    );
    assert.deepEqual(poolOptionsOf(undefined), { max: 10, minIdle: 0, maxWaitMs: 30000 });
    assert.deepEqual(poolOptionsOf({ maxActive: "20" }).max, 20);
    assert.throws(
      () => poolOptionsOf({ maxActive: "lots" }),
      (err: unknown) =>
        isGwsyncError(err, "GWSYNC_CONFIG_INVALID") && /pool_options\.maxActive/.test(err.message),
    );
  });
});
