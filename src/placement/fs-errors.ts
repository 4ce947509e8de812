import { ModelsealError } from '../errors.js';

/**
 * A filesystem refusal while placing, as a reason that names the fix. Pods meet these through
 * volume set-up (a read-only root, a too-small emptyDir, a volume owned by another uid), so the
 * message speaks in those terms. Anything else passes through unchanged.
 */
export function fsError(err: unknown, dir: string, doing: string): unknown {
  if (err instanceof ModelsealError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const at = `cannot ${doing} ${dir}`;
  switch (code) {
    case 'EROFS':
      return new ModelsealError('IO', `${at}: read-only file system; place the model on a writable volume (an emptyDir or PVC mounted read-write) or point --into / MODELSEAL_INTO there`, { cause: err, details: { errno: code } });
    case 'ENOSPC':
    case 'EDQUOT':
      return new ModelsealError('IO', `${at}: no space left (${code}); give the volume more room (emptyDir sizeLimit, PVC size) or free space`, { cause: err, details: { errno: code } });
    case 'EACCES':
    case 'EPERM':
      return new ModelsealError('IO', `${at}: permission denied for uid ${process.getuid?.() ?? '?'}; make the volume writable for it (pod securityContext.fsGroup) or choose another --into`, { cause: err, details: { errno: code } });
    default:
      return err;
  }
}
