import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import type { InboundTokenRevocation } from "../../src/events/token-revocation.js";
import {
  REVOKED_TOKENS_FILE,
  RevokedTokenStore,
  revocationExpiresAt,
} from "../../src/gateway/runtime/revoked-tokens.js";

const T0 = 1_700_000_000_000;
const HOUR_MS = 3_600_000;

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gwsync-revoked-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A clock the test moves by hand. */
function clock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function revocation(fields: Partial<InboundTokenRevocation> = {}): InboundTokenRevocation {
  return {
    topic: "tokenRevocation",
    eventId: `e-${Math.random()}`,
    revokedToken: "jti-1",
    ttl: 3600,
    expiryTime: T0 + HOUR_MS,
    type: "JWT",
    tenantId: -1234,
    ...fields,
  };
}

function journalLines(dir: string): string[] {
  return fs.readFileSync(path.join(dir, REVOKED_TOKENS_FILE), "utf8").split("\n").filter(Boolean);
}

describe("revocationExpiresAt", () => {
  test("uses the token's expiryTime when WSO2 sent one", () => {
    assert.equal(revocationExpiresAt({ expiryTime: T0 + 5, ttl: 10 }, T0), T0 + 5);
  });
  test("uses now + ttl seconds when expiryTime is 0 (opaque tokens)", () => {
    assert.equal(revocationExpiresAt({ expiryTime: 0, ttl: 5000 }, T0), T0 + 5_000_000);
  });
  test("falls back to 3600 s when there is no ttl either", () => {
    assert.equal(revocationExpiresAt({ expiryTime: 0 }, T0), T0 + HOUR_MS);
  });
});

describe("RevokedTokenStore", () => {
  test("a revoked token is reported revoked until its expiry and not after", () => {
    const time = clock();
    const store = new RevokedTokenStore({ now: time.now });
    assert.equal(store.add(revocation({ expiryTime: T0 + 1000 })), true);
    assert.deepEqual(store.isRevoked("jti-1"), { revoked: true, expiresAt: T0 + 1000, type: "JWT" });
    assert.equal(store.isRevoked("other"), undefined);
    time.advance(999);
    assert.ok(store.isRevoked("jti-1"));
    time.advance(1);
    assert.equal(store.isRevoked("jti-1"), undefined);
    assert.equal(store.size(), 0, "the expired entry met by the look-up is dropped");
  });

  test("an opaque token (expiryTime 0) is kept for ttl seconds", () => {
    const time = clock();
    const store = new RevokedTokenStore({ now: time.now });
    store.add(revocation({ revokedToken: "opaque", expiryTime: 0, ttl: 60, type: "DEFAULT" }));
    time.advance(59_999);
    assert.equal(store.isRevoked("opaque")?.type, "DEFAULT");
    time.advance(1);
    assert.equal(store.isRevoked("opaque"), undefined);
  });

  test("a revocation that has already expired is not stored", () => {
    const store = new RevokedTokenStore({ now: () => T0 });
    assert.equal(store.add(revocation({ expiryTime: T0 - 1 })), false);
    assert.equal(store.size(), 0);
  });

  test("purgeExpired removes exactly the expired entries", () => {
    const time = clock();
    const store = new RevokedTokenStore({ now: time.now });
    store.add(revocation({ revokedToken: "short", expiryTime: T0 + 10 }));
    store.add(revocation({ revokedToken: "long", expiryTime: T0 + HOUR_MS }));
    store.add(
      revocation({
        type: "consumer_app_revocation_event",
        expiryTime: T0 + 10,
        revocation: { kind: "consumerApp", consumerKey: "ck", revocationTime: T0 },
      }),
    );
    assert.equal(store.purgeExpired(T0 + 10), 2);
    assert.equal(store.size(), 1);
    assert.ok(store.isRevoked("long"));
    assert.deepEqual(store.ruleCount(), { consumerApp: 0, subjectEntity: 0 });
  });

  test("a consumer-app revocation revokes that client's tokens issued up to the revocation time", () => {
    const store = new RevokedTokenStore({ now: () => T0 });
    store.add(
      revocation({
        type: "consumer_app_revocation_event",
        revocation: { kind: "consumerApp", consumerKey: "ck-1", revocationTime: T0 - 100 },
      }),
    );
    assert.equal(store.isConsumerKeyRevoked("ck-1", T0 - 200), true);
    assert.equal(store.isConsumerKeyRevoked("ck-1", T0 - 100), true);
    assert.equal(
      store.isConsumerKeyRevoked("ck-1", T0 - 99),
      false,
      "a token issued after the revocation is valid",
    );
    assert.equal(store.isConsumerKeyRevoked("ck-2", T0 - 200), false);
  });

  test("a subject-entity revocation is keyed by entity type and id", () => {
    const store = new RevokedTokenStore({ now: () => T0 });
    store.add(
      revocation({
        type: "subject_entity_revocation_event",
        revocation: { kind: "subjectEntity", entityType: "USER_ID", entityId: "alice", revocationTime: T0 },
      }),
    );
    assert.equal(store.isSubjectRevoked("USER_ID", "alice", T0 - 1), true);
    assert.equal(store.isSubjectRevoked("CLIENT_ID", "alice", T0 - 1), false);
    assert.equal(store.isSubjectRevoked("USER_ID", "bob", T0 - 1), false);
  });

  test("revocations survive a restart: a new store on the same folder still reports them", () => {
    const dir = tempDir();
    const first = new RevokedTokenStore({ dir, now: () => T0 });
    first.load();
    first.add(revocation({ revokedToken: "a" }));
    first.add(
      revocation({
        type: "subject_entity_revocation_event",
        revocation: { kind: "subjectEntity", entityType: "CLIENT_ID", entityId: "c1", revocationTime: T0 },
      }),
    );
    first.close();

    const second = new RevokedTokenStore({ dir, now: () => T0 + 1 });
    const report = second.load();
    assert.deepEqual(report, { loaded: 2, dropped: 0, unreadable: 0 });
    assert.ok(second.isRevoked("a"));
    assert.equal(second.isSubjectRevoked("CLIENT_ID", "c1", T0), true);
    second.close();
  });

  test("flush() makes applied revocations durable without close()", () => {
    const dir = tempDir();
    const store = new RevokedTokenStore({ dir, now: () => T0, flushIntervalMs: 60_000 });
    store.load();
    store.add(revocation({ revokedToken: "x" }));
    store.flush();
    assert.equal(journalLines(dir).length, 1);
    const copy = new RevokedTokenStore({ dir, now: () => T0 });
    copy.load();
    assert.ok(copy.isRevoked("x"));
    store.close();
  });

  test("loading drops expired entries and a torn last line, and compacts the journal", () => {
    const dir = tempDir();
    const first = new RevokedTokenStore({ dir, now: () => T0 });
    first.load();
    first.add(revocation({ revokedToken: "soon", expiryTime: T0 + 10 }));
    first.add(revocation({ revokedToken: "later", expiryTime: T0 + HOUR_MS }));
    first.add(revocation({ revokedToken: "later", expiryTime: T0 + 2 * HOUR_MS }));
    first.close();
    fs.appendFileSync(path.join(dir, REVOKED_TOKENS_FILE), '{"t":"k","v":"tor');

    const second = new RevokedTokenStore({ dir, now: () => T0 + 10 });
    assert.deepEqual(second.load(), { loaded: 1, dropped: 3, unreadable: 1 });
    assert.equal(second.isRevoked("later")?.expiresAt, T0 + 2 * HOUR_MS, "the latest expiry wins");
    assert.equal(journalLines(dir).length, 1);
    second.close();
  });

  test("purging a mostly dead journal rewrites it with only the live entries", () => {
    const dir = tempDir();
    const time = clock();
    const store = new RevokedTokenStore({ dir, now: time.now });
    store.load();
    for (let i = 0; i < 3000; i++)
      store.add(revocation({ revokedToken: `t${i}`, expiryTime: T0 + (i < 2990 ? 5 : HOUR_MS) }));
    store.flush();
    time.advance(5);
    assert.equal(store.purgeExpired(), 2990);
    assert.equal(journalLines(dir).length, 10);
    store.add(revocation({ revokedToken: "after", expiryTime: T0 + HOUR_MS }));
    store.close();
    const reopened = new RevokedTokenStore({ dir, now: time.now });
    assert.equal(reopened.load().loaded, 11);
  });

  test("a 50,000-entry journal loads in linear time", () => {
    const dir = tempDir();
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++)
      lines.push(JSON.stringify({ t: "k", v: `token-${i}`, e: T0 + HOUR_MS, y: "JWT" }));
    fs.writeFileSync(path.join(dir, REVOKED_TOKENS_FILE), lines.join("\n") + "\n");
    const store = new RevokedTokenStore({ dir, now: () => T0 });
    const started = performance.now();
    const report = store.load();
    const elapsed = performance.now() - started;
    console.log(`loaded 50,000 revoked tokens in ${elapsed.toFixed(1)} ms`);
    assert.deepEqual(report, { loaded: 50_000, dropped: 0, unreadable: 0 });
    assert.ok(store.isRevoked("token-49999"));
    store.close();
  });
});
