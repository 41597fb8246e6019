/**
 * One XML rule: whatever function reads a document (the check, the root, the root with its children,
 * `<definitions>` splitting, the synapse API reader), one input gets one answer. Attribute values are
 * what XML defines and synapse reads through AXIOM (wso2-synapse APIFactory.java:57,67,
 * `nameAtt.getAttributeValue()`): character and predefined entity references expanded.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { splitDefinitions } from "../../src/artifacts/definitions.js";
import { readSynapseApi, SYNAPSE_NS } from "../../src/artifacts/synapse-api.js";
import {
  checkXml,
  DEFAULT_MAX_XML_BYTES,
  DEFAULT_MAX_XML_DEPTH,
  readXmlRoot,
  readXmlRootWithChildren,
} from "../../src/artifacts/xml.js";
import { isGwsyncError } from "../../src/errors.js";
import { parseOamRules } from "../../src/replication/oam-rules.js";

/** What one reader makes of a document: the API's name attribute, or the refusal's code. */
type Answer = string;

function answer(read: () => string | undefined): Answer {
  try {
    return `name=${read() ?? "(none)"}`;
  } catch (err) {
    if (!isGwsyncError(err)) throw err;
    return `refused ${err.code}`;
  }
}

/** Every way gwsync reads the name of the API a document holds, as `<api>` and wrapped in `<definitions>`. */
function answers(apiAttrs: string, body = "<resource/>"): Record<string, Answer> {
  const api = `<api xmlns="${SYNAPSE_NS}" ${apiAttrs}>${body}</api>`;
  const wrapped = `<definitions xmlns="${SYNAPSE_NS}">${api.replace(` xmlns="${SYNAPSE_NS}"`, "")}</definitions>`;
  return {
    checkXml: answer(() => checkXml(api, "api").attributes.name),
    readXmlRoot: answer(() => readXmlRoot(api, "api").attributes.name),
    readSynapseApi: answer(() => readSynapseApi(api).synapseName),
    "checkXml <definitions>": answer(() => {
      checkXml(wrapped, "definitions");
      return readXmlRootWithChildren(wrapped, "definitions").children[0]?.attributes.name;
    }),
    "readSynapseApi <definitions>": answer(() => readSynapseApi(wrapped).synapseName),
    splitDefinitions: answer(() => {
      const part = splitDefinitions(wrapped, "definitions")?.apis[0];
      return part === undefined ? undefined : readXmlRoot(part, "part").attributes.name;
    }),
  };
}

function assertOneAnswer(apiAttrs: string, expected: Answer, body?: string): void {
  const all = answers(apiAttrs, body);
  for (const [reader, got] of Object.entries(all))
    assert.equal(got, expected, `${reader}: ${JSON.stringify(all)}`);
}

function nested(depth: number): string {
  return "<a>".repeat(depth) + "</a>".repeat(depth);
}

describe("one XML rule: every reader gives the same answer", () => {
  test('name="a&amp;b" is a&b everywhere, as synapse reads it', () => {
    assertOneAnswer('name="admin--a&amp;b" context="/ab"', "name=admin--a&b");
  });

  test("character references and the other predefined entities are expanded everywhere", () => {
    assertOneAnswer('name="admin--&#x41;&#66;&lt;&gt;&quot;&apos;" context="/c"', `name=admin--AB<>"'`);
  });

  test("an entity XML does not predefine is refused everywhere (no DTD may define one)", () => {
    assertOneAnswer('name="admin--a&nbsp;b" context="/n"', "refused GWSYNC_XML_MALFORMED");
  });

  test("CDATA is text: markup inside it neither hides nor adds an element, for any reader", () => {
    const cdata =
      '<resource><inSequence><payloadFactory><format><![CDATA[<api name="fake" context="/f"/> &amp; ]]></format></payloadFactory></inSequence></resource>';
    assertOneAnswer('name="admin--real" context="/r"', "name=admin--real", cdata);
    const definitions = `<definitions xmlns="${SYNAPSE_NS}"><![CDATA[<api name="fake"/>]]><api name="admin--real" context="/r"><resource/></api></definitions>`;
    assert.deepEqual(
      readXmlRootWithChildren(definitions, "d").children.map((c) => c.attributes.name),
      ["admin--real"],
    );
    assert.equal(splitDefinitions(definitions, "d")?.apis.length, 1);
  });

  test("the size limit gives the same refusal to every reader", () => {
    const padding = `<!--${"x".repeat(DEFAULT_MAX_XML_BYTES)}-->`;
    assertOneAnswer(
      'name="admin--big" context="/big"',
      "refused GWSYNC_ARTIFACT_INVALID",
      `<resource/>${padding}`,
    );
  });

  test("the depth limit gives the same answer to every reader: at the limit accepted, past it refused", () => {
    // <definitions> adds a level: leave room for it so both forms sit at the same depth of the API.
    assertOneAnswer('name="admin--deep" context="/d"', "name=admin--deep", nested(DEFAULT_MAX_XML_DEPTH - 2));
    assertOneAnswer(
      'name="admin--deep" context="/d"',
      "refused GWSYNC_ARTIFACT_INVALID",
      nested(DEFAULT_MAX_XML_DEPTH),
    );
  });

  test("a DOCTYPE is refused by every reader, not only by the check", () => {
    const doc = `<!DOCTYPE api><api xmlns="${SYNAPSE_NS}" name="admin--x" context="/x"><resource/></api>`;
    for (const read of [() => checkXml(doc, "x"), () => readXmlRoot(doc, "x"), () => readSynapseApi(doc)]) {
      assert.throws(read, (err: unknown) => isGwsyncError(err) && err.code === "GWSYNC_XML_DOCTYPE");
    }
  });

  test("gwsync's own XML (replication's transformation rules) reads entities, references and CDATA as artifacts do", () => {
    const rules = parseOamRules(
      '<mdc-transform-rule><value name="host">a&amp;b&#x41;&#66;<![CDATA[&lt;]]></value></mdc-transform-rule>',
    );
    assert.equal(rules.values?.host, "a&bAB&lt;");
  });
});
