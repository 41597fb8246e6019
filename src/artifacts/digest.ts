import { createHash, hash } from "node:crypto";

/**
 * Hex sha256 of the UTF-8 text: one call (crypto.hash), not a Hash object per digest — a gateway hashes
 * every artifact it receives (issue 19).
 */
export function sha256Hex(text: string): string {
  return hash("sha256", text, "hex");
}

/**
 * JSON with object keys sorted at every depth (arrays keep their order) and undefined members dropped,
 * so equal DTOs hash equal whatever order their producer wrote the keys in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  // No prototype, so a "__proto__" key read from JSON stays a plain member.
  const sorted: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) sorted[key] = sortKeys(member);
  }
  return sorted;
}

/**
 * A stable UUID named by `parts`: sha256 of the parts joined by newlines (no name holds one), laid out
 * as a UUID with version 8 (RFC 9562 "custom", the sha256 sibling of version 5) and the RFC variant.
 */
export function nameBasedUuid(parts: readonly string[]): string {
  const bytes = createHash("sha256").update(parts.join("\n"), "utf8").digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
