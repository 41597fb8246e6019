/**
 * A fast path for checkXml / readXmlRoot (src/artifacts/xml.ts): one pass over the common shape of a
 * synapse artifact that accepts a document only when it is plainly well-formed, and answers
 * `undefined` ("not sure") for anything else, which then goes to saxes as before. It never refuses:
 * every refusal, and its words, stays saxes's. So a document it accepts must be one saxes accepts,
 * with the same root element and attribute values (test/unit/artifacts-xml-fast-path.test.ts compares
 * the two on the test corpus and on random mutations of it).
 *
 * What it accepts, and only that: an optional XML declaration `version="1.0"` (optional encoding and
 * standalone) at the very start; then comments and white space; exactly one root element; inside it
 * elements with ASCII names, attributes (white space before each, quoted values without `<`, `&` only
 * as one of the five predefined entity references, no duplicate names), text without `]]>` whose `&`
 * are predefined entity references, comments, CDATA sections; after the root only comments and white
 * space. Every character of the document must be a plain XML 1.0 character (no C0 control but tab,
 * line feed and carriage return, no surrogate, no U+FFFE/U+FFFF). The root's attribute values must be
 * literal (no reference, no tab or line break, which XML would normalize). Nesting deeper than
 * `maxDepth` is left to saxes too, which refuses it with the line. Character references, processing
 * instructions, non-ASCII names and anything unusual are left to saxes.
 *
 * Why: saxes reads a document a code point at a time through its state machine, ~0.3 ms of a gateway's
 * CPU per 5 KB update under B1's load; this pass is mostly native regular-expression and indexOf
 * scans (BENCHMARKS.md, issue 19, "the gateway's CPU per update, second pass"; bench/xml-check-cost.ts).
 */

/** Any character XML 1.0 does not allow (C0 controls but tab, LF, CR; U+FFFE/U+FFFF), and surrogates: pairs are left to saxes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const NOT_PLAIN_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;
const XML_DECL =
  /<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"1\.0"|'1\.0')(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"[A-Za-z][A-Za-z0-9._-]*"|'[A-Za-z][A-Za-z0-9._-]*'))?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\r\n]*\?>/y;
const SPACES = /[ \t\r\n]*/y;
/** Character data up to the next `<`: no `&` but a predefined entity reference, no `]]>`. */
const TEXT = /(?:[^<&\]]|\](?!\]>)|&(?:lt|gt|amp|quot|apos);)*/y;
/**
 * A whole start tag: its name (1), its attributes (2: each after white space, a value without `<`,
 * `&` only in a predefined entity reference) and `/` when it closes itself (3). The alternatives of
 * each part begin with different characters, so a failing match backtracks in linear time.
 */
const START_TAG =
  /<([A-Za-z_:][A-Za-z0-9._:-]*)((?:[ \t\r\n]+[A-Za-z_:][A-Za-z0-9._:-]*[ \t\r\n]*=[ \t\r\n]*(?:"(?:[^<&"]|&(?:lt|gt|amp|quot|apos);)*"|'(?:[^<&']|&(?:lt|gt|amp|quot|apos);)*'))*)[ \t\r\n]*(\/?)>/y;
/** One attribute of a START_TAG's group 2: its name (1) and its value between double (2) or single (3) quotes. */
const ATTRIBUTE = /[ \t\r\n]+([A-Za-z_:][A-Za-z0-9._:-]*)[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')/y;
/** A root attribute value taken as written: nothing XML would expand or normalize. */
const LITERAL_VALUE = /^[^&\t\n\r]*$/;

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;

function skipSpaces(xml: string, i: number): number {
  SPACES.lastIndex = i;
  SPACES.test(xml);
  return SPACES.lastIndex;
}

/** The index after a comment starting at `i` (`<!--`), or -1 when it is not a plain, closed one. */
function commentEnd(xml: string, i: number): number {
  const dashes = xml.indexOf("--", i + 4);
  if (dashes === -1 || xml.charCodeAt(dashes + 2) !== GT) return -1;
  return dashes + 3;
}

export interface FastRoot {
  tag: string;
  /** Attribute values as written (they are literal: see LITERAL_VALUE), in document order. */
  attributes: Record<string, string>;
}

/**
 * The root element of `xml` when it is plainly well-formed and nests at most `maxDepth` elements;
 * `undefined` when the pass cannot tell (saxes must read it). Size and DTD checks are the caller's.
 */
export function fastXmlRoot(xml: string, maxDepth: number): FastRoot | undefined {
  if (NOT_PLAIN_CHAR.test(xml)) return undefined;
  const n = xml.length;
  let i = 0;
  if (xml.startsWith("<?xml", 0)) {
    XML_DECL.lastIndex = 0;
    if (!XML_DECL.test(xml)) return undefined;
    i = XML_DECL.lastIndex;
  }
  const open: string[] = [];
  let root: FastRoot | undefined;
  while (i < n) {
    const c = xml.charCodeAt(i);
    if (c !== LT) {
      if (open.length === 0) {
        // Outside the root: white space only.
        const j = skipSpaces(xml, i);
        if (j === i) return undefined;
        i = j;
        continue;
      }
      TEXT.lastIndex = i;
      TEXT.test(xml);
      i = TEXT.lastIndex;
      if (i < n && xml.charCodeAt(i) !== LT) return undefined; // a reference or `]]>` it does not take
      continue;
    }
    const c1 = xml.charCodeAt(i + 1);
    if (c1 === BANG) {
      if (xml.startsWith("<!--", i)) {
        i = commentEnd(xml, i);
        if (i === -1) return undefined;
        continue;
      }
      if (open.length > 0 && xml.startsWith("<![CDATA[", i)) {
        const end = xml.indexOf("]]>", i + 9);
        if (end === -1) return undefined;
        i = end + 3;
        continue;
      }
      return undefined;
    }
    if (c1 === QUESTION) return undefined;
    if (c1 === SLASH) {
      const top = open.pop();
      if (top === undefined || !xml.startsWith(top, i + 2)) return undefined;
      // A longer name (`</ab>` closing `<a>`) fails here too: a name character is neither space nor `>`.
      const j = skipSpaces(xml, i + 2 + top.length);
      if (xml.charCodeAt(j) !== GT) return undefined;
      i = j + 1;
      continue;
    }
    // A start tag.
    if (open.length === 0 && root !== undefined) return undefined; // a second root
    if (open.length >= maxDepth) return undefined; // saxes refuses it, with the line
    START_TAG.lastIndex = i;
    const tag = START_TAG.exec(xml);
    if (tag === null) return undefined;
    const name = tag[1]!;
    const attrs = tag[2]!;
    const isRoot = root === undefined;
    // Each attribute has one `=` outside its value: with two or more `=`, read them one by one.
    if (isRoot || (attrs.length > 0 && attrs.indexOf("=") !== attrs.lastIndexOf("="))) {
      const attributes: Record<string, string> = Object.create(null);
      const names = new Set<string>();
      ATTRIBUTE.lastIndex = 0;
      for (let a = ATTRIBUTE.exec(attrs); a !== null; a = ATTRIBUTE.exec(attrs)) {
        const attr = a[1]!;
        if (names.has(attr)) return undefined; // saxes: duplicate attribute
        names.add(attr);
        if (isRoot) {
          const value = a[2] ?? a[3]!;
          if (!LITERAL_VALUE.test(value)) return undefined;
          attributes[attr] = value;
        }
      }
      if (isRoot) root = { tag: name, attributes };
    }
    i = START_TAG.lastIndex;
    if (tag[3] !== "/") open.push(name);
  }
  if (root === undefined || open.length > 0) return undefined;
  return root;
}
