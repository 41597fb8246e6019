/**
 * What counts as a secret in a JSON document gwsync serves back (key-manager configurations, webhook
 * subscriptions): a field whose name says so, in any spelling (`access_token`, `clientSecret`,
 * `API-Key`), and a value that is a credential whatever its field is called (a JWT, a PEM private key,
 * an Authorization header value, a URL carrying a password).
 */

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
/** `access_token`, `refreshToken`, `id_token`, `token`: a name ending in token(s) holds one. */
const TOKEN_NAME = /tokens?$/;

/** `authorization_endpoint`, `token_url`: where to send a secret, not one (the value is still checked). */
const LOCATION_NAME = /(?:endpoint|url|uri|path)s?$/;

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (LOCATION_NAME.test(k)) return false;
  return SECRET_NAMES.has(k) || TOKEN_NAME.test(k) || SECRET_NAME_PARTS.some((part) => k.includes(part));
}

/** header.payload.signature of a JWS/JWT (the header is base64url JSON, so it starts with eyJ). */
const JWT = /^eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----/;
const AUTH_SCHEME = /^(?:Bearer|Basic|Digest|Negotiate|Token)\s+\S{8,}/i;
const URL_USERINFO = /\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:[^@\s]+@/i;
const URL_SECRET_PARAM = /[?&;](?:password|passwd|pwd|secret|client_secret|token|access_token|api_?key)=[^&;\s]/i;

export function looksLikeSecretValue(value: string): boolean {
  return (
    JWT.test(value) ||
    PEM_PRIVATE_KEY.test(value) ||
    AUTH_SCHEME.test(value) ||
    URL_USERINFO.test(value) ||
    URL_SECRET_PARAM.test(value)
  );
}
