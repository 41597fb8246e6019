/**
 * The one secrets masker: what the logger, `gwsync config check` and the gateway's HTTP snapshots
 * (key-manager configurations, webhook subscriptions) show of a value. A secret is recognised
 *
 * - by its field's name, in any spelling (`password`, `access_token`, `clientSecret`, `API-Key`,
 *   `Authorization`), but not a name that says where a secret is (`token_endpoint`, `password_file`);
 * - by its value, whatever its field: a JWT, a PEM private key, an Authorization header value, the
 *   password of a URL (`amqp://user:***@host`) or a credential parameter of its query (`?password=***`).
 *
 * What is too deep to walk is masked whole (fail closed). This file imports nothing: the foundation's
 * logger uses it (docs/architecture.md#layers).
 */

/** What a secret is replaced with. */
export const MASK = "***";

/** Name fragments of secret fields, compared on the lower-cased name with separators removed. */
const SECRET_NAME_PARTS = [
  "secret",
  "password",
  "passwd",
  "passphrase",
  "credential",
  "privatekey",
  "apikey",
  "authorization",
  "cookie",
  "signingkey",
  "encryptionkey",
];
/** Whole names that are secrets but contain none of the parts above. */
const SECRET_NAMES = new Set(["pwd", "pat", "otp", "pin", "auth"]);
/** `access_token`, `refreshToken`, `id_token`, `token`, `revokedToken`: a name ending in token(s) holds one. */
const TOKEN_NAME = /tokens?$/;
/**
 * `authorization_endpoint`, `token_url`, `password_file`: where a secret is, not the secret (the value
 * itself is still checked).
 */
const LOCATION_NAME = /(?:endpoint|url|uri|path|file|dir)s?$/;
/** `tokens: 3`, `maxRevokedTokens: 100000`: a number under a plural name counts secrets, it is none. */
const PLURAL_NAME = /s$/;

function normalizedName(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** Whether a field of this name holds a secret. */
export function isSecretKey(key: string): boolean {
  const k = normalizedName(key);
  if (LOCATION_NAME.test(k)) return false;
  return SECRET_NAMES.has(k) || TOKEN_NAME.test(k) || SECRET_NAME_PARTS.some((part) => k.includes(part));
}

/** A JWS/JWT, header.payload.signature (the header is base64url JSON, so it starts with eyJ). */
const JWT_WHOLE = /^eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const JWT_IN_TEXT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----/;
/** An Authorization header value: a scheme and its credential, nothing else ("Basic credentials refused" is prose). */
const AUTH_VALUE = /^(?:(?:Bearer|Basic|Token|Negotiate)\s+[A-Za-z0-9._~+/-]{8,}=*|Digest\s+\S+=.*)\s*$/i;
/** The password of `scheme://user:password@host`. */
const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi;
/**
 * Credential parameters of a URL query (JDBC: `?user=app&password=x`, SQL Server: `;password=x`).
 * Names compared whole, so `password_file=` (a path) is left alone.
 */
const URL_SECRET_PARAM =
  /([?&;](?:password|passwd|pwd|sslpassword|secret|client_secret|token|access_token|api_?key)=)[^&;\s"']*/gi;

/** A value that is a credential whatever its field is called (the whole value, not a text quoting one). */
export function looksLikeSecretValue(value: string): boolean {
  return (
    JWT_WHOLE.test(value) || PEM_PRIVATE_KEY.test(value) || AUTH_VALUE.test(value) || maskUrl(value) !== value
  );
}

/** amqp://user:pass@host → amqp://user:***@host (any scheme); jdbc:...?password=x → password=***. */
export function maskUrl(url: string): string {
  return url.replace(URL_USERINFO, `$1${MASK}@`).replace(URL_SECRET_PARAM, `$1${MASK}`);
}

/**
 * A text with its secrets masked: URL credentials and JWTs in place (the rest stays readable), and the
 * whole text when it holds a private key or is an Authorization value.
 */
export function maskText(text: string, mask = MASK): string {
  if (PEM_PRIVATE_KEY.test(text) || AUTH_VALUE.test(text)) return mask;
  const out = maskUrl(text);
  return out.includes("eyJ") ? out.replace(JWT_IN_TEXT, mask) : out;
}

export interface MaskOptions {
  /** What a secret becomes. Default MASK ("***"). */
  mask?: string;
  /** Deeper than this a value is masked whole rather than walked. Default 16. */
  maxDepth?: number;
}

/** Configurations and events are shallow; anything deeper is masked whole rather than walked (fail closed). */
export const DEFAULT_MAX_MASK_DEPTH = 16;

interface Walk {
  mask: string;
  maxDepth: number;
  /** Objects on the path from the root: a cycle is cut, a shared object shown twice. */
  seen: WeakSet<object>;
}

function isSecretField(key: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (!isSecretKey(key)) return false;
  return !(typeof value === "number" && PLURAL_NAME.test(normalizedName(key)));
}

/**
 * A copy of `value` with every secret masked, at any depth: fields named as secrets, values that are
 * credentials, URL passwords inside any text, Errors' messages, stacks, causes and own fields. Cycles
 * become "[Circular]"; what lies deeper than `maxDepth` becomes the mask.
 */
export function maskSecrets(value: unknown, options: MaskOptions = {}): unknown {
  return walk(value, 0, {
    mask: options.mask ?? MASK,
    maxDepth: options.maxDepth ?? DEFAULT_MAX_MASK_DEPTH,
    seen: new WeakSet(),
  });
}

function walk(value: unknown, depth: number, w: Walk): unknown {
  if (typeof value === "string") return maskText(value, w.mask);
  if (typeof value !== "object" || value === null) return value;
  if (w.seen.has(value)) return "[Circular]";
  if (depth > w.maxDepth) return w.mask;
  if (Buffer.isBuffer(value) || value instanceof Date) return value;
  if (value instanceof URL) return maskText(value.href, w.mask);
  w.seen.add(value);
  try {
    if (value instanceof Error) return maskError(value, depth, w);
    if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1, w));
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      if (key === "__proto__") continue;
      out[key] = isSecretField(key, field) ? w.mask : walk(field, depth + 1, w);
    }
    return out;
  } finally {
    w.seen.delete(value);
  }
}

/** An Error with its message, stack, cause and own fields masked; same prototype, so loggers still see an Error. */
function maskError(err: Error, depth: number, w: Walk): Error {
  const copy = Object.create(Object.getPrototypeOf(err)) as Error;
  const fields = copy as unknown as Record<string, unknown>;
  for (const [key, field] of Object.entries(err)) {
    fields[key] = isSecretField(key, field) ? w.mask : walk(field, depth + 1, w);
  }
  const hidden = (name: string, v: unknown) =>
    Object.defineProperty(copy, name, { value: v, enumerable: false, writable: true });
  hidden("message", maskText(err.message, w.mask));
  hidden("stack", maskText(err.stack ?? "", w.mask));
  if (err.name !== copy.name) hidden("name", err.name);
  if ("cause" in err) hidden("cause", walk(err.cause, depth + 1, w));
  return copy;
}
