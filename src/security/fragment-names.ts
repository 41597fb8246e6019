/**
 * Synapse names a sequence, endpoint or local entry after its XML, not after its file: the deployer
 * registers `seq.getName()` read from `<sequence name="...">` (wso2-synapse
 * modules/core/src/main/java/org/apache/synapse/deployers/SequenceDeployer.java:68 @ 172a6020,
 * `getSynapseConfiguration().addSequence(seq.getName(), seq)`; EndpointDeployer and LocalEntryDeployer
 * do the same with the endpoint's name and the entry's key). A fragment whose file name and XML name
 * differ would let `sequences/notmain.xml` holding `<sequence name="main">` replace the gateway's main
 * sequence while the skip list, which matches names and file names, sees only "notmain".
 */
const EXPECTED_ROOT = {
  sequence: { tag: "sequence", attribute: "name" },
  endpoint: { tag: "endpoint", attribute: "name" },
  "local entry": { tag: "localEntry", attribute: "key" },
} as const;

export type FragmentKind = keyof typeof EXPECTED_ROOT;

/** An XML root as src/artifacts/xml.ts reads it (kept structural: artifacts/ imports this module). */
interface XmlRoot {
  tag: string;
  attributes: Record<string, string>;
}

/** Why a fragment's XML root does not name it `name`, or undefined when it does. */
export function fragmentNameProblem(kind: FragmentKind, name: string, root: XmlRoot): string | undefined {
  const want = EXPECTED_ROOT[kind];
  const local = root.tag.slice(root.tag.indexOf(":") + 1);
  if (local !== want.tag) return `its XML root is <${root.tag}>, but a ${kind} must be <${want.tag}>`;
  const declared = root.attributes[want.attribute];
  if (declared !== name) {
    return `its XML declares ${want.attribute}=${JSON.stringify(declared ?? null)}, but it is delivered as "${name}"; Synapse would deploy it under the XML's ${want.attribute}`;
  }
  return undefined;
}
