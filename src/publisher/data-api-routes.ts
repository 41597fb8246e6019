import type { FastifyInstance, FastifyReply } from "fastify";
import {
  CHANGES_PATH,
  decodeLabelParam,
  GATEWAY_INSTRUCTION_ANY,
  GATEWAY_INSTRUCTION_PUBLISH,
  ALL_TENANTS,
  GATEWAY_SYNAPSE_ARTIFACTS_PATH,
  HEADER_ORGANIZATION,
  HEADER_TENANT,
  INTERNAL_DATA_PATH,
  RUNTIME_ARTIFACTS_PATH,
  SYNAPSE_ARTIFACTS_PATH,
  SYNAPSE_ATTRIBUTES_PATH,
} from "../data-api/wire.js";
import { apiTypeOf } from "../artifacts/api-type.js";
import { parseGatewayApiDto } from "../artifacts/gateway-api-dto.js";
import { readSynapseApi } from "../artifacts/synapse-api.js";
import { GwsyncError } from "../errors.js";
import { queryInteger, queryList, queryString } from "../http/server.js";
import type { ArtifactStore, StoredArtifact } from "../store/types.js";
import { hop } from "../hops.js";
import { admitUnder } from "../http/admission.js";
import * as D from "../config/defaults.js";
import { SharedPages } from "./shared-pages.js";

const MAX_CHANGES_PAGE = 10_000;
const JSON_UTF8 = "application/json; charset=utf-8";
/** A kept single-API reply of no bytes: that API is not published there (the 404). */
const NO_REPLY = Buffer.alloc(0);
const MAX_ARTIFACT_PAGE = 1000;
/** More labels than any gateway serves: a decoded `gatewayLabel` naming more is refused. */
const MAX_LABELS = 64;
/** APIs one batch request may name (`apiId` repeated); more is a 400. */
export const MAX_BATCH_APIS = 200;
/**
 * Artifact bytes one batch reply carries at most (at least one artifact always): the APIs past it are
 * named in `gwsync.more` and asked again. Equal to what SharedPages keeps, so a storm's batch is shared.
 */
export const MAX_BATCH_REPLY_BYTES = 4 * 1024 * 1024;

/**
 * The control plane's internal data API as gateways call it (docs/wso2-formats.md §3.3), both WSO2
 * versions:
 * - 4.x `GET /runtime-artifacts?gatewayLabel=<base64url of labels joined by |>[&apiId=]&type=Synapse`
 *   → `{"count":N,"list":["<GatewayAPIDTO JSON>",...]}`, 404 when there is none
 *   (carbon-apimgt 4.x RuntimeArtifactsApiServiceImpl.java:47-92, RuntimeArtifactGeneratorUtil.java:195-211);
 * - 3.2.0 `GET /synapse-artifacts?apiId=&gatewayInstruction=Publish|ANY&gatewayLabel=<plain>` → the
 *   artifact itself, an empty body when there is none (SynapseArtifactsApiServiceImpl.java:19-36);
 *   `GET /gateway-synapse-artifacts?gatewayLabel=` → `{"count":N,"list":[...]}`, Publish rows only
 *   (GatewaySynapseArtifactsApiServiceImpl.java:22-43); `GET /synapse-attributes?apiName=&tenantDomain=&version=`
 *   → `{"apiId":..,"labels":[..]}` (SynapseAttributesApiServiceImpl.java:24-44).
 * gwsync's gateways call the same paths and read the extra `gwsync` member (revision, sha256, seq).
 * With a Git store, `runtime-artifacts?apiId=&gatewayLabel=&commit=<id>` answers the artifact as that
 * commit of the store's branch holds it (gwsync's own parameter; 404 when it was not published there).
 * A batch (gwsync's own, issue 20): `apiId` repeated, 2 to MAX_BATCH_APIS of them, answers those of the
 * APIs published on the labels in one reply, 200 also when none is, with `gwsync.batch: true` and, when
 * the reply reached MAX_BATCH_REPLY_BYTES, `gwsync.more` (the APIs not answered: ask again). A WSO2
 * control plane, or an older gwsync one, binds only the first `apiId` (RuntimeArtifactsApi.java:46,
 * `@QueryParam("apiId") String`) and answers that API alone: a client tells the two apart by the marker.
 *
 * Every path under it is admission-controlled (src/http/admission.ts): at most `maxInFlight` requests
 * at once, 503 with Retry-After beyond. Identical changelog pages, and one API's artifact asked by
 * every gateway of a label at once, are read once (SharedPages).
 */
export function registerDataApiRoutes(
  app: FastifyInstance,
  store: ArtifactStore,
  servedMeta: (a: StoredArtifact) => Record<string, unknown>,
  options: DataApiOptions = {},
): void {
  const base = INTERNAL_DATA_PATH;
  admitUnder(app, {
    prefix: `${base}/`,
    maxInFlight: options.maxInFlight ?? D.DEFAULT_DATA_API_MAX_IN_FLIGHT,
    maxWaitMs: options.maxWaitMs ?? D.DEFAULT_DATA_API_MAX_WAIT_MS,
    ...(options.onAdmission ? { onOutcome: options.onAdmission } : {}),
  });
  const maxBatchBytes = options.maxBatchReplyBytes ?? MAX_BATCH_REPLY_BYTES;
  const pages = new SharedPages(options.onChangesPage ? { onServed: options.onChangesPage } : {});
  /** A batch's reply, shared by the gateways of a label that ask for the same changed APIs at once. */
  const artifactReplies = new SharedPages();
  /** One API's reply as sent, shared by the gateways of a label that all fetch an announced artifact at once. */
  const artifactBytes = new SharedPages<Buffer>();

  /**
   * The labels a `gatewayLabel` value names: base64url of `a|b` (WSO2 4.x gateways, gwsync gateways),
   * or a plain label (3.2.0 gateways, older gwsync gateways). A value that is both a valid encoding and
   * a label the store holds is the label.
   */
  async function resolveLabels(raw: string): Promise<{ labels: string[]; encoded: boolean }> {
    const decoded = decodeLabelParam(raw);
    if (decoded.length === 1 && decoded[0] === raw) return { labels: decoded, encoded: false };
    if ((await store.countArtifacts(raw)) > 0) return { labels: [raw], encoded: false };
    if (decoded.length > MAX_LABELS) {
      throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `gatewayLabel names more than ${MAX_LABELS} labels`);
    }
    return { labels: decoded, encoded: true };
  }
  const labelsOf = async (raw: string) => (await resolveLabels(raw)).labels;

  function requiredLabel(query: unknown): string {
    const raw = queryString(query, "gatewayLabel");
    if (!raw) throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "gatewayLabel query parameter is required");
    return raw;
  }

  /** The published artifact of an API on any of the labels, newest revision first. */
  async function publishedOn(apiId: string, labels: readonly string[]): Promise<StoredArtifact | undefined> {
    let best: StoredArtifact | undefined;
    for (const label of labels) {
      const a = await store.getArtifact(apiId, label);
      if (a && a.instruction === "Publish" && (!best || a.revision > best.revision)) best = a;
    }
    return best;
  }

  /** Every API published to any of the labels, once each (its newest revision among them). */
  async function listedOn(labels: readonly string[]): Promise<StoredArtifact[]> {
    if (labels.length === 1) return store.listArtifacts({ label: labels[0]!, withBody: true });
    const byApi = new Map<string, StoredArtifact>();
    for (const label of labels) {
      for (const a of await store.listArtifacts({ label, withBody: true })) {
        const seen = byApi.get(a.apiId);
        if (!seen || a.revision > seen.revision) byApi.set(a.apiId, a);
      }
    }
    return [...byApi.values()].sort((x, y) => (x.apiId < y.apiId ? -1 : x.apiId > y.apiId ? 1 : 0));
  }

  /** A batch reply: the named APIs published on the labels, in the order asked, up to the byte bound. */
  async function batchReply(
    apiIds: readonly string[],
    labels: readonly string[],
    inTenant: (a: StoredArtifact) => boolean,
    head: number,
  ): Promise<string> {
    const rows: StoredArtifact[] = [];
    const seen = new Set<string>();
    let bytes = 0;
    let more: string[] | undefined;
    for (let i = 0; i < apiIds.length; i++) {
      const id = apiIds[i]!;
      if (seen.has(id)) continue;
      seen.add(id);
      if (rows.length > 0 && bytes >= maxBatchBytes) {
        more = [...new Set(apiIds.slice(i))];
        break;
      }
      const a = await publishedOn(id, labels);
      if (!a || !inTenant(a)) continue;
      rows.push(a);
      bytes += a.artifactJson.length;
    }
    return JSON.stringify({
      count: rows.length,
      list: rows.map((a) => a.artifactJson),
      gwsync: { head, items: rows.map(servedMeta), batch: true, ...(more ? { more } : {}) },
    });
  }

  // WSO2 4.x: {"count":N,"list":["<GatewayAPIDTO JSON>"]}, 404 when none.
  app.get(base + RUNTIME_ARTIFACTS_PATH, async (req, reply) => {
    const rawLabel = requiredLabel(req.query);
    const apiIds = queryList(req.query, "apiId");
    const commit = queryString(req.query, "commit");
    if (apiIds.length === 1 && commit === undefined) {
      // One API's artifact: every gateway of the label asks for an announced artifact within
      // milliseconds, so one store read and one serialization serve them all (issue 19), and the bytes
      // are kept as sent. The key holds the request as asked (the gatewayLabel value and the tenant
      // headers) and the store's head: the labels it names and the artifact are read once per key, and
      // a kept reply is shared only while nothing was committed since it was read. An empty reply
      // stands for the 404.
      const apiId = apiIds[0]!;
      const asked = tenantOf(req.headers);
      const head = await store.headSeq();
      const key = JSON.stringify([head, apiId, rawLabel, asked]);
      const body = await artifactBytes.get(key, async () => {
        const { labels, encoded } = await resolveLabels(rawLabel);
        const tenant = encoded ? asked : ALL_TENANTS;
        const a = await publishedOn(apiId, labels);
        if (!a || !(tenant === ALL_TENANTS || a.tenantDomain === tenant)) return NO_REPLY;
        return Buffer.from(
          JSON.stringify({ count: 1, list: [a.artifactJson], gwsync: { head, items: [servedMeta(a)] } }),
        );
      });
      hop("data-api.served", apiId);
      if (body.length === 0) return notFound(reply);
      return reply.type(JSON_UTF8).send(body);
    }
    const { labels, encoded } = await resolveLabels(rawLabel);
    // A WSO2-encoded label asks as WSO2 does: one tenant (xWSO2Tenant), or every tenant with "ALL". A
    // plain label is a 3.2.0-style or older gwsync caller: every tenant, as before.
    const tenant = encoded ? tenantOf(req.headers) : ALL_TENANTS;
    const inTenant = (a: StoredArtifact) => tenant === ALL_TENANTS || a.tenantDomain === tenant;
    const apiId = apiIds[0];
    // gwsync's paging (WSO2 clients send neither parameter and get everything in one reply).
    const paged = (req.query as Record<string, unknown>)?.limit !== undefined;
    const after = queryString(req.query, "after");
    const head = await store.headSeq();
    let rows: StoredArtifact[];
    let next: string | undefined;
    let total: number | undefined;
    if (commit !== undefined) {
      // gwsync's own: the artifact as a Git store's commit holds it (the one an event's x-gwsync-commit names).
      if (!apiId) throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "commit takes an apiId");
      if (store.artifactAtCommit === undefined) {
        throw new GwsyncError(
          "GWSYNC_HTTP_BAD_REQUEST",
          `commit: this control plane's store (${store.engine}) keeps no commits`,
        );
      }
      if (apiIds.length > 1) throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "commit takes one apiId");
      let at: StoredArtifact | undefined;
      for (const label of labels) {
        const a = await store.artifactAtCommit(apiId, label, commit);
        if (a && (!at || a.revision > at.revision)) at = a;
      }
      rows = at && inTenant(at) ? [at] : [];
    } else if (apiIds.length > 1) {
      if (apiIds.length > MAX_BATCH_APIS) {
        throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `a batch names at most ${MAX_BATCH_APIS} apiId`);
      }
      // A reconnect storm's gateways ask for the same changed APIs at the same head: one read, shared.
      const key = JSON.stringify([head, apiIds, labels, tenant]);
      const body = await artifactReplies.get(key, () => batchReply(apiIds, labels, inTenant, head));
      for (const id of apiIds) hop("data-api.served", id);
      return reply.type("application/json; charset=utf-8").send(body);
    } else if (paged || after !== undefined) {
      if (labels.length !== 1) {
        throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "paging (limit, after) takes one gateway label");
      }
      const label = labels[0]!;
      const limit = queryInteger(req.query, "limit", MAX_ARTIFACT_PAGE, MAX_ARTIFACT_PAGE);
      if (limit < 1) {
        throw new GwsyncError(
          "GWSYNC_HTTP_BAD_REQUEST",
          `limit must be an integer from 1 to ${MAX_ARTIFACT_PAGE}`,
        );
      }
      const page = await store.listArtifactPage(label, after ?? "", limit);
      if (page.length === limit) next = page[page.length - 1]?.apiId;
      rows = page.filter(inTenant);
      // The first page tells the total (every tenant's: only when not scoped to one), so a gateway's
      // startup progress counts to the right end.
      if (!after && tenant === ALL_TENANTS) total = await store.countArtifacts(label);
      // A page is a valid answer when paging, empty too (the 404 below means "no artifacts at all").
      if (rows.length === 0 && (after || next)) {
        return { count: 0, list: [], gwsync: { head, items: [], ...(next ? { next } : {}) } };
      }
    } else {
      rows = (await listedOn(labels)).filter(inTenant);
    }
    if (rows.length === 0) return notFound(reply);
    return {
      count: rows.length,
      list: rows.map((a) => a.artifactJson),
      gwsync: {
        head,
        items: rows.map(servedMeta),
        ...(next ? { next } : {}),
        ...(total === undefined ? {} : { total }),
      },
    };
  });

  app.get(base + CHANGES_PATH, async (req, reply) => {
    // Strictly decimal: "since=" is not 0 and "since=0x10" is not 16 (Number() reads both).
    const since = queryInteger(req.query, "since", 0);
    const raw = queryList(req.query, "gatewayLabel");
    if (raw.length === 0)
      throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "gatewayLabel query parameter is required");
    // A reconnect storm asks for the same page many times (every gateway of a label at one watermark):
    // one read and one serialization serve them all. The head is in the key, so a page is shared only
    // while nothing was committed since it was read.
    const head = await store.headSeq();
    const key = JSON.stringify([head, since, raw]);
    const body = await pages.get(key, async () => {
      const labels = [...new Set((await Promise.all(raw.map(labelsOf))).flat())];
      const list = (await store.changesSince(since, labels, MAX_CHANGES_PAGE)).map((c) => ({
        seq: c.seq,
        apiId: c.apiId,
        label: c.label,
        instruction: c.instruction,
        revision: c.revision,
        sha256: c.sha256,
      }));
      // A full page means more may follow: report the last seq returned as head so the caller pages on.
      const pageHead = list.length === MAX_CHANGES_PAGE ? (list[list.length - 1]?.seq ?? head) : head;
      return JSON.stringify({ head: pageHead, count: list.length, list });
    });
    return reply.type("application/json; charset=utf-8").send(body);
  });

  // WSO2 3.2.0: the artifact string itself; an empty 200 when the API has no row for the label (and
  // instruction): the 3.2.0 gateway reads an empty body as "nothing" (InMemoryAPIDeployer.java:73-75).
  app.get(base + SYNAPSE_ARTIFACTS_PATH, async (req, reply) => {
    const apiId = queryString(req.query, "apiId");
    if (!apiId) throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "apiId query parameter is required");
    const label = requiredLabel(req.query);
    const instruction = queryString(req.query, "gatewayInstruction") ?? GATEWAY_INSTRUCTION_PUBLISH;
    if (
      instruction !== GATEWAY_INSTRUCTION_PUBLISH &&
      instruction !== GATEWAY_INSTRUCTION_ANY &&
      instruction !== "Remove"
    ) {
      throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "gatewayInstruction must be Publish, Remove or ANY");
    }
    const a = await store.getArtifact(apiId, label);
    // GET_API_ARTIFACT matches the instruction; GET_API_ARTIFACT_ANY_INSTRUCTION does not (SQLConstants.java:3139-3143).
    const hit =
      a && (instruction === GATEWAY_INSTRUCTION_ANY || a.instruction === instruction) ? a : undefined;
    reply.header("content-type", "application/json; charset=utf-8");
    return reply.send(hit?.artifactJson ?? "");
  });

  // WSO2 3.2.0: {"count":N,"list":[...]} of the label's Publish rows, 200 also when empty.
  app.get(base + GATEWAY_SYNAPSE_ARTIFACTS_PATH, async (req) => {
    const label = requiredLabel(req.query);
    const rows = await store.listArtifacts({ label, withBody: true });
    return {
      count: rows.length,
      list: rows.map((a) => a.artifactJson),
      gwsync: { head: await store.headSeq(), items: rows.map(servedMeta) },
    };
  });

  // WSO2 3.2.0: the API id of name+version in a tenant and the labels it is published to
  // (GatewayArtifactsMgtDAO.getGatewayAPIId / getGatewayAPILabels, SQLConstants.java:3145-3149).
  app.get(base + SYNAPSE_ATTRIBUTES_PATH, async (req) => {
    const apiName = queryString(req.query, "apiName");
    const version = queryString(req.query, "version");
    if (!apiName || !version) {
      throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "apiName and version query parameters are required");
    }
    const tenantDomain = queryString(req.query, "tenantDomain") ?? "carbon.super";
    const apiId = await store.findApiId(apiName, version, tenantDomain);
    const labels =
      apiId === undefined
        ? []
        : (await store.listArtifacts({ withBody: false }))
            .filter((a) => a.apiId === apiId && a.instruction === "Publish")
            .map((a) => a.label);
    return { apiId: apiId ?? null, labels };
  });
  // The 4.x subscription-validation endpoints a WSO2 gateway calls while it starts (keymgt
  // SubscriptionDataLoaderImpl.java:83-455, through APIUtil.executeHTTPRequestWithRetries, which
  // retries anything but a 200): answered from what gwsync holds, WSO2's list shapes, 200 always.
  // gwsync keeps no applications, subscriptions, policies or scopes: empty lists.
  app.get(`${base}/apis`, async (req) => {
    // ApisApiServiceImpl.java:66-111: the organization (xWSO2Tenant, "ALL" for every tenant), a plain
    // URL-encoded gatewayLabel (SubscriptionDataLoaderImpl.java:147 and 553-561), apiId or context+version.
    const tenant = tenantOf(req.headers);
    const label = queryString(req.query, "gatewayLabel");
    const apiId = queryString(req.query, "apiId");
    const context = queryString(req.query, "context");
    const version = queryString(req.query, "version");
    const rows = await store.listArtifacts(label ? { label, withBody: true } : { withBody: true });
    const seen = new Set<string>();
    const list: Record<string, unknown>[] = [];
    for (const a of rows) {
      if (seen.has(a.apiId)) continue;
      if (tenant !== ALL_TENANTS && a.tenantDomain !== tenant) continue;
      if (apiId && a.apiId !== apiId) continue;
      const api = apiOf(a);
      if (context && version && (api.context !== context || api.version !== version)) continue;
      seen.add(a.apiId);
      list.push(api);
    }
    return { count: list.length, list };
  });
  // KeyManagersApiServiceImpl: a JSON array (api.yaml /keymanagers: type array of KeyManager).
  app.get(`${base}/keymanagers`, async () => []);
  // webhooksSubscriptionsList has no count (api.yaml components.schemas.webhooksSubscriptionsList).
  app.get(`${base}/webhooks-subscriptions`, async () => ({ list: [] }));
  for (const path of [
    "/subscriptions",
    "/applications",
    "/application-key-mappings",
    "/subscription-policies",
    "/application-policies",
    "/api-policies",
    "/global-policies",
    "/scopes",
  ]) {
    app.get(base + path, async () => ({ count: 0, list: [] }));
  }
}

export interface DataApiOptions {
  /** [gwsync] data_api_max_in_flight. */
  maxInFlight?: number;
  /** [gwsync] data_api_max_wait_ms. */
  maxWaitMs?: number;
  /** A request was admitted or refused (gwsync_data_api_requests_total). */
  onAdmission?: (outcome: "admitted" | "refused") => void;
  /** Artifact bytes per batch reply (MAX_BATCH_REPLY_BYTES; tests make it small). */
  maxBatchReplyBytes?: number;
  /** A changelog page was read, or shared with an identical request (gwsync_changes_pages_total). */
  onChangesPage?: (source: "read" | "shared") => void;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const raw = headers[name.toLowerCase()];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  return value === "" ? undefined : value;
}

/**
 * The tenant a 4.x caller asks for, as WSO2 4.x resolves it: the organization is the `X-WSO2-Tenant`
 * header, else `xWSO2Tenant`, else the caller's own tenant (OnPremResolver.java:38-80; gwsync's HTTP
 * user is the super tenant's, so carbon.super, which may ask for any tenant: SubscriptionValidationDataUtil.java:588-600).
 * "ALL" is every tenant (RuntimeArtifactsApiServiceImpl.java:56-59, where WSO2 also wants xWSO2Tenant
 * carbon.super; gwsync takes "ALL" in either header).
 */
export function tenantOf(headers: Record<string, string | string[] | undefined>): string {
  const org = header(headers, HEADER_ORGANIZATION) ?? header(headers, HEADER_TENANT) ?? "carbon.super";
  return org.toUpperCase() === ALL_TENANTS ? ALL_TENANTS : org;
}

function notFound(reply: FastifyReply) {
  return reply.code(404).send({ code: "GWSYNC_NOT_FOUND", message: "no artifacts" });
}

/**
 * The internal service's API entry (api.yaml components.schemas.API) for a stored artifact: what the
 * artifact says (uuid, name, version, provider, context, apiType, tenant); the numeric `apiId` is a
 * WSO2 database id gwsync has none of.
 */
function apiOf(a: StoredArtifact): Record<string, unknown> {
  let context = "";
  let apiType = "HTTP";
  try {
    const dto = parseGatewayApiDto(a.artifactJson);
    apiType = apiTypeOf(dto);
    context = typeof dto.apiContext === "string" ? dto.apiContext : readSynapseApi(dto.apiDefinition).context;
  } catch {
    // A stored artifact was validated when saved; one that no longer parses is listed without a context.
  }
  return {
    uuid: a.apiId,
    provider: a.provider,
    name: a.name,
    version: a.version,
    context,
    apiType,
    status: "PUBLISHED",
    organization: a.tenantDomain,
    isDefaultVersion: false,
    urlMappings: [],
    apiPolicies: [],
  };
}
