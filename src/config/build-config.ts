import { statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { isGwsyncError } from "../errors.js";
import { readRegularFileSync } from "../security/safe-read.js";
import { ArtifactSigner, TrustedKeys } from "../security/signing.js";
import * as D from "./defaults.js";
import type { EndpointSpec } from "./endpoints.js";
import type { LoadContext } from "./load-context.js";
import type {
  DatabaseSection,
  EventHubSection,
  GatewaySection,
  GwsyncSection,
  PublisherSection,
  ThrottlingSection,
} from "./schema.js";
import type { BrokerEndpoint, GitSourceConfig, GitStoreConfig, GwsyncConfig, Role } from "./types.js";

/** The validated sections, their schemas' outputs; one absent or invalid is its defaults. */
export interface Sections {
  gwsync: GwsyncSection;
  publisher: PublisherSection;
  /** [apim.sync_runtime_artifacts.publisher] appears in the file (WSO2: presence enables saving). */
  publisherPresent: boolean;
  gateway: GatewaySection;
  database: DatabaseSection;
  eventHub: EventHubSection;
  throttling: ThrottlingSection;
}

export interface BuildOptions {
  role: Role | undefined;
  baseDir: string;
  ctx: LoadContext;
}

const EH = "apim.event_hub";
const DB = "database.sync_runtime_artifacts_db";
const GW = "apim.sync_runtime_artifacts.gateway";
const NODE_ID_UNSAFE = /[^A-Za-z0-9._-]/g;
const MAX_HOST_PART = 100;
/** A password file holds one secret; a larger one is something else. */
const MAX_PASSWORD_FILE_BYTES = 64 * 1024;

/** A password given directly or as password_file (a mounted secret; one trailing newline dropped). */
function secretOf(
  section: { password?: string | undefined; passwordFile?: string | undefined } | undefined,
  prefix: string,
  o: BuildOptions,
): string | undefined {
  const password = section?.password;
  const file = section?.passwordFile;
  if (password !== undefined && file !== undefined) {
    o.ctx.problem(
      `${prefix}.password`,
      `and ${o.ctx.display(`${prefix}.password_file`)} are both set; keep one`,
    );
    return undefined;
  }
  if (file === undefined) return password;
  const full = path.resolve(o.baseDir, file);
  try {
    // A regular file only (a FIFO or /dev/zero would hang or fill memory), followed through symlinks
    // (Kubernetes mounts secrets as symlinks into ..data/).
    const bytes = readRegularFileSync(full, {
      maxBytes: MAX_PASSWORD_FILE_BYTES,
      followSymlinks: true,
      what: "password_file",
    });
    const value = bytes.toString("utf8").replace(/\r?\n$/, "");
    if (value === "") o.ctx.problem(`${prefix}.password_file`, `names an empty file: ${full}`);
    return value;
  } catch (err) {
    const errno = isGwsyncError(err) ? err.details?.errno : (err as NodeJS.ErrnoException).code;
    if (o.ctx.checkOnly && (errno === "ENOENT" || errno === "EACCES")) {
      // `config check` on another host than the service's: the file is right, the secret lives elsewhere.
      o.ctx.suspect(
        `${prefix}.password_file`,
        `cannot be read here (${errno}): ${full}; the service reads it where it runs and will not start without it`,
      );
      return `<contents of ${full}>`;
    }
    if (typeof errno === "string" || !isGwsyncError(err)) {
      o.ctx.problem(`${prefix}.password_file`, `cannot be read (${errno ?? "error"}): ${full}`);
    } else {
      o.ctx.problem(`${prefix}.password_file`, `is refused: ${err.message.slice("password_file ".length)}`);
    }
    return undefined;
  }
}

/** A URL git reads as one (scheme://, or scp-like user@host:path); anything else is a local path. */
const GIT_URL = /^(?:[a-z][a-z0-9+.-]*:\/\/|[^/\\:@]+@[^/\\:]+:)/i;

/** A branch name git accepts (and no option in disguise). */
function branchProblem(branch: string): boolean {
  return !/^[A-Za-z0-9._/-]+$/.test(branch) || branch.startsWith("-") || branch.includes("..");
}

/** Whether this configuration asks for the Git store: artifact_saver = "GitSaver", or [gwsync.git_store] with no saver named. */
export function wantsGitStore(s: Sections): boolean {
  const saver = s.publisher.artifactSaver;
  return saver === D.GIT_ARTIFACT_SAVER || (saver === undefined && s.gwsync.gitStore !== undefined);
}

function buildGitStore(s: Sections, dataDir: string, type: string, o: BuildOptions): GitStoreConfig {
  const prefix = "gwsync.git_store";
  const g = s.gwsync.gitStore ?? {
    branch: D.DEFAULT_GIT_STORE_BRANCH,
    push_retry_ms: D.DEFAULT_GIT_STORE_PUSH_RETRY_MS,
    author_name: D.DEFAULT_GIT_STORE_AUTHOR_NAME,
    author_email: D.DEFAULT_GIT_STORE_AUTHOR_EMAIL,
  };
  if (type !== "sqlite") {
    o.ctx.problem(
      `${DB}.type`,
      `is ${JSON.stringify(type)}, but the Git store (artifact_saver = "GitSaver") keeps its changelog and outbox in SQLite: set type = "sqlite"`,
    );
  }
  if (branchProblem(g.branch)) {
    o.ctx.problem(`${prefix}.branch`, `is not a branch name git accepts: ${JSON.stringify(g.branch)}`);
  }
  const password = secretOf({ password: g.password, passwordFile: g.password_file }, prefix, o);
  if (password !== undefined && g.username === undefined) {
    o.ctx.problem(
      `${prefix}.username`,
      "is required with a password (HTTP Basic credentials for the remote)",
    );
  }
  if ((password !== undefined || g.username !== undefined) && g.remote_url === undefined) {
    o.ctx.problem(
      `${prefix}.remote_url`,
      "is required with a username or password (they are the remote's credentials)",
    );
  }
  const remote = g.remote_url;
  return {
    repository:
      g.repository === undefined
        ? path.join(dataDir, D.DEFAULT_GIT_STORE_REPOSITORY)
        : path.resolve(o.baseDir, g.repository),
    branch: g.branch,
    ...(remote === undefined
      ? {}
      : { remoteUrl: GIT_URL.test(remote) ? remote : path.resolve(o.baseDir, remote) }),
    ...(g.username === undefined ? {} : { username: g.username }),
    ...(password === undefined ? {} : { password }),
    pushRetryMs: g.push_retry_ms,
    authorName: g.author_name,
    authorEmail: g.author_email,
  };
}

function buildGitSource(s: NonNullable<GwsyncSection["gitSource"]>, o: BuildOptions): GitSourceConfig {
  const prefix = "gwsync.git_source";
  const url = GIT_URL.test(s.url) ? s.url : path.resolve(o.baseDir, s.url);
  const folder = (s.folder ?? "").replace(/^\/+|\/+$/g, "");
  if (folder.split("/").some((part) => part === ".." || part === ".")) {
    o.ctx.problem(
      `${prefix}.folder`,
      `must be a folder inside the repository, got ${JSON.stringify(s.folder)}`,
    );
  }
  const branch = s.branch;
  if (branchProblem(branch)) {
    o.ctx.problem(`${prefix}.branch`, `is not a branch name git accepts: ${JSON.stringify(branch)}`);
  }
  const password = secretOf({ password: s.password, passwordFile: s.password_file }, prefix, o);
  if (password !== undefined && s.username === undefined) {
    o.ctx.problem(
      `${prefix}.username`,
      "is required with a password (HTTP Basic credentials for the repository)",
    );
  }
  return {
    url,
    branch,
    folder,
    labels: [...new Set(s.labels)],
    pollIntervalMs: s.poll_interval_ms,
    ...(s.username === undefined ? {} : { username: s.username }),
    ...(password === undefined ? {} : { password }),
    maxFileBytes: s.max_file_bytes,
    maxFiles: s.max_files,
  };
}

/** Largest key file read (an Ed25519 PEM is about 120 bytes). */
const MAX_KEY_FILE_BYTES = 16 * 1024;
/** A private key readable by group or others is refused, as ssh does. */
const PRIVATE_KEY_FORBIDDEN_MODE = 0o077;

function buildSigning(s: GwsyncSection["signing"], o: BuildOptions): GwsyncConfig["gwsync"]["signing"] {
  const out: GwsyncConfig["gwsync"]["signing"] = { trustedKeys: [] };
  const read = (key: string, file: string, secret: boolean): string | undefined => {
    const full = path.resolve(o.baseDir, file);
    try {
      if (secret && (statSync(full).mode & PRIVATE_KEY_FORBIDDEN_MODE) !== 0) {
        o.ctx.problem(
          key,
          `${full} is readable by group or others: chmod 600 it (gwsync keys generate writes it so)`,
        );
        return undefined;
      }
      return readRegularFileSync(full, {
        maxBytes: MAX_KEY_FILE_BYTES,
        followSymlinks: true,
        what: key,
      }).toString("utf8");
    } catch (err) {
      const errno = isGwsyncError(err) ? err.details?.errno : (err as NodeJS.ErrnoException).code;
      o.ctx.problem(
        key,
        typeof errno === "string"
          ? `cannot be read (${errno}): ${full}`
          : `is refused: ${(err as Error).message.slice(key.length + 1)}`,
      );
      return undefined;
    }
  };
  if (s?.private_key_file !== undefined) {
    const pem = read("gwsync.signing.private_key_file", s.private_key_file, true);
    if (pem !== undefined) {
      try {
        new ArtifactSigner(pem);
        out.privateKeyPem = pem;
        out.privateKeyFile = path.resolve(o.baseDir, s.private_key_file);
      } catch (err) {
        o.ctx.problem(
          "gwsync.signing.private_key_file",
          (err as Error).message.replace(/^private_key_file /, ""),
        );
      }
    }
  }
  for (const file of s?.trusted_keys ?? []) {
    const pem = read("gwsync.signing.trusted_keys", file, false);
    if (pem === undefined) continue;
    try {
      new TrustedKeys([{ pem, what: file }]);
      out.trustedKeys.push({ file: path.resolve(o.baseDir, file), pem });
    } catch (err) {
      o.ctx.problem("gwsync.signing.trusted_keys", (err as Error).message);
    }
  }
  return out;
}

function defaultNodeId(role: Role | undefined): string {
  const host = os.hostname().replace(NODE_ID_UNSAFE, "-").slice(0, MAX_HOST_PART) || "gwsync";
  return `${host}-${role ?? "node"}`;
}

interface Credentials {
  username: string;
  password: string;
  vhost: string;
  ssl: boolean;
}

function toEndpoint(spec: EndpointSpec, c: Credentials): BrokerEndpoint {
  return {
    protocol: c.ssl ? "amqps" : spec.protocol,
    hostname: spec.hostname,
    port: spec.port,
    username: spec.username ?? c.username,
    password: spec.password ?? c.password,
    vhost: spec.vhost ?? c.vhost,
  };
}

function buildGwsync(
  s: Sections,
  eventHub: GwsyncConfig["eventHub"],
  o: BuildOptions,
): GwsyncConfig["gwsync"] {
  const g = s.gwsync;
  const dir = (p: string) => path.resolve(o.baseDir, p);
  const { username, password: _password, passwordFile: _file, ...httpLimits } = g.http;
  const { gitSource, gitStore: _gitStore, signing, watch, ...rest } = g;
  const config: GwsyncConfig["gwsync"] = {
    ...rest,
    nodeId: g.nodeId ?? defaultNodeId(o.role),
    dataDir: dir(g.dataDir),
    jndiDir: dir(g.jndiDir),
    // Each half defaults on its own, so GWSYNC_HTTP_PASSWORD alone keeps the event hub user name.
    http: {
      ...httpLimits,
      username: username ?? eventHub.username,
      password: secretOf(g.http, "gwsync.http", o) ?? eventHub.password,
    },
    signing: buildSigning(signing, o),
    tenants: { ids: g.tenants.ids, dir: g.tenants.dir === undefined ? undefined : dir(g.tenants.dir) },
  };
  if (watch !== undefined) config.watch = { ...watch, dir: dir(watch.dir) };
  if (gitSource !== undefined) config.gitSource = buildGitSource(gitSource, o);
  if (config.http.maxParamLength < config.limits.maxRevokedTokenLength) {
    o.ctx.problem(
      "gwsync.http.max_param_length",
      `(${config.http.maxParamLength}) must be at least gwsync.max_revoked_token_length (${config.limits.maxRevokedTokenLength}): GET /api/v1/revoked-tokens/{token} takes the token in the path`,
    );
  }
  if (config.maxInlineArtifactBytes > config.maxMessageBytes) {
    o.ctx.problem(
      "gwsync.max_inline_artifact_bytes",
      `(${config.maxInlineArtifactBytes}) must not exceed gwsync.max_message_bytes (${config.maxMessageBytes}): an inline artifact travels inside one message`,
    );
  }
  return config;
}

function buildEventHub(s: Sections, o: BuildOptions): GwsyncConfig["eventHub"] {
  const {
    eventListeningEndpoints,
    eventDuplicateUrl,
    passwordFile: _file,
    ssl,
    jms: jmsKeys,
    ...eh
  } = s.eventHub;
  const password = secretOf(s.eventHub, EH, o) ?? D.DEFAULT_EVENT_HUB_PASSWORD;
  // WSO2 4.x: jms.username/password are the broker's credentials when the REST ones differ.
  const jms = jmsKeys?.username !== undefined && jmsKeys.password !== undefined ? jmsKeys : undefined;
  const broker: Credentials = {
    username: jms?.username ?? eh.username,
    password: jms?.password ?? password,
    vhost: eh.vhost,
    ssl: ssl || jmsKeys?.ssl === true,
  };
  return {
    ...eh,
    eventListeningEndpoints: eventListeningEndpoints.map((e) => toEndpoint(e, broker)),
    eventDuplicateUrl: eventDuplicateUrl.map((e) => toEndpoint(e, broker)),
    password,
    // How long after a notification or webhook message's timestamp it is acted on (EventHubConfigurationDto,
    // default 0; GatewayJMSMessageListener.java:94-103).
    eventWaitingTimeMs: eh.eventWaitingTimeMs ?? D.DEFAULT_EVENT_WAITING_TIME_MS,
  };
}

function buildGateway(s: Sections, eventWaitingTimeMs: number, o: BuildOptions): GwsyncConfig["gateway"] {
  const gw = s.gateway;
  if (gw.maxRetryDelayMs < gw.deploymentRetryDurationMs) {
    o.ctx.problem(
      `${GW}.max_retry_delay`,
      `(${gw.maxRetryDelayMs} ms) must be at least ${o.ctx.display(`${GW}.deployment_retry_duration`)} (${gw.deploymentRetryDurationMs} ms)`,
    );
  }
  return { ...gw, eventWaitingTimeMs, deploymentDir: path.resolve(o.baseDir, gw.deploymentDir) };
}

function buildDatabase(s: Sections, dataDir: string, o: BuildOptions): GwsyncConfig["database"] {
  const db = s.database;
  const type = db.type;
  let url = db.url;
  if (type === "sqlite") {
    // An SQLite "url" is a file path; ":memory:" and file: URIs are SQLite's own forms.
    if (url === undefined) url = path.join(dataDir, D.DEFAULT_SQLITE_FILE);
    else if (url !== ":memory:" && !url.startsWith("file:")) url = path.resolve(o.baseDir, url);
  } else if (url === undefined) {
    o.ctx.problem(`${DB}.url`, `must be set when ${DB}.type is "${type}"`);
    url = "";
  }
  const database: GwsyncConfig["database"] = { type, url };
  if (db.username !== undefined) database.username = db.username;
  const password = secretOf(db, DB, o);
  if (password !== undefined) database.password = password;
  if (db.poolOptions !== undefined) database.poolOptions = db.poolOptions;
  const saver = s.publisher.artifactSaver;
  if (s.gwsync.gitStore !== undefined && saver !== undefined && saver !== D.GIT_ARTIFACT_SAVER) {
    o.ctx.problem(
      "gwsync.git_store",
      `configures the Git store, but ${o.ctx.display("apim.sync_runtime_artifacts.publisher.artifact_saver")} is ${JSON.stringify(saver)}: set it to "${D.GIT_ARTIFACT_SAVER}" (or leave it out), or remove the section`,
    );
  }
  if (wantsGitStore(s)) database.git = buildGitStore(s, dataDir, type, o);
  return database;
}

/** Resolve paths against baseDir, read password and key files, attach broker credentials, cross-section defaults. */
export function buildConfig(s: Sections, o: BuildOptions): GwsyncConfig {
  const eventHub = buildEventHub(s, o);
  const gwsync = buildGwsync(s, eventHub, o);
  const throttlingCredentials: Credentials = {
    username: s.throttling.username ?? eventHub.username,
    password: s.throttling.password ?? eventHub.password,
    vhost: eventHub.vhost,
    ssl: false,
  };
  return {
    gwsync,
    publisher: {
      ...s.publisher,
      artifactSaver:
        s.publisher.artifactSaver ?? (wantsGitStore(s) ? D.GIT_ARTIFACT_SAVER : D.DEFAULT_ARTIFACT_SAVER),
      enabled: s.publisherPresent,
    },
    // The gateway block's event_waiting_time is a fixed sleep before each single-API fetch (DBRetriever.java:72-78),
    // and only when the event hub sets none (api-manager.xml.j2:1890-1892).
    gateway: buildGateway(
      s,
      s.eventHub.eventWaitingTimeMs === undefined
        ? (s.gateway.eventWaitingTimeMs ?? D.DEFAULT_EVENT_WAITING_TIME_MS)
        : D.DEFAULT_EVENT_WAITING_TIME_MS,
      o,
    ),
    database: buildDatabase(s, gwsync.dataDir, o),
    eventHub,
    throttling: {
      throttleDecisionEndpoints: s.throttling.throttleDecisionEndpoints.map((e) =>
        toEndpoint(e, throttlingCredentials),
      ),
    },
  };
}
