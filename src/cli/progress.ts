import type { Logger } from "../log.js";

/** A terminal's bar is redrawn at most this often. */
const REDRAW_MS = 100;
/** Off a terminal, one log line this often while the work lasts. */
export const PROGRESS_LOG_INTERVAL_MS = 5000;
/** Below this many items a bar flickers past: none. */
const MIN_ITEMS_FOR_BAR = 50;
const BAR_WIDTH = 30;

export interface Progress {
  update(done: number, total: number): void;
  done(): void;
}

/**
 * Progress of a long piece of work, from now until done(). On a terminal (stderr is a TTY): a bar
 * redrawn in place. Elsewhere (a pipe, a log collector): a log line every few seconds while the work
 * lasts — also while it waits, so a silent log means a stuck process — and never a "\r".
 */
export function progress(
  label: string,
  options: { log?: Logger; stream?: NodeJS.WriteStream; intervalMs?: number } = {},
): Progress {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  let lastDraw = 0;
  let shown = false;
  let state: { done: number; total: number } | undefined;
  const log = options.log;
  const timer =
    !tty && log
      ? setInterval(() => {
          if (state === undefined) log.info(`${label}: nothing done yet`);
          else log.info(state, `${label}: ${state.done}/${state.total}`);
        }, options.intervalMs ?? PROGRESS_LOG_INTERVAL_MS)
      : undefined;
  timer?.unref();
  return {
    update(done: number, total: number): void {
      state = { done, total };
      if (!tty || total < MIN_ITEMS_FOR_BAR) return;
      const now = Date.now();
      if (done < total && now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      const filled = Math.round((Math.min(done, total) / total) * BAR_WIDTH);
      stream.write(`\r${label} [${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${done}/${total}`);
      shown = true;
    },
    done(): void {
      clearInterval(timer);
      if (shown) stream.write("\n");
      shown = false;
    },
  };
}
