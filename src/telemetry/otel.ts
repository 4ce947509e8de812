import { context, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ModelsealError, oneLine } from '../errors.js';
import { VERSION } from '../version.js';
import type { SpanHandle, TraceBackend } from './tracing.js';

/** Loaded only when tracing is configured (see tracing.ts). OTLP over HTTP with JSON bodies. */
export async function startBackend(url: string): Promise<TraceBackend> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'modelseal', 'service.version': VERSION }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }) })],
  });
  const tracer = provider.getTracer('modelseal', VERSION);

  const handle = (span: Span): SpanHandle => ({
    // Parents are passed explicitly: no global context manager is installed in the process.
    child: (name) => handle(tracer.startSpan(name, {}, trace.setSpan(context.active(), span))),
    setAttributes: (attrs) => span.setAttributes(attrs),
    fail: (err) => {
      span.setStatus({ code: SpanStatusCode.ERROR, message: oneLine(err).slice(0, 500) });
      if (err instanceof ModelsealError) span.setAttribute('modelseal.error_code', err.code);
    },
    end: () => span.end(),
  });

  return {
    root: (name, attrs) => handle(tracer.startSpan(name, { attributes: attrs })),
    shutdown: async () => {
      try {
        await provider.shutdown();
      } catch {
        /* a collector that is down must never change a verification outcome */
      }
    },
  };
}
