import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import { tempDir } from "../harness/temp-dir.js";

/**
 * A printed figure, not a timed assertion (docs/architecture.md#benchmarks: benchmarks live in bench/). Each save is one
 * fsync'd commit (synchronous=FULL), so the default count is kept small for the unit suite; set
 * GWSYNC_STORE_THROUGHPUT_N=10000 for the full run.
 */
const SAVES = Number(process.env.GWSYNC_STORE_THROUGHPUT_N ?? 2_000);
const ARTIFACT_BYTES = 5 * 1024;
const LABEL = "Production and Sandbox";

test(`store throughput: ${SAVES} saveArtifact calls of a 5 KB artifact (printed, not asserted)`, async () => {
  const dir = tempDir("gwsync-throughput-");
  const store = SqliteArtifactStore.open(path.join(dir, "artifacts.db"));
  try {
    const definition = `<api>${"x".repeat(ARTIFACT_BYTES - 11)}</api>`;
    const started = performance.now();
    for (let i = 0; i < SAVES; i++) {
      const dto: GatewayApiDto = {
        name: `Api${i}`,
        version: "1.0.0",
        provider: "admin",
        tenantDomain: "carbon.super",
        apiId: `api-${i}`,
        apiDefinition: definition,
      };
      await store.saveArtifact({ dto, labels: [LABEL], instruction: "Publish" }, (r) => [
        { topic: "notification", messageId: `m-${i}`, body: Buffer.from(r.sha256), headers: { seq: r.seq } },
      ]);
    }
    const seconds = (performance.now() - started) / 1000;
    const listStarted = performance.now();
    const listed = await store.listArtifacts({ label: LABEL });
    const listMs = performance.now() - listStarted;
    console.log(
      `store throughput: ${SAVES} saves in ${seconds.toFixed(2)} s = ${Math.round(SAVES / seconds)} saves/s; ` +
        `metadata listing of ${listed.length} in ${listMs.toFixed(1)} ms`,
    );
    assert.equal(await store.headSeq(), SAVES);
    assert.equal(await store.outboxDepth(), SAVES);
  } finally {
    await store.close();
  }
});
