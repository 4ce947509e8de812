import cliProgress from 'cli-progress';
import type { Logger } from 'pino';
import { logFormat, logger } from '../log.js';
import { formatBytes, type Progress, type ProgressSnapshot } from './progress.js';

/** How often a JSON progress line is written when nobody watches a terminal. */
export const JSON_PROGRESS_EVERY_MS = 5_000;

/**
 * Show a Progress: a live bar on a terminal (cli-progress, on stderr: files, bytes, rate, ETA),
 * else one JSON line every JSON_PROGRESS_EVERY_MS and one when a phase ends, so `kubectl logs`
 * shows a pull that is alive. Returns a function that stops the display.
 */
export function showProgress(progress: Progress, opts: { tty?: boolean; log?: Logger; everyMs?: number } = {}): () => void {
  const tty = opts.tty ?? (process.stderr.isTTY === true && logFormat() === 'human');
  return tty ? ttyBar(progress) : jsonLines(progress, opts.log ?? logger(), opts.everyMs ?? JSON_PROGRESS_EVERY_MS);
}

export function progressFields(s: ProgressSnapshot): Record<string, unknown> {
  return {
    event_type: 'progress',
    phase: s.phase,
    files_done: s.filesDone,
    files_total: s.filesTotal,
    bytes_done: s.bytesDone,
    bytes_total: s.bytesTotal,
    rate_bytes_per_s: Math.round(s.rate),
    eta_s: s.etaSeconds ?? null,
    elapsed_s: Math.round(s.elapsedMs / 1000),
  };
}

function jsonLines(progress: Progress, log: Logger, everyMs: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  const write = () => log.info(progressFields(progress.snapshot()), `${progress.phase}: ${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}`);
  const off = progress.on((event) => {
    if (event === 'begin') {
      clearInterval(timer);
      timer = setInterval(write, everyMs);
      timer.unref();
    } else if (event === 'end') {
      clearInterval(timer);
      timer = undefined;
      write();
    }
  });
  return () => {
    clearInterval(timer);
    off();
  };
}

function ttyBar(progress: Progress): () => void {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: (_o, params, payload: { text: string }) => {
        const width = 24;
        const filled = Math.round(Math.min(1, params.progress) * width);
        return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${payload.text}`;
      },
      hideCursor: true,
      clearOnComplete: false,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let running = false;
  const text = () => {
    const s = progress.snapshot();
    const eta = s.etaSeconds === undefined ? '--' : formatDuration(s.etaSeconds);
    return `${s.phase} ${s.filesDone}/${s.filesTotal} files, ${formatBytes(s.bytesDone)} of ${formatBytes(s.bytesTotal)}, ${formatBytes(Math.round(s.rate))}/s, ETA ${eta}`;
  };
  const off = progress.on((event) => {
    if (event === 'begin') {
      if (running) bar.stop();
      bar.start(Math.max(progress.bytesTotal, 1), 0, { text: text() });
      running = true;
    } else if (running) {
      bar.update(progress.bytesDone, { text: text() });
      if (event === 'end') {
        bar.stop();
        running = false;
      }
    }
  });
  return () => {
    off();
    if (running) bar.stop();
  };
}

function formatDuration(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
