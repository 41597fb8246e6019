/**
 * Issue 19: the gateways of a label all fetch an announced artifact within milliseconds of each other;
 * the data API reads it from the store and serializes it once for all of them, and never serves a
 * reply older than the store's head.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encodeLabels, INTERNAL_DATA_PATH, RUNTIME_ARTIFACTS_PATH } from "../../src/data-api/wire.js";
import { createHttpServer, listenUrl } from "../../src/http/server.js";
import { silentLogger } from "../../src/log.js";
import { registerDataApiRoutes } from "../../src/publisher/data-api-routes.js";
import type { ArtifactStore, StoredArtifact } from "../../src/store/types.js";

const USER = "operator";
const PASS = "a-long-enough-secret";
const AUTH = { authorization: `Basic ${Buffer.from(`${USER}:${PASS}`).toString("base64")}` };
const GATEWAYS = 4;

function fakeStore(delayMs: number) {
  const calls = { getArtifact: 0 };
  let head = 7;
  let revision = 1;
  const artifact = (): StoredArtifact => ({
    apiId: "api-1",
    label: "A",
    instruction: "Publish",
    artifactJson: JSON.stringify({ apiId: "api-1", revision: String(revision) }),
    name: "Api",
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    revision,
    sha256: "0".repeat(64),
    seq: head,
    updatedAt: 0,
  });
  const later = <T>(v: T) =>
    delayMs > 0 ? new Promise<T>((r) => setTimeout(() => r(v), delayMs)) : Promise.resolve(v);
  const store = {
    engine: "fake",
    headSeq: async () => head,
    // "A" is a label the store holds: the plain-label reading of the gatewayLabel value.
    countArtifacts: async (label: string) => (label === "A" ? 1 : 0),
    getArtifact: async (apiId: string, label: string) => {
      calls.getArtifact++;
      return later(apiId === "api-1" && label === "A" ? artifact() : undefined);
    },
  } as unknown as ArtifactStore;
  return {
    store,
    calls,
    publish: () => {
      head++;
      revision++;
    },
  };
}

describe("one API's artifact fetched by every gateway at once: one store read", () => {
  for (const delayMs of [0, 25]) {
    test(`${GATEWAYS} concurrent fetches, one read; a commit reads again (store answering in ${delayMs} ms)`, async () => {
      const fake = fakeStore(delayMs);
      const app = createHttpServer({ host: "127.0.0.1", port: 0, username: USER, password: PASS, logger: silentLogger });
      registerDataApiRoutes(app, fake.store, (a) => ({ apiId: a.apiId, revision: a.revision }));
      await app.listen({ host: "127.0.0.1", port: 0 });
      const base = `${listenUrl(app)}${INTERNAL_DATA_PATH}${RUNTIME_ARTIFACTS_PATH}`;
      const url = (apiId: string) => `${base}?apiId=${apiId}&gatewayLabel=${encodeLabels(["A"])}&type=Synapse`;
      const fetchAll = (apiId: string) =>
        Promise.all(
          Array.from({ length: GATEWAYS }, async () => {
            const r = await fetch(url(apiId), { headers: AUTH });
            return { status: r.status, type: r.headers.get("content-type") ?? "", body: await r.text() };
          }),
        );
      try {
        const first = await fetchAll("api-1");
        assert.deepEqual(new Set(first.map((r) => r.status)), new Set([200]));
        assert.match(first[0]!.type, /^application\/json/);
        assert.equal(new Set(first.map((r) => r.body)).size, 1, "every gateway got the same reply");
        assert.deepEqual(JSON.parse(first[0]!.body), {
          count: 1,
          list: [JSON.stringify({ apiId: "api-1", revision: "1" })],
          gwsync: { head: 7, items: [{ apiId: "api-1", revision: 1 }] },
        });
        assert.equal(fake.calls.getArtifact, 1, `one store read for ${GATEWAYS} fetches`);
        // The next publish moves the head: the artifact is read again, never an older reply.
        fake.publish();
        const second = await fetchAll("api-1");
        assert.equal(fake.calls.getArtifact, 2);
        assert.deepEqual(JSON.parse(second[0]!.body), {
          count: 1,
          list: [JSON.stringify({ apiId: "api-1", revision: "2" })],
          gwsync: { head: 8, items: [{ apiId: "api-1", revision: 2 }] },
        });
        // An API the label does not have: a 404 for every caller, from one read too.
        const missing = await fetchAll("api-2");
        assert.deepEqual(new Set(missing.map((r) => r.status)), new Set([404]));
        assert.equal(JSON.parse(missing[0]!.body).code, "GWSYNC_NOT_FOUND");
        assert.equal(fake.calls.getArtifact, 3);
      } finally {
        await app.close();
      }
    });
  }
});
