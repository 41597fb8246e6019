/**
 * The four event streams gwsync carries, as WSO2 names them: the JMS topic name is the AMQP routing key
 * on the `amq.topic` exchange (docs/wso2-formats.md §4.1 and §4.9).
 */
export const TOPICS = ["notification", "tokenRevocation", "keyManager", "asyncWebhooksData"] as const;
export type Topic = (typeof TOPICS)[number];

/**
 * The runtime-state streams: small events that must never wait behind artifact work (a revoked token
 * must stop working even while deploy events wait for the control plane). Gateways consume them from
 * their own queue and relays carry them on their own lane.
 */
export const RUNTIME_TOPICS = [
  "tokenRevocation",
  "keyManager",
  "asyncWebhooksData",
] as const satisfies readonly Topic[];
/** The artifact stream (deploy/remove events, and WSO2's other control-plane notifications). */
export const ARTIFACT_TOPICS = ["notification"] as const satisfies readonly Topic[];

/** Qpid JNDI semantics: "a JMS topic is implemented as an amq.topic exchange". */
export const EXCHANGE = "amq.topic";

/** gwsync's own facts travel in AMQP headers that WSO2 consumers ignore (docs/architecture.md#wire-format). */
export const HEADER_SEQ = "x-gwsync-seq";
export const HEADER_REVISION = "x-gwsync-revision";
export const HEADER_SHA256 = "x-gwsync-sha256";
/** The region an event was first published in; a relay never forwards an event back to it. */
export const HEADER_ORIGIN = "x-gwsync-origin";
/** How many relays an event crossed; bounds forwarding in a full mesh. */
export const HEADER_HOPS = "x-gwsync-hops";
/** The changelog sequence number in the origin region (HEADER_SEQ is rewritten per region). */
export const HEADER_ORIGIN_SEQ = "x-gwsync-origin-seq";
/**
 * The commit of a Git store's repository that holds the change (docs/git-store.md): the artifact the
 * event announces is the file at that commit, which the data API answers with `commit=`.
 */
export const HEADER_COMMIT = "x-gwsync-commit";
/** A publisher's Ed25519 signature of a DEPLOY/REMOVE (src/security/signing.ts). */
export const HEADER_SIGNATURE = "x-gwsync-signature";

export function isTopic(value: string): value is Topic {
  return (TOPICS as readonly string[]).includes(value);
}
