import { SaxesParser } from "saxes";

/**
 * Paths into a synapse XML document for transformation rules (docs/replication.md, "Transformation
 * rules"): `/api/resource/inSequence/log`, `/endpoint/**\/address/@uri`,
 * `/**\/property[@name='debug']`. Segments match elements by local name (a prefix is ignored); `*` is
 * any one element, `**` any number of them (none included); `[@a='v']` requires an attribute value; a
 * final `@name` selects that attribute of the matched elements.
 */
export interface XmlPath {
  source: string;
  segments: Segment[];
  attribute?: string;
}

type Segment =
  | { kind: "any-depth" }
  | { kind: "element"; name: string; predicates: { attr: string; value: string }[] };

const NAME = /^[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?$/;
const SEGMENT = /^(\*|[A-Za-z_][\w.:-]*)((?:\[@[A-Za-z_][\w.:-]*=(?:'[^']*'|"[^"]*")\])*)$/;
const PREDICATE = /\[@([A-Za-z_][\w.:-]*)=(?:'([^']*)'|"([^"]*)")\]/g;
const MAX_PATH_LENGTH = 1000;

/** Parse a path; throws an Error naming what is wrong (the caller names the rule). */
export function parseXmlPath(source: string): XmlPath {
  if (source.length > MAX_PATH_LENGTH) throw new Error(`path is longer than ${MAX_PATH_LENGTH} characters`);
  if (!source.startsWith("/")) throw new Error(`path ${JSON.stringify(source)} must start with "/"`);
  // Split on "/" outside predicates' quotes.
  const parts: string[] = [];
  let cur = "";
  let quote: string | undefined;
  for (const ch of source.slice(1)) {
    if (quote) {
      if (ch === quote) quote = undefined;
      cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      cur += ch;
    } else if (ch === "/") {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quote) throw new Error(`path ${JSON.stringify(source)} has an unclosed quote`);
  parts.push(cur);
  let attribute: string | undefined;
  const last = parts.at(-1);
  if (last?.startsWith("@")) {
    attribute = last.slice(1);
    if (!NAME.test(attribute))
      throw new Error(`path ${JSON.stringify(source)}: bad attribute name "${attribute}"`);
    parts.pop();
  }
  if (parts.length === 0) throw new Error(`path ${JSON.stringify(source)} names no element`);
  const segments: Segment[] = parts.map((p) => {
    if (p === "**") return { kind: "any-depth" } as const;
    const m = SEGMENT.exec(p);
    if (!m) throw new Error(`path ${JSON.stringify(source)}: bad step ${JSON.stringify(p)}`);
    const predicates = [...(m[2] ?? "").matchAll(PREDICATE)].map((x) => ({
      attr: x[1]!,
      value: x[2] ?? x[3] ?? "",
    }));
    return { kind: "element", name: m[1]!, predicates } as const;
  });
  if (segments.at(-1)?.kind === "any-depth")
    throw new Error(`path ${JSON.stringify(source)} cannot end with "**"`);
  return { source, segments, ...(attribute === undefined ? {} : { attribute }) };
}

interface Open {
  name: string;
  attributes: Record<string, string>;
}

const localName = (n: string) => n.slice(n.indexOf(":") + 1);

function stepMatches(s: Extract<Segment, { kind: "element" }>, e: Open): boolean {
  if (s.name !== "*" && localName(s.name) !== localName(e.name)) return false;
  return s.predicates.every((p) => e.attributes[p.attr] === p.value);
}

/** Whether the path's elements match the stack of open elements (root first) exactly. */
export function pathMatches(segments: readonly Segment[], stack: readonly Open[]): boolean {
  const go = (si: number, ei: number): boolean => {
    if (si === segments.length) return ei === stack.length;
    const s = segments[si]!;
    if (s.kind === "any-depth") {
      for (let k = ei; k <= stack.length; k++) if (go(si + 1, k)) return true;
      return false;
    }
    return ei < stack.length && stepMatches(s, stack[ei]!) && go(si + 1, ei + 1);
  };
  return go(0, 0);
}

/** An edit of the document's text: replace [start, end) with `text`. */
interface Splice {
  start: number;
  end: number;
  text: string;
}

export interface XmlEdits {
  /** Elements removed (the matched element with everything inside it). */
  removeElements: readonly XmlPath[];
  /** Attributes removed from the matched elements. */
  removeAttributes: readonly XmlPath[];
  /** Attribute values rewritten: `rewrite(value)` returns the new (unescaped) value, or undefined for none. */
  rewriteAttributes: readonly { path: XmlPath; rewrite: (value: string) => string | undefined }[];
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", '"': "&quot;" };
const escapeAttr = (v: string) => v.replace(/[&<"]/g, (c) => ESCAPES[c] ?? c);

/**
 * Apply the edits by splicing the original text, so that everything the rules do not touch stays
 * byte for byte as the master wrote it. The document must be well-formed (callers check it first).
 * Returns the text unchanged (the same string) when nothing matched.
 */
export function editXml(xml: string, edits: XmlEdits): { text: string; changes: number } {
  if (edits.removeElements.length + edits.removeAttributes.length + edits.rewriteAttributes.length === 0) {
    return { text: xml, changes: 0 };
  }
  const parser = new SaxesParser({ position: true });
  const stack: (Open & { start: number; remove: boolean })[] = [];
  const splices: Splice[] = [];
  let removing = 0;
  let tagStart = 0;
  parser.on("opentagstart", () => {
    tagStart = xml.lastIndexOf("<", parser.position - 1);
  });
  parser.on("opentag", (tag) => {
    const attributes = tag.attributes as Record<string, string>;
    const open = { name: tag.name, attributes, start: tagStart, remove: false };
    stack.push(open);
    if (removing > 0) {
      removing++;
      return;
    }
    if (edits.removeElements.some((p) => pathMatches(p.segments, stack))) {
      open.remove = true;
      removing = 1;
      return;
    }
    const tagEnd = parser.position;
    const remove = new Set<string>();
    for (const p of edits.removeAttributes) {
      if (p.attribute !== undefined && p.attribute in attributes && pathMatches(p.segments, stack))
        remove.add(p.attribute);
    }
    const rewritten = new Map<string, string>();
    for (const r of edits.rewriteAttributes) {
      const name = r.path.attribute;
      if (
        name === undefined ||
        !(name in attributes) ||
        remove.has(name) ||
        !pathMatches(r.path.segments, stack)
      )
        continue;
      const value = r.rewrite(rewritten.get(name) ?? attributes[name]!);
      if (value !== undefined && value !== attributes[name]) rewritten.set(name, value);
    }
    if (remove.size === 0 && rewritten.size === 0) return;
    // Rebuild the start tag attribute by attribute (a value may hold anything, even " name=").
    const tagText = xml.slice(tagStart, tagEnd);
    const nameEnd = 1 + tag.name.length;
    const attr = /(\s+)([^\s=/>]+)(\s*=\s*)("[^"]*"|'[^']*')/y;
    attr.lastIndex = nameEnd;
    let out = tagText.slice(0, nameEnd);
    let at = nameEnd;
    for (let m = attr.exec(tagText); m !== null; m = attr.exec(tagText)) {
      const [whole, space, name, eq, quoted] = m as unknown as [string, string, string, string, string];
      at = attr.lastIndex;
      if (remove.has(name)) continue;
      const value = rewritten.get(name);
      if (value === undefined) {
        out += whole;
        continue;
      }
      const quote = quoted[0] === "'" ? "'" : '"';
      const escaped = escapeAttr(value).replace(quote === "'" ? /'/g : /(?!)/g, "&apos;");
      out += `${space}${name}${eq}${quote}${escaped}${quote}`;
    }
    out += tagText.slice(at);
    if (out !== tagText) splices.push({ start: tagStart, end: tagEnd, text: out });
  });
  parser.on("closetag", () => {
    const open = stack.pop();
    if (removing > 0) {
      removing--;
      if (open?.remove) splices.push({ start: open.start, end: parser.position, text: "" });
    }
  });
  parser.write(xml).close();
  if (splices.length === 0) return { text: xml, changes: 0 };
  splices.sort((a, b) => b.start - a.start);
  let text = xml;
  for (const s of splices) text = text.slice(0, s.start) + s.text + text.slice(s.end);
  return { text, changes: splices.length };
}
