// The identity stage: from the pipe's configuration to a cluster the apply stage can reach.
// EKS: credentials (OIDC or keys) -> endpoint and CA -> tokens signed in this process; nothing on disk.
// Other clusters: the user's KUBE_CONFIG (and KUBE_CONTEXT), written to a private file.
import { originOf, type Config } from '../config/index.js';
import type { Logger } from '../report/logger.js';
import type { RetryOptions } from '../util/retry.js';
import type { AwsTimeouts } from './aws-http.js';
import { obtainAwsIdentity } from './credentials.js';
import { describeCluster, normalizeCaData, type EksEndpoint } from './eks-cluster.js';
import { makeEksToken, type AwsCredentials } from './eks-token.js';
import { readUserKubeconfig } from './kubeconfig.js';
import { PrivateDir } from '../util/private-dir.js';

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
}

/** Tokens are re-signed after this age for bearerToken(); EKS accepts them for 15 minutes. */
const TOKEN_REUSE_MS = 5 * 60 * 1000;

export async function establishAccess(config: Config, logger: Logger, opts: AccessOptions = {}): Promise<ClusterAccess> {
  const id = config.identity;
  if (id.kubeConfig) return userKubeconfigAccess(id.kubeConfig, id.kubeContext, logger);
  if (!id.clusterName || !id.region) throw new Error('establishAccess needs CLUSTER_NAME and AWS_REGION, or KUBE_CONFIG (config checks this)');

  const sts = { region: id.region, endpoint: id.stsEndpoint, logger, signal: opts.signal, retry: opts.retry, timeouts: opts.timeouts };
  const aws = await obtainAwsIdentity(id, config.build, sts);
  const cluster: EksEndpoint = id.clusterEndpoint
    ? { name: id.clusterName, region: id.region, server: id.clusterEndpoint, caData: normalizeCaData(id.clusterCaData ?? '') }
    : await describeCluster({ name: id.clusterName, region: id.region, endpoint: id.eksEndpoint, credentials: aws.credentials, callerArn: aws.arn, logger, signal: opts.signal, retry: opts.retry, timeouts: opts.timeouts, nameFrom: originOf(id, 'clusterName'), regionFrom: originOf(id, 'region') });

  const describe = `EKS cluster ${cluster.name} (${cluster.region}) as ${aws.arn}`;
  logger.debug(`${describe}, API server ${cluster.server}`);
  return {
    server: cluster.server,
    caData: cluster.caData,
    bearerToken: tokenSource(aws.credentials, cluster),
    describe,
    dispose: async () => undefined,
  };
}

function tokenSource(credentials: AwsCredentials, cluster: EksEndpoint): () => Promise<string> {
  let cached: { token: string; at: number } | undefined;
  return async () => {
    const now = Date.now();
    if (!cached || now - cached.at > TOKEN_REUSE_MS) cached = { token: await makeEksToken(credentials, cluster.name, cluster.region, new Date(now)), at: now };
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
