import { asModelsealError, ExitCode, oneLine } from '../errors.js';
import { logger } from '../log.js';

/** Human text to stdout, or one JSON document with --json. */
export function emit(json: boolean, human: string, machine: unknown): void {
  process.stdout.write(json ? JSON.stringify(machine, null, 2) + '\n' : human.endsWith('\n') ? human : human + '\n');
}

/**
 * Every command's action runs through here: a failure becomes one clear line on stderr (and a
 * JSON result with --json) and the documented exit code; nothing else decides exit codes.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
      process.exitCode = ExitCode.OK;
    } catch (raw) {
      const err = asModelsealError(raw);
      const json = process.argv.includes('--json');
      if (json) {
        process.stdout.write(JSON.stringify({ ok: false, code: err.code, exitCode: err.exitCode, reason: oneLine(err) }, null, 2) + '\n');
      }
      process.stderr.write(`modelseal: ${err.code}: ${oneLine(err)}\n`);
      if (err.code === 'INTERNAL') logger().error({ err: raw }, 'internal error');
      process.exitCode = err.exitCode;
    }
  };
}
