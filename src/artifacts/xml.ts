import { SaxesParser } from "saxes";
import { GwsyncError } from "../errors.js";
import { fastXmlRoot } from "./xml-fast.js";

/** Largest XML document gwsync accepts (one API, sequence, endpoint or local entry), bytes. */
export const DEFAULT_MAX_XML_BYTES = 2 * 1024 * 1024;

/**
 * Deepest element nesting gwsync accepts: Woodstox's default (com.ctc.wstx.api.ReaderConfig,
 * DEFAULT_MAX_ELEMENT_DEPTH = 1000), the StAX parser under WSO2's AXIOM, so a gateway would refuse a
 * deeper artifact anyway. Synapse APIs nest a few dozen levels.
 */
export const DEFAULT_MAX_XML_DEPTH = 1000;

export interface XmlCheckOptions {
  /** Size cap in UTF-8 bytes. Default DEFAULT_MAX_XML_BYTES. */
  maxBytes?: number;
  /** Nesting cap in elements. Default DEFAULT_MAX_XML_DEPTH. */
  maxDepth?: number;
}

/**
 * The root element of a document: its tag as written and its attributes, values as XML defines them
 * (character and predefined entity references expanded: `name="a&amp;b"` is `a&b`), which is what
 * synapse reads through AXIOM (`nameAtt.getAttributeValue()`, wso2-synapse APIFactory.java:57,67).
 */
export interface XmlRoot {
  tag: string;
  attributes: Record<string, string>;
}

// A DTD is the only door to entity expansion (billion laughs) and external entities (XXE): synapse
// artifacts never need one, so any DOCTYPE or ENTITY declaration is refused before parsing.
const DTD_MARKERS = /<!(DOCTYPE|ENTITY)/i;

/**
 * Refuses, with a coded error naming `what`: documents over the size cap or nested deeper than the
 * depth cap (GWSYNC_ARTIFACT_INVALID), any DOCTYPE or ENTITY declaration (GWSYNC_XML_DOCTYPE), and XML
 * that is not well-formed or has not exactly one root element (GWSYNC_XML_MALFORMED, with line and
 * column). Returns the root element (attribute values with character and predefined entity references
 * expanded).
 *
 * One parser reads every document: checkXml, readXmlRoot, readXmlRootWithChildren and `<definitions>`
 * splitting (src/artifacts/definitions.ts) all go through saxes with the same limits, so one input gets
 * one answer whichever of them reads it (test/unit/artifacts-xml-one-rule.test.ts).
 *
 * Well-formedness is checked by saxes, a conformant streaming parser, in the same pass that reads the
 * root: about 30 µs for a 5 KB API, a third of what fast-xml-parser's validator plus a parse took
 * (the gateway's startup and catch-up run this for every API; BENCHMARKS.md, B7). checkXml and
 * readXmlRoot first try fastXmlRoot (./xml-fast.ts), which accepts only plainly well-formed documents
 * (a subset of what saxes accepts, with the same root) and leaves everything else, every refusal
 * included, to saxes.
 */
export function checkXml(xml: string, what: string, options: XmlCheckOptions = {}): XmlRoot {
  return scan(xml, what, options, false).root;
}

function checkLimits(xml: string, what: string, maxBytes: number): void {
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
}

const ONE_ROOT = "must have exactly one root element and nothing but comments around it";

interface Scan {
  root: XmlRoot;
  /** The root's direct child elements, in document order (when asked for). */
  children: XmlRoot[];
  /** The whole element tree (when asked for). */
  tree?: XmlElement;
}

/** An element with everything under it: its attributes, child elements and text (CDATA included). */
export interface XmlElement extends XmlRoot {
  children: XmlElement[];
  text: string;
}

function scan(
  xml: string,
  what: string,
  options: XmlCheckOptions,
  withChildren: boolean,
  withTree = false,
): Scan {
  checkLimits(xml, what, options.maxBytes ?? DEFAULT_MAX_XML_BYTES);
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_XML_DEPTH;
  if (!withChildren && !withTree) {
    // Plainly well-formed documents (most artifacts) skip saxes; anything else, and every refusal, is saxes's.
    const fast = fastXmlRoot(xml, maxDepth);
    if (fast !== undefined)
      return {
        root: { tag: detached(fast.tag), attributes: detachedAttributes(fast.attributes) },
        children: [],
      };
  }
  const parser = new SaxesParser({ position: true });
  let root: XmlRoot | undefined;
  const children: XmlRoot[] = [];
  let roots = 0;
  let depth = 0;
  let failure: { msg: string; line: number; col: number } | undefined;
  const open: XmlElement[] = [];
  let tree: XmlElement | undefined;
  if (withTree) {
    const addText = (t: string) => {
      const top = open.at(-1);
      if (top) top.text += t;
    };
    parser.on("text", addText);
    parser.on("cdata", addText);
  }
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
    } else if (depth === 1 && withChildren) {
      children.push({
        tag: node.name,
        attributes: detachedAttributes(node.attributes as Record<string, string>),
      });
    }
    if (withTree) {
      const e: XmlElement = {
        tag: node.name,
        attributes: detachedAttributes(node.attributes as Record<string, string>),
        children: [],
        text: "",
      };
      const parent = open.at(-1);
      if (parent) parent.children.push(e);
      else tree ??= e;
      if (!node.isSelfClosing) open.push(e);
    }
    if (depth >= maxDepth) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `${what} nests elements deeper than ${maxDepth} levels (line ${parser.line}); WSO2's XML parser refuses that too — flatten it`,
        { details: { what, maxDepth, line: parser.line } },
      );
    }
    if (!node.isSelfClosing) depth++;
  });
  parser.on("closetag", (node) => {
    if (node.isSelfClosing) return;
    depth--;
    if (withTree) open.pop();
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
  return { root, children, ...(tree === undefined ? {} : { tree }) };
}

/**
 * The whole document as an element tree, checked as by checkXml: for gwsync's own small XML formats
 * (replication's transformation rules), read by the same parser and rules as artifacts.
 */
export function readXmlElement(xml: string, what: string, options: XmlCheckOptions = {}): XmlElement {
  return scan(xml, what, options, false, true).tree!;
}

function detachedAttributes(attributes: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) out[detached(k)] = detached(v);
  return out;
}

/** The root element of a document, checked as by checkXml (one scan, one answer). */
export function readXmlRoot(xml: string, what: string, options: XmlCheckOptions = {}): XmlRoot {
  return scan(xml, what, options, false).root;
}

/** The root element and its direct child elements (in document order), checked as by checkXml. */
export function readXmlRootWithChildren(
  xml: string,
  what: string,
  options: XmlCheckOptions = {},
): XmlRoot & { children: XmlRoot[] } {
  const { root, children } = scan(xml, what, options, true);
  return { ...root, children };
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
