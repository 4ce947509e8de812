import { ModelsealError } from '../errors.js';
import type { JsonPatchOp } from './patch.js';

/**
 * AdmissionReview v1 (`admission.k8s.io/v1`): only what the webhook reads, validated before
 * use. The apiserver is trusted to send it, but anything reaching the port is not.
 */
export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: string;
  namespace?: string;
  name?: string;
  dryRun?: boolean;
  object: Record<string, unknown> | null;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

const bad = (msg: string) => new ModelsealError('USAGE', `not an AdmissionReview v1 request: ${msg}`);

/** The `request` of an AdmissionReview v1 body; throws USAGE (HTTP 400) on anything else. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body is not a JSON object');
  const b = body as Record<string, unknown>;
  if (b.apiVersion !== 'admission.k8s.io/v1') throw bad(`apiVersion ${JSON.stringify(b.apiVersion)} (only admission.k8s.io/v1)`);
  if (b.kind !== 'AdmissionReview') throw bad(`kind ${JSON.stringify(b.kind)}`);
  const r = b.request;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw bad('no request');
  const req = r as Record<string, unknown>;
  if (typeof req.uid !== 'string' || req.uid === '' || req.uid.length > 128) throw bad('request.uid must be a non-empty string');
  const kind = req.kind as Record<string, unknown> | undefined;
  if (typeof kind !== 'object' || kind === null || typeof kind.kind !== 'string' || typeof kind.version !== 'string' || typeof kind.group !== 'string') {
    throw bad('request.kind must be {group, version, kind}');
  }
  if (typeof req.operation !== 'string') throw bad('request.operation must be a string');
  const object = req.object;
  if (object !== null && object !== undefined && (typeof object !== 'object' || Array.isArray(object))) throw bad('request.object must be an object or null');
  return {
    uid: req.uid,
    kind: { group: kind.group, version: kind.version, kind: kind.kind },
    operation: req.operation,
    ...(typeof req.namespace === 'string' ? { namespace: req.namespace } : {}),
    ...(typeof req.name === 'string' ? { name: req.name } : {}),
    ...(req.dryRun === true ? { dryRun: true } : {}),
    object: (object ?? null) as Record<string, unknown> | null,
  };
}

/** Warnings: the apiserver advises ≤120 characters each and may truncate past 256. */
const MAX_WARNING = 256;

export function reviewResponse(uid: string, o: { allowed: boolean; reason?: string; patch?: JsonPatchOp[]; warnings?: string[]; audit?: Record<string, string> }): {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
} {
  const response: AdmissionResponse = { uid, allowed: o.allowed };
  // A denial's message reaches the user as `admission webhook "…" denied the request: <message>`.
  if (!o.allowed) response.status = { code: 403, message: o.reason ?? 'denied' };
  if (o.allowed && o.patch && o.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(o.patch)).toString('base64');
  }
  if (o.warnings?.length) response.warnings = o.warnings.map((w) => (w.length > MAX_WARNING ? w.slice(0, MAX_WARNING - 1) + '…' : w));
  if (o.audit && Object.keys(o.audit).length) response.auditAnnotations = o.audit;
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
