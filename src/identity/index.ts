// The identity stage: from the pipe's configuration to a cluster the apply stage can reach.
// EKS: credentials (OIDC or keys) -> endpoint and CA -> tokens signed in this process; nothing on disk.
// Other clusters: the user's KUBE_CONFIG (and KUBE_CONTEXT), written to a private file.
import { originOf, type Config } from '../config/index.js';
import type { Logger } from '../report/logger.js';
import type { RetryOptions } from '../util/retry.js';
import type { AwsTimeouts } from './aws-http.js';
import { obtainAwsIdentity, type AwsIdentity } from './credentials.js';
import { InputError, PipeError } from '../util/errors.js';
import { describeCluster, normalizeCaData, type EksEndpoint } from './eks-cluster.js';
import { makeEksToken, type AwsCredentials } from './eks-token.js';
import { readUserKubeconfig } from './kubeconfig.js';
import { PrivateDir } from '../util/private-dir.js';
import { afterGrace, CANCEL_GRACE_MS } from '../util/grace.js';

export interface ClusterAccess {
  /**
   * KUBE_CONFIG only: the user's kubeconfig in a private file (its client certificate, token file
   * or credential plugin). EKS access has none: its credentials stay in memory.
   */
  kubeconfigPath?: string;
  /** The API server URL. */
  server: string;
  /** Base64 PEM of the CA (kubeconfig's certificate-authority-data), for in-process HTTPS. */
  caData?: string;
  /** A fresh bearer token for direct HTTP calls; undefined when the kubeconfig's user has none (client certs, exec). */
  bearerToken(): Promise<string | undefined>;
  /** One line: "EKS cluster prod (eu-west-1) as arn:aws:sts::...:assumed-role/deploy/bitbucket-repo-42". */
  describe: string;
  /** Removes the private files, if any; also happens on exit, SIGINT and SIGTERM. */
  dispose(): Promise<void>;
}

export interface AccessOptions {
  signal?: AbortSignal;
  /** Overrides for the STS/EKS retry policy (tests use short delays). */
  retry?: Partial<RetryOptions>;
  /** Overrides for the STS/EKS connection and attempt timeouts (tests use short ones). */
  timeouts?: Partial<AwsTimeouts>;
  /** The clock that decides when the AWS session is renewed and tokens re-signed (tests move it forward). */
  now?: () => number;
  /** How long after `signal` a renewal may still be made (CANCEL_GRACE_MS; tests use a short one). */
  graceMs?: number;
}

/** Tokens are re-signed after this age for bearerToken(); EKS accepts them for 15 minutes. */
const TOKEN_REUSE_MS = 5 * 60 * 1000;

export async function establishAccess(config: Config, logger: Logger, opts: AccessOptions = {}): Promise<ClusterAccess> {
  const id = config.identity;
  if (id.kubeConfig) return userKubeconfigAccess(id.kubeConfig, id.kubeContext, logger);
  if (!id.clusterName || !id.region) throw new Error('establishAccess needs CLUSTER_NAME and AWS_REGION, or KUBE_CONFIG (config checks this)');

  const sts = { region: id.region, endpoint: id.stsEndpoint, logger, signal: opts.signal, retry: opts.retry, timeouts: opts.timeouts };
  const now = opts.now ?? Date.now;
  const started = new Date();
  const aws = await obtainAwsIdentity(id, config.build, sts);
  const cluster: EksEndpoint = id.clusterEndpoint
    ? { name: id.clusterName, region: id.region, server: id.clusterEndpoint, caData: normalizeCaData(id.clusterCaData ?? '') }
    : await describeCluster({ name: id.clusterName, region: id.region, endpoint: id.eksEndpoint, credentials: aws.credentials, callerArn: aws.arn, logger, signal: opts.signal, retry: opts.retry, timeouts: opts.timeouts, nameFrom: originOf(id, 'clusterName'), regionFrom: originOf(id, 'region') });

  const describe = `EKS cluster ${cluster.name} (${cluster.region}) as ${aws.arn}`;
  logger.debug(`${describe}, API server ${cluster.server}`);
  // after SIGTERM, what the run still does (in-flight applies, the ledger write of finished apps,
  // the lock's release) needs tokens: a renewal is cut only when the grace period is over
  const graceMs = opts.graceMs ?? CANCEL_GRACE_MS;
  const grace = opts.signal ? afterGrace(opts.signal, graceMs) : undefined;
  const renewal = { ...sts, signal: grace?.hard };
  const session = sessionSource(aws, () => obtainAwsIdentity(id, config.build, renewal, { renewalOf: started }), { seconds: id.sessionDurationSeconds, logger, now, cut: grace?.hard, graceMs });
  return {
    server: cluster.server,
    caData: cluster.caData,
    bearerToken: tokenSource(session, cluster, now),
    describe,
    dispose: async () => grace?.dispose(),
  };
}

/** A renewal that failed for a reason that may pass (the network, STS unavailable) is tried again after this long; a refusal is kept for the run. */
const RENEW_RETRY_MS = 60_000;

/** The session is renewed this long before it expires (or at half its life, if shorter): tokens signed with it are used for up to TOKEN_REUSE_MS. */
const RENEW_BEFORE_MS = TOKEN_REUSE_MS + 60_000;

interface Session {
  credentials: AwsCredentials;
  /** Until when tokens signed with these credentials may be used: their renewal time. */
  until: number;
}

/**
 * The AWS session of the run, renewed before it expires by the same exchange (the step's OIDC
 * token lasts as long as the step), so a deploy longer than SESSION_DURATION keeps signing EKS
 * tokens with valid credentials. A renewal that fails says which session expired and what to set.
 * One renewal serves every caller: those that ask while it runs share it, and a failed one is
 * kept (a refusal for the rest of the run, another failure for RENEW_RETRY_MS), so that the
 * callers that fail with it (an app, the ledger note, the lock release) do not each ask STS again
 * and print its error again.
 */
function sessionSource(first: AwsIdentity, renew: () => Promise<AwsIdentity>, o: { seconds: number; logger: Logger; now: () => number; cut?: AbortSignal; graceMs?: number }): () => Promise<Session> {
  const renewAt = (identity: AwsIdentity, obtained: number) => {
    const expires = identity.credentials.expiration?.getTime();
    return expires === undefined ? Infinity : expires - Math.min(RENEW_BEFORE_MS, (expires - obtained) / 2);
  };
  let current: Session = { credentials: first.credentials, until: renewAt(first, o.now()) };
  let arn = first.arn;
  let pending: Promise<Session> | undefined;
  let failed: { error: PipeError; until: number } | undefined;
  return async () => {
    if (o.now() < current.until) return current;
    if (failed && o.now() < failed.until) throw failed.error;
    pending ??= (async () => {
      const expires = current.credentials.expiration!;
      try {
        const next = await renew();
        o.logger.debug(`AWS session of ${arn} renewed: credentials until ${next.credentials.expiration?.toISOString() ?? 'unknown'}`);
        arn = next.arn;
        current = { credentials: next.credentials, until: renewAt(next, o.now()) };
        failed = undefined;
        return current;
      } catch (err) {
        if (o.cut?.aborted) {
          // not the session's fault: not kept, and no advice about SESSION_DURATION
          throw new PipeError(`the AWS session of ${arn} ${expires.getTime() <= o.now() ? 'expired' : 'expires'} at ${expires.toISOString()} and was not renewed: the run was cancelled and its grace period (${(o.graceMs ?? CANCEL_GRACE_MS) / 1000} s) is over`, {
            hint: 'nothing to fix: run the pipeline again; a lock it could not release expires on its own',
            cause: err,
          });
        }
        const why = err instanceof PipeError ? err.located : String((err as Error)?.message ?? err);
        const error = new PipeError(`the AWS session of ${arn} ${expires.getTime() <= o.now() ? 'expired' : 'expires'} at ${expires.toISOString()} (SESSION_DURATION=${o.seconds} s) and could not be renewed: ${why}`, {
          hint: `set SESSION_DURATION to more than the deploy takes (at most the role's maximum session duration, IAM > Roles > Maximum session duration)${err instanceof PipeError && err.hint ? `; and: ${err.hint}` : ''}`,
          cause: err,
        });
        failed = { error, until: err instanceof InputError ? Infinity : o.now() + RENEW_RETRY_MS };
        throw error;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}

function tokenSource(session: () => Promise<Session>, cluster: EksEndpoint, now: () => number): () => Promise<string> {
  let cached: { token: string; until: number; credentials: AwsCredentials } | undefined;
  return async () => {
    const s = await session();
    const at = now();
    if (!cached || cached.credentials !== s.credentials || at >= cached.until) {
      cached = { token: await makeEksToken(s.credentials, cluster.name, cluster.region, new Date()), until: Math.min(at + TOKEN_REUSE_MS, s.until), credentials: s.credentials };
    }
    return cached.token;
  };
}

function userKubeconfigAccess(base64: string, context: string | undefined, logger: Logger): ClusterAccess {
  const kc = readUserKubeconfig(base64, context);
  const dir = PrivateDir.create();
  const kubeconfigPath = dir.write('kubeconfig', kc.text);
  const describe = `cluster ${kc.cluster} (${kc.server}) from KUBE_CONFIG context ${kc.context}`;
  logger.debug(`kubeconfig ${kubeconfigPath}: ${describe}`);
  return {
    kubeconfigPath,
    server: kc.server,
    caData: kc.caData,
    bearerToken: async () => kc.token,
    describe,
    dispose: async () => dir.remove(),
  };
}
