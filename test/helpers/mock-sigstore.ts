import { createHash, generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fulcioHandler, initializeCA, initializeCTLog, initializeTLog, initializeTSA, tsaHandler, type HandlerFn } from '@sigstore/mock';
import { HashAlgorithm, TransparencyLogEntry } from '@sigstore/protobuf-specs';
import { CreateEntryRequest, Entry } from '@sigstore/protobuf-specs/rekor/v2';

/**
 * Fulcio, Rekor (v1) and a TSA from @sigstore/mock, served on 127.0.0.1 by a plain node:http
 * server (no nock interception), plus the TrustedRoot that trusts exactly them.
 */
export interface MockSigstore {
  url: string;
  fulcioUrl: string;
  rekorUrl: string;
  tsaUrl: string;
  /** trusted_root.json (protojson) for these services. */
  trustedRoot: Record<string, unknown>;
  close(): Promise<void>;
}

export interface MockOptions {
  /**
   * Name the log signs its checkpoints with. Defaults to a host that is not in the served URL,
   * as with a private Rekor behind another name (pitfall 5).
   */
  rekorOrigin?: string;
}

/**
 * An unsigned OIDC token: Fulcio's mock reads `sub` (SAN) and `iss` (issuer extension) without
 * verifying. `extra` adds or overrides claims (a CI's `job_workflow_ref`, `aud`, `exp`).
 */
export function fakeIdentityToken(sub: string, iss: string, extra: Record<string, unknown> = {}): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub, iss, aud: 'sigstore', iat: now, exp: now + 600, ...extra })}.${Buffer.from('unsigned').toString('base64url')}`;
}

export async function startMockSigstore(options: MockOptions = {}): Promise<MockSigstore> {
  const keyPair = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const validFrom = new Date(Date.now() - 60_000).toISOString();
  const ctlog = await initializeCTLog(keyPair());
  const ca = await initializeCA(keyPair(), ctlog);
  const tlogKeys = keyPair();
  const tlog = await initializeTLog(`https://${options.rekorOrigin ?? 'rekor.private.example'}`, tlogKeys);
  const tsa = await initializeTSA(keyPair());
  // The mock writes genTime with milliseconds minus trailing zeros ("….12Z"), which @sigstore/core
  // reads only with exactly three digits: one timestamp in ten would fail to parse. Whole seconds
  // parse always (no fraction), and never precede a certificate issued in the same second.
  (tsa as unknown as { getCurrentTime: () => Date }).getCurrentTime = () => new Date(Math.floor(Date.now() / 1000) * 1000);

  const fulcio = fulcioHandler(ca);
  const stamp = tsaHandler(tsa);
  const routes: Record<string, HandlerFn> = {
    [fulcio.path]: (body) => fulcio.fn(withFulcioSubject(body)),
    [stamp.path]: stamp.fn,
    '/api/v1/log/entries': async (body) => {
      const entry = await tlog.log(asRekorStores(JSON.parse(body) as ProposedEntry));
      return { statusCode: 201, response: JSON.stringify(entry), contentType: 'application/json' };
    },
    '/api/v2/log/entries': async (body) => {
      const stored = asRekorV2Stores(CreateEntryRequest.fromJSON(JSON.parse(body)));
      if (!stored) return { statusCode: 400, response: 'only dsse v0.0.2 requests are served' };
      const entry = await tlog.logV2(stored as never);
      // Rekor v2 keeps no integrated time: signing time comes from a TSA only.
      entry.integratedTime = '0';
      // The mock proves a one-entry tree (leaf 0) but labels the proof with the entry's random index.
      if (entry.inclusionProof) entry.inclusionProof.logIndex = '0';
      return { statusCode: 201, response: JSON.stringify(TransparencyLogEntry.toJSON(entry)), contentType: 'application/json' };
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fn = req.method === 'POST' ? routes[(req.url ?? '').split('?')[0] ?? ''] : undefined;
      if (!fn) {
        res.writeHead(404).end();
        return;
      }
      fn(Buffer.concat(chunks).toString('utf8'))
        .then((r) => {
          res.writeHead(r.statusCode, { 'content-type': r.contentType ?? 'text/plain' });
          res.end(typeof r.response === 'string' ? r.response : Buffer.from(r.response.buffer, r.response.byteOffset, r.response.byteLength));
        })
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const der = (b: ArrayBufferView) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: url,
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: tlog.publicKey.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: validFrom } },
        logId: { keyId: createHash('sha256').update(tlog.publicKey).digest('base64') },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: url,
        certChain: { certificates: [{ rawBytes: der(ca.rootCertificate) }] },
        validFor: { start: validFrom },
      },
    ],
    ctlogs: [
      {
        baseUrl: url,
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: ctlog.publicKey.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: validFrom } },
        logId: { keyId: der(ctlog.logID) },
      },
    ],
    timestampAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore-tsa' },
        uri: url,
        certChain: { certificates: [{ rawBytes: der(tsa.intCertificate) }, { rawBytes: der(tsa.rootCertificate) }] },
        validFor: { start: validFrom },
      },
    ],
  };
  return {
    url,
    fulcioUrl: url,
    rekorUrl: url,
    tsaUrl: url,
    trustedRoot,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface ProposedEntry {
  kind: string;
  apiVersion: string;
  spec: Record<string, unknown>;
}

/**
 * The mock logs proposed entries verbatim; real Rekor turns a `dsse` proposal into the stored
 * form (payload hash, signatures with their verifier). Do the same so verification sees what it
 * would see from the public-good log.
 */
function asRekorStores(entry: ProposedEntry): object {
  if (entry.kind !== 'dsse') return entry;
  const proposed = entry.spec.proposedContent as { envelope: string; verifiers: string[] };
  const env = JSON.parse(proposed.envelope) as { payload: string; signatures: { sig: string }[] };
  const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  return {
    apiVersion: entry.apiVersion,
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(proposed.envelope) },
      payloadHash: { algorithm: 'sha256', value: sha256(Buffer.from(env.payload, 'base64')) },
      signatures: env.signatures.map((s) => ({ signature: s.sig, verifier: proposed.verifiers[0] })),
    },
  };
}

/**
 * The mock certifies the token's `sub`; real Fulcio derives the SAN per issuer: GitHub Actions →
 * `https://github.com/<job_workflow_ref>`, GitLab → `https://<ci_config_ref_uri>`. Rewrite the
 * (unsigned) token's `sub` the same way so CI tokens get the certificate they would get for real.
 */
function withFulcioSubject(body: string): string {
  const req = JSON.parse(body) as { credentials?: { oidcIdentityToken?: string } };
  const token = req.credentials?.oidcIdentityToken;
  const [header, claimsPart, sig] = token?.split('.') ?? [];
  if (!token || !claimsPart) return body;
  const claims = JSON.parse(Buffer.from(claimsPart, 'base64url').toString('utf8')) as Record<string, unknown>;
  let sub = claims.sub;
  if (claims.iss === 'https://token.actions.githubusercontent.com' && typeof claims.job_workflow_ref === 'string') sub = `https://github.com/${claims.job_workflow_ref}`;
  else if (typeof claims.ci_config_ref_uri === 'string') sub = `https://${claims.ci_config_ref_uri}`;
  if (sub === claims.sub) return body;
  const rewritten = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub })).toString('base64url')}.${sig}`;
  return JSON.stringify({ ...req, credentials: { ...req.credentials, oidcIdentityToken: rewritten } });
}

/**
 * @sigstore/mock's v2 log stores the request itself; Rekor v2 stores a `dsse` v0.0.2 Entry (payload
 * hash and signatures with their verifier), which is what a verifier compares the bundle with.
 */
function asRekorV2Stores(request: CreateEntryRequest): unknown {
  if (request.spec?.$case !== 'dsseRequestV002') return undefined;
  const { envelope, verifiers } = request.spec.dsseRequestV002;
  if (!envelope || verifiers.length !== 1) return undefined;
  return Entry.toJSON({
    kind: 'dsse',
    apiVersion: '0.0.2',
    spec: {
      spec: {
        $case: 'dsseV002',
        dsseV002: {
          payloadHash: { algorithm: HashAlgorithm.SHA2_256, digest: createHash('sha256').update(envelope.payload).digest() },
          signatures: envelope.signatures.map((s) => ({ content: s.sig, verifier: verifiers[0] })),
        },
      },
    },
  });
}
