import { PipeError } from '../util/errors.js';
import { KubeApiError } from './client.js';

/** A failure tied to one object: the object's id leads the message, everywhere. */
export class ObjectError extends PipeError {
  constructor(
    readonly objectId: string,
    message: string,
    opts: { hint?: string; details?: string[]; cause?: unknown } = {},
  ) {
    super(`${objectId}: ${message}`, opts);
    this.name = 'ObjectError';
  }
}

/** Turns what the API server said into a message that says what to do. */
export function objectError(id: string, verb: string, err: unknown, opts: { forceConflicts?: boolean } = {}): ObjectError {
  if (!(err instanceof KubeApiError)) return new ObjectError(id, `${verb} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  const causes = err.body.details?.causes ?? [];
  const msg = err.body.message ?? err.message;
  if (err.status === 409 && causes.some((c) => c.reason === 'FieldManagerConflict')) {
    const lines = causes.map((c) => `${c.field ?? '?'}: ${c.message ?? ''}`);
    const managers = [...new Set(causes.map((c) => /conflict with "([^"]+)"/.exec(c.message ?? '')?.[1]).filter(Boolean))];
    return new ObjectError(id, `field manager conflict: ${causes.length} field(s) are managed by ${managers.map((m) => `"${m}"`).join(', ') || 'another manager'}`, {
      details: lines,
      hint: opts.forceConflicts
        ? 'the conflict persisted with FORCE_CONFLICTS=true; check who else writes this object'
        : 'another tool or person owns these fields: remove them from the manifest, or set FORCE_CONFLICTS=true to take them over',
      cause: err,
    });
  }
  if (err.status === 403) {
    return new ObjectError(id, `${verb} forbidden: ${msg}`, { hint: 'the deploy identity lacks the RBAC permission for this; grant it or move the object', cause: err });
  }
  if (err.status === 404 && /namespaces? "[^"]+" not found/.test(msg)) {
    return new ObjectError(id, `${verb} failed: ${msg}`, {
      hint: 'create the namespace first: set createNamespace for the app, or render a Namespace object',
      cause: err,
    });
  }
  if (err.status === 422 || err.status === 400) {
    return new ObjectError(id, `${verb} rejected as invalid: ${msg}`, {
      details: causes.map((c) => `${c.field ?? ''} ${c.message ?? ''}`.trim()),
      hint: 'fix the manifest',
      cause: err,
    });
  }
  return new ObjectError(id, `${verb} failed: ${err.message}`, { cause: err });
}
