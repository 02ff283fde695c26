// The identity stage: from the pipe's configuration to a cluster kubectl can reach.
// EKS: credentials (OIDC or keys) -> endpoint and CA -> kubeconfig with an exec entry to the pipe.
// Other clusters: the user's KUBE_CONFIG (and KUBE_CONTEXT), written to a private file.
import type { Config } from '../config/index.js';
import type { Logger } from '../report/logger.js';
import type { RetryOptions } from '../util/retry.js';
import { obtainAwsIdentity } from './credentials.js';
import { describeCluster, normalizeCaData, type EksEndpoint } from './eks-cluster.js';
import { makeEksToken, type AwsCredentials } from './eks-token.js';
import { eksKubeconfig, readUserKubeconfig, selfCommand, type SelfCommand } from './kubeconfig.js';
import { PrivateDir } from '../util/private-dir.js';

export interface ClusterAccess {
  /** For `kubectl --kubeconfig`. */
  kubeconfigPath: string;
  /** The API server URL. */
  server: string;
  /** Base64 PEM of the CA (kubeconfig's certificate-authority-data), for in-process HTTPS. */
  caData?: string;
  /** A fresh bearer token for direct HTTP calls; undefined when the kubeconfig's user has none (client certs, exec). */
  bearerToken(): Promise<string | undefined>;
  /** One line: "EKS cluster prod (eu-west-1) as arn:aws:sts::...:assumed-role/deploy/bitbucket-repo-42". */
  describe: string;
  /** Removes the private files; also happens on exit, SIGINT and SIGTERM. */
  dispose(): Promise<void>;
}

export interface AccessOptions {
  signal?: AbortSignal;
  /** Overrides for the STS/EKS retry policy (tests use short delays). */
  retry?: Partial<RetryOptions>;
  /** How kubectl runs the pipe's eks-token subcommand; default: this process's entry point. */
  self?: SelfCommand;
}

/** Tokens are re-signed after this age for bearerToken(); EKS accepts them for 15 minutes. */
const TOKEN_REUSE_MS = 5 * 60 * 1000;

export async function establishAccess(config: Config, logger: Logger, opts: AccessOptions = {}): Promise<ClusterAccess> {
  const id = config.identity;
  if (id.kubeConfig) return userKubeconfigAccess(id.kubeConfig, id.kubeContext, logger);
  if (!id.clusterName || !id.region) throw new Error('establishAccess needs CLUSTER_NAME and AWS_REGION, or KUBE_CONFIG (config checks this)');

  const sts = { region: id.region, endpoint: id.stsEndpoint, logger, signal: opts.signal, retry: opts.retry };
  const aws = await obtainAwsIdentity(id, config.build, sts);
  const cluster: EksEndpoint = id.clusterEndpoint
    ? { name: id.clusterName, region: id.region, server: id.clusterEndpoint, caData: normalizeCaData(id.clusterCaData ?? '') }
    : await describeCluster({ name: id.clusterName, region: id.region, endpoint: id.eksEndpoint, credentials: aws.credentials, callerArn: aws.arn, logger, signal: opts.signal, retry: opts.retry });

  const dir = PrivateDir.create();
  try {
    const credentialsFile = dir.write('aws-credentials.json', credentialProcessJson(aws.credentials));
    const kubeconfigPath = dir.write(
      'kubeconfig',
      eksKubeconfig({ clusterName: cluster.name, region: cluster.region, server: cluster.server, caData: cluster.caData, credentialsFile, self: opts.self ?? selfCommand() }),
    );
    const describe = `EKS cluster ${cluster.name} (${cluster.region}) as ${aws.arn}`;
    logger.debug(`kubeconfig ${kubeconfigPath}: ${describe}, API server ${cluster.server}`);
    return {
      kubeconfigPath,
      server: cluster.server,
      caData: cluster.caData,
      bearerToken: tokenSource(aws.credentials, cluster),
      describe,
      dispose: async () => dir.remove(),
    };
  } catch (err) {
    dir.remove();
    throw err;
  }
}

/** The credential_process JSON shape: what eks-token --credentials-file reads. */
function credentialProcessJson(c: AwsCredentials): string {
  return JSON.stringify({ Version: 1, AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, SessionToken: c.sessionToken, Expiration: c.expiration?.toISOString() });
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
