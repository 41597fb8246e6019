/**
 * Issue 20: a catch-up asks many changed APIs in one data-API request (`apiId` repeated). The control
 * plane answers those published, within a count and a byte bound; the gateway validates each artifact
 * on its own, and against a control plane without batches (WSO2, an older gwsync) it takes the one API
 * such a control plane answers. WSO2 binds `apiId` to one String (carbon-apimgt
 * internal.service RuntimeArtifactsApi.java:46, `@QueryParam("apiId") String apiId`) and answers that
 * API alone, 404 when it has none (RuntimeArtifactsApiServiceImpl.java:47-90): the reply a gwsync
 * gateway must read as "the first API only".
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";
import { sha256Hex } from "../../src/artifacts/gateway-api-dto.js";
import { encodeLabels, INTERNAL_DATA_PATH, RUNTIME_ARTIFACTS_PATH } from "../../src/data-api/wire.js";
import { HttpArtifactRetriever } from "../../src/gateway/retriever.js";
import { toGatewayApiDto } from "../../src/publisher/artifact-input.js";
import { MAX_BATCH_APIS } from "../../src/publisher/data-api-routes.js";
import type { ArtifactStore, StoredArtifact } from "../../src/store/types.js";
import { synapseApi } from "../harness/cluster.js";
import { listeningDataApi } from "../harness/data-api-server.js";

const USER = "operator";
const PASS = "a-long-enough-secret";
const AUTH = { authorization: `Basic ${Buffer.from(`${USER}:${PASS}`).toString("base64")}` };
const HEAD = 42;

function stored(name: string, seq: number): StoredArtifact {
  const dto = toGatewayApiDto(synapseApi({ name, size: 2000 }));
  const artifactJson = JSON.stringify(dto);
  return {
    apiId: dto.apiId,
    label: "A",
    instruction: "Publish",
    artifactJson,
    name,
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    revision: seq,
    sha256: sha256Hex(artifactJson),
    seq,
    updatedAt: 0,
  };
}

function fakeStore(rows: StoredArtifact[]) {
  const calls = { getArtifact: 0 };
  const store = {
    engine: "fake",
    headSeq: async () => HEAD,
    countArtifacts: async (label: string) => (label === "A" ? rows.length : 0),
    getArtifact: async (apiId: string, label: string) => {
      calls.getArtifact++;
      return rows.find((r) => r.apiId === apiId && r.label === label);
    },
  } as unknown as ArtifactStore;
  return { store, calls };
}

const meta = (a: StoredArtifact) => ({
  apiId: a.apiId,
  label: a.label,
  revision: a.revision,
  sha256: a.sha256,
  seq: a.seq,
});

async function dataApi(rows: StoredArtifact[], maxBatchReplyBytes?: number) {
  const fake = fakeStore(rows);
  const { app, url } = await listeningDataApi({
    store: fake.store,
    meta,
    options: maxBatchReplyBytes ? { maxBatchReplyBytes } : {},
    username: USER,
    password: PASS,
  });
  return { app, calls: fake.calls, url };
}

function retriever(serviceUrl: string) {
  return new HttpArtifactRetriever({ serviceUrl, username: USER, password: PASS });
}

describe("data API batches (apiId repeated)", () => {
  const rows = [stored("One", 3), stored("Two", 4), stored("Three", 5)];
  const [one, two, three] = rows as [StoredArtifact, StoredArtifact, StoredArtifact];

  test("the control plane answers the published ones of the asked APIs in one reply, marked as a batch, shared by identical requests", async () => {
    const { app, calls, url } = await dataApi(rows);
    try {
      const q = new URLSearchParams({ gatewayLabel: encodeLabels(["A"]), type: "Synapse" });
      for (const id of [three.apiId, "not-there", one.apiId]) q.append("apiId", id);
      const replies = await Promise.all(
        [1, 2, 3].map(async () => {
          const r = await fetch(`${url}${INTERNAL_DATA_PATH}${RUNTIME_ARTIFACTS_PATH}?${q}`, {
            headers: AUTH,
          });
          return { status: r.status, body: await r.text() };
        }),
      );
      assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
      assert.deepEqual(JSON.parse(replies[0]!.body), {
        count: 2,
        list: [three.artifactJson, one.artifactJson],
        gwsync: { head: HEAD, items: [meta(three), meta(one)], batch: true },
      });
      assert.equal(calls.getArtifact, 3, "one store read per asked API, for three identical requests");
      // None of them published: 200 and an empty list (a batch is never a 404).
      const none = new URLSearchParams({ gatewayLabel: encodeLabels(["A"]), type: "Synapse" });
      none.append("apiId", "x");
      none.append("apiId", "y");
      const r = await fetch(`${url}${INTERNAL_DATA_PATH}${RUNTIME_ARTIFACTS_PATH}?${none}`, {
        headers: AUTH,
      });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), {
        count: 0,
        list: [],
        gwsync: { head: HEAD, items: [], batch: true },
      });
    } finally {
      await app.close();
    }
  });

  test(`more than ${MAX_BATCH_APIS} APIs is a 400; past the byte bound the rest are named in gwsync.more`, async () => {
    const { app, url } = await dataApi(rows, 1);
    try {
      const big = new URLSearchParams({ gatewayLabel: encodeLabels(["A"]), type: "Synapse" });
      for (let i = 0; i <= MAX_BATCH_APIS; i++) big.append("apiId", `api-${i}`);
      const refused = await fetch(`${url}${INTERNAL_DATA_PATH}${RUNTIME_ARTIFACTS_PATH}?${big}`, {
        headers: AUTH,
      });
      assert.equal(refused.status, 400);
      // A 1-byte bound: one artifact per reply, the rest to ask again.
      const q = new URLSearchParams({ gatewayLabel: encodeLabels(["A"]), type: "Synapse" });
      for (const a of rows) q.append("apiId", a.apiId);
      const r = await fetch(`${url}${INTERNAL_DATA_PATH}${RUNTIME_ARTIFACTS_PATH}?${q}`, { headers: AUTH });
      const body = (await r.json()) as { count: number; gwsync: { more?: string[] } };
      assert.equal(body.count, 1);
      assert.deepEqual(body.gwsync.more, [two.apiId, three.apiId]);
      // The gateway takes the one answered and leaves the rest to be asked again.
      const got = await retriever(url).retrieveArtifacts(
        rows.map((a) => a.apiId),
        "A",
      );
      assert.deepEqual([...got.answered], [one.apiId]);
      assert.deepEqual(
        got.items.map((i) => i.apiId),
        [one.apiId],
      );
    } finally {
      await app.close();
    }
  });

  test("the gateway validates each artifact of a batch on its own: a tampered one is refused by name, the others are taken, absent ones are answered", async () => {
    const tampered = { ...two, artifactJson: `${two.artifactJson} ` }; // no longer matches its sha256
    const { app, url } = await dataApi([one, tampered, three]);
    try {
      const r = retriever(url);
      const got = await r.retrieveArtifacts([one.apiId, two.apiId, three.apiId, "gone"], "A");
      assert.deepEqual(
        got.items.map((i) => [i.apiId, i.revision, i.sha256]).sort(),
        [
          [one.apiId, one.revision, one.sha256],
          [three.apiId, three.revision, three.sha256],
        ].sort(),
      );
      assert.deepEqual(
        got.rejected.map((x) => [x.apiId, x.reason]),
        [[two.apiId, "artifact does not match its sha256"]],
      );
      assert.deepEqual([...got.answered].sort(), [one.apiId, two.apiId, three.apiId, "gone"].sort());
      assert.equal(got.head, HEAD);
      r.close();
    } finally {
      await app.close();
    }
  });

  test("an artifact served in another API's row is refused", async () => {
    const swapped = {
      ...two,
      apiId: one.apiId === two.apiId ? "x" : two.apiId,
      artifactJson: one.artifactJson,
      sha256: one.sha256,
    };
    const { app, url } = await dataApi([swapped, three]);
    try {
      const r = retriever(url);
      const got = await r.retrieveArtifacts([two.apiId, three.apiId], "A");
      assert.deepEqual(
        got.items.map((i) => i.apiId),
        [three.apiId],
      );
      assert.equal(got.rejected.length, 1);
      assert.equal(got.rejected[0]!.apiId, two.apiId);
      assert.match(got.rejected[0]!.reason, /in the row of/);
      r.close();
    } finally {
      await app.close();
    }
  });

  test("a control plane without batches answers the first API alone (WSO2's single apiId): only it is answered", async () => {
    let asked = "";
    let status = 200;
    const server = createServer((req, res) => {
      asked = req.url ?? "";
      if (status === 404) {
        res.writeHead(404).end("{}");
        return;
      }
      // What a WSO2 4.x or an older gwsync control plane sends for one apiId: no batch marker.
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ count: 1, list: [one.artifactJson], gwsync: { head: 9, items: [meta(one)] } }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const r = retriever(url);
    try {
      const got = await r.retrieveArtifacts([one.apiId, two.apiId, three.apiId], "A");
      assert.deepEqual(new URL(asked, url).searchParams.getAll("apiId"), [one.apiId, two.apiId, three.apiId]);
      assert.deepEqual([...got.answered], [one.apiId], "the others are fetched one by one by the caller");
      assert.deepEqual(
        got.items.map((i) => i.apiId),
        [one.apiId],
      );
      // Its 404 says the first API is not published there, nothing of the others.
      status = 404;
      const missing = await r.retrieveArtifacts([two.apiId, three.apiId], "A");
      assert.deepEqual([...missing.answered], [two.apiId]);
      assert.deepEqual(missing.items, []);
    } finally {
      r.close();
      await new Promise<void>((res) => server.close(() => res()));
    }
  });
});
