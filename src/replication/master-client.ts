import { z } from "zod";
import { GwsyncError } from "../errors.js";
import { JsonTooDeepError, parseJsonText } from "../security/json-limits.js";

/**
 * The clone's HTTP client of its master publisher: the replication endpoints (register, change feed,
 * disable, delete) and the master's data API for the bootstrap snapshot. Basic credentials on every
 * call; replies are size-capped and validated before anything is stored.
 */

export const DEFAULT_MASTER_TIMEOUT_MS = 30_000;
/** A master reply larger than this is refused (a page of 1,000 artifacts of 50 KB fits). */
export const DEFAULT_MAX_MASTER_REPLY_BYTES = 256 * 1024 * 1024;

const SHA256_HEX = /^[0-9a-f]{64}$/;

const registerReply = z.object({
  identifier: z.string(),
  /** The master's region: the origin the clone stores its changes under. */
  masterRegion: z.string().min(1),
  /** The master's changelog head when it recorded the agreement (the bootstrap's S). */
  head: z.number().int().nonnegative(),
});
export type RegisterReply = z.infer<typeof registerReply>;

const feedChange = z.object({
  seq: z.number().int().positive(),
  apiId: z.string().min(1).max(255),
  label: z.string().min(1).max(255),
  instruction: z.enum(["Publish", "Remove"]),
  revision: z.number().int().nonnegative(),
  sha256: z.string().regex(SHA256_HEX),
  /** Whether this change is still the (api, label)'s state on the master; a later change supersedes it. */
  current: z.boolean(),
  /** The artifact JSON as the master stores it: a current Publish only. */
  artifact: z.string().optional(),
  createdAt: z.number().int().nonnegative(),
});
export type FeedChange = z.infer<typeof feedChange>;

const feedReply = z.object({
  masterRegion: z.string().min(1),
  head: z.number().int().nonnegative(),
  /** The sequence the clone continues from once it applied this page. */
  next: z.number().int().nonnegative(),
  /** True when more changes follow `next` (the clone asks again at once). */
  more: z.boolean(),
  list: z.array(feedChange),
});
export type FeedReply = z.infer<typeof feedReply>;

const snapshotItem = z.object({
  apiId: z.string(),
  label: z.string(),
  revision: z.number().int().nonnegative(),
  sha256: z.string().regex(SHA256_HEX),
  seq: z.number().int().nonnegative(),
});
const snapshotReply = z.object({
  count: z.number().int().nonnegative(),
  list: z.array(z.string()),
  gwsync: z.object({
    head: z.number().int().nonnegative(),
    items: z.array(snapshotItem),
    next: z.string().optional(),
    total: z.number().int().nonnegative().optional(),
  }),
});
export interface SnapshotPage {
  head: number;
  items: { artifact: string; apiId: string; label: string; revision: number; sha256: string; seq: number }[];
  next?: string;
  total?: number;
}

export interface MasterClientOptions {
  url: string;
  username: string;
  password: string;
  timeoutMs?: number;
  maxReplyBytes?: number;
}

export class MasterClient {
  readonly url: string;
  readonly #auth: string;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;

  constructor(o: MasterClientOptions) {
    this.url = o.url.replace(/\/+$/, "");
    this.#auth = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString("base64")}`;
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_MASTER_TIMEOUT_MS;
    this.#maxBytes = o.maxReplyBytes ?? DEFAULT_MAX_MASTER_REPLY_BYTES;
  }

  /** Record the agreement on the master (its supplier side); the reply names the master's region and head. */
  async register(body: {
    identifier: string;
    cloneRegion: string;
    labels: string[];
    pollInterval: number;
    enabled: boolean;
  }): Promise<RegisterReply> {
    const reply = await this.#call("POST", "/api/v1/replication/agreements?type=supplier", body);
    return parse(registerReply, reply, "agreement registration");
  }

  /** Tell the master the agreement is enabled or disabled (its record's state). */
  async setEnabled(id: string, enabled: boolean): Promise<void> {
    await this.#call("PUT", `/api/v1/replication/agreements/${encodeURIComponent(id)}?type=supplier`, {
      enabled,
      replicaType: "SUPPLIER",
    });
  }

  /** Drop the master's record of the agreement; false when the master holds none. */
  async remove(id: string): Promise<boolean> {
    try {
      await this.#call("DELETE", `/api/v1/replication/agreements/${encodeURIComponent(id)}?type=supplier`);
      return true;
    } catch (err) {
      if (err instanceof GwsyncError && err.code === "GWSYNC_NOT_FOUND") return false;
      throw err;
    }
  }

  /** One page of the master's changelog after `since`, for the agreement's labels. */
  async changes(id: string, since: number, limit: number): Promise<FeedReply> {
    const q = new URLSearchParams({ since: String(since), limit: String(limit) });
    const reply = await this.#call(
      "GET",
      `/api/v1/replication/agreements/${encodeURIComponent(id)}/changes?${q}`,
    );
    return parse(feedReply, reply, "change feed");
  }

  /** One page of a label's published artifacts from the master's data API (keyset paging by API id). */
  async snapshotPage(label: string, after: string | undefined, limit: number): Promise<SnapshotPage> {
    const q = new URLSearchParams({ gatewayLabel: label, type: "Synapse", limit: String(limit) });
    if (after) q.set("after", after);
    let reply: unknown;
    try {
      reply = await this.#call("GET", `/internal/data/v1/runtime-artifacts?${q}`);
    } catch (err) {
      // The data API answers 404 when a label has no artifacts at all.
      if (err instanceof GwsyncError && err.code === "GWSYNC_NOT_FOUND" && !after)
        return { head: 0, items: [] };
      throw err;
    }
    const page = parse(snapshotReply, reply, "data API page");
    if (page.gwsync.items.length !== page.list.length) {
      throw new GwsyncError(
        "GWSYNC_FETCH_FAILED",
        "master's data API page: items and list differ in length",
        {
          retryable: false,
        },
      );
    }
    return {
      head: page.gwsync.head,
      items: page.gwsync.items.map((m, i) => ({ ...m, artifact: page.list[i]! })),
      ...(page.gwsync.next === undefined ? {} : { next: page.gwsync.next }),
      ...(page.gwsync.total === undefined ? {} : { total: page.gwsync.total }),
    };
  }

  /**
   * One call. Network failures and 5xx are retryable GWSYNC_FETCH_FAILED; 401/403 are
   * GWSYNC_FETCH_UNAUTHORIZED; 404 is GWSYNC_NOT_FOUND; another 4xx carries the master's message.
   */
  async #call(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: {
          authorization: this.#auth,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new GwsyncError(
        "GWSYNC_FETCH_FAILED",
        `master unreachable at ${this.url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`,
        { cause: err },
      );
    }
    const text = await readCapped(res, this.#maxBytes);
    let json: unknown;
    try {
      json = text === "" ? undefined : parseJsonText(text);
    } catch (err) {
      if (err instanceof JsonTooDeepError) {
        throw new GwsyncError("GWSYNC_LIMIT_EXCEEDED", `master reply: ${err.message}`, {
          details: { limit: err.limit },
        });
      }
      if (res.ok)
        throw new GwsyncError("GWSYNC_FETCH_FAILED", "master reply is not JSON", { retryable: false });
    }
    if (res.ok) return json;
    const message = (json as { message?: unknown } | undefined)?.message;
    const said = typeof message === "string" ? `: ${message.slice(0, 500)}` : "";
    const where = `${method} ${this.url}${path.split("?")[0]}`;
    if (res.status === 401 || res.status === 403) {
      throw new GwsyncError(
        "GWSYNC_FETCH_UNAUTHORIZED",
        `master refused the agreement's credentials (${res.status}) at ${where}: update them with PUT .../agreements/{id} {"master":{"username":..,"password":..}}`,
      );
    }
    if (res.status === 404)
      throw new GwsyncError("GWSYNC_NOT_FOUND", `master answered 404 to ${where}${said}`);
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      throw new GwsyncError("GWSYNC_FETCH_FAILED", `master answered ${res.status} to ${where}${said}`);
    }
    throw new GwsyncError("GWSYNC_FETCH_FAILED", `master refused ${where} (${res.status})${said}`, {
      retryable: false,
      details: { status: res.status },
    });
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new GwsyncError(
      "GWSYNC_FETCH_FAILED",
      `master's ${what} reply is malformed: ${issue ? `${issue.path.join(".")} ${issue.message}` : "unknown"}`,
      { retryable: false },
    );
  }
  return r.data;
}

/** The reply body as text, refused once it passes maxBytes. */
async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new GwsyncError("GWSYNC_FETCH_FAILED", `master reply of ${declared} bytes exceeds ${maxBytes}`, {
      retryable: false,
    });
  }
  const reader = res.body?.getReader();
  if (reader === undefined) return "";
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > maxBytes) {
      await reader.cancel();
      throw new GwsyncError("GWSYNC_FETCH_FAILED", `master reply exceeds ${maxBytes} bytes`, {
        retryable: false,
      });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, n).toString("utf8");
}
