// AWS STS calls (AssumeRoleWithWebIdentity, AssumeRole, GetCallerIdentity) with @aws-sdk/client-sts,
// each through the one retry helper: transient failures are retried with jittered backoff,
// bounded in attempts and time; a real rejection is not retried.
import {
  AssumeRoleCommand,
  AssumeRoleWithWebIdentityCommand,
  GetCallerIdentityCommand,
  STSClient,
  type Credentials,
} from '@aws-sdk/client-sts';
import { registerSecret, mask } from '../report/mask.js';
import type { Logger } from '../report/logger.js';
import { InputError, PipeError, placeName, type Location } from '../util/errors.js';
import { retry, type RetryOptions } from '../util/retry.js';
import { REJECTION_CODES } from './diagnostics.js';
import { awsErrorCode, isTransient } from './aws-errors.js';
import { attemptFailure, attemptOptions, awsHttpOptions, boundedAttempt, connectionReset, isConnectionReset, awsRetry, foreignAnswer, isForeignAnswer, isTimeout, recordExchange, unanswered, type AwsTimeouts, type Exchange } from './aws-http.js';
import type { AwsCredentials } from './eks-token.js';

export interface StsSettings {
  region: string;
  /** AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL; default: the regional endpoint. */
  endpoint?: string;
  logger: Logger;
  signal?: AbortSignal;
  retry?: Partial<RetryOptions>;
  /** Overrides of the connection and attempt timeouts (tests use short ones). */
  timeouts?: Partial<AwsTimeouts>;
}

export interface AwsIdentity {
  credentials: AwsCredentials;
  /** arn:aws:sts::<account>:assumed-role/<role>/<session>, or the IAM user of static keys. */
  arn: string;
}

/** STS refused the request for a reason retrying cannot fix (see REJECTION_CODES). */
export class StsRejection extends InputError {
  constructor(
    readonly code: string,
    readonly stsMessage: string,
    opts: { hint?: string; where: Location },
  ) {
    super(`STS refused: ${code}: ${stsMessage}`, { hint: opts.hint, where: opts.where });
    this.name = 'StsRejection';
  }
}

const stripPadding = (s: string) => s.replace(/[\s.]+$/, '');

export function stsClient(s: StsSettings, credentials?: AwsCredentials): STSClient {
  return new STSClient({
    region: s.region,
    endpoint: s.endpoint,
    credentials,
    // The retry policy is ours (bounded, logged); the SDK's own would multiply it.
    maxAttempts: 1,
    requestHandler: awsHttpOptions(s.timeouts),
  });
}

type SendOptions = ReturnType<typeof attemptOptions>;

const CREDENTIAL_CODES = new Set(['InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'ExpiredToken']);
const BAD_KEYS_HINT =
  'the AWS keys are wrong, deactivated or expired: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (better: OIDC, with AWS_OIDC_ROLE_ARN and `oidc: true` on the step)';

interface CallLabels {
  label: string;
  /** The variable (or root manifest field) a refusal is about. */
  where: Location;
  /** What to do when STS refuses (AccessDenied and the like). */
  refusedHint?: string;
  /** Whether the call is signed with AWS keys (everything but AssumeRoleWithWebIdentity). */
  signed: boolean;
}

/** Runs one STS call with the retry policy; turns the SDK's error into a PipeError the user can act on. */
async function call<T>(s: StsSettings, o: CallLabels, exchange: () => Exchange, fn: (opts: SendOptions) => Promise<T>): Promise<T> {
  const { label, where: about } = o;
  const started = Date.now();
  let attempts = 0;
  try {
    return await retry(
      async (attempt, remainingMs) => {
        attempts = attempt;
        return boundedAttempt(s.signal, remainingMs, s.timeouts ?? {}, fn);
      },
      {
        label,
        ...awsRetry(s.retry),
        signal: s.signal,
        retryable: isTransient,
        onRetry: (err, attempt, delay) =>
          s.logger.warn(`${label}: attempt ${attempt} failed (${attemptFailure(err, awsErrorCode(err), mask(stripPadding(String((err as Error).message))))}); retrying in ${delay} ms`),
      },
    );
  } catch (err) {
    const code = awsErrorCode(err);
    const message = mask(stripPadding(String((err as Error)?.message ?? err)));
    if (o.signed && CREDENTIAL_CODES.has(code)) throw new StsRejection(code, message, { where: { variable: 'AWS_ACCESS_KEY_ID' }, hint: BAD_KEYS_HINT });
    if (REJECTION_CODES.has(code) && !isTransient(err)) throw new StsRejection(code, message, { where: about, hint: o.refusedHint });
    if (code === 'ValidationError') {
      const field = /sessionName/i.test(message) ? 'ROLE_SESSION_NAME' : /duration/i.test(message) ? 'SESSION_DURATION' : undefined;
      throw new InputError(`STS rejected the request: ${message}`, {
        where: field ? { variable: field } : about,
        hint: field === 'SESSION_DURATION' ? "set SESSION_DURATION to at most the role's maximum session duration (IAM > Roles > Maximum session duration; 1 hour when chaining roles)" : 'correct the value and re-run',
      });
    }
    const x = exchange();
    const where = endpointOf(s, x);
    const tried = `${attempts} attempt${attempts === 1 ? '' : 's'} in ${((Date.now() - started) / 1000).toFixed(1)} s`;
    if (isConnectionReset(err)) throw connectionReset(label, where, tried, err, 'AWS_ENDPOINT_URL_STS');
    if (isTimeout(err)) throw unanswered(label, where, tried, err, 'AWS_ENDPOINT_URL_STS');
    if (isForeignAnswer(err, x, /xml/i)) {
      const what = /Deserialization error/i.test(message) ? `that could not be parsed (${message.split('\n')[0]!.replace(/^@aws-sdk /, '').replace(/\.$/, '')})` : '';
      throw foreignAnswer(label, 'STS', x, where, what, 'AWS_ENDPOINT_URL_STS', err);
    }
    throw new PipeError(`${label} failed after ${tried} (${where}): ${code}: ${message}`, {
      hint: isTransient(err)
        ? 'STS did not answer successfully; check network access to the endpoint (AWS_ENDPOINT_URL_STS for a private endpoint) and https://health.aws.amazon.com, then re-run'
        : `check ${placeName(about)} and the AWS credentials`,
      cause: err,
    });
  }
}

const endpointOf = (s: StsSettings, x: Exchange) => x.endpoint ?? s.endpoint ?? `https://sts.${s.region}.amazonaws.com`;

/** Registers the secrets of STS credentials before anything else sees them. */
function fromSts(c: Credentials | undefined, arn: string | undefined, s: StsSettings, label: string, x: Exchange): AwsIdentity {
  if (!c?.AccessKeyId || !c.SecretAccessKey) throw foreignAnswer(label, 'STS', x, endpointOf(s, x), 'without credentials', 'AWS_ENDPOINT_URL_STS');
  registerSecret(c.SecretAccessKey);
  registerSecret(c.SessionToken);
  return {
    credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration },
    arn: arn ?? 'unknown',
  };
}

export interface AssumeParams {
  roleArn: string;
  sessionName: string;
  durationSeconds: number;
  /** Where roleArn was set, for messages (default: its pipe variable). */
  from?: Location;
}

export async function assumeRoleWithWebIdentity(s: StsSettings, token: string, p: AssumeParams): Promise<AwsIdentity> {
  const client = stsClient(s);
  const command = new AssumeRoleWithWebIdentityCommand({
    RoleArn: p.roleArn,
    RoleSessionName: p.sessionName,
    WebIdentityToken: token,
    DurationSeconds: p.durationSeconds,
  });
  const labels = { label: 'sts:AssumeRoleWithWebIdentity', where: p.from ?? { variable: 'AWS_OIDC_ROLE_ARN' }, signed: false };
  const exchange = recordExchange(client);
  const out = await call(s, labels, exchange, (opts) => client.send(command, opts));
  return fromSts(out.Credentials, out.AssumedRoleUser?.Arn, s, labels.label, exchange());
}

export async function assumeRole(s: StsSettings, base: AwsCredentials, p: AssumeParams): Promise<AwsIdentity> {
  const client = stsClient(s, base);
  const command = new AssumeRoleCommand({ RoleArn: p.roleArn, RoleSessionName: p.sessionName, DurationSeconds: p.durationSeconds });
  const labels = {
    label: 'sts:AssumeRole',
    where: p.from ?? { variable: 'AWS_ROLE_ARN' },
    signed: true,
    refusedHint: `the trust policy of ${p.roleArn} must allow the caller (a statement with "Principal": {"AWS": "<caller role or user ARN>"} and "Action": "sts:AssumeRole"), and the caller's own policy must allow sts:AssumeRole on it`,
  };
  const exchange = recordExchange(client);
  const out = await call(s, labels, exchange, (opts) => client.send(command, opts));
  return fromSts(out.Credentials, out.AssumedRoleUser?.Arn, s, labels.label, exchange());
}

/** Who static keys belong to; also proves they work before kubectl would fail obscurely. */
export async function callerArn(s: StsSettings, credentials: AwsCredentials): Promise<string> {
  const client = stsClient(s, credentials);
  const labels = { label: 'sts:GetCallerIdentity', where: { variable: 'AWS_ACCESS_KEY_ID' }, signed: true, refusedHint: BAD_KEYS_HINT };
  const exchange = recordExchange(client);
  const out = await call(s, labels, exchange, (opts) => client.send(new GetCallerIdentityCommand({}), opts));
  if (!out.Arn) throw foreignAnswer(labels.label, 'STS', exchange(), endpointOf(s, exchange()), 'without a caller ARN', 'AWS_ENDPOINT_URL_STS');
  return out.Arn;
}

/** ROLE_SESSION_NAME as given (config checked it), else one made from the build. */
export function sessionName(given: string | undefined, build: { repoSlug?: string; buildNumber?: string }): string {
  if (given) return given;
  const parts = ['bitbucket', build.repoSlug, build.buildNumber].filter(Boolean).join('-');
  const name = parts.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
  return name.length >= 2 ? name : 'app-of-apps-pipe';
}
