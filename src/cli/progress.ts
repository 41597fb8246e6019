/** A progress bar on a TTY (stderr), silent elsewhere so logs and pipes stay clean. */
export function startupProgress(label: string, stream: NodeJS.WriteStream = process.stderr) {
  const tty = stream.isTTY === true;
  let last = 0;
  let shown = false;
  const width = 30;
  return {
    update(done: number, total: number): void {
      if (!tty || total < 50) return;
      const now = Date.now();
      if (done < total && now - last < 100) return;
      last = now;
      const filled = Math.round((done / total) * width);
      stream.write(`\r${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}`);
      shown = true;
    },
    done(): void {
      if (shown) stream.write("\n");
      shown = false;
    },
  };
}
