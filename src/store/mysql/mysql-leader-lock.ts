import { createHash } from "node:crypto";
import mysql from "mysql2/promise";
import { ConnectionLeaderLock, type HeldConnection, LEADER_QUERY_TIMEOUT_MS } from "../leader-lock.js";

/**
 * The GET_LOCK name of a leader lock: GET_LOCK names are server-wide and at most 64 characters, so the
 * name is "gwsync:" and a hash of the database and the lock's name.
 */
export function mysqlLockName(database: string, name: string): string {
  return `gwsync:${createHash("sha256").update(`${database}\u0000${name}`).digest("hex").slice(0, 48)}`;
}

/**
 * A leader lock on MySQL/MariaDB: `GET_LOCK(name, 0)` on a connection of its own (not the pool's), held
 * while the connection lives. The server releases a connection's named locks when it ends, so a holder
 * killed -9 frees it as soon as its socket closes.
 */
export function mysqlLeaderLock(
  name: string,
  database: string,
  options: mysql.ConnectionOptions,
): ConnectionLeaderLock {
  const lockName = mysqlLockName(database, name);
  return new ConnectionLeaderLock(name, async (onDrop) => {
    const conn = await mysql.createConnection({ ...options, enableKeepAlive: true });
    conn.on("error", (err: Error) => onDrop(`the lock's connection failed: ${err.message}`));
    conn.on("end", () => onDrop("the lock's connection ended"));
    const q = async (sql: string, params: unknown[] = []) =>
      ((await conn.query({ sql, timeout: LEADER_QUERY_TIMEOUT_MS }, params))[0] as Record<string, unknown>[])[0];
    const held: HeldConnection = {
      tryLock: async () => Number((await q("SELECT GET_LOCK(?, 0) AS got", [lockName]))?.got) === 1,
      ping: async () => {
        // The lock is this connection's as long as the connection answers; say so explicitly anyway.
        const r = await q("SELECT IS_USED_LOCK(?) = CONNECTION_ID() AS mine", [lockName]);
        if (Number(r?.mine) !== 1) throw new Error(`lock ${lockName} is no longer held by this connection`);
      },
      unlock: async () => {
        await q("SELECT RELEASE_LOCK(?) AS released", [lockName]);
      },
      close: async () => {
        await conn.end().catch(() => conn.destroy());
      },
    };
    return held;
  });
}
