// EKS bearer tokens made in process: "k8s-aws-v1." + base64url of a SigV4-presigned STS
// GetCallerIdentity URL that signs the x-k8s-aws-id header (the cluster name). Light on purpose:
// the eks-token subcommand runs once per kubectl invocation and loads only this and the signer.
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { registerSecret } from '../report/mask.js';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export const TOKEN_PREFIX = 'k8s-aws-v1.';
/** EKS accepts a token for 15 minutes after signing; clients refresh a minute before. */
export const TOKEN_LIFETIME_MS = 14 * 60 * 1000;
const CLUSTER_HEADER = 'x-k8s-aws-id';

/** The STS host EKS's authenticator expects for a region (China regions use amazonaws.com.cn). */
export function stsHost(region: string): string {
  return `sts.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/** A token for `cluster`, signed at `now`; registered as a secret before it is returned. */
export async function makeEksToken(credentials: AwsCredentials, cluster: string, region: string, now = new Date()): Promise<string> {
  const hostname = stsHost(region);
  const signer = new SignatureV4({ credentials, region, service: 'sts', sha256: Sha256 });
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname, [CLUSTER_HEADER]: cluster },
    },
    { expiresIn: 60, signingDate: now },
  );
  const query = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  const token = TOKEN_PREFIX + Buffer.from(`https://${hostname}/?${query}`).toString('base64url');
  registerSecret(token);
  return token;
}

/** When a token signed at `signedAt` should be replaced: 14 minutes, or earlier if the credentials expire first. */
export function tokenExpiry(signedAt: Date, credentials: AwsCredentials): Date {
  const byToken = signedAt.getTime() + TOKEN_LIFETIME_MS;
  const byCredentials = credentials.expiration ? credentials.expiration.getTime() - 60_000 : Infinity;
  return new Date(Math.min(byToken, byCredentials));
}

/** The ExecCredential kubectl reads from a credential plugin's stdout. */
export function execCredential(token: string, expiration: Date): string {
  return JSON.stringify({
    kind: 'ExecCredential',
    apiVersion: 'client.authentication.k8s.io/v1beta1',
    spec: {},
    status: { expirationTimestamp: expiration.toISOString().replace(/\.\d{3}Z$/, 'Z'), token },
  });
}
