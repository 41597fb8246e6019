import { z } from "zod";
import { ERROR_CODES, type ErrorCode, GwsyncError } from "../errors.js";
import { type FleetStatus, fleetStatusSchema } from "../publisher/fleet-status.js";
import { type FleetView, fleetViewSchema, type Rollout, rolloutSchema } from "../publisher/fleet-view.js";
import type { DeployResult, RollbackResult } from "../publisher/publisher.js";
import type { ApiHistory, RevisionDiff } from "../publisher/revisions.js";
import { type WaitResult, waitResultSchema } from "../publisher/rollout-wait.js";
import { maskUrl } from "../security/secrets.js";

/** A publisher that does not answer within this long is reported, not waited for. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** Replies of the endpoints the CLI calls are small; a larger one is not a publisher's. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

const deployResultSchema = z.object({
  apiId: z.string(),
  name: z.string(),
  version: z.string(),
  revision: z.number(),
  sha256: z.string(),
  seq: z.number(),
  labels: z.array(z.string()),
  changed: z.boolean(),
  commit: z.string().optional(),
});

const revisionSchema = z.object({
  revision: z.number(),
  instruction: z.enum(["Publish", "Remove"]),
  labels: z.array(z.string()),
  sha256: z.string(),
  seq: z.number(),
  createdAt: z.number(),
  originRegion: z.string(),
  commit: z.string().optional(),
  storeCommit: z.string().optional(),
  hasContent: z.boolean(),
});

const historySchema = z.object({
  apiId: z.string(),
  name: z.string(),
  version: z.string(),
  revisions: z.array(revisionSchema),
});

const rollbackSchema = deployResultSchema.extend({ rolledBackTo: z.number() });

const diffSchema = z.object({
  apiId: z.string(),
  from: z.number(),
  to: z.number(),
  fromSha256: z.string(),
  toSha256: z.string(),
  files: z.array(z.object({ path: z.string(), status: z.enum(["added", "removed", "modified"]) })),
  patch: z.string(),
});
/** A publish or remove with ?wait=: the result and how the rollout went. */
const waitedSchema = deployResultSchema.extend({ rollout: waitResultSchema });
export type WaitedResult = DeployResult & { rollout: WaitResult };

const errorSchema = z.object({ code: z.string(), message: z.string() });

const forgetSchema = z.object({
  nodeId: z.string(),
  forgotten: z.boolean(),
  state: z.enum(["alive", "stopped", "missing"]),
});

export type ForgetResult = z.infer<typeof forgetSchema>;

export interface PublisherClientOptions {
  /** The publisher's base URL (http://host:9763). */
  url: string;
  username: string;
  password: string;
  timeoutMs?: number;
}

function errorCode(code: string): ErrorCode {
  return Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : "GWSYNC_HTTP_BAD_REQUEST";
}

/**
 * The CLI's side of the publisher's REST API (docs/architecture.md#http). Each method is one request;
 * the publisher's {"code","message"} error comes back as a GwsyncError of that code.
 */
export class PublisherClient {
  readonly url: string;
  readonly #auth: string;
  readonly #timeoutMs: number;

  constructor(o: PublisherClientOptions) {
    this.url = o.url.replace(/\/+$/, "");
    this.#auth = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString("base64")}`;
    this.#timeoutMs = o.timeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  async publish(body: string, labels: readonly string[], tenantDomain?: string): Promise<DeployResult> {
    return deployResultSchema.parse(await this.#publish(body, labels, tenantDomain));
  }

  /** Publish and wait (?wait=) until every live gateway of the labels serves it, or the wait ends. */
  async publishAndWait(
    body: string,
    labels: readonly string[],
    waitMs: number,
    tenantDomain?: string,
  ): Promise<WaitedResult> {
    return waitedSchema.parse(await this.#publish(body, labels, tenantDomain, waitMs));
  }

  /** Remove and wait (?wait=) until no live gateway of the labels serves it, or the wait ends. */
  async removeAndWait(
    ref: string,
    labels: readonly string[],
    waitMs: number,
    tenantDomain?: string,
  ): Promise<WaitedResult> {
    const q = new URLSearchParams();
    for (const l of labels) q.append("label", l);
    if (tenantDomain) q.set("tenantDomain", tenantDomain);
    q.set("wait", `${waitMs}ms`);
    const path = `/api/v1/artifacts/${encodeURIComponent(ref)}?${q}`;
    return waitedSchema.parse(await this.#call("DELETE", path, undefined, this.#timeoutMs + waitMs));
  }

  async #publish(body: string, labels: readonly string[], tenantDomain?: string, waitMs?: number): Promise<unknown> {
    const q = new URLSearchParams();
    for (const l of labels) q.append("label", l);
    if (tenantDomain) q.set("tenantDomain", tenantDomain);
    if (waitMs !== undefined) q.set("wait", `${waitMs}ms`);
    const type = body
      .replace(/^\uFEFF/, "")
      .trimStart()
      .startsWith("{")
      ? "application/json"
      : "application/xml";
    const timeout = this.#timeoutMs + (waitMs ?? 0);
    return await this.#call("POST", `/api/v1/artifacts?${q}`, { body, type }, timeout);
  }

  async remove(ref: string, labels: readonly string[], tenantDomain?: string): Promise<DeployResult> {
    const q = new URLSearchParams();
    for (const l of labels) q.append("label", l);
    if (tenantDomain) q.set("tenantDomain", tenantDomain);
    const path = `/api/v1/artifacts/${encodeURIComponent(ref)}?${q}`;
    return deployResultSchema.parse(await this.#call("DELETE", path));
  }

  async history(ref: string, tenantDomain?: string, limit?: number): Promise<ApiHistory> {
    const q = new URLSearchParams();
    if (tenantDomain) q.set("tenantDomain", tenantDomain);
    if (limit !== undefined) q.set("limit", String(limit));
    return historySchema.parse(await this.#call("GET", `/api/v1/artifacts/${encodeURIComponent(ref)}/history?${q}`));
  }

  async rollback(
    ref: string,
    to: number,
    labels: readonly string[] | undefined,
    tenantDomain?: string,
  ): Promise<RollbackResult> {
    const q = new URLSearchParams();
    if (tenantDomain) q.set("tenantDomain", tenantDomain);
    const body = JSON.stringify({ to, ...(labels && labels.length > 0 ? { labels } : {}) });
    const path = `/api/v1/artifacts/${encodeURIComponent(ref)}/rollback?${q}`;
    return rollbackSchema.parse(await this.#call("POST", path, { body, type: "application/json" }));
  }

  async diff(ref: string, from: number, to: number, tenantDomain?: string): Promise<RevisionDiff> {
    const q = new URLSearchParams({ from: String(from), to: String(to) });
    if (tenantDomain) q.set("tenantDomain", tenantDomain);
    return diffSchema.parse(await this.#call("GET", `/api/v1/artifacts/${encodeURIComponent(ref)}/diff?${q}`));
  }

  async status(): Promise<FleetStatus> {
    return fleetStatusSchema.parse(await this.#call("GET", "/api/v1/status"));
  }

  async fleet(): Promise<FleetView> {
    return fleetViewSchema.parse(await this.#call("GET", "/api/v1/fleet"));
  }

  async rollout(ref: string, tenantDomain?: string): Promise<Rollout> {
    const q = tenantDomain ? `?${new URLSearchParams({ tenantDomain })}` : "";
    return rolloutSchema.parse(await this.#call("GET", `/api/v1/artifacts/${encodeURIComponent(ref)}/rollout${q}`));
  }

  /** GET rollout?wait=: answers once every live gateway of the labels serves what the store says, or the wait ended. */
  async waitRollout(apiId: string, labels: readonly string[], waitMs: number): Promise<Rollout & { wait: WaitResult }> {
    const q = new URLSearchParams({ wait: `${waitMs}ms` });
    for (const l of labels) q.append("label", l);
    const path = `/api/v1/artifacts/${encodeURIComponent(apiId)}/rollout?${q}`;
    return rolloutSchema
      .extend({ wait: waitResultSchema })
      .parse(await this.#call("GET", path, undefined, this.#timeoutMs + waitMs));
  }

  async forgetGateway(nodeId: string): Promise<ForgetResult> {
    return forgetSchema.parse(await this.#call("DELETE", `/api/v1/gateways/${encodeURIComponent(nodeId)}`));
  }

  /** Any JSON endpoint of the publisher (the replication commands): the parsed reply, or its coded error. */
  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    return await this.#call(
      method,
      path,
      body === undefined ? undefined : { body: JSON.stringify(body), type: "application/json" },
    );
  }

  async #call(
    method: string,
    path: string,
    send?: { body: string; type: string },
    timeoutMs = this.#timeoutMs,
  ): Promise<unknown> {
    const where = `${method} ${maskUrl(this.url)}${path.split("?")[0]}`;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: this.#auth,
          accept: "application/json",
          ...(send ? { "content-type": send.type } : {}),
        },
        ...(send ? { body: send.body } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const c = (err as { cause?: { code?: string; message?: string } }).cause;
      const cause = c?.code ?? c?.message ?? (err as Error).message;
      throw new GwsyncError(
        "GWSYNC_FETCH_FAILED",
        `cannot reach the publisher at ${maskUrl(this.url)} (${cause}): is \`gwsync publisher\` running there? (--url, or the config's service_url)`,
        { cause: err },
      );
    }
    const text = await res.text();
    if (text.length > MAX_REPLY_BYTES) {
      throw new GwsyncError("GWSYNC_FETCH_FAILED", `${where}: reply of ${text.length} bytes is too large`);
    }
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      throw new GwsyncError(
        "GWSYNC_FETCH_FAILED",
        `${where}: HTTP ${res.status}, not JSON: is this a gwsync publisher?`,
      );
    }
    if (res.status === 401 || res.status === 403) {
      throw new GwsyncError(
        "GWSYNC_HTTP_UNAUTHORIZED",
        `the publisher at ${maskUrl(this.url)} refused the credentials (HTTP ${res.status}): set GWSYNC_HTTP_USERNAME and GWSYNC_HTTP_PASSWORD_FILE, or give the --config whose [gwsync.http] (or [apim.event_hub]) pair it accepts`,
      );
    }
    if (!res.ok) {
      const e = errorSchema.safeParse(body);
      if (e.success) throw new GwsyncError(errorCode(e.data.code), e.data.message);
      throw new GwsyncError("GWSYNC_FETCH_FAILED", `${where}: HTTP ${res.status}`);
    }
    return body;
  }
}
