/**
 * Optional trace export (issue 18): with TRESOR_OTLP_ENDPOINT set (an OTLP/HTTP collector, e.g.
 * `http://127.0.0.1:4318`), each API call and telemetry intake of `tresor serve` becomes a span sent there
 * (OpenTelemetry SDK, JSON over HTTP, batched). Off by default: without the variable the SDK is not even loaded.
 * A span carries what the logs carry — method, request id, outcome, error code, vault and device ids — and never an
 * argument, a value or a token.
 */
import type { Tracer } from '@opentelemetry/api'
import { lazyPackage } from '../core/index.js'
import { usage } from './args.js'

// Required, not imported (the built CLI runs where import() has no loader: core/code-cache.ts), and with tracing only.
const sdkTrace = lazyPackage<typeof import('@opentelemetry/sdk-trace')>('@opentelemetry/sdk-trace')
const otlpHttp = lazyPackage<typeof import('@opentelemetry/exporter-trace-otlp-http')>(
  '@opentelemetry/exporter-trace-otlp-http'
)
const resources = lazyPackage<typeof import('@opentelemetry/resources')>('@opentelemetry/resources')

export interface Tracing {
  tracer: Tracer
  /** Send what is still batched and stop. */
  shutdown(): Promise<void>
}

export async function startTracing(endpoint = process.env.TRESOR_OTLP_ENDPOINT): Promise<Tracing | null> {
  if (!endpoint) return null
  const url = new URL('v1/traces', endpoint.endsWith('/') ? endpoint : `${endpoint}/`).toString()
  let sdk: [ReturnType<typeof sdkTrace>, ReturnType<typeof otlpHttp>, ReturnType<typeof resources>] | null
  try {
    sdk = [sdkTrace(), otlpHttp(), resources()]
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err
    sdk = null
  }
  // The SDK is an optional dependency: the smallest edge install (npm ci --omit=dev --omit=optional) leaves it out.
  if (!sdk)
    throw usage(
      'TRESOR_OTLP_ENDPOINT is set but the OpenTelemetry packages are not installed: run npm ci --omit=dev (without --omit=optional)'
    )
  const [{ TracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = sdk
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'tresor', 'process.pid': process.pid }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url }), scheduledDelayMillis: 1000 })]
  })
  return { tracer: provider.getTracer('tresor'), shutdown: () => provider.shutdown() }
}
