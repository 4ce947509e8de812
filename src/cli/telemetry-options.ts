import type { Command } from 'commander';
import { setOtelEndpoint } from '../telemetry/tracing.js';

/** `--otel-endpoint URL` on a command: OTLP/HTTP base endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT. */
export function addTelemetryFlag(cmd: Command): Command {
  return cmd
    .option('--otel-endpoint <url>', 'export an OpenTelemetry trace of the decision to this OTLP/HTTP endpoint [OTEL_EXPORTER_OTLP_ENDPOINT]')
    .hook('preAction', (_cmd, action) => setOtelEndpoint(action.opts<{ otelEndpoint?: string }>().otelEndpoint));
}
