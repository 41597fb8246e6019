import { createHash } from "node:crypto";
import pg from "pg";
import { ConnectionLeaderLock, type HeldConnection, LEADER_QUERY_TIMEOUT_MS } from "../leader-lock.js";

/**
 * The advisory lock key of a leader lock's name: the first 8 bytes of sha256("gwsync-leader:" + name)
 * as a signed bigint (advisory locks are per database, so the database need not be part of it).
 */
export function pgLockKey(name: string): string {
  const h = createHash("sha256").update(`gwsync-leader:${name}`).digest();
  return h.readBigInt64BE(0).toString();
}

/**
 * A leader lock on PostgreSQL: `pg_try_advisory_lock(key)` on a pg.Client of its own (not the pool's),
 * held while the session lives. The server releases a session's advisory locks when the session ends,
 * so a holder killed -9 frees it as soon as its socket closes.
 */
export function pgLeaderLock(name: string, config: pg.ClientConfig): ConnectionLeaderLock {
  const key = pgLockKey(name);
  return new ConnectionLeaderLock(name, async (onDrop) => {
    const client = new pg.Client({
      ...config,
      application_name: "gwsync-leader",
      keepAlive: true,
      query_timeout: LEADER_QUERY_TIMEOUT_MS,
    });
    client.on("error", (err) => onDrop(`the lock's connection failed: ${err.message}`));
    client.on("end", () => onDrop("the lock's connection ended"));
    await client.connect();
    const conn: HeldConnection = {
      tryLock: async () =>
        (await client.query("SELECT pg_try_advisory_lock($1::bigint) AS got", [key])).rows[0]?.got === true,
      ping: async () => {
        await client.query("SELECT 1");
      },
      unlock: async () => {
        await client.query("SELECT pg_advisory_unlock($1::bigint)", [key]);
      },
      close: () => client.end(),
    };
    return conn;
  });
}
