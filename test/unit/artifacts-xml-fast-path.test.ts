/**
 * checkXml's fast path (src/artifacts/xml-fast.ts) answers only for plainly well-formed documents and
 * leaves everything else to saxes. What it accepts, saxes must accept with the same root element and
 * attribute values; it never refuses. Checked against saxes (readXmlRootWithChildren always reads with
 * saxes) on the test corpus and on random mutations of it aimed at XML's syntax.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { fastXmlRoot } from "../../src/artifacts/xml-fast.js";
import {
  checkXml,
  DEFAULT_MAX_XML_DEPTH,
  readXmlRoot,
  readXmlRootWithChildren,
} from "../../src/artifacts/xml.js";
import { isGwsyncError } from "../../src/errors.js";
import { synapseApi } from "../harness/cluster.js";

function xmlFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...xmlFilesUnder(p));
    else if (e.name.endsWith(".xml")) out.push(readFileSync(p, "utf8"));
  }
  return out;
}

const SYNAPSE = 'xmlns="http://ws.apache.org/ns/synapse"';

/** Plainly well-formed documents the fast path is meant to take. */
const PLAIN = [
  ...xmlFilesUnder(join(import.meta.dirname, "..", "fixtures")),
  synapseApi({ name: "Corpus", revision: 3, size: 5 * 1024 }),
  synapseApi({ name: "Small", revision: 1 }),
  `<api ${SYNAPSE} name='admin--q' context="/q"/>`,
  `<?xml version='1.0'?><!-- c --><api ${SYNAPSE} name="admin--c" context="/c"><!-- in --><resource/></api>\n<!-- after -->\n`,
  `<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>\r\n<api ${SYNAPSE} name="admin--d" context="/d"><resource methods="GET"><inSequence><payloadFactory><format><![CDATA[<x a="1"> & ]]]]></format></payloadFactory></inSequence></resource></api>`,
  `<api ${SYNAPSE} name="admin--e" context="/e"><log level="custom"><property name="m" value="a &amp; b &lt; c &gt; d &quot; &apos;"/></log>text &amp; more &gt; ]] ] &lt;</api>`,
  `<sequence ${SYNAPSE} name="s" xmlns:ns="urn:x"><ns:a ns:b="1"   c = "2"	d='3'></ns:a><filter source="get-property('x')" regex="a.*b"/></sequence>`,
  `<localEntry key="k">é ü 日本 \u00a0 <v>\u20ac</v></localEntry>`,
];

/** Documents the fast path leaves to saxes although saxes accepts them (references, PIs, normalized values). */
const LEFT_TO_SAXES = [
  `<api ${SYNAPSE} name="admin--a&amp;b" context="/ab"/>`,
  `<api ${SYNAPSE} name="admin--&#x41;" context="/c"/>`,
  `<api name="x">&#65;</api>`,
  `<?xml-stylesheet href="a"?><api name="x"/>`,
  `<api name="a\tb"/>`,
  `<api name="x">\ud83d\ude00</api>`,
  `<?xml version="1.1"?><api name="x"/>`,
];

/** Near-plain documents saxes refuses: the fast path must leave each to it. */
const MALFORMED = [
  "<a/><b/>",
  "<a></a><b></b>",
  "<a/>text",
  "<a><b></a>",
  "<a><b></b>",
  "<a></ab>",
  '<a b="1" b="2"/>',
  '<r><a b="1" c="2" b="3"/></r>',
  '<a b="1"c="2"/>',
  '<a b="<"/>',
  '<a b="&x;"/>',
  "<a b='1\"/>",
  "<a b=1/>",
  "<a>&nbsp;</a>",
  "<a>&amp</a>",
  "<a>]]></a>",
  "<a><!-- x -- y --></a>",
  "<a><!-- x ---></a>",
  "<a><![CDATA[ x </a>",
  ' <?xml version="1.0"?><a/>',
  '<?xml version="1.0"?><?xml version="1.0"?><a/>',
  '<?xml encoding="UTF-8"?><a/>',
  "<a/ >",
  "< a/>",
  "<1a/>",
  "<a>\u0001</a>",
  "<a>\ud800</a>",
  "<![CDATA[x]]><a/>",
  "",
  "<!-- only a comment -->",
];

/** Pieces of XML syntax a mutation inserts: the characters and sequences well-formedness is about. */
const PIECES = [
  "<",
  ">",
  "/",
  "!",
  "?",
  "-",
  "[",
  "]",
  "&",
  ";",
  "=",
  '"',
  "'",
  " ",
  "\t",
  "\n",
  "\r",
  "a",
  ":",
  "#",
  "x",
  "&amp;",
  "&lt;",
  "&foo;",
  "&#65;",
  "&#0;",
  "<!--",
  "-->",
  "--",
  "<![CDATA[",
  "]]>",
  "<?xml",
  "?>",
  "<?pi x?>",
  "<a>",
  "</a>",
  "<a/>",
  "</b>",
  "<!DOCTYPE",
  "\u0001",
  "\u000b",
  "\ud800",
  "\udc00",
  "\ufffe",
  "\uffff",
  "é",
  '="v"',
  " b='1'",
  ' a="1"',
  "xmlns",
  "1",
  ".",
  "_",
  "\u00b7",
  "\u0300",
];

type Mutation = { at: number; del: number; piece: number; copy: boolean };

function mutate(doc: string, mutations: readonly Mutation[]): string {
  let s = doc;
  for (const m of mutations) {
    const at = s.length === 0 ? 0 : m.at % (s.length + 1);
    const del = Math.min(m.del, s.length - at);
    // Either a syntax piece, or a copy of a nearby slice of the document (moves tags and quotes around).
    const insert = m.copy ? s.slice(Math.max(0, at - 12), at) : PIECES[m.piece % PIECES.length]!;
    s = s.slice(0, at) + insert + s.slice(at + del);
  }
  return s;
}

/** saxes's answer (readXmlRootWithChildren never takes the fast path). */
function saxesRoot(
  xml: string,
  maxDepth: number,
): { tag: string; attributes: Record<string, string> } | string {
  try {
    const { tag, attributes } = readXmlRootWithChildren(xml, "doc", { maxDepth });
    return { tag, attributes };
  } catch (err) {
    if (!isGwsyncError(err)) throw err;
    return `${err.code}: ${err.message}`;
  }
}

function checkAnswer(xml: string, maxDepth: number): unknown {
  try {
    const { tag, attributes } = checkXml(xml, "doc", { maxDepth });
    return { tag, attributes };
  } catch (err) {
    if (!isGwsyncError(err)) throw err;
    return `${err.code}: ${err.message}`;
  }
}

/** The fast path's answer, checked against saxes: "fast" when it took the document, "saxes" when it left it. */
function agrees(xml: string, maxDepth = DEFAULT_MAX_XML_DEPTH): "fast" | "saxes" {
  const fast = fastXmlRoot(xml, maxDepth);
  const slow = saxesRoot(xml, maxDepth);
  // checkXml (fast path first) and saxes alone give one answer, refusals word for word.
  assert.deepStrictEqual(checkAnswer(xml, maxDepth), slow, JSON.stringify(xml).slice(0, 400));
  if (fast === undefined) return "saxes";
  assert.notEqual(
    typeof slow,
    "string",
    `fast path accepted what saxes refuses: ${JSON.stringify(xml).slice(0, 400)} (${String(slow)})`,
  );
  assert.deepStrictEqual({ tag: fast.tag, attributes: { ...fast.attributes } }, slow);
  return "fast";
}

describe("checkXml's fast path", () => {
  test("takes the plain corpus (fixtures, B1's API, comments, CDATA, predefined entities) with saxes's root", () => {
    for (const doc of PLAIN) assert.equal(agrees(doc), "fast", doc.slice(0, 200));
  });

  test("leaves references, processing instructions, values XML normalizes and XML 1.1 to saxes", () => {
    for (const doc of LEFT_TO_SAXES) {
      assert.equal(fastXmlRoot(doc, DEFAULT_MAX_XML_DEPTH), undefined, doc);
      agrees(doc);
    }
    // and readXmlRoot still expands them as saxes does
    assert.equal(readXmlRoot(LEFT_TO_SAXES[0]!, "x").attributes.name, "admin--a&b");
  });

  test("leaves every near-plain malformed document to saxes, which refuses it", () => {
    for (const doc of MALFORMED) {
      assert.equal(agrees(doc), "saxes", doc);
      assert.equal(typeof saxesRoot(doc, DEFAULT_MAX_XML_DEPTH), "string", `saxes takes ${doc}`);
    }
  });

  test("the depth limit: at the limit taken, past it left to saxes, which refuses it", () => {
    const nested = (d: number) => `${"<a>".repeat(d)}${"</a>".repeat(d)}`;
    assert.equal(agrees(nested(5), 5), "fast");
    assert.equal(agrees(`${"<a>".repeat(4)}<b/>${"</a>".repeat(4)}`, 5), "fast");
    assert.equal(agrees(`${"<a>".repeat(5)}<b/>${"</a>".repeat(5)}`, 5), "saxes");
    assert.equal(agrees(nested(6), 5), "saxes");
    assert.match(String(saxesRoot(nested(6), 5)), /GWSYNC_ARTIFACT_INVALID/);
  });

  test("whatever it takes of random mutations of the corpus, saxes takes with the same root", () => {
    const seen = { fast: 0, saxes: 0, refused: 0 };
    const small = PLAIN.filter((d) => d.length < 1500);
    fc.assert(
      fc.property(
        fc.constantFrom(...small, ...LEFT_TO_SAXES, ...MALFORMED),
        fc.array(
          fc.record({
            at: fc.nat(),
            del: fc.nat({ max: 4 }),
            piece: fc.nat(),
            copy: fc.boolean(),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        fc.constantFrom(DEFAULT_MAX_XML_DEPTH, 2, 3, 4),
        (doc, mutations, maxDepth) => {
          const xml = mutate(doc, mutations);
          seen[agrees(xml, maxDepth)]++;
          if (typeof saxesRoot(xml, maxDepth) === "string") seen.refused++;
        },
      ),
      { numRuns: 10_000, seed: 19 },
    );
    // The mutations exercise both sides: some stay plain and are taken, many are refused by saxes.
    assert.ok(seen.fast > 100, JSON.stringify(seen));
    assert.ok(seen.refused > 5_000, JSON.stringify(seen));
  });
});
