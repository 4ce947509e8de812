import { pino, type Logger } from 'pino';

/**
 * JSON logs go to stderr (fd 2) so stdout stays for human or --json output.
 * Level from MODELSEAL_LOG_LEVEL (default info); `silent` turns logs off.
 */
export function createLogger(level: string = process.env.MODELSEAL_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { level, base: { app: 'modelseal' }, timestamp: pino.stdTimeFunctions.isoTime },
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
