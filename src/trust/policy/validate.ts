import { LineCounter, parseDocument, type Document } from 'yaml';
import { ModelsealError } from '../../errors.js';
import { DEFAULT_REQUIREMENTS as D } from '../types.js';
import { parseTrustedIdentities } from '../../signatures/notation/identities.js';
import type { AuthoritySpec, ModelRule, NotationAuthoritySpec } from './types.js';

type Path = (string | number)[];

/**
 * Strict structural validation with line numbers: an unknown key, a wrong type or a missing
 * field is an error naming the file, line and path, so a typo never silently weakens trust.
 */
export class PolicyValidator {
  private readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(
    private readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: true, prettyErrors: false });
    const err = this.doc.errors[0];
    if (err) {
      const pos = this.lines.linePos(err.pos[0]);
      throw new ModelsealError('POLICY_INVALID', `${file}:${pos.line}: ${err.message.split('\n')[0]}`);
    }
  }

  root(): unknown {
    try {
      // Aliases are refused outright: they let one node stand for many (billion laughs) and hide
      // what a rule says from a reader of the file.
      return this.doc.toJS({ maxAliasCount: 0 });
    } catch (err) {
      throw new ModelsealError('POLICY_INVALID', `${this.file}: ${(err as Error).message.split('\n')[0]} (YAML aliases and anchors are not accepted in a policy)`);
    }
  }

  fail(path: Path, message: string): never {
    const node = this.doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const parent = path.length > 0 ? (this.doc.getIn(path.slice(0, -1), true) as { range?: [number, number, number] } | undefined) : undefined;
    const offset = node?.range?.[0] ?? parent?.range?.[0];
    const where = offset === undefined ? this.file : `${this.file}:${this.lines.linePos(offset).line}`;
    throw new ModelsealError('POLICY_INVALID', `${where}: ${path.length ? path.join('.') + ': ' : ''}${message}`);
  }

  object(v: unknown, path: Path, allowed: readonly string[], required: readonly string[] = []): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'must be a mapping');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.fail([...path, k], `unknown key "${k}" (allowed: ${allowed.join(', ')})`);
    for (const k of required) if (!(k in o)) this.fail(path, `missing required key "${k}"`);
    return o;
  }

  string(v: unknown, path: Path): string {
    if (typeof v !== 'string' || v === '') this.fail(path, 'must be a non-empty string');
    return v;
  }

  bool(v: unknown, path: Path, dflt: boolean): boolean {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') this.fail(path, 'must be true or false');
    return v;
  }

  stringList(v: unknown, path: Path): string[] {
    if (!Array.isArray(v) || v.length === 0) this.fail(path, 'must be a non-empty list of strings');
    return v.map((x, i) => this.string(x, [...path, i]));
  }
}

export function validateAuthority(val: PolicyValidator, v: unknown, path: Path): AuthoritySpec {
  const o = val.object(v, path, ['key', 'certificate', 'keyless', 'notation']);
  const kinds = Object.keys(o);
  if (kinds.length !== 1) val.fail(path, 'must have exactly one of key, certificate, keyless, notation');
  if (o.notation !== undefined) return { notation: validateNotation(val, o.notation, [...path, 'notation']) };
  if (o.key !== undefined) {
    const k = val.object(o.key, [...path, 'key'], ['publicKey'], ['publicKey']);
    return { key: { publicKey: val.string(k.publicKey, [...path, 'key', 'publicKey']) } };
  }
  if (o.certificate !== undefined) {
    const c = val.object(o.certificate, [...path, 'certificate'], ['roots'], ['roots']);
    return { certificate: { roots: val.stringList(c.roots, [...path, 'certificate', 'roots']) } };
  }
  const p = [...path, 'keyless'];
  const k = val.object(o.keyless, p, ['identity', 'identityRegexp', 'issuer', 'trustedRoot'], ['issuer']);
  if ((k.identity === undefined) === (k.identityRegexp === undefined)) val.fail(p, 'needs exactly one of identity, identityRegexp');
  const out: KeylessSpec = { issuer: val.string(k.issuer, [...p, 'issuer']) };
  if (k.identity !== undefined) out.identity = val.string(k.identity, [...p, 'identity']);
  if (k.identityRegexp !== undefined) {
    out.identityRegexp = val.string(k.identityRegexp, [...p, 'identityRegexp']);
    try {
      new RegExp(`^(?:${out.identityRegexp})$`);
    } catch (err) {
      val.fail([...p, 'identityRegexp'], `is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  if (k.trustedRoot !== undefined) out.trustedRoot = val.string(k.trustedRoot, [...p, 'trustedRoot']);
  return { keyless: out };
}
type KeylessSpec = { identity?: string; identityRegexp?: string; issuer: string; trustedRoot?: string };

function validateNotation(val: PolicyValidator, v: unknown, p: Path): NotationAuthoritySpec['notation'] {
  const n = val.object(v, p, ['trustStore', 'trustedIdentities', 'tsaRoots', 'signingAuthority', 'level', 'verifyTimestamp'], ['trustStore', 'trustedIdentities']);
  const out: NotationAuthoritySpec['notation'] = {
    trustStore: val.stringList(n.trustStore, [...p, 'trustStore']),
    trustedIdentities: val.stringList(n.trustedIdentities, [...p, 'trustedIdentities']),
  };
  try {
    parseTrustedIdentities(out.trustedIdentities, 'trustedIdentities');
  } catch (err) {
    val.fail([...p, 'trustedIdentities'], (err as Error).message.replace(/^trustedIdentities: /, ''));
  }
  if (n.tsaRoots !== undefined) out.tsaRoots = val.stringList(n.tsaRoots, [...p, 'tsaRoots']);
  if (n.signingAuthority !== undefined) out.signingAuthority = val.bool(n.signingAuthority, [...p, 'signingAuthority'], false);
  if (n.level !== undefined) {
    if (n.level !== 'strict' && n.level !== 'permissive') val.fail([...p, 'level'], 'must be strict or permissive');
    out.level = n.level;
  }
  if (n.verifyTimestamp !== undefined) {
    if (n.verifyTimestamp !== 'always' && n.verifyTimestamp !== 'afterCertExpiry') val.fail([...p, 'verifyTimestamp'], 'must be always or afterCertExpiry');
    out.verifyTimestamp = n.verifyTimestamp;
  }
  return out;
}

const RULE_KEYS = ['match', 'authorities', 'threshold', 'requireSbom', 'blockUnsafePickle', 'ignoreUnsignedFiles', 'requireCosign', 'requireObjectLock', 'requireNotation', 'requireImmutability'] as const;

export function validateRule(val: PolicyValidator, v: unknown, path: Path, known: Set<string>): ModelRule {
  const o = val.object(v, path, RULE_KEYS, ['match', 'authorities']);
  const authorities = val.stringList(o.authorities, [...path, 'authorities']);
  authorities.forEach((a, i) => {
    if (!known.has(a)) val.fail([...path, 'authorities', i], `names no authority "${a}" (defined: ${[...known].join(', ') || 'none'})`);
  });
  let threshold = D.threshold;
  if (o.threshold !== undefined) {
    if (typeof o.threshold !== 'number' || !Number.isInteger(o.threshold) || o.threshold < 1 || o.threshold > authorities.length) {
      val.fail([...path, 'threshold'], `must be an integer from 1 to ${authorities.length}`);
    }
    threshold = o.threshold;
  }
  return {
    match: val.string(o.match, [...path, 'match']),
    authorities,
    threshold,
    requireSbom: val.bool(o.requireSbom, [...path, 'requireSbom'], D.requireSbom),
    blockUnsafePickle: val.bool(o.blockUnsafePickle, [...path, 'blockUnsafePickle'], D.blockUnsafePickle),
    ignoreUnsignedFiles: val.bool(o.ignoreUnsignedFiles, [...path, 'ignoreUnsignedFiles'], D.ignoreUnsignedFiles),
    requireCosign: val.bool(o.requireCosign, [...path, 'requireCosign'], D.requireCosign),
    requireObjectLock: val.bool(o.requireObjectLock, [...path, 'requireObjectLock'], D.requireObjectLock),
    requireNotation: val.bool(o.requireNotation, [...path, 'requireNotation'], D.requireNotation),
    requireImmutability: val.bool(o.requireImmutability, [...path, 'requireImmutability'], D.requireImmutability),
  };
}
