/**
 * Issue 19: the gateways of a label all fetch an announced artifact within milliseconds of each other;
 * the data API reads it from the store and serializes it once for all of them, and never serves a
 * reply older than the store's head.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encodeLabels, INTERNAL_DATA_PATH, RUNTIME_ARTIFACTS_PATH } from "../../src/data-api/wire.js";
import type { ArtifactStore, StoredArtifact } from "../../src/store/types.js";
import { listeningDataApi } from "../harness/data-api-server.js";

const USER = "operator";
const PASS = "a-long-enough-secret";
const AUTH = { authorization: `Basic ${Buffer.from(`${USER}:${PASS}`).toString("base64")}` };
const GATEWAYS = 4;

function fakeStore(delayMs: number) {
  const calls = { getArtifact: 0, countArtifacts: 0 };
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
    countArtifacts: async (label: string) => {
      calls.countArtifacts++;
      return label === "A" ? 1 : 0;
    },
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

/** The data API over `store`, listening; `base`: its runtime-artifacts URL. */
async function artifactsEndpoint(store: ArtifactStore) {
  const { app, url } = await listeningDataApi({
    store,
    meta: (a) => ({ apiId: a.apiId, revision: a.revision }),
    username: USER,
    password: PASS,
  });
  return { app, base: `${url}${INTERNAL_DATA_PATH}${RUNTIME_ARTIFACTS_PATH}` };
}

describe("one API's artifact fetched by every gateway at once: one store read", () => {
  for (const delayMs of [0, 25]) {
    test(`${GATEWAYS} concurrent fetches, one read; a commit reads again (store answering in ${delayMs} ms)`, async () => {
      const fake = fakeStore(delayMs);
      const { app, base } = await artifactsEndpoint(fake.store);
      const url = (apiId: string) =>
        `${base}?apiId=${apiId}&gatewayLabel=${encodeLabels(["A"])}&type=Synapse`;
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
        // The label is resolved (is "QQ" a label, or base64url of "A"?) with that read, not per request:
        // a kept reply costs no store query but the head.
        assert.equal(fake.calls.countArtifacts, 1, "the gatewayLabel value resolved once");
        const again = await fetchAll("api-1");
        assert.deepEqual(
          again.map((r) => r.body),
          first.map((r) => r.body),
        );
        assert.equal(fake.calls.getArtifact, 1, "the kept reply served the next fetches");
        assert.equal(fake.calls.countArtifacts, 1, "nor resolved the label again");
        // The next publish moves the head: the artifact is read again, never an older reply.
        fake.publish();
        const second = await fetchAll("api-1");
        assert.equal(fake.calls.getArtifact, 2);
        assert.equal(fake.calls.countArtifacts, 2);
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

describe("a kept reply is the one its request asks for", () => {
  test("the tenant headers and the label's spelling are part of the key: each caller gets its own answer", async () => {
    const fake = fakeStore(0);
    const { app, base } = await artifactsEndpoint(fake.store);
    const get = async (label: string, tenant: Record<string, string>) =>
      (
        await fetch(`${base}?apiId=api-1&gatewayLabel=${label}&type=Synapse`, {
          headers: { ...AUTH, ...tenant },
        })
      ).status;
    try {
      const encoded = encodeLabels(["A"]);
      // The artifact is the super tenant's (carbon.super).
      assert.equal(await get(encoded, { "X-WSO2-Tenant": "ALL" }), 200);
      assert.equal(await get(encoded, { xWSO2Tenant: "other.org" }), 404, "another tenant: not its API");
      assert.equal(await get(encoded, { xWSO2Tenant: "carbon.super" }), 200);
      assert.equal(await get(encoded, {}), 200, "no header: the super tenant");
      assert.equal(await get(encoded, { xWSO2Tenant: "other.org" }), 404, "kept 404 for that tenant");
      // A plain label (3.2.0-style caller): every tenant, whatever the headers say.
      assert.equal(await get("A", { xWSO2Tenant: "other.org" }), 200);
      // Without credentials nothing kept is served.
      const anon = await fetch(`${base}?apiId=api-1&gatewayLabel=${encoded}&type=Synapse`);
      assert.equal(anon.status, 401);
      // One read per distinct (gatewayLabel value, tenant asked): no header is the super tenant, as asked.
      assert.equal(fake.calls.getArtifact, 4);
    } finally {
      await app.close();
    }
  });
});
