// Progress on stderr for the command line (cli-progress), shown only when stderr is a terminal: nothing is written
// when it is a pipe or a file, so logs and scripts see only the commands' own output.
import cliProgress from 'cli-progress';

const spinnerFrames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Whether progress may be drawn on `stream` (a terminal, and not turned off with --no-progress). */
export function progressShown(enabled = true, stream: NodeJS.WriteStream = process.stderr): boolean {
  return enabled && stream.isTTY === true;
}

/**
 * Runs `run` (one asynchronous step that reports no progress of its own, such as loading a model: the native load is
 * one call) under a spinner with `label` and the seconds elapsed; the line is cleared when it ends.
 */
export async function withProgress<T>(label: string, run: () => Promise<T>, enabled = true): Promise<T> {
  if (!progressShown(enabled)) return run();
  const bar = new cliProgress.SingleBar(
    { format: '{spinner} {label} {duration}s', stream: process.stderr, hideCursor: true, clearOnComplete: true, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  let frame = 0;
  bar.start(1, 0, { spinner: spinnerFrames[0], label });
  const timer = setInterval(() => bar.update(0, { spinner: spinnerFrames[++frame % spinnerFrames.length] }), 100);
  try {
    return await run();
  } finally {
    clearInterval(timer);
    bar.stop();
  }
}

/** A bar over `total` items (tensors converted, ...), started at the first update; undefined when not shown. */
export function itemBar(format: string, enabled = true): { update(done: number, total: number, payload?: object): void; stop(): void } | undefined {
  if (!progressShown(enabled)) return undefined;
  const bar = new cliProgress.SingleBar({ format, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update(done, total, payload) {
      if (!started) bar.start(total, 0, payload);
      started = true;
      bar.setTotal(total);
      bar.update(done, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
