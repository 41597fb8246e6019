import type { ArtifactStore, OutboxClaim, OutboxMessage } from "../../src/store/types.js";

/**
 * An in-memory outbox with the store's claim contract (ArtifactStore.claimOutbox): rows in id order,
 * a claimed row is handed to no other claim until it is sent (deleted) or released, for unit tests
 * of the dispatcher. Only the outbox methods are there.
 */
export function fakeOutbox(initial: OutboxMessage[]) {
  let rows = initial.slice();
  const claimed = new Set<number>();
  const listeners = new Set<() => void>();
  const store = {
    claimOutbox: async (limit: number): Promise<OutboxClaim> => {
      const mine = rows.filter((r) => !claimed.has(r.id)).slice(0, limit);
      for (const r of mine) claimed.add(r.id);
      let open = mine.length > 0;
      const end = () => {
        const was = open;
        open = false;
        for (const r of mine) claimed.delete(r.id);
        return was;
      };
      return {
        rows: mine,
        sent: async () => {
          if (end()) rows = rows.filter((r) => !mine.includes(r));
        },
        release: async () => {
          if (end()) for (const r of mine) r.attempts++;
        },
      };
    },
    peekOutbox: async (limit: number, afterId = 0) => rows.filter((r) => r.id > afterId).slice(0, limit),
    outboxDepth: async () => rows.length,
    onOutboxCommit: (listener: () => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  } as unknown as ArtifactStore;
  return {
    store,
    /** Message ids still in the outbox. */
    left: () => rows.map((r) => r.messageId),
    /** Rows another node committed: add them and notify, as LISTEN/NOTIFY would. */
    commitElsewhere: (more: OutboxMessage[]) => {
      rows.push(...more);
      for (const l of listeners) l();
    },
  };
}
