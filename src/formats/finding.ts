/**
 * One result of scanning a model file. `unsafe`: can run code or escape the model when loaded;
 * `unknown`: could not be shown safe (fail closed); `info`: worth recording, not a risk by itself.
 */
export interface Finding {
  /** Model-relative POSIX path of the file. */
  path: string;
  severity: 'unsafe' | 'inconclusive' | 'info';
  /** e.g. `pickle-global`, `pickle-unresolved`, `pickle-malformed`, `onnx-external-data`, `format-invalid`. */
  kind: string;
  detail: string;
  /** `module.name` of the offending pickle global. */
  global?: string;
}
