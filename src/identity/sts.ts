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
import { InputError, PipeError } from '../util/errors.js';
import { retry, sleep, type RetryOptions } from '../util/retry.js';
import { REJECTION_CODES } from './diagnostics.js';
import { awsErrorCode, isTransient } from './aws-errors.js';
import type { AwsCredentials } from './eks-token.js';

export interface StsSettings {
  region: string;
  /** AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL; default: the regional endpoint. */
  endpoint?: string;
  logger: Logger;
  signal?: AbortSignal;
  retry?: Partial<RetryOptions>;
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
    opts: { hint?: string; variable: string },
  ) {
    super(`STS refused: ${code}: ${stsMessage}`, { hint: opts.hint, where: { variable: opts.variable } });
    this.name = 'StsRejection';
  }
}

const RETRY_DEFAULTS = { attempts: 5, maxElapsedMs: 20_000, baseDelayMs: 400, maxDelayMs: 4_000 };
const stripPadding = (s: string) => s.replace(/[\s.]+$/, '');

export function stsClient(s: StsSettings, credentials?: AwsCredentials): STSClient {
  return new STSClient({
    region: s.region,
    endpoint: s.endpoint,
    credentials,
    // The retry policy is ours (bounded, logged); the SDK's own would multiply it.
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 },
  });
}

/** Runs one STS call with the retry policy; turns the SDK's error into a PipeError the user can act on. */
async function call<T>(s: StsSettings, label: string, variable: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  let attempts = 0;
  const wait = (ms: number) => (s.signal ? abortableSleep(ms, s.signal) : sleep(ms));
  try {
    return await retry(
      async (attempt) => {
        attempts = attempt;
        return fn();
      },
      {
        label,
        ...RETRY_DEFAULTS,
        sleep: wait,
        retryable: (err) => !s.signal?.aborted && isTransient(err),
        onRetry: (err, attempt, delay) =>
          s.logger.warn(`${label}: attempt ${attempt} failed (${awsErrorCode(err)}: ${mask(stripPadding(String((err as Error).message)))}); retrying in ${delay} ms`),
        ...s.retry,
      },
    );
  } catch (err) {
    const code = awsErrorCode(err);
    const message = mask(stripPadding(String((err as Error)?.message ?? err)));
    if (REJECTION_CODES.has(code) && !isTransient(err)) throw new StsRejection(code, message, { variable });
    if (code === 'ValidationError') {
      const field = /sessionName/i.test(message) ? 'ROLE_SESSION_NAME' : /duration/i.test(message) ? 'SESSION_DURATION' : variable;
      throw new InputError(`STS rejected the request: ${message}`, {
        where: { variable: field },
        hint: field === 'SESSION_DURATION' ? "set SESSION_DURATION to at most the role's maximum session duration (IAM > Roles > Maximum session duration; 1 hour when chaining roles)" : 'correct the value and re-run',
      });
    }
    const where = s.endpoint ?? `sts.${s.region}.amazonaws.com`;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    throw new PipeError(`${label} failed after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${seconds} s (${where}): ${code}: ${message}`, {
      hint: isTransient(err)
        ? 'STS did not answer successfully; check network access to the endpoint (AWS_ENDPOINT_URL_STS for a private endpoint) and https://health.aws.amazon.com, then re-run'
        : 'check the AWS credentials and the role ARN',
      cause: err,
    });
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}

/** Registers the secrets of STS credentials before anything else sees them. */
function fromSts(c: Credentials | undefined, arn: string | undefined): AwsIdentity {
  if (!c?.AccessKeyId || !c.SecretAccessKey) throw new PipeError('STS answered without credentials');
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
}

export async function assumeRoleWithWebIdentity(s: StsSettings, token: string, p: AssumeParams): Promise<AwsIdentity> {
  const client = stsClient(s);
  const command = new AssumeRoleWithWebIdentityCommand({
    RoleArn: p.roleArn,
    RoleSessionName: p.sessionName,
    WebIdentityToken: token,
    DurationSeconds: p.durationSeconds,
  });
  const out = await call(s, 'sts:AssumeRoleWithWebIdentity', 'AWS_OIDC_ROLE_ARN', () => client.send(command, { abortSignal: s.signal }));
  return fromSts(out.Credentials, out.AssumedRoleUser?.Arn);
}

export async function assumeRole(s: StsSettings, base: AwsCredentials, p: AssumeParams): Promise<AwsIdentity> {
  const client = stsClient(s, base);
  const command = new AssumeRoleCommand({ RoleArn: p.roleArn, RoleSessionName: p.sessionName, DurationSeconds: p.durationSeconds });
  const out = await call(s, 'sts:AssumeRole', 'AWS_ROLE_ARN', () => client.send(command, { abortSignal: s.signal }));
  return fromSts(out.Credentials, out.AssumedRoleUser?.Arn);
}

/** Who static keys belong to; also proves they work before kubectl would fail obscurely. */
export async function callerArn(s: StsSettings, credentials: AwsCredentials): Promise<string> {
  const client = stsClient(s, credentials);
  const out = await call(s, 'sts:GetCallerIdentity', 'AWS_ACCESS_KEY_ID', () => client.send(new GetCallerIdentityCommand({}), { abortSignal: s.signal }));
  return out.Arn ?? 'unknown';
}

/** ROLE_SESSION_NAME as given (config checked it), else one made from the build. */
export function sessionName(given: string | undefined, build: { repoSlug?: string; buildNumber?: string }): string {
  if (given) return given;
  const parts = ['bitbucket', build.repoSlug, build.buildNumber].filter(Boolean).join('-');
  const name = parts.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
  return name.length >= 2 ? name : 'app-of-apps-pipe';
}
