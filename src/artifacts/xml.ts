import { XMLParser } from "fast-xml-parser";
import { SaxesParser } from "saxes";
import { GwsyncError } from "../errors.js";

/** Largest XML document gwsync accepts (one API, sequence, endpoint or local entry), bytes. */
export const DEFAULT_MAX_XML_BYTES = 2 * 1024 * 1024;

export interface XmlCheckOptions {
  /** Size cap in UTF-8 bytes. Default DEFAULT_MAX_XML_BYTES. */
  maxBytes?: number;
}

/** The root element of a document: its tag as written and its attributes (values raw, entities unexpanded). */
export interface XmlRoot {
  tag: string;
  attributes: Record<string, string>;
}

// A DTD is the only door to entity expansion (billion laughs) and external entities (XXE): synapse
// artifacts never need one, so any DOCTYPE or ENTITY declaration is refused before parsing.
const DTD_MARKERS = /<!(DOCTYPE|ENTITY)/i;

const ATTRIBUTE_PREFIX = "@";

// Entities off (the DOCTYPE rule already refused declarations; this keeps `&lt;` as written).
// Nodes below the root are not parsed into objects: only the root and its attributes are needed.
const PARSER_OPTIONS = {
  ignoreAttributes: false,
  attributeNamePrefix: ATTRIBUTE_PREFIX,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseAttributeValue: false,
  parseTagValue: false,
  commentPropName: "#comment",
} as const;
// Parses the root and its direct children (for `<definitions>` wrappers); grandchildren stay text.
const childrenParser = new XMLParser({ ...PARSER_OPTIONS, stopNodes: ["*.*"] });

/**
 * Refuses, with a coded error naming `what`: documents over the size cap (GWSYNC_ARTIFACT_INVALID), any
 * DOCTYPE or ENTITY declaration (GWSYNC_XML_DOCTYPE), and XML that is not well-formed or has not exactly
 * one root element (GWSYNC_XML_MALFORMED, with line and column). Returns the root element (attribute
 * values with the five predefined entities expanded).
 *
 * Well-formedness is checked by saxes, a conformant streaming parser, in the same pass that reads the
 * root: about 30 µs for a 5 KB API, a third of what fast-xml-parser's validator plus a parse took
 * (the gateway's startup and catch-up run this for every API; BENCHMARKS.md, B7).
 */
export function checkXml(xml: string, what: string, options: XmlCheckOptions = {}): XmlRoot {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_XML_BYTES;
  // A UTF-16 unit is at most 3 UTF-8 bytes: skip the byte count when the string is plainly small.
  if (xml.length * 3 > maxBytes && Buffer.byteLength(xml, "utf8") > maxBytes) {
    throw new GwsyncError(
      "GWSYNC_ARTIFACT_INVALID",
      `${what} is ${Buffer.byteLength(xml, "utf8")} bytes, over the ${maxBytes}-byte limit; split the artifact or raise the limit`,
      { details: { what, maxBytes } },
    );
  }
  const dtd = DTD_MARKERS.exec(xml);
  if (dtd !== null) {
    const { line, col } = positionOf(xml, dtd.index);
    throw new GwsyncError(
      "GWSYNC_XML_DOCTYPE",
      `${what} contains <!${dtd[1]} at line ${line}, col ${col}; DTDs and entity declarations are refused (they allow entity expansion and external entities) — remove it`,
      { details: { what, line, col } },
    );
  }
  return scanRoot(xml, what);
}

const ONE_ROOT = "must have exactly one root element and nothing but comments around it";

function scanRoot(xml: string, what: string): XmlRoot {
  const parser = new SaxesParser({ position: true });
  let root: XmlRoot | undefined;
  let roots = 0;
  let depth = 0;
  let failure: { msg: string; line: number; col: number } | undefined;
  parser.on("error", (err) => {
    // saxes prefixes "line:col: "; keep the reason, report the position ourselves.
    failure ??= {
      msg: err.message.replace(/^(?:[^:]*:)?\d+:\d+: /, ""),
      line: parser.line,
      col: parser.column,
    };
    throw err;
  });
  parser.on("opentag", (node) => {
    if (depth === 0) {
      roots++;
      if (roots === 1)
        root = { tag: node.name, attributes: detachedAttributes(node.attributes as Record<string, string>) };
    }
    if (!node.isSelfClosing) depth++;
  });
  parser.on("closetag", (node) => {
    if (!node.isSelfClosing) depth--;
  });
  try {
    parser.write(xml).close();
  } catch (err) {
    if (failure === undefined) throw err;
    if (/outside of root node|only one root/i.test(failure.msg)) {
      throw new GwsyncError("GWSYNC_XML_MALFORMED", `${what} ${ONE_ROOT}`, { details: { what } });
    }
    throw new GwsyncError(
      "GWSYNC_XML_MALFORMED",
      `${what} is not well-formed XML at line ${failure.line}, col ${failure.col}: ${failure.msg}`,
      { details: { what, line: failure.line, col: failure.col } },
    );
  }
  if (root === undefined || roots !== 1) {
    throw new GwsyncError("GWSYNC_XML_MALFORMED", `${what} ${ONE_ROOT}`, { details: { what } });
  }
  return root;
}

function detachedAttributes(attributes: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) out[detached(k)] = detached(v);
  return out;
}

/** The root element of a document (checked as by checkXml, DOCTYPE rule aside: call checkXml first). */
export function readXmlRoot(xml: string, what: string): XmlRoot {
  return scanRoot(xml, what);
}

/** The root element and its direct child elements (in document order of first appearance). */
export function readXmlRootWithChildren(xml: string, what: string): XmlRoot & { children: XmlRoot[] } {
  const [tag, node] = rootOf(childrenParser.parse(xml) as Record<string, unknown>, xml, what);
  const children: XmlRoot[] = [];
  if (node !== null && typeof node === "object") {
    for (const [childTag, value] of Object.entries(node)) {
      if (childTag.startsWith(ATTRIBUTE_PREFIX) || childTag.startsWith("#")) continue;
      for (const child of Array.isArray(value) ? value : [value]) {
        children.push({ tag: childTag, attributes: attributesOf(child) });
      }
    }
  }
  return { tag, attributes: attributesOf(node), children };
}

function rootOf(doc: Record<string, unknown>, xml: string, what: string): [string, unknown] {
  const elements = Object.entries(doc).filter(([key]) => !key.startsWith("#"));
  const first = elements[0];
  const single = elements.length === 1 && first !== undefined && !Array.isArray(first[1]);
  // The validator tolerates text after the root element (`<a/>junk`); XML does not.
  if (!single || !xml.trimEnd().endsWith(">")) {
    throw new GwsyncError(
      "GWSYNC_XML_MALFORMED",
      `${what} must have exactly one root element and nothing but comments around it`,
      { details: { what } },
    );
  }
  return first;
}

function attributesOf(node: unknown): Record<string, string> {
  const attributes: Record<string, string> = {};
  if (node === null || typeof node !== "object") return attributes;
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith(ATTRIBUTE_PREFIX) && typeof value === "string") {
      attributes[key.slice(ATTRIBUTE_PREFIX.length)] = detached(value);
    }
  }
  return attributes;
}

/**
 * A copy that does not point into the document: V8 keeps substrings as slices of their parent, so a
 * 30-byte name kept in a deploy record would otherwise hold the whole multi-kilobyte XML in memory.
 */
function detached(value: string): string {
  return Buffer.from(value, "utf8").toString("utf8");
}

function positionOf(text: string, index: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < index; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: index - lineStart + 1 };
}
