import { generateKeyPairSync } from 'node:crypto';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/process.js';
import { runCli } from '../helpers/cli.js';
import { bytes, makeModel } from '../helpers/model.js';
import { startOtlpSink, type OtlpSpan } from '../harness/otlp-sink.js';

const STAGES = ['resolve', 'signature', 'download+hash', 'policy', 'placement'];

/** Records every module specifier the process resolves, so a test can see whether OpenTelemetry loaded. */
const HOOK = `import { registerHooks } from 'node:module'; import { writeSync } from 'node:fs';
registerHooks({ resolve(s, c, next) { if (s.includes('@opentelemetry')) writeSync(2, 'LOADED ' + s + '\\n'); return next(s, c); } });`;

describe('OpenTelemetry decision traces (real OTLP/HTTP JSON receiver)', () => {
  let sink: Awaited<ReturnType<typeof startOtlpSink>>;
  let dir: string;
  let model: string;
  let hook: string;
  const weights = bytes(300_000, 7);

  beforeAll(async () => {
    sink = await startOtlpSink();
    dir = await tempDir('otel');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(path.join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(path.join(dir, 'key.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    model = await makeModel({ 'w.bin': weights, 'config.json': '{"a":1}' });
    expect((await runCli(['sign', 'key', model, '--private-key', path.join(dir, 'key.pem')])).code).toBe(0);
    hook = path.join(dir, 'hook.mjs');
    await writeFile(hook, HOOK);
  });
  afterAll(async () => {
    await sink?.close();
  });

  const traceOf = (reference: string, command: string): OtlpSpan[] => {
    const root = sink.spans.find((s) => s.name === 'weight_integrity_check' && s.attributes['modelseal.reference'] === reference && s.attributes['modelseal.command'] === command);
    expect(root, `a root span for ${command} ${reference}`).toBeDefined();
    return [root!, ...sink.spans.filter((s) => s.traceId === root!.traceId && s.spanId !== root!.spanId)];
  };

  it('pull: one weight_integrity_check span with outcome, reference, digest, signer, bytes, and the five stages as its children', async () => {
    const into = path.join(await tempDir('otel-into'), 'm');
    const r = await runCli(['pull', model, '--into', into, '--public-key', path.join(dir, 'key.pub'), '--signature', path.join(model, 'model.sig')], {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint, NODE_OPTIONS: `--import=${hook}` },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/LOADED @opentelemetry/);
    const [root, ...children] = traceOf(model, 'pull');
    expect(root!.parentSpanId ?? '').toBe('');
    expect(root!.resource['service.name']).toBe('modelseal');
    expect(root!.attributes).toMatchObject({
      'modelseal.outcome': 'allowed',
      'modelseal.digest': expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      'modelseal.signer': expect.stringMatching(/^key:/),
      'modelseal.bytes': weights.length + 7,
    });
    expect(children.map((c) => c.name).sort()).toEqual([...STAGES].sort());
    expect(children.every((c) => c.parentSpanId === root!.spanId)).toBe(true);
    expect(sink.requests.every((q) => q.startsWith('POST /v1/traces application/json'))).toBe(true);
  });

  it('a refused pull is traced as blocked, the failing stage marked as an error', async () => {
    const bad = await makeModel({ 'w.bin': weights, 'config.json': '{"a":1}' }, 'tampered');
    expect((await runCli(['sign', 'key', bad, '--private-key', path.join(dir, 'key.pem')])).code).toBe(0);
    await appendFile(path.join(bad, 'w.bin'), 'x');
    const into = path.join(await tempDir('otel-into'), 'm');
    const r = await runCli(['pull', bad, '--into', into, '--public-key', path.join(dir, 'key.pub'), '--otel-endpoint', sink.endpoint]);
    expect(r.code).toBe(4);
    const [root, ...children] = traceOf(bad, 'pull');
    expect(root!.attributes).toMatchObject({ 'modelseal.outcome': 'blocked', 'modelseal.error_code': expect.stringMatching(/MISMATCH/) });
    expect(root!.status?.code).toBe(2);
    expect(children.map((c) => c.name)).toEqual(expect.arrayContaining(['resolve', 'signature']));
    expect(children.map((c) => c.name)).not.toContain('placement');
    expect(children.find((c) => c.name === 'download+hash')?.status?.code).toBe(2);
    expect(children.find((c) => c.name === 'signature')?.status?.code ?? 0).not.toBe(2);
  });

  it('verify and init emit the same root span', async () => {
    const v = await runCli(['verify', 'key', model, '--public-key', path.join(dir, 'key.pub')], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint } });
    expect(v.code, v.stderr).toBe(0);
    const [vroot, ...vchildren] = traceOf(model, 'verify');
    expect(vroot!.attributes).toMatchObject({ 'modelseal.outcome': 'allowed', 'modelseal.signer': expect.stringMatching(/^key:/) });
    expect(vchildren.map((c) => c.name).sort()).toEqual(['download+hash', 'policy', 'signature']);

    const into = path.join(await tempDir('otel-init'), 'm');
    const i = await runCli(['init', '--source', model, '--into', into, '--public-key', path.join(dir, 'key.pub')], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint } });
    expect(i.code, i.stderr).toBe(0);
    const [iroot, ...ichildren] = traceOf(model, 'init');
    expect(iroot!.attributes['modelseal.outcome']).toBe('allowed');
    expect(ichildren.map((c) => c.name).sort()).toEqual([...STAGES].sort());
  });

  it('with no endpoint set, no OpenTelemetry module is loaded', async () => {
    const into = path.join(await tempDir('otel-into'), 'm');
    const env = { NODE_OPTIONS: `--import=${hook}`, OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' };
    const r = await runCli(['pull', model, '--into', into, '--public-key', path.join(dir, 'key.pub')], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/LOADED/);
  });
});
