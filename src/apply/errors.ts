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
    // Each cause as "field: reason"; the API's own message repeats them after "<Kind> "<name>" is invalid: "
    const problems = causes.length ? causes.map((c) => [c.field, withoutDumpedValues(c.message ?? c.reason ?? '')].filter(Boolean).join(': ')) : [withoutDumpedValues(msg)];
    const fields = [...new Set(causes.map((c) => c.field).filter(Boolean))];
    return new ObjectError(id, `${verb} rejected as invalid: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, {
      details: problems.length > 1 ? problems : [],
      hint: immutable
        ? `${fields.length ? fields.join(', ') : 'this field'} cannot change on a live object: revert the change, or delete the object so the next deploy re-creates it (or give it a new name, a Job per version, say)`
        : 'fix the manifest',
      cause: err,
    });
  }
  return new ObjectError(id, `${verb} failed: ${err.message}`, { cause: err });
}

const LONGEST_VALUE = 64;

/**
 * The API server's validation messages embed the rejected value ("Invalid value: <value>: <why>"),
 * for a Job's or Deployment's template a Go dump of the whole pod template, kilobytes long. A value
 * longer than LONGEST_VALUE characters is left out, keeping the field and the reason.
 */
export function withoutDumpedValues(text: string): string {
  const marker = 'Invalid value: ';
  let out = '';
  let from = 0;
  for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, from)) {
    const start = at + marker.length;
    const end = valueEnd(text, start);
    out += text.slice(from, end - start > LONGEST_VALUE ? at : end);
    // a dropped value takes its ": " with it, so "Invalid value: X: field is immutable" reads "field is immutable"
    from = end - start > LONGEST_VALUE ? (text.startsWith(': ', end) ? end + 2 : end) : end;
  }
  return out + text.slice(from);
}

/** Where a value printed by the API server (a quoted string, a number, a Go %#v dump) ends: at ": " outside quotes and brackets. */
function valueEnd(text: string, start: number): number {
  let depth = 0;
  let quote = '';
  for (let i = start; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = '';
    } else if (ch === '"' || ch === '`') quote = ch;
    else if ('({['.includes(ch)) depth++;
    else if (')}]'.includes(ch)) depth = Math.max(0, depth - 1);
    else if (depth === 0 && ch === ':' && text[i + 1] === ' ') return i;
  }
  return text.length;
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
