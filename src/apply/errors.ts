import type { Logger } from '../report/logger.js';
import { PipeError } from '../util/errors.js';
import { KubeApiError } from './client.js';
import type { AppError } from './model.js';

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
    const immutable = /field is immutable|may not change once set|are forbidden/.test(msg);
    return new ObjectError(id, `${verb} rejected as invalid: ${msg}`, {
      details: causes.map((c) => `${c.field ?? ''} ${c.message ?? ''}`.trim()),
      hint: immutable
        ? 'this field cannot change on a live object: give the object a new name (a Job per version, say), or delete it once and deploy again'
        : 'fix the manifest',
      cause: err,
    });
  }
  return new ObjectError(id, `${verb} failed: ${err.message}`, { cause: err });
}

/**
 * An API failure outside any one object (discovery, the ledger, the lock) as a PipeError that says
 * what to do; anything else passes through unchanged.
 */
export function clusterError(err: unknown, server: string): unknown {
  if (!(err instanceof KubeApiError)) return err;
  const what = `${err.method} ${err.path.split('?')[0]}`;
  if (err.status === 0) {
    return new PipeError(`cannot reach the Kubernetes API server at ${server}: ${err.body.message ?? 'no answer'}`, {
      hint:
        'check the cluster endpoint (CLUSTER_NAME / CLUSTER_ENDPOINT, or the server in KUBE_CONFIG) and that this runner can reach it: ' +
        'a public endpoint that allows Bitbucket Pipelines IP ranges, or a self-hosted runner inside the network',
      cause: err,
    });
  }
  if (err.status === 401) {
    return new PipeError(`the Kubernetes API server refused the credentials (401 Unauthorized) for ${what}`, {
      hint: 'for EKS, give the IAM role an access entry (or an aws-auth mapping) on the cluster; for KUBE_CONFIG, check that its user credentials are current',
      cause: err,
    });
  }
  if (err.status === 403) {
    return new PipeError(`${what} is forbidden: ${err.body.message ?? ''}`, { hint: 'grant the deploy identity this permission (RBAC)', cause: err });
  }
  return new PipeError(`${what} failed: ${err.message}`, { cause: err });
}

/** An app's failure for its result and the report: the message, and the details and hint a PipeError carries. */
export function appError(err: unknown): AppError {
  const pe = err instanceof PipeError ? err : undefined;
  return { message: (err as Error)?.message ?? String(err), details: pe?.details ?? [], hint: pe?.hint };
}

/** Logs an app's failure: the line, its details, and what to do. */
export function logAppError(logger: Logger, line: string, error: AppError): void {
  logger.error(line);
  for (const d of error.details) logger.error(`  ${d}`);
  if (error.hint) logger.info(`  What to do: ${error.hint}`);
}
