import { isIPv6 } from "node:net";
import { GwsyncError } from "../errors.js";
import type { BrokerEndpoint } from "./types.js";

/**
 * Qpid 0-x connection URLs, as WSO2 writes them in jndi.properties:
 *   amqp://[user:pass@][clientid]/[virtualhost]?opt='v'&brokerlist='tcp://h1:5672?retries='5'%26connectdelay='50';tcp://h2:5672'
 *
 * Grammar gwsync accepts (positions in errors are 1-based character numbers in the URL):
 * - user, password, client id and virtual host are percent-decoded. The user name keeps "!" raw, as
 *   WSO2 writes tenant users (admin!wso2.com!carbon.super); ":" "/" "@" "?" "%" "'" must be encoded.
 * - The path is the virtual host without its leading "/": "/carbon" is vhost "carbon", "/" is the empty
 *   vhost "" (RabbitMQ's default "/" once turned into a BrokerEndpoint), "/%2F" is vhost "/".
 * - Options are key='value', separated by "&", "%26" (WSO2's form, XML-safe) or ",". Inside a quoted
 *   value a quote right after "=" opens a nested value and any other quote closes one: that is how
 *   brokerlist='tcp://h:5672?retries='5'' nests. Values are percent-decoded after the structure is
 *   read, so the formatter encodes "'" "=" "&" "%" "," ";" in values and a round trip is exact.
 * - brokerlist holds tcp:// or ssl:// brokers separated by ";" (a trailing ";" is tolerated, as
 *   WSO2's template renders one); each may carry ?key='value' options joined by "%26" or "&".
 */

export type QpidTransport = "tcp" | "ssl";

export interface QpidBroker {
  protocol: QpidTransport;
  /** Host name, or an IPv6 address without its brackets. */
  host: string;
  port: number;
  options: Record<string, string>;
}

export interface QpidConnectionUrl {
  username: string;
  password: string;
  clientId: string;
  /** As written in the path, without the leading "/": "carbon", "" (empty), "/" (written %2F). */
  vhost: string;
  /** Connection options other than brokerlist (failover, cyclecount, ssl, ...). */
  options: Record<string, string>;
  brokers: QpidBroker[];
}

const SCHEME = "amqp://";
/** Qpid 0-x BrokerDetails defaults when a broker names no port. */
const QPID_DEFAULT_PORT = 5672;
const QPID_DEFAULT_SSL_PORT = 5671;
const MIN_PORT = 1;
const MAX_PORT = 65_535;
const OPTION_KEY = /^[A-Za-z0-9_.-]+$/;
/** Characters a plain (non-bracketed) broker host may not contain: URL structure and quoting. */
const HOST_STOP = new Set([":", ";", "?", "/", "'", "@", "[", "]", "&", "%", "=", "\\", '"']);
const WHOLE_NUMBER = /^\d{1,9}$/;
/** Option values that must be whole numbers wherever they appear. */
const NUMERIC_OPTIONS = new Set(["retries", "connectdelay", "cyclecount"]);
const MAX_ECHO = 40;
const DEL = 0x7f;
const SPACE = 0x20;

/** Whitespace or an ASCII control character: never part of a connection URL. */
function isBlankOrControl(c: string): boolean {
  const code = c.charCodeAt(0);
  return code <= SPACE || code === DEL || /\s/u.test(c);
}

function fault(message: string, index: number): GwsyncError {
  const position = index + 1;
  return new GwsyncError("GWSYNC_JNDI_INVALID", `${message} at position ${position}`, {
    details: { position },
  });
}

/** Quote a piece of the input for an error message, cut short so a pasted blob does not flood logs. */
function clip(text: string): string {
  return JSON.stringify(text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO)}…` : text);
}

function decodeComponent(raw: string, start: number, what: string): string {
  for (let k = 0; k < raw.length; k++) {
    if (raw[k] === "%" && !/^[0-9A-Fa-f]{2}$/.test(raw.slice(k + 1, k + 3))) {
      throw fault(`invalid percent-encoding in ${what} (write "%" as %25)`, start + k);
    }
  }
  try {
    return decodeURIComponent(raw);
  } catch {
    throw fault(`percent-encoding in ${what} is not valid UTF-8`, start);
  }
}

/** Length of the option separator at index i ("&", "%26" or ","), 0 if there is none. */
function separatorLength(s: string, i: number, allowComma: boolean): number {
  if (s[i] === "&" || (allowComma && s[i] === ",")) return 1;
  return s.slice(i, i + 3) === "%26" ? 3 : 0;
}

/** Index of the quote closing the value opened at `open`, honouring nested key='v' values. */
function closingQuote(s: string, open: number, name: string): number {
  let depth = 1;
  for (let j = open + 1; j < s.length; j++) {
    if (s[j] !== "'") continue;
    depth += s[j - 1] === "=" ? 1 : -1;
    if (depth === 0) return j;
  }
  throw fault(`unterminated quote in ${name}`, open);
}

function checkOptionValue(key: string, value: string, start: number): void {
  if (NUMERIC_OPTIONS.has(key) && !WHOLE_NUMBER.test(value)) {
    throw fault(`option "${key}" must be a whole number, got ${clip(value)}`, start);
  }
  if (key === "ssl" && value !== "true" && value !== "false") {
    throw fault(`option "ssl" must be 'true' or 'false', got ${clip(value)}`, start);
  }
}

interface RawOption {
  raw: string;
  /** Index of the first character of the value (after the opening quote). */
  start: number;
}

function parseOptions(s: string, start: number): Map<string, RawOption> {
  const out = new Map<string, RawOption>();
  let i = start;
  while (i < s.length) {
    const eq = s.indexOf("=", i);
    if (eq < 0) throw fault("expected key='value' in the connection options", i);
    const key = s.slice(i, eq);
    if (!OPTION_KEY.test(key)) throw fault(`invalid option name ${clip(key)}`, i);
    if (s[eq + 1] !== "'")
      throw fault(`value of option "${key}" must be in single quotes (${key}='...')`, eq + 1);
    const close = closingQuote(s, eq + 1, key);
    if (out.has(key)) throw fault(`duplicate option "${key}"`, i);
    out.set(key, { raw: s.slice(eq + 2, close), start: eq + 2 });
    i = close + 1;
    if (i >= s.length) break;
    const sep = separatorLength(s, i, true);
    if (sep === 0) throw fault(`expected "&" (or "%26") after the value of option "${key}"`, i);
    i += sep;
  }
  return out;
}

function parseHost(s: string, j: number, end: number): [string, number] {
  if (s[j] === "[") {
    const close = s.indexOf("]", j);
    if (close < 0 || close >= end) throw fault('unterminated "[" in broker host', j);
    const inner = s.slice(j + 1, close);
    if (!isIPv6(inner)) {
      throw fault(
        `broker host ${clip(s.slice(j, close + 1))} is not a bracketed IPv6 address (a placeholder left in?)`,
        j,
      );
    }
    return [inner, close + 1];
  }
  let k = j;
  while (k < end && !HOST_STOP.has(s[k]!)) k++;
  if (k === j) throw fault("missing broker host", j);
  return [s.slice(j, k), k];
}

function parsePort(s: string, j: number, end: number, host: string): [number, number] {
  let k = j;
  while (k < end && s[k]! >= "0" && s[k]! <= "9") k++;
  const stop = k >= end || s[k] === ";" || s[k] === "?";
  const port = Number(s.slice(j, k));
  if (k === j || !stop || k - j > 5 || port < MIN_PORT || port > MAX_PORT) {
    let t = j;
    while (t < end && s[t] !== ";" && s[t] !== "?") t++;
    throw fault(
      `invalid port ${clip(s.slice(j, t))} for broker ${clip(host)}: must be a number from ${MIN_PORT} to ${MAX_PORT}`,
      j,
    );
  }
  return [port, k];
}

function parseBrokerOptions(s: string, j: number, end: number): [Record<string, string>, number] {
  const options = new Map<string, string>();
  let i = j;
  for (;;) {
    const eq = s.indexOf("=", i);
    if (eq < 0 || eq >= end) throw fault("expected key='value' in broker options", i);
    const key = s.slice(i, eq);
    if (!OPTION_KEY.test(key)) throw fault(`invalid broker option name ${clip(key)}`, i);
    if (s[eq + 1] !== "'") {
      throw fault(`value of broker option "${key}" must be in single quotes (${key}='...')`, eq + 1);
    }
    const close = s.indexOf("'", eq + 2);
    if (close < 0 || close >= end) throw fault(`unterminated quote in broker option "${key}"`, eq + 1);
    const value = decodeComponent(s.slice(eq + 2, close), eq + 2, `broker option "${key}"`);
    checkOptionValue(key, value, eq + 2);
    if (options.has(key)) throw fault(`duplicate broker option "${key}"`, i);
    options.set(key, value);
    i = close + 1;
    if (i >= end || s[i] === ";") return [Object.fromEntries(options), i];
    const sep = separatorLength(s, i, false);
    if (sep === 0) throw fault('expected "%26" between broker options or ";" before the next broker', i);
    i += sep;
  }
}

function parseBroker(s: string, i: number, end: number): [QpidBroker, number] {
  const sep = s.indexOf("://", i);
  const scheme = sep < 0 || sep >= end ? "" : s.slice(i, sep);
  if (!/^[A-Za-z][A-Za-z0-9+.-]*$/.test(scheme)) throw fault("broker must look like tcp://host:5672", i);
  const protocol = scheme.toLowerCase();
  if (protocol !== "tcp" && protocol !== "ssl") {
    throw fault(`unsupported broker transport ${clip(scheme)} (use tcp:// or ssl://)`, i);
  }
  const [host, afterHost] = parseHost(s, sep + 3, end);
  let j = afterHost;
  let port = protocol === "ssl" ? QPID_DEFAULT_SSL_PORT : QPID_DEFAULT_PORT;
  if (s[j] === ":") [port, j] = parsePort(s, j + 1, end, host);
  let options: Record<string, string> = {};
  if (s[j] === "?") [options, j] = parseBrokerOptions(s, j + 1, end);
  if (j < end && s[j] !== ";") throw fault(`unexpected ${clip(s[j]!)} after broker ${clip(host)}`, j);
  return [{ protocol, host, port, options }, j];
}

function parseBrokerList(s: string, start: number, end: number): QpidBroker[] {
  if (start === end) throw fault("brokerlist is empty", start - 1);
  const brokers: QpidBroker[] = [];
  let i = start;
  while (i < end) {
    if (s[i] === ";") throw fault("empty broker entry in brokerlist", i);
    const [broker, next] = parseBroker(s, i, end);
    brokers.push(broker);
    i = next + 1; // skip ";" (a trailing one ends the loop)
  }
  return brokers;
}

/** Parse a Qpid 0-x connection URL; throws GwsyncError GWSYNC_JNDI_INVALID naming the position of the fault. */
export function parseQpidConnectionUrl(url: string): QpidConnectionUrl {
  if (typeof url !== "string") throw fault("connection URL must be a string", 0);
  const bad = Array.prototype.findIndex.call(url, isBlankOrControl);
  if (bad >= 0) throw fault(`unexpected whitespace or control character in connection URL`, bad);
  if (url.slice(0, SCHEME.length).toLowerCase() !== SCHEME) {
    throw fault('connection URL must start with "amqp://"', 0);
  }
  const authStart = SCHEME.length;
  const slash = url.indexOf("/", authStart);
  const query = url.indexOf("?", authStart);
  const authEnd = Math.min(slash < 0 ? url.length : slash, query < 0 ? url.length : query);
  const authority = url.slice(authStart, authEnd);
  const at = authority.lastIndexOf("@");
  let username = "";
  let password = "";
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(":");
    username = decodeComponent(colon < 0 ? userinfo : userinfo.slice(0, colon), authStart, "user name");
    if (colon >= 0) {
      password = decodeComponent(userinfo.slice(colon + 1), authStart + colon + 1, "password");
    }
  }
  const clientStart = authStart + at + 1;
  const clientRaw = authority.slice(at + 1);
  const clientColon = clientRaw.indexOf(":");
  if (clientColon >= 0) {
    throw fault(
      'client id must not contain ":" (percent-encode ":" "/" "@" in user names and passwords)',
      clientStart + clientColon,
    );
  }
  const clientId = decodeComponent(clientRaw, clientStart, "client id");
  let i = authEnd;
  let vhost = "";
  if (url[i] === "/") {
    const end = query < 0 ? url.length : query;
    vhost = decodeComponent(url.slice(i + 1, end), i + 1, "virtual host");
    i = end;
  }
  if (i >= url.length) throw fault("missing ?brokerlist='tcp://host:5672' after the virtual host", i);
  const raw = parseOptions(url, i + 1);
  const brokerlist = raw.get("brokerlist");
  if (brokerlist === undefined) {
    throw fault("missing brokerlist option (add brokerlist='tcp://host:5672')", i + 1);
  }
  const options = new Map<string, string>();
  for (const [key, value] of raw) {
    if (key === "brokerlist") continue;
    const decoded = decodeComponent(value.raw, value.start, `option "${key}"`);
    checkOptionValue(key, decoded, value.start);
    options.set(key, decoded);
  }
  const brokers = parseBrokerList(url, brokerlist.start, brokerlist.start + brokerlist.raw.length);
  return { username, password, clientId, vhost, options: Object.fromEntries(options), brokers };
}

/**
 * Percent-encode everything but unreserved characters and "!", which WSO2 keeps raw in tenant user
 * names; encodeURIComponent leaves ' ( ) * alone, and a quote would end an option value.
 */
function encodeComponent(value: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch (err) {
    throw new GwsyncError(
      "GWSYNC_JNDI_INVALID",
      "connection URL parts must be well-formed Unicode (a lone surrogate?)",
      {
        cause: err,
      },
    );
  }
  return encoded.replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function formatOptions(options: Record<string, string>, where: string): string[] {
  return Object.entries(options).map(([key, value]) => {
    if (!OPTION_KEY.test(key)) {
      throw new GwsyncError("GWSYNC_JNDI_INVALID", `invalid ${where} option name ${clip(key)}`);
    }
    return `${key}='${encodeComponent(value)}'`;
  });
}

function formatHost(host: string): string {
  if (isIPv6(host)) return `[${host}]`;
  if (host === "" || [...host].some((c) => HOST_STOP.has(c) || isBlankOrControl(c))) {
    throw new GwsyncError("GWSYNC_JNDI_INVALID", `invalid broker host ${clip(host)}`);
  }
  return host;
}

function formatBroker(b: QpidBroker): string {
  if (!Number.isInteger(b.port) || b.port < MIN_PORT || b.port > MAX_PORT) {
    throw new GwsyncError("GWSYNC_JNDI_INVALID", `invalid port ${b.port} for broker ${clip(b.host)}`);
  }
  const options = formatOptions(b.options, "broker");
  const query = options.length === 0 ? "" : `?${options.join("%26")}`;
  return `${b.protocol}://${formatHost(b.host)}:${b.port}${query}`;
}

/** The inverse of parseQpidConnectionUrl, in WSO2's style ("%26" between options, brokerlist last). */
export function formatQpidConnectionUrl(q: QpidConnectionUrl): string {
  if (q.brokers.length === 0) {
    throw new GwsyncError("GWSYNC_JNDI_INVALID", "a connection URL needs at least one broker");
  }
  if ("brokerlist" in q.options) {
    throw new GwsyncError("GWSYNC_JNDI_INVALID", "brokerlist belongs in brokers, not in options");
  }
  const userinfo =
    q.username === "" && q.password === ""
      ? ""
      : `${encodeComponent(q.username)}:${encodeComponent(q.password)}@`;
  const options = formatOptions(q.options, "connection");
  options.push(`brokerlist='${q.brokers.map(formatBroker).join(";")}'`);
  return `${SCHEME}${userinfo}${encodeComponent(q.clientId)}/${encodeComponent(q.vhost)}?${options.join("%26")}`;
}

/**
 * The brokers of a connection URL as AMQP endpoints, in failover order. ssl:// or ssl='true' (per
 * broker or for the connection) means amqps; an empty vhost means RabbitMQ's default "/".
 */
export function toBrokerEndpoints(q: QpidConnectionUrl): BrokerEndpoint[] {
  return q.brokers.map((b) => {
    const ssl = b.protocol === "ssl" || (b.options.ssl ?? q.options.ssl) === "true";
    const endpoint: BrokerEndpoint = {
      protocol: ssl ? "amqps" : "amqp",
      hostname: b.host,
      port: b.port,
      username: q.username,
      password: q.password,
      vhost: q.vhost === "" ? "/" : q.vhost,
    };
    const retries = b.options.retries ?? q.options.retries;
    const connectDelay = b.options.connectdelay ?? q.options.connectdelay;
    if (retries !== undefined) endpoint.retries = Number(retries);
    if (connectDelay !== undefined) endpoint.connectDelayMs = Number(connectDelay);
    return endpoint;
  });
}
