import { KubeApiError } from '../apply/client.js';
import { ExitCode, PipeError } from '../util/errors.js';
import type { Logger } from './logger.js';
import { mask } from './mask.js';

/**
 * Errors from the cluster's API server that escaped the apply engine's own reporting (reading the
 * ledger, taking the lock) become errors that say what to check.
 */
export function explainClusterError(err: unknown, server: string): unknown {
  if (!(err instanceof KubeApiError)) return err;
  if (err.status === 0) {
    return new PipeError(`cannot reach the Kubernetes API server at ${server}: ${err.body.message ?? err.message}`, {
      hint:
        'check CLUSTER_NAME / CLUSTER_ENDPOINT (or the server in KUBE_CONFIG), and that the endpoint is reachable from the pipeline: ' +
        'a public endpoint allowing Bitbucket Pipelines IP ranges, or a self-hosted runner inside the network',
      cause: err,
    });
  }
  if (err.status === 401) {
    return new PipeError(`the Kubernetes API server at ${server} did not accept the pipe's credentials (401 Unauthorized)`, {
      hint: 'for EKS, add an access entry (or an aws-auth mapRoles line) for the role ARN the pipe assumed; for KUBE_CONFIG, check that its user is still valid',
      cause: err,
    });
  }
  if (err.status === 403) {
    return new PipeError(`the deploy identity is not allowed to ${err.method} ${err.path}: ${err.body.message ?? ''}`, {
      hint: 'grant it RBAC permission for this (the ledger and lock live in LEDGER_NAMESPACE: ConfigMaps and Leases there)',
      cause: err,
    });
  }
  return new PipeError(err.message, { cause: err });
}

/** The last lines of a failed run: what went wrong, where, and what to do. */
export function reportFailure(err: unknown, logger: Logger): number {
  if (err instanceof PipeError) {
    logger.failure(err.located);
    for (const d of err.details) logger.error(`  ${d}`);
    if (err.hint) logger.info(`What to do: ${err.hint}`);
    if (err.exitCode === ExitCode.badInput) logger.info('Nothing was applied.');
    return err.exitCode;
  }
  logger.failure(`internal error: ${mask(err instanceof Error ? (err.stack ?? err.message) : String(err))}`);
  logger.info('This is a bug in app-of-apps-pipe; please report it with the output above (run with DEBUG=true for detail).');
  return ExitCode.deployFailed;
}
