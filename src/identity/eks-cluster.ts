// Where the EKS cluster's API server is and which CA signs it: DescribeCluster, or the
// CLUSTER_ENDPOINT + CLUSTER_CA_DATA pair (least privilege: no eks:DescribeCluster needed).
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import type { Logger } from '../report/logger.js';
import { mask } from '../report/mask.js';
import { InputError, PipeError, placeName, type Location } from '../util/errors.js';
import { retry, type RetryOptions } from '../util/retry.js';
import type { AwsCredentials } from './eks-token.js';
import { awsErrorCode, isTransient } from './aws-errors.js';
import { attemptFailure, awsHttpOptions, boundedAttempt, connectionReset, isConnectionReset, awsRetry, foreignAnswer, isForeignAnswer, isTimeout, recordExchange, unanswered, type AwsTimeouts } from './aws-http.js';

export interface EksEndpoint {
  name: string;
  region: string;
  server: string;
  /** Base64 PEM, as kubeconfig's certificate-authority-data wants it. */
  caData: string;
}

/** CLUSTER_CA_DATA as base64 PEM; a PEM pasted as-is is accepted and encoded. */
export function normalizeCaData(value: string, variable = 'CLUSTER_CA_DATA'): string {
  const trimmed = value.trim();
  const pem = trimmed.startsWith('-----BEGIN') ? trimmed : Buffer.from(trimmed.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InputError('is not a base64-encoded PEM certificate', {
      where: { variable },
      hint: 'set it to the cluster\'s certificateAuthority.data (`aws eks describe-cluster --name NAME --query cluster.certificateAuthority.data --output text`)',
    });
  }
  return Buffer.from(pem.endsWith('\n') ? pem : `${pem}\n`).toString('base64');
}

export interface DescribeSettings {
  name: string;
  region: string;
  endpoint?: string;
  credentials: AwsCredentials;
  callerArn: string;
  logger: Logger;
  signal?: AbortSignal;
  retry?: Partial<RetryOptions>;
  /** Overrides of the connection and attempt timeouts (tests use short ones). */
  timeouts?: Partial<AwsTimeouts>;
  /** Where the cluster name and region were set, for messages (default: CLUSTER_NAME, AWS_REGION). */
  nameFrom?: Location;
  regionFrom?: Location;
}

export async function describeCluster(s: DescribeSettings): Promise<EksEndpoint> {
  const client = new EKSClient({
    region: s.region,
    endpoint: s.endpoint,
    credentials: s.credentials,
    maxAttempts: 1,
    requestHandler: awsHttpOptions(s.timeouts),
  });
  const exchange = recordExchange(client);
  const started = Date.now();
  let attempts = 0;
  let cluster;
  try {
    const command = new DescribeClusterCommand({ name: s.name });
    const out = await retry(
      (attempt, remainingMs) => {
        attempts = attempt;
        return boundedAttempt(s.signal, remainingMs, s.timeouts ?? {}, (opts) => client.send(command, opts));
      },
      {
        label: 'eks:DescribeCluster',
        ...awsRetry(s.retry),
        signal: s.signal,
        retryable: isTransient,
        onRetry: (err, attempt, delay) =>
          s.logger.warn(`eks:DescribeCluster: attempt ${attempt} failed (${attemptFailure(err, awsErrorCode(err), isTimeout(err) ? String((err as Error).message) : '')}); retrying in ${delay} ms`),
      },
    );
    cluster = out.cluster;
  } catch (err) {
    const x = exchange();
    const where = x.endpoint ?? s.endpoint ?? `https://eks.${s.region}.amazonaws.com`;
    const tried = `${attempts} attempt${attempts === 1 ? '' : 's'} in ${((Date.now() - started) / 1000).toFixed(1)} s`;
    if (isConnectionReset(err)) throw connectionReset('eks:DescribeCluster', where, tried, err, 'AWS_ENDPOINT_URL_EKS');
    if (isTimeout(err)) throw unanswered('eks:DescribeCluster', where, tried, err, 'AWS_ENDPOINT_URL_EKS');
    if (isForeignAnswer(err, x, /json/i)) throw foreignAnswer('eks:DescribeCluster', 'EKS', x, where, '', 'AWS_ENDPOINT_URL_EKS', err);
    throw describeError(err, s);
  }
  if (!cluster) {
    const x = exchange();
    throw foreignAnswer('eks:DescribeCluster', 'EKS', x, x.endpoint ?? s.endpoint ?? `https://eks.${s.region}.amazonaws.com`, 'without a cluster', 'AWS_ENDPOINT_URL_EKS');
  }
  if (!cluster.endpoint || !cluster.certificateAuthority?.data) {
    throw new PipeError(`EKS cluster ${s.name} in ${s.region} has no endpoint or CA yet (status ${cluster.status ?? 'unknown'})`, {
      hint: 'wait until the cluster is ACTIVE, then re-run',
    });
  }
  if (cluster.status !== 'ACTIVE' && cluster.status !== 'UPDATING') {
    throw new PipeError(`EKS cluster ${s.name} in ${s.region} is ${cluster.status}`, { hint: 'deploy when the cluster is ACTIVE (or UPDATING)' });
  }
  return { name: s.name, region: s.region, server: cluster.endpoint, caData: cluster.certificateAuthority.data };
}

function describeError(err: unknown, s: DescribeSettings): PipeError {
  const code = awsErrorCode(err);
  const message = mask(String((err as Error)?.message ?? err));
  if (code === 'ResourceNotFoundException') {
    const name = s.nameFrom ?? { variable: 'CLUSTER_NAME' };
    return new InputError(`no EKS cluster "${s.name}" in ${s.region}`, {
      where: name,
      hint: `check ${placeName(name)} and ${placeName(s.regionFrom ?? { variable: 'AWS_REGION' })} (\`aws eks list-clusters --region ${s.region}\`)`,
    });
  }
  if (code === 'UnrecognizedClientException') {
    return new PipeError(`EKS in ${s.region} does not recognize the credentials of ${s.callerArn}: ${message}`, {
      hint: `check that ${s.region} is the cluster's region (AWS_REGION) and is enabled for the account (opt-in regions), and that the AWS keys, when given, are current`,
      cause: err,
    });
  }
  if (code === 'AccessDeniedException') {
    const [, partition = 'aws', , , account = '<account-id>'] = s.callerArn.split(':');
    return new PipeError(`${s.callerArn} may not describe EKS cluster ${s.name}: ${message}`, {
      hint: `allow eks:DescribeCluster on arn:${partition}:eks:${s.region}:${account}:cluster/${s.name} for this role, or set CLUSTER_ENDPOINT and CLUSTER_CA_DATA so the pipe does not need to ask`,
      cause: err,
    });
  }
  return new PipeError(`eks:DescribeCluster for ${s.name} in ${s.region} failed: ${code}: ${message}`, {
    hint: 'check network access to EKS (AWS_ENDPOINT_URL_EKS for a private endpoint), then re-run',
    cause: err,
  });
}
