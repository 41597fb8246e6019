import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { linkSignals } from "../../src/gateway/reconciler.js";

/** linkSignals replaces AbortSignal.any([own, outer]) on the gateway's event path (issue 19). */
describe("linkSignals: aborted with either signal, released with the job", () => {
  test("the job's own abort (superseded) aborts it with that reason; the outer signal's other jobs go on", () => {
    const outer = new AbortController();
    const a = new AbortController();
    const b = new AbortController();
    const la = linkSignals(a.signal, outer.signal);
    const lb = linkSignals(b.signal, outer.signal);
    a.abort("superseded");
    assert.equal(la.signal.aborted, true);
    assert.equal(la.signal.reason, "superseded");
    assert.equal(lb.signal.aborted, false);
    la.release();
    lb.release();
  });

  test("the outer abort (shutdown) aborts every job still linked, and none released before", () => {
    const outer = new AbortController();
    const links = Array.from({ length: 100 }, () => linkSignals(new AbortController().signal, outer.signal));
    const done = links.slice(0, 40);
    for (const l of done) l.release();
    outer.abort(new Error("shutting down"));
    assert.equal(links.filter((l) => l.signal.aborted).length, 60);
    for (const l of done) assert.equal(l.signal.aborted, false);
    assert.equal((links[99]!.signal.reason as Error).message, "shutting down");
  });

  test("already aborted on either side: the link is born aborted", () => {
    const gone = new AbortController();
    gone.abort("x");
    assert.equal(linkSignals(gone.signal, new AbortController().signal).signal.reason, "x");
    assert.equal(linkSignals(new AbortController().signal, gone.signal).signal.reason, "x");
  });
});
