import { EventEmitter } from "node:events";

/**
 * One named lock that at most one publisher node sharing a store holds at a time, which the database
 * itself releases when the holder dies (docs/replication.md, "Several publisher nodes"). Replication
 * uses one per clone agreement so that one node pulls it; the service never knows which database it
 * runs on.
 *
 * - PostgreSQL: `pg_try_advisory_lock(key)` on a connection of the lock's own, kept open while the lock
 *   lives (never a pooled one: a session lock belongs to the session that took it). The server drops
 *   the lock when that session ends: the holder's process died, its connection broke, or it released.
 * - MySQL/MariaDB: `GET_LOCK(name, 0)` on a held connection, the same way (GET_LOCK names are server-wide:
 *   the name includes the database's).
 * - SQLite and the Git store: one process owns the store's file, so that process is always the leader;
 *   the lock only keeps two holders inside the process apart.
 */
export interface LeaderLock {
  readonly name: string;
  /** Whether this node holds the lock now, as far as it knows without a round trip. */
  readonly held: boolean;
  /** Try once, without waiting: true when this node holds the lock (taken now, or already held). */
  acquire(): Promise<boolean>;
  /**
   * A round trip on the lock's connection: true while it answers and the lock is held. A connection that
   * fails ends the hold (and emits `lost`) before this returns false.
   */
  check(): Promise<boolean>;
  /** Give the lock up (and close its connection); a later acquire() may take it again. */
  release(): Promise<void>;
  /** `lost`: the hold ended without release() (its connection dropped): stop acting as the leader at once. */
  on(event: "lost", listener: (reason: string) => void): this;
  off(event: "lost", listener: (reason: string) => void): this;
}

/** How often a held lock's connection is checked with a round trip while idle (loss shows within it). */
export const LEADER_HEARTBEAT_MS = 1_000;
/** A round trip on a lock's connection that takes longer than this counts as a lost connection. */
export const LEADER_QUERY_TIMEOUT_MS = 5_000;

/** What a database lock needs from its engine: a connection of its own and three statements. */
export interface HeldConnection {
  /** The lock statement: true when taken. */
  tryLock(): Promise<boolean>;
  /** A round trip (throws when the connection is gone). */
  ping(): Promise<void>;
  unlock(): Promise<void>;
  /** Close the connection (the database drops whatever lock it held). */
  close(): Promise<void>;
}

/**
 * The shared part of the database locks: one connection per lock, opened on the first acquire and kept
 * until release (a node that is not the leader keeps it for its next try); a heartbeat while held; a
 * connection that errors or ends drops the hold and emits `lost`.
 */
export class ConnectionLeaderLock extends EventEmitter implements LeaderLock {
  readonly name: string;
  readonly #open: (onDrop: (reason: string) => void) => Promise<HeldConnection>;
  readonly #heartbeatMs: number;
  #conn: HeldConnection | undefined;
  #opening: Promise<HeldConnection> | undefined;
  #held = false;
  #timer: NodeJS.Timeout | undefined;
  /** One statement at a time on the lock's connection. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    name: string,
    open: (onDrop: (reason: string) => void) => Promise<HeldConnection>,
    heartbeatMs = LEADER_HEARTBEAT_MS,
  ) {
    super();
    this.name = name;
    this.#open = open;
    this.#heartbeatMs = heartbeatMs;
  }

  get held(): boolean {
    return this.#held;
  }

  acquire(): Promise<boolean> {
    return this.#serial(async () => {
      if (this.#held) return true;
      const conn = await this.#connection();
      let got: boolean;
      try {
        got = await conn.tryLock();
      } catch (err) {
        this.#drop(conn, `the lock's connection failed: ${(err as Error).message}`);
        throw err;
      }
      if (got && this.#conn === conn) {
        this.#held = true;
        this.#startHeartbeat();
      }
      return this.#held;
    });
  }

  check(): Promise<boolean> {
    return this.#serial(async () => {
      const conn = this.#conn;
      if (!this.#held || conn === undefined) return false;
      try {
        await conn.ping();
      } catch (err) {
        this.#drop(conn, `the lock's connection failed: ${(err as Error).message}`);
      }
      return this.#held;
    });
  }

  release(): Promise<void> {
    return this.#serial(async () => {
      this.#stopHeartbeat();
      const conn = this.#conn;
      this.#conn = undefined;
      const was = this.#held;
      this.#held = false;
      if (conn === undefined) return;
      if (was) await conn.unlock().catch(() => undefined);
      await conn.close().catch(() => undefined);
    });
  }

  async #connection(): Promise<HeldConnection> {
    if (this.#conn !== undefined) return this.#conn;
    this.#opening ??= this.#open((reason) => {
      const c = this.#conn;
      if (c !== undefined) this.#drop(c, reason);
    }).finally(() => {
      this.#opening = undefined;
    });
    const conn = await this.#opening;
    this.#conn = conn;
    return conn;
  }

  /** The connection is gone: the database released the lock (or will when it notices). */
  #drop(conn: HeldConnection, reason: string): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    this.#stopHeartbeat();
    void conn.close().catch(() => undefined);
    const was = this.#held;
    this.#held = false;
    if (was) this.emit("lost", reason);
  }

  #startHeartbeat(): void {
    this.#stopHeartbeat();
    this.#timer = setInterval(() => void this.check().catch(() => undefined), this.#heartbeatMs);
    this.#timer.unref();
  }

  #stopHeartbeat(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.catch(() => undefined).then(fn);
    this.#queue = next;
    return next;
  }
}

/** Holders of in-process locks, by lock scope (a store file) and name. */
const localHolders = new Map<string, object>();

/**
 * SQLite and the Git store: the process that opened the store file is the only writer, so it is always
 * the leader. Two holders of one name in one process (two services on one store, tests) take turns.
 */
export class LocalLeaderLock extends EventEmitter implements LeaderLock {
  readonly name: string;
  readonly #key: string;
  readonly #token = {};

  constructor(scope: string, name: string) {
    super();
    this.name = name;
    this.#key = `${scope}\u0000${name}`;
  }

  get held(): boolean {
    return localHolders.get(this.#key) === this.#token;
  }

  async acquire(): Promise<boolean> {
    if (!localHolders.has(this.#key)) localHolders.set(this.#key, this.#token);
    return this.held;
  }

  async check(): Promise<boolean> {
    return this.held;
  }

  async release(): Promise<void> {
    if (this.held) localHolders.delete(this.#key);
  }
}
