import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { checkXml, DEFAULT_MAX_XML_BYTES } from "../../src/artifacts/xml.js";
import { GwsyncError } from "../../src/errors.js";

function refusedWith(code: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof GwsyncError, `expected GwsyncError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<api name="x" context="/x">&lol3;</api>`;

const XXE = `<?xml version="1.0"?>
<!DOCTYPE api [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<api xmlns="http://ws.apache.org/ns/synapse" name="x" context="/x">&xxe;</api>`;

const SYNAPSE = new URL("../fixtures/wso2/synapse/", import.meta.url);

describe("checkXml", () => {
  test("accepts every WSO2 synapse sample, including the ISO-8859-1 declared default sequence", () => {
    for (const name of fs.readdirSync(SYNAPSE)) {
      checkXml(fs.readFileSync(new URL(name, SYNAPSE), "utf8"), name);
    }
  });

  test("accepts a byte order mark before the declaration", () => {
    checkXml('\ufeff<?xml version="1.0"?>\n<api name="a--b" context="/b"/>', "bom");
  });

  test("accepts a well-formed synapse sequence with a declaration, comments and CDATA", () => {
    checkXml(
      `<?xml version="1.0" encoding="UTF-8"?>\n<!-- licence -->\n<sequence xmlns="http://ws.apache.org/ns/synapse" name="s"><script><![CDATA[a < b && c]]></script></sequence>\n`,
      "sequence s",
    );
  });

  test("refuses the billion laughs entity bomb by its DOCTYPE", () => {
    assert.throws(
      () => checkXml(BILLION_LAUGHS, "API x"),
      refusedWith("GWSYNC_XML_DOCTYPE", /API x.*DOCTYPE at line 2/),
    );
  });

  test("refuses an external entity (XXE) by its DOCTYPE", () => {
    assert.throws(
      () => checkXml(XXE, "API x"),
      refusedWith("GWSYNC_XML_DOCTYPE", /DTDs and entity declarations/),
    );
  });

  test("refuses a DOCTYPE in any letter case and a bare ENTITY declaration", () => {
    assert.throws(
      () => checkXml('<!doctype api SYSTEM "http://evil/x.dtd"><api/>', "a"),
      refusedWith("GWSYNC_XML_DOCTYPE"),
    );
    assert.throws(
      () => checkXml('<api><!ENTITY e "x"></api>', "a"),
      refusedWith("GWSYNC_XML_DOCTYPE", /<!ENTITY/),
    );
  });

  test("leaves undeclared entity references unexpanded instead of resolving them", () => {
    // Without a DTD there is nothing to expand; the document is still well-formed for the validator.
    checkXml("<localEntry key='k'>&lt;tag&gt; &amp; text</localEntry>", "local entry k");
  });

  test("refuses mismatched tags with the line and column of the error", () => {
    assert.throws(
      () => checkXml('<?xml version="1.0"?>\n<api>\n  <resource></inSequence>\n</api>', "API y"),
      refusedWith(
        "GWSYNC_XML_MALFORMED",
        /API y is not well-formed XML at line 3, col \d+: unexpected close tag/,
      ),
    );
  });

  test("refuses an attribute without quotes, with its position", () => {
    assert.throws(
      () => checkXml("<api>\n  <b attr=noquote/></api>", "API z"),
      refusedWith("GWSYNC_XML_MALFORMED", /line 2/),
    );
  });

  test("refuses empty text, plain text and two root elements", () => {
    assert.throws(() => checkXml("", "e"), refusedWith("GWSYNC_XML_MALFORMED"));
    assert.throws(() => checkXml("just text", "t"), refusedWith("GWSYNC_XML_MALFORMED"));
    assert.throws(
      () => checkXml("<a/><b/>", "two"),
      refusedWith("GWSYNC_XML_MALFORMED", /exactly one root element/),
    );
    assert.throws(
      () => checkXml("<a/><a/>", "twice"),
      refusedWith("GWSYNC_XML_MALFORMED", /exactly one root element/),
    );
    assert.throws(
      () => checkXml("<a/>junk", "junk"),
      refusedWith("GWSYNC_XML_MALFORMED", /exactly one root element/),
    );
  });

  test("refuses a document over the size cap before parsing it", () => {
    const big = `<api>${"x".repeat(DEFAULT_MAX_XML_BYTES)}</api>`;
    assert.throws(
      () => checkXml(big, "API big"),
      refusedWith("GWSYNC_ARTIFACT_INVALID", /API big is \d+ bytes, over the 2097152-byte limit/),
    );
    assert.throws(
      () => checkXml("<a>€€€€</a>", "small cap", { maxBytes: 10 }),
      refusedWith("GWSYNC_ARTIFACT_INVALID"),
    );
    checkXml("<a>€€</a>", "fits", { maxBytes: 20 });
  });
});
