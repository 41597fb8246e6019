/** The wire format of the four WSO2 event streams: topics, schemas, decoder and encoders. */
export * from "./decode.js";
export * from "./encode.js";
export * from "./key-manager.js";
export * from "./notification.js";
export * from "./notification-payload.js";
export * from "./token-revocation.js";
export * from "./topics.js";
export type * from "./types.js";
export * from "./webhook-subscription.js";
export * from "./wire-format.js";
