import assert from "node:assert/strict";
import { once } from "node:events";
import { PassThrough, Writable } from "node:stream";
import { describe, test } from "node:test";
import { progress } from "../../src/cli/progress.js";
import { createLogger } from "../../src/log.js";

/** A stream that says it is, or is not, a terminal. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  let out = "";
  const s = new Writable({
    write(chunk: Buffer, _e, done) {
      out += chunk.toString("utf8");
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string };
  Object.assign(s, { isTTY, text: () => out });
  return s;
}

describe("startup progress", () => {
  test("off a terminal: a log line every interval while the work lasts (also before the first item), never a bar", async () => {
    const lines = new PassThrough();
    const records: { msg: string; done?: number; total?: number }[] = [];
    lines.on("data", (d: Buffer) => {
      for (const l of d.toString("utf8").split("\n")) if (l) records.push(JSON.parse(l));
    });
    const err = stream(false);
    // progress() unrefs its timer (it must not keep a process alive): hold the loop open meanwhile.
    const keepAlive = setInterval(() => undefined, 1000);
    const p = progress("deploying APIs", {
      log: createLogger({ level: "info", destination: lines }),
      stream: err,
      intervalMs: 20,
    });
    await once(lines, "data");
    assert.equal(records[0]?.msg, "deploying APIs: nothing done yet");
    p.update(600, 2500);
    while (!records.some((r) => r.done === 600)) await once(lines, "data");
    p.update(2500, 2500);
    while (!records.some((r) => r.done === 2500)) await once(lines, "data");
    p.done();
    clearInterval(keepAlive);
    const last = records.find((r) => r.done === 2500)!;
    assert.deepEqual([last.msg, last.total], ["deploying APIs: 2500/2500", 2500]);
    assert.equal(err.text(), "", "no bar, no carriage return off a terminal");
  });

  test("on a terminal: a bar on stderr that ends at total/total and a newline", () => {
    const tty = stream(true);
    const p = progress("deploying APIs", { stream: tty });
    for (let i = 1; i <= 2500; i++) p.update(i, 2500);
    p.done();
    assert.match(tty.text(), /\rdeploying APIs \[#{30}\] 2500\/2500\n$/);
  });
});
