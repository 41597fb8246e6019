import { hash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";

/**
 * Who can reach an HTTP listener, and whether its credentials are good enough for that. Shared by
 * `config check` (src/config/role-checks.ts) and the server itself (src/http/server.ts), so a config
 * that the check passes is one the server accepts.
 */

/**
 * Loopback means an address no other host can reach: a 127.0.0.0/8 or ::1 literal (also IPv4-mapped),
 * or the name `localhost` (RFC 6761 §6.3: resolvers must answer it with loopback). Any other name is
 * resolved by DNS, which an attacker may control: `127.evil.example.com` is not loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost") return true;
  const family = isIP(h);
  if (family === 4) return h.split(".")[0] === "127";
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    if (mapped) return mapped[1]!.split(".")[0] === "127";
    return isIpv6Loopback(h);
  }
  return false;
}

function isIpv6Loopback(h: string): boolean {
  // ::1 in any spelling (0:0:0:0:0:0:0:1, ::0:1): every group zero but the last, which is 1.
  const [head = "", tail] = h.split("::");
  const groups = tail === undefined ? head.split(":") : [...head.split(":"), ...tail.split(":")];
  const nonEmpty = groups.filter((g) => g !== "");
  return (
    nonEmpty.length > 0 &&
    nonEmpty.slice(0, -1).every((g) => /^0+$/.test(g)) &&
    /^0*1$/.test(nonEmpty.at(-1)!)
  );
}

/**
 * Passwords everyone tries first: WSO2's and RabbitMQ's defaults and the commonest guesses. Compared
 * case-insensitively, like the user names.
 */
const WELL_KNOWN_PASSWORDS = new Set([
  "admin",
  "guest",
  "password",
  "changeme",
  "change-me",
  "secret",
  "wso2carbon",
  "root",
  "test",
  "123456",
  "12345678",
  "qwerty",
]);
/** Shorter than this is guessable by an online attack in hours. */
export const MIN_PASSWORD_LENGTH = 8;

/**
 * Why a user/password pair must not guard a listener other hosts can reach, or undefined when it may.
 * Refused: an empty user or password, a password equal to the user name, a well-known password
 * (`admin`, `guest`, ... in any case) and one shorter than MIN_PASSWORD_LENGTH.
 */
export function weakCredentials(username: string, password: string): string | undefined {
  if (username === "") return "the user name is empty";
  if (password === "") return "the password is empty";
  const p = password.toLowerCase();
  if (p === username.toLowerCase()) return "the password equals the user name";
  if (WELL_KNOWN_PASSWORDS.has(p)) return "the password is a well-known default";
  if (password.length < MIN_PASSWORD_LENGTH)
    return `the password is shorter than ${MIN_PASSWORD_LENGTH} characters`;
  return undefined;
}

/**
 * Compares two secrets in time independent of where they differ and of their lengths: both are hashed
 * to 32 bytes first, so timingSafeEqual never sees unequal lengths (which it would refuse at once).
 */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(hash("sha256", given, "buffer"), hash("sha256", expected, "buffer"));
}

/**
 * sameSecret against one expected secret, its digest computed once: what a server that compares every
 * request's header to the same value calls (one hash per request, not two; issue 19, B13). The same
 * compare: both sides 32 bytes, timingSafeEqual, whatever the given text's length.
 */
export function secretMatcher(expected: string): (given: string) => boolean {
  const digest = hash("sha256", expected, "buffer");
  return (given) => timingSafeEqual(hash("sha256", given, "buffer"), digest);
}
