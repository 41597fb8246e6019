import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import type { ParsedSave } from "../../src/store/save-input.js";
import { compareConflictKey, type LabelState, planSave, rowSha256 } from "../../src/store/save-rules.js";
import type { GatewayInstruction } from "../../src/store/types.js";

// Conflicts between regions (docs/replication.md, "Conflicts"): each label is a last-writer-wins register
// over the key (revision, instruction rank, sha256).

const SHA = {
  a: "a".repeat(64),
  b: "b".repeat(64),
  c: "c".repeat(64),
  old: "0".repeat(64),
};

function change(
  instruction: GatewayInstruction,
  sha256: string,
  origin?: { region: string; seq: number; revision?: number },
): ParsedSave {
  return {
    dto: {} as GatewayApiDto,
    apiId: "api-1",
    labels: ["default"],
    instruction,
    apiType: "HTTP",
    artifactJson: "{}",
    sha256,
    origin,
    files: undefined,
    sourceCommit: undefined,
  };
}

/** One region's store as planSave sees it: the API's revision and its one label's state. */
class Region {
  revision = 0;
  state: LabelState | undefined;
  seq = 0;
  readonly origins = new Set<string>();
  constructor(readonly name: string) {}

  /** Save a change; returns whether it wrote. */
  save(p: ParsedSave): boolean {
    const stored = p.origin !== undefined && this.origins.has(`${p.origin.region}:${p.origin.seq}`);
    const plan = planSave(p, this.revision, [{ label: "default", state: this.state }], stored);
    if (plan.kind === "unchanged") return false;
    this.seq++;
    this.revision = plan.revision;
    this.state = {
      instruction: p.instruction,
      revision: plan.revision,
      sha256: rowSha256(p, plan.labels[0]?.state),
      seq: this.seq,
    };
    if (p.origin !== undefined) this.origins.add(`${p.origin.region}:${p.origin.seq}`);
    return true;
  }

  /** A local edit, and the relayed change other regions receive for it. */
  edit(instruction: GatewayInstruction, sha256: string): ParsedSave {
    assert.equal(this.save(change(instruction, sha256)), true);
    return change(instruction, sha256, { region: this.name, seq: this.seq, revision: this.revision });
  }
}

function regionsAt4(...names: string[]): Region[] {
  return names.map((n) => {
    const r = new Region(n);
    for (let i = 0; i < 4; i++) r.save(change("Publish", i % 2 === 0 ? SHA.old : SHA.c.replace("c", "1")));
    return r;
  });
}

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe("conflict key", () => {
  test("revision first, then Remove above Publish, then sha256 as lowercase hex", () => {
    const k = (revision: number, instruction: GatewayInstruction, sha256: string) => ({
      revision,
      instruction,
      sha256,
    });
    assert.equal(compareConflictKey(k(6, "Publish", SHA.a), k(5, "Remove", SHA.c)), 1);
    assert.equal(compareConflictKey(k(5, "Remove", SHA.a), k(5, "Publish", SHA.c)), 1);
    assert.equal(compareConflictKey(k(5, "Publish", SHA.b), k(5, "Publish", SHA.a)), 1);
    assert.equal(compareConflictKey(k(5, "Publish", SHA.a), k(5, "Publish", SHA.b)), -1);
    assert.equal(compareConflictKey(k(5, "Publish", SHA.b.toUpperCase()), k(5, "Publish", SHA.b)), 0);
    assert.equal(compareConflictKey(k(5, "Remove", SHA.a), k(5, "Remove", SHA.b)), 0, "Remove vs Remove: equal");
  });
});

describe("planSave: an API edited in two regions at once", () => {
  for (const order of [
    ["A", "B"],
    ["B", "A"],
  ]) {
    test(`equal revision: the greater sha256 wins on both sides (delivered ${order.join(" then ")})`, () => {
      const [a, b] = regionsAt4("A", "B") as [Region, Region];
      const fromA = a.edit("Publish", SHA.a);
      const fromB = b.edit("Publish", SHA.b);
      assert.equal(a.revision, 5);
      assert.equal(b.revision, 5);
      const deliveries = { A: () => b.save(fromA), B: () => a.save(fromB) };
      const wrote = order.map((o) => deliveries[o as "A" | "B"]());
      // Only A takes B's change: B's sha256 is the greater.
      assert.deepEqual(wrote, order.map((o) => o === "B"));
      for (const r of [a, b]) {
        assert.equal(r.revision, 5, `${r.name} keeps the revision number`);
        assert.equal(r.state?.revision, 5);
        assert.equal(r.state?.sha256, SHA.b);
        assert.equal(r.state?.instruction, "Publish");
      }
      assert.equal(a.seq, 6, "the winner is a new changelog row in A");
      // Redelivered: nothing more.
      assert.equal(a.save(fromB), false);
      assert.equal(b.save(fromA), false);
    });
  }

  test("Remove ranks above Publish at equal revision, whatever the sha256", () => {
    const [a, b] = regionsAt4("A", "B") as [Region, Region];
    const fromA = a.edit("Remove", SHA.old);
    const fromB = b.edit("Publish", SHA.c);
    assert.equal(a.save(fromB), false, "a Publish does not overwrite a Remove of its revision");
    assert.equal(b.save(fromA), true, "a Remove overwrites a Publish of its revision");
    for (const r of [a, b]) {
      assert.equal(r.revision, 5);
      assert.equal(r.state?.instruction, "Remove");
    }
  });

  test("Remove vs Remove at equal revision never writes", () => {
    const [a, b] = regionsAt4("A", "B") as [Region, Region];
    const fromA = a.edit("Remove", SHA.a);
    const fromB = b.edit("Remove", SHA.b);
    assert.equal(a.save(fromB), false);
    assert.equal(b.save(fromA), false);
    assert.equal(a.state?.instruction, "Remove");
    assert.equal(b.state?.instruction, "Remove");
  });

  test("a higher revision wins, a lower one loses, as without a conflict", () => {
    const [a, b] = regionsAt4("A", "B") as [Region, Region];
    const fromA5 = a.edit("Publish", SHA.c);
    b.edit("Publish", SHA.a);
    const fromB6 = b.edit("Publish", SHA.b);
    assert.equal(a.save(fromB6), true, "revision 6 wins over 5 though its sha256 is smaller");
    assert.equal(a.state?.sha256, SHA.b);
    assert.equal(a.revision, 6);
    assert.equal(b.save(fromA5), false, "revision 5 loses to 6 though its sha256 is greater");
    assert.equal(b.state?.sha256, SHA.b);
  });

  test("the label's own revision decides: a label behind the API's revision takes a change of it", () => {
    const state: LabelState = { instruction: "Publish", revision: 4, sha256: SHA.c, seq: 4 };
    const plan = planSave(
      change("Publish", SHA.a, { region: "B", seq: 9, revision: 5 }),
      5, // another label of the API was written at 5
      [{ label: "default", state }],
      false,
    );
    assert.equal(plan.kind, "write");
    assert.equal(plan.kind === "write" ? plan.revision : 0, 5);
  });

  test("three regions converge to the same state in all 6 delivery orders", () => {
    const edits: [GatewayInstruction, string][][] = [
      [
        ["Publish", SHA.a],
        ["Publish", SHA.b],
        ["Publish", SHA.c],
      ],
      [
        ["Publish", SHA.c],
        ["Remove", SHA.a],
        ["Publish", SHA.b],
      ],
    ];
    for (const edit of edits) {
      const finals = new Set<string>();
      for (const order of permutations([0, 1, 2])) {
        const regions = regionsAt4("A", "B", "C");
        const relayed = regions.map((r, i) => r.edit(...(edit[i] as [GatewayInstruction, string])));
        // Every region hears every other region's change, in this order of origins.
        for (const r of regions) for (const i of order) if (regions[i] !== r) r.save(relayed[i] as ParsedSave);
        // A Remove row keeps the artifact it removed, which may differ by region: the instruction is the state.
        const states = regions.map(
          (r) =>
            `${r.revision}/${r.state?.instruction}/${r.state?.instruction === "Remove" ? "-" : r.state?.sha256}`,
        );
        assert.equal(new Set(states).size, 1, `order ${order.join(",")}: ${states.join(" ")}`);
        finals.add(states[0] as string);
      }
      assert.equal(finals.size, 1, "every order ends in the same state");
      const [final] = [...finals];
      const hasRemove = edit.some(([i]) => i === "Remove");
      assert.equal(final, hasRemove ? "5/Remove/-" : `5/Publish/${SHA.c}`);
    }
  });
});
