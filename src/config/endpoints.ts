import { maskUrl } from "../security/secrets.js";
import { describeValue } from "./coerce.js";

/**
 * Broker addresses as deployment.toml writes them ("tcp://cp-1:5672", "ssl://cp-1:8672") and as the
 * environment may give them (GWSYNC_BROKER_URLS: "amqp://user:pass@host:5672/vhost").
 */
export interface EndpointSpec {
  protocol: "amqp" | "amqps";
  hostname: string;
  port: number;
  /** Only from amqp:// / amqps:// URLs; otherwise the event hub credentials apply. */
  username?: string;
  password?: string;
  vhost?: string;
}

const SCHEMES: Record<string, { protocol: "amqp" | "amqps"; defaultPort: number; credentials: boolean }> = {
  "tcp:": { protocol: "amqp", defaultPort: 5672, credentials: false },
  "ssl:": { protocol: "amqps", defaultPort: 5671, credentials: false },
  "amqp:": { protocol: "amqp", defaultPort: 5672, credentials: true },
  "amqps:": { protocol: "amqps", defaultPort: 5671, credentials: true },
};
const EXAMPLE = '"tcp://host:5672" (or ssl://, amqp://, amqps://)';

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/** The endpoint, or the reason (to follow the key name) it is not one. */
export function parseEndpointString(value: string): EndpointSpec | string {
  const shown = describeValue(maskUrl(value));
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be a broker URL like ${EXAMPLE}, got ${shown}`;
  }
  const scheme = SCHEMES[url.protocol];
  if (scheme === undefined) return `must use tcp://, ssl://, amqp:// or amqps://, got ${shown}`;
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (hostname === "") return `must name a host, got ${shown}`;
  const port = url.port === "" ? scheme.defaultPort : Number(url.port);
  if (port < 1) return `must have a port from 1 to 65535, got ${shown}`;
  if (url.search !== "" || url.hash !== "") return `must not carry ?options or #fragments, got ${shown}`;
  const spec: EndpointSpec = { protocol: scheme.protocol, hostname, port };
  if (!scheme.credentials) {
    if (url.username !== "" || url.password !== "" || (url.pathname !== "" && url.pathname !== "/")) {
      return `must be just tcp://host:port (credentials go in username/password, the vhost in vhost), got ${shown}`;
    }
    return spec;
  }
  const username = decode(url.username);
  const password = decode(url.password);
  if (username === undefined || password === undefined) return `has invalid percent-encoding, got ${shown}`;
  if (url.username !== "") spec.username = username;
  if (url.password !== "") spec.password = password;
  if (url.pathname !== "" && url.pathname !== "/") {
    const vhost = decode(url.pathname.slice(1));
    if (vhost === undefined) return `has invalid percent-encoding in its vhost, got ${shown}`;
    spec.vhost = vhost;
  }
  return spec;
}

/**
 * WSO2's DBRetriever cuts everything from "/services" off event_hub.service_url before appending
 * "/internal/data/v1"; gwsync does the same, then drops trailing slashes. Returns the URL or a reason.
 */
export function normalizeServiceUrl(value: string): { url: string } | { reason: string } {
  const cut = value.includes("/services") ? value.slice(0, value.indexOf("/services")) : value;
  const trimmed = cut.replace(/\/+$/, "");
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return {
      reason: `must be an http(s) URL like "https://cp:9443/services/", got ${describeValue(maskUrl(value))}`,
    };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { reason: `must use http:// or https://, got ${describeValue(maskUrl(value))}` };
  }
  return { url: trimmed };
}
