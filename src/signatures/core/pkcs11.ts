import { spawn } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ModelsealError } from '../../errors.js';
import { ecCurveOf, verifyEcdsaPrehashed } from './ecdsa-curves.js';
import { parsePkcs11Uri, redactedPkcs11Uri, type Pkcs11Uri } from './pkcs11-uri.js';
import type { ExternalKey } from './signer.js';

/**
 * Signing with a key that stays in a PKCS#11 token (HSM, smart card, SoftHSM2), driven through
 * OpenSC's `pkcs11-tool` (Debian `opensc`) as a subprocess. An npm binding (pkcs11js,
 * graphene-pk11) is a native addon that node-gyp builds against Node headers it downloads, which
 * a machine with only the npm registry and Debian packages cannot do; `pkcs11-tool` is a Debian
 * package and speaks to any module.
 *
 * The token signs a digest (CKM_ECDSA) we compute with the curve's hash, so the same call serves
 * DSSE (over PAE) and prehashed blob signatures. Every signature is checked against the public key
 * before use: a URI that names one key for reading and lets the token sign with another fails here.
 * The PIN reaches the tool through its environment (`--pin env:…`), never its argv (world-readable
 * in /proc).
 */

const TOOL = 'pkcs11-tool';
const PIN_VARIABLE = 'MODELSEAL_P11_PIN';
const TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 1024 * 1024;
/** Where Debian and common distributions keep PKCS#11 modules, for RFC 7512 `module-name`. */
const MODULE_DIRS = ['/usr/lib/x86_64-linux-gnu/pkcs11', '/usr/lib/aarch64-linux-gnu/pkcs11', '/usr/lib/softhsm', '/usr/lib/pkcs11', '/usr/lib64/pkcs11', '/usr/local/lib'];

const CURVE_BY_PARAMS: Record<string, 'P-256' | 'P-384' | 'P-521'> = {
  '06082a8648ce3d030107': 'P-256',
  '06052b81040022': 'P-384',
  '06052b81040023': 'P-521',
};
const COORDINATE_BYTES = { 'P-256': 32, 'P-384': 48, 'P-521': 66 } as const;

export interface Pkcs11Options {
  /** Overrides the URI's module-path / module-name (model_signing's `--module_paths`). */
  modulePath?: string;
  /** Use this public key (a pkcs11-certificate's leaf) instead of reading the token's public key object. */
  publicKey?: KeyObject;
}

interface Session {
  module: string;
  slot: string;
  pin?: string;
  select: string[];
  uri: string;
}

/** Open the private key a `pkcs11:` URI names; nothing secret leaves the token. */
export async function openPkcs11Key(uriText: string, options: Pkcs11Options = {}): Promise<ExternalKey> {
  const uri = parsePkcs11Uri(uriText);
  const shown = redactedPkcs11Uri(uriText);
  const type = uri.path.get('type');
  if (type !== undefined && type !== 'private') throw new ModelsealError('USAGE', `PKCS#11 URI ${shown} names a ${type} object; signing needs type=private (or no type)`);
  for (const name of uri.path.keys()) {
    if (name.startsWith('library-') || name === 'slot-manufacturer' || name.startsWith('x-')) {
      throw new ModelsealError('USAGE', `PKCS#11 URI attribute ${name} is not supported by the pkcs11-tool driver (select by token, serial, model, manufacturer, slot-id or slot-description)`);
    }
  }
  if (!uri.path.has('object') && !uri.path.has('id')) throw new ModelsealError('USAGE', `PKCS#11 URI ${shown} names no key: give object=<label> and/or id=<bytes>`);
  const module = await resolveModule(uri, options.modulePath);
  const pin = await resolvePin(uri);
  const slot = await findSlot(module, uri, shown);
  const base = { module, slot, ...(pin === undefined ? {} : { pin }), select: [] as string[], uri: shown };
  // pkcs11-tool 0.23 picks the signing key by CKA_ID only (it ignores --label for --sign): resolve
  // the URI's label/id to the one private key's ID, and use that ID everywhere.
  const id = await privateKeyId(base, uri);
  const session: Session = { ...base, select: ['--id', id] };
  const publicKey = options.publicKey ?? (await readPublicKey(session, id));
  ecCurveOf(publicKey);
  return {
    kind: 'external',
    publicKey,
    description: shown,
    signDigest: (digest) => signDigest(session, publicKey, digest),
  };
}

async function resolveModule(uri: Pkcs11Uri, override: string | undefined): Promise<string> {
  let candidates: string[];
  const explicit = override ?? uri.query.get('module-path');
  if (explicit !== undefined) candidates = [explicit];
  else if (uri.query.has('module-name')) {
    const name = uri.query.get('module-name')!;
    if (!/^[\w.+-]+$/.test(name)) throw new ModelsealError('USAGE', `PKCS#11 module-name ${JSON.stringify(name)} is not a plain file name`);
    candidates = MODULE_DIRS.flatMap((d) => [path.join(d, `${name}.so`), path.join(d, name)]);
  } else {
    throw new ModelsealError('USAGE', 'PKCS#11 module unknown: put module-path=/path/to/module.so in the URI or pass --module-path');
  }
  for (const c of candidates) {
    if (!path.isAbsolute(c)) throw new ModelsealError('USAGE', `PKCS#11 module path ${c} is not absolute`);
    if (await stat(c).then((s) => s.isFile(), () => false)) return c;
  }
  throw new ModelsealError('USAGE', `PKCS#11 module not found: ${candidates.join(', ')}`);
}

async function resolvePin(uri: Pkcs11Uri): Promise<string | undefined> {
  const value = uri.query.get('pin-value');
  if (value !== undefined) return value;
  const source = uri.query.get('pin-source');
  if (source !== undefined) {
    const file = source.startsWith('file:') ? decodeURIComponent(source.slice('file:'.length).replace(/^\/\/[^/]*/, '')) : source;
    const text = await readFile(file, 'utf8').catch(() => {
      throw new ModelsealError('KEY_PASSWORD', `cannot read the PKCS#11 PIN from pin-source ${file}`);
    });
    return text.replace(/\r?\n$/, '');
  }
  return process.env.MODELSEAL_PKCS11_PIN;
}

interface SlotInfo {
  id: string;
  fields: Map<string, string>;
}

/** `pkcs11-tool -L` → the one slot whose token matches every token selector of the URI. */
async function findSlot(module: string, uri: Pkcs11Uri, shown: string): Promise<string> {
  const out = await runTool(['--module', module, '--list-token-slots'], undefined, shown);
  const slots: SlotInfo[] = [];
  for (const line of out.split('\n')) {
    const head = /^Slot \d+ \((0x[0-9a-f]+)\): ?(.*)$/i.exec(line);
    if (head) {
      slots.push({ id: head[1]!, fields: new Map([['slot-description', head[2]!.trim()], ['slot-id', BigInt(head[1]!).toString()]]) });
      continue;
    }
    const field = /^\s+([a-z /]+?)\s*: (.*)$/.exec(line);
    if (field && slots.length > 0) slots[slots.length - 1]!.fields.set(field[1]!, field[2]!.trim());
  }
  // RFC 7512 attribute → pkcs11-tool's label for it.
  const wanted: [string, string][] = [
    ['token', 'token label'],
    ['manufacturer', 'token manufacturer'],
    ['model', 'token model'],
    ['serial', 'serial num'],
    ['slot-id', 'slot-id'],
    ['slot-description', 'slot-description'],
  ];
  const matches = slots.filter((s) => wanted.every(([attr, field]) => !uri.path.has(attr) || s.fields.get(field) === uri.path.get(attr)));
  if (matches.length === 0) throw new ModelsealError('KEY_INVALID', `no PKCS#11 token matches ${shown}`);
  if (matches.length > 1) throw new ModelsealError('USAGE', `${matches.length} PKCS#11 tokens match ${shown}: add token=, serial= or slot-id=`);
  return matches[0]!.id;
}

/** `pkcs11-tool -O --type <type>` as objects: label, ID (hex) and the EC attributes. */
async function listObjects(s: Session, type: 'privkey' | 'pubkey'): Promise<Array<Record<'label' | 'id' | 'point' | 'params', string | undefined>>> {
  const out = await runTool(['--module', s.module, '--slot', s.slot, ...login(s), '--list-objects', '--type', type], s.pin, s.uri);
  const head = type === 'privkey' ? 'Private Key Object' : 'Public Key Object';
  return out
    .split(/\n(?=\S)/)
    .filter((block) => block.startsWith(head))
    .map((block) => {
      const get = (name: string) => new RegExp(`^\\s+${name}:\\s+(.*)$`, 'm').exec(block)?.[1]?.trim();
      return { label: get('label'), id: get('ID')?.toLowerCase(), point: get('EC_POINT'), params: get('EC_PARAMS') };
    });
}

async function privateKeyId(s: Session, uri: Pkcs11Uri): Promise<string> {
  const all = await listObjects(s, 'privkey');
  const keys = all.filter(
    (k) => (!uri.path.has('object') || k.label === uri.path.get('object')) && (!uri.path.has('id') || k.id === uri.path.get('id')),
  );
  if (keys.length !== 1) {
    const hint = s.pin === undefined ? ' (no PIN given: private keys are usually visible only after login)' : '';
    throw new ModelsealError('KEY_INVALID', `PKCS#11 token has ${keys.length} private keys matching ${s.uri}; exactly one is needed${hint}`);
  }
  const id = keys[0]!.id;
  if (id === undefined || !/^[0-9a-f]+$/.test(id)) throw new ModelsealError('KEY_INVALID', `PKCS#11 key ${s.uri} has no CKA_ID; give it one so it can be selected`);
  const twins = all.filter((k) => k.id === id);
  if (twins.length !== 1) throw new ModelsealError('KEY_INVALID', `${twins.length} private keys on the token share the ID of ${s.uri}; the signing key would be ambiguous`);
  return id;
}

/** The public key object with the key's ID, from `pkcs11-tool -O` (EC_PARAMS + EC_POINT). */
async function readPublicKey(s: Session, id: string): Promise<KeyObject> {
  const keys = (await listObjects(s, 'pubkey')).filter((k) => k.id === id);
  if (keys.length !== 1) {
    throw new ModelsealError('KEY_INVALID', `PKCS#11 token has ${keys.length} public key objects with the ID of ${s.uri}; exactly one is needed (pkcs11-certificate can use the certificate's key instead)`);
  }
  const { point, params } = keys[0]!;
  const curve = params === undefined ? undefined : CURVE_BY_PARAMS[params.toLowerCase()];
  if (!curve || !point) throw new ModelsealError('KEY_INVALID', `PKCS#11 key ${s.uri} is not an EC P-256, P-384 or P-521 key`);
  return ecPublicKey(curve, Buffer.from(point, 'hex'), s.uri);
}

/** CKA_EC_POINT is a DER OCTET STRING around the X9.62 point (some tokens store the bare point). */
function ecPublicKey(curve: 'P-256' | 'P-384' | 'P-521', raw: Buffer, shown: string): KeyObject {
  const n = COORDINATE_BYTES[curve];
  let point = raw;
  if (!(raw.length === 1 + 2 * n && raw[0] === 0x04)) {
    const long = raw[1] === 0x81 ? 3 : 2;
    const len = long === 3 ? raw[2]! : raw[1]!;
    if (raw[0] !== 0x04 || raw.length !== long + len) throw new ModelsealError('KEY_INVALID', `PKCS#11 key ${shown} has a malformed EC_POINT`);
    point = raw.subarray(long);
  }
  if (point.length !== 1 + 2 * n || point[0] !== 0x04) throw new ModelsealError('KEY_INVALID', `PKCS#11 key ${shown} is not an uncompressed ${curve} point`);
  const b64 = (b: Buffer) => b.toString('base64url');
  try {
    return createPublicKey({ key: { kty: 'EC', crv: curve, x: b64(point.subarray(1, 1 + n)), y: b64(point.subarray(1 + n)) }, format: 'jwk' });
  } catch (err) {
    throw new ModelsealError('KEY_INVALID', `PKCS#11 key ${shown} is not a point on ${curve}`, { cause: err });
  }
}

async function signDigest(s: Session, publicKey: KeyObject, digest: Buffer): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'modelseal-p11-'));
  try {
    const input = path.join(dir, 'digest');
    const output = path.join(dir, 'signature');
    await writeFile(input, digest, { mode: 0o600 });
    await runTool(
      ['--module', s.module, '--slot', s.slot, ...login(s), '--sign', '--mechanism', 'ECDSA', ...s.select, '--signature-format', 'openssl', '--input-file', input, '--output-file', output],
      s.pin,
      s.uri,
    );
    const signature = await readFile(output);
    if (!verifyEcdsaPrehashed(publicKey, digest, signature)) {
      throw new ModelsealError('KEY_INVALID', `the PKCS#11 token's signature does not verify with the public key for ${s.uri} (another key signed?)`);
    }
    return signature;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function login(s: Session): string[] {
  return s.pin === undefined ? [] : ['--login', '--pin', `env:${PIN_VARIABLE}`];
}

function runTool(args: string[], pin: string | undefined, shown: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env[PIN_VARIABLE];
    if (pin !== undefined) env[PIN_VARIABLE] = pin;
    const child = spawn(TOOL, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const cap = (s: string, b: Buffer) => (s.length < MAX_OUTPUT ? s + b.toString('utf8') : s);
    child.stdout.on('data', (b: Buffer) => (out = cap(out, b)));
    child.stderr.on('data', (b: Buffer) => (err = cap(err, b)));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        e.code === 'ENOENT'
          ? new ModelsealError('USAGE', 'PKCS#11 signing needs pkcs11-tool on PATH (Debian package opensc)')
          : new ModelsealError('KEY_INVALID', `cannot run pkcs11-tool: ${e.message}`, { cause: e }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(out);
      const reason = `${err}\n${out}`.split('\n').map((l) => l.trim()).filter((l) => /error|CKR_|failed|not found/i.test(l)).pop() ?? `exit ${code ?? signal}`;
      const code_ = /CKR_PIN_(INCORRECT|INVALID|LEN_RANGE|LOCKED|EXPIRED)|CKR_USER_NOT_LOGGED_IN/.test(reason) ? 'KEY_PASSWORD' : 'KEY_INVALID';
      reject(new ModelsealError(code_, `PKCS#11 (${shown}): ${reason}`));
    });
  });
}
