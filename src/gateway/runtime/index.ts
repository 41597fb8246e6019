/** What a gateway keeps from the event streams, in memory and on disk. */
export * from "./dedup.js";
export * from "./key-managers.js";
export * from "./revoked-tokens.js";
export * from "./runtime-state.js";
export * from "./subscriptions.js";
export * from "./webhook-subscriptions.js";
