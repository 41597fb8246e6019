/** Helpers over a parsed TOML document (plain tables, arrays and scalars). */

export type TomlTable = Record<string, unknown>;

/** Segments that would reach Object.prototype instead of a table key. */
const FORBIDDEN_SEGMENTS = new Set(["__proto__", "constructor", "prototype"]);

export function isTable(value: unknown): value is TomlTable {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

export function getPath(doc: TomlTable, segments: readonly string[]): unknown {
  let node: unknown = doc;
  for (const segment of segments) {
    if (!isTable(node) || !Object.hasOwn(node, segment)) return undefined;
    node = node[segment];
  }
  return node;
}

/**
 * Set a key, creating missing tables. Returns the dotted path of the first non-table in the way,
 * or of a forbidden segment, instead of overwriting it.
 */
export function setPath(doc: TomlTable, segments: readonly string[], value: unknown): string | undefined {
  let node: TomlTable = doc;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (FORBIDDEN_SEGMENTS.has(segment)) return segments.slice(0, i + 1).join(".");
    if (i === segments.length - 1) {
      node[segment] = value;
      return undefined;
    }
    if (!Object.hasOwn(node, segment)) node[segment] = Object.create(null) as TomlTable;
    const next = node[segment];
    if (!isTable(next)) return segments.slice(0, i + 1).join(".");
    node = next;
  }
  return undefined;
}

export function deletePath(doc: TomlTable, segments: readonly string[]): void {
  const parent = getPath(doc, segments.slice(0, -1));
  const last = segments.at(-1);
  if (isTable(parent) && last !== undefined) delete parent[last];
}

/** Dotted path of a key below `prefix`; list indexes as [i]. */
export function joinPath(prefix: string, segments: readonly PropertyKey[]): string {
  let out = prefix;
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else out += out === "" ? String(s) : `.${String(s)}`;
  }
  return out;
}

/** Visit every scalar of the document with its path segments (list indexes as numbers). */
export function walkScalars(
  node: unknown,
  visit: (value: unknown, path: (string | number)[], replace: (v: unknown) => void) => void,
  path: (string | number)[] = [],
): void {
  if (Array.isArray(node)) {
    node.forEach((item, i) => {
      if (isTable(item) || Array.isArray(item)) walkScalars(item, visit, [...path, i]);
      else
        visit(item, [...path, i], (v) => {
          node[i] = v;
        });
    });
    return;
  }
  if (!isTable(node)) return;
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (isTable(value) || Array.isArray(value)) walkScalars(value, visit, [...path, key]);
    else
      visit(value, [...path, key], (v) => {
        node[key] = v;
      });
  }
}
