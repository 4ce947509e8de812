import { pino, type Logger } from 'pino';
import { ModelsealError } from './errors.js';

/**
 * JSON logs go to stderr (fd 2) so stdout stays for human or --json output.
 * Level from MODELSEAL_LOG_LEVEL (default info; `silent` turns logs off; anything else is an
 * error, so a typo never silently hides or floods a pod's log).
 *
 * Format: JSON lines when stderr is not a terminal (init, CI, `kubectl logs`), or with
 * `--log-format json`; on a terminal a person reads the human text and the progress display,
 * so JSON lines are off unless asked for.
 */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogFormat = 'json' | 'human';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'human'];

let chosenFormat: LogFormat | undefined;

/** `--log-format` (validated); undefined restores the default (json unless stderr is a TTY). */
export function setLogFormat(format: string | undefined): void {
  if (format !== undefined && !(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new ModelsealError('USAGE', `--log-format must be one of ${LOG_FORMATS.join(', ')}, not ${JSON.stringify(format)}`);
  }
  chosenFormat = format as LogFormat | undefined;
  shared = undefined;
}

export function logFormat(): LogFormat {
  return chosenFormat ?? (process.stderr.isTTY ? 'human' : 'json');
}

/** MODELSEAL_LOG_LEVEL, checked. */
export function logLevel(raw: string | undefined = process.env.MODELSEAL_LOG_LEVEL): (typeof LOG_LEVELS)[number] {
  const level = raw === undefined || raw === '' ? 'info' : raw;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ModelsealError('CONFIG_INVALID', `MODELSEAL_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(raw)}`);
  }
  return level as (typeof LOG_LEVELS)[number];
}

export function createLogger(level: string = logLevel()): Logger {
  return pino(
    { level: logFormat() === 'json' ? logLevel(level) : 'silent', base: { app: 'modelseal' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 2, sync: true }),
  );
}

let shared: Logger | undefined;
export function logger(): Logger {
  shared ??= createLogger();
  return shared;
}

/** Fields every decision line carries (one line per decision: verify, pull, init, audit). */
export interface DecisionEvent {
  event_type: string;
  outcome: 'allowed' | 'blocked' | 'failed';
  model: string;
  root_digest?: string;
  resolved_digest?: string;
  signer?: string;
  reason?: string;
  code?: string;
  [key: string]: unknown;
}

export function logDecision(event: DecisionEvent, log: Logger = logger()): void {
  const level = event.outcome === 'allowed' ? 'info' : 'error';
  log[level]({ ...event, timestamp_utc: new Date().toISOString() }, `decision: ${event.outcome}`);
}
