import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { authHeader, synapseApi, TestCluster } from "../harness/cluster.js";

/** Issue "Low", against the publisher's real REST and data API. */
describe("the publisher's HTTP API: strict query integers, JSON-only bodies", () => {
  const cluster = new TestCluster();
  let url: string;

  before(async () => {
    await cluster.startPublisher();
    url = cluster.publisher!.httpUrl!;
  });
  after(() => cluster.close());

  const get = (path: string) => fetch(`${url}${path}`, { headers: { authorization: authHeader() } });

  test("since= (empty), since=0x10, since=1e3, limit=0x10 and limit=0 are 400; since=0 and limit=16 are served", async () => {
    for (const path of [
      "/internal/data/v1/changes?gatewayLabel=L&since=",
      "/internal/data/v1/changes?gatewayLabel=L&since=0x10",
      "/internal/data/v1/changes?gatewayLabel=L&since=1e3",
      "/internal/data/v1/changes?gatewayLabel=L&since=-1",
      "/internal/data/v1/runtime-artifacts?gatewayLabel=L&limit=0x10",
      "/internal/data/v1/runtime-artifacts?gatewayLabel=L&limit=0",
      "/internal/data/v1/runtime-artifacts?gatewayLabel=L&limit=",
    ]) {
      const res = await get(path);
      assert.equal(res.status, 400, path);
      assert.equal(((await res.json()) as { code: string }).code, "GWSYNC_HTTP_BAD_REQUEST");
    }
    assert.equal((await get("/internal/data/v1/changes?gatewayLabel=L&since=0")).status, 200);
    assert.equal((await get("/internal/data/v1/changes?gatewayLabel=L")).status, 200);
    // No artifacts on L: the paged listing answers an empty page or WSO2's 404, never 400.
    assert.notEqual((await get("/internal/data/v1/runtime-artifacts?gatewayLabel=L&limit=16")).status, 400);
  });

  test("an API whose file another API owns on a label is 409 GWSYNC_ARTIFACT_CONFLICT (provider a--b + X vs a + b--X)", async () => {
    const xml = synapseApi({ provider: "a--b", name: "X", version: "1" });
    const dto = (provider: string, name: string, apiId: string) =>
      JSON.stringify({ name, version: "1", provider, tenantDomain: "carbon.super", apiId, apiDefinition: xml });
    const post = (body: string) =>
      fetch(`${url}/api/v1/artifacts?label=L`, {
        method: "POST",
        headers: { authorization: authHeader(), "content-type": "application/json" },
        body,
      });
    assert.equal((await post(dto("a--b", "X", "cccccccc-0000-4000-8000-000000000001"))).status, 201);
    const res = await post(dto("a", "b--X", "cccccccc-0000-4000-8000-000000000002"));
    assert.equal(res.status, 409);
    const body = (await res.json()) as { code: string; message: string };
    assert.equal(body.code, "GWSYNC_ARTIFACT_CONFLICT");
    assert.match(body.message, /api\/a--b--X_v1\.xml on label "L"/);
  });

  test("a cross-site form POST (text/plain, form-urlencoded, multipart) is 415 and emits nothing", async () => {
    // Count what reaches the outbox, not its depth: the depth also falls while the relay drains the
    // previous test's event, which made a depth comparison flaky (CI, stop 26).
    const store = cluster.publisher!.publisher.store;
    const enqueue = store.enqueue.bind(store);
    let enqueued = 0;
    store.enqueue = async (messages) => {
      enqueued += messages.length;
      return await enqueue(messages);
    };
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"]) {
      const res = await fetch(`${url}/api/v1/token-revocations`, {
        method: "POST",
        headers: { authorization: authHeader(), "content-type": type },
        body: JSON.stringify({ revokedToken: "x", expiryTime: Date.now() + 60_000 }),
      });
      assert.equal(res.status, 415, type);
    }
    assert.equal(enqueued, 0, "no event reached the outbox");
    // The spy does see an accepted revocation, so the zero above can fail.
    const ok = await fetch(`${url}/api/v1/token-revocations`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": "application/json" },
      body: JSON.stringify({ revokedToken: "x", expiryTime: Date.now() + 60_000 }),
    });
    store.enqueue = enqueue;
    assert.equal(enqueued, 1, `a JSON revocation reaches the outbox (${ok.status})`);
  });
});
