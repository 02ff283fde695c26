// `app-of-apps-pipe eks-token`: a kubectl credential plugin that prints an ExecCredential with a
// fresh EKS token, with no AWS CLI, for users' own kubeconfigs: from a credential_process JSON
// file, AWS keys or a Bitbucket OIDC token in the environment. (A pipe run signs its tokens in
// process and needs no plugin.) It runs once per
// kubectl invocation, so the usual path loads only the signer; STS is imported only when needed.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isTrue } from '../config/booleans.js';
import { createLogger } from '../report/logger.js';
import { mask, registerSecret } from '../report/mask.js';
import { ExitCode, PipeError } from '../util/errors.js';
import { registerCredentialVariables } from '../util/exec.js';
import { execCredential, makeEksToken, tokenExpiry, type AwsCredentials } from './eks-token.js';

export const EKS_TOKEN_USAGE = `Usage: app-of-apps-pipe eks-token --cluster-name NAME [--region REGION] [--role-arn ARN]
                                 [--credentials-file FILE] [--session-name NAME]

Prints a kubectl ExecCredential (client.authentication.k8s.io/v1beta1) holding an EKS token.
Credentials, first found wins:
  --credentials-file FILE   JSON with AccessKeyId, SecretAccessKey, SessionToken, Expiration
                            (the credential_process format)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
  AWS_OIDC_ROLE_ARN + BITBUCKET_STEP_OIDC_TOKEN   (exchanged with STS; needs \`oidc: true\`)
--role-arn ARN assumes that role with them first. Region: --region, AWS_REGION, AWS_DEFAULT_REGION.
STS endpoint for the exchange: AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL.`;

class UsageError extends PipeError {
  constructor(message: string) {
    super(message, { exitCode: ExitCode.badInput, hint: 'run `app-of-apps-pipe eks-token --help`' });
  }
}

interface Options {
  cluster: string;
  region: string;
  roleArn?: string;
  credentialsFile?: string;
  sessionName?: string;
}

function options(argv: string[], env: NodeJS.ProcessEnv): Options | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'cluster-name': { type: 'string', short: 'i' },
        'cluster-id': { type: 'string' },
        region: { type: 'string' },
        'role-arn': { type: 'string' },
        'credentials-file': { type: 'string' },
        'session-name': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const cluster = values['cluster-name'] ?? values['cluster-id'];
  const region = values.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!cluster) throw new UsageError('--cluster-name is required');
  if (!region) throw new UsageError('no region: pass --region or set AWS_REGION');
  return { cluster, region, roleArn: values['role-arn'], credentialsFile: values['credentials-file'], sessionName: values['session-name'] };
}

/** A credential_process JSON file (`--credentials-file`): Version, AccessKeyId, SecretAccessKey, SessionToken, Expiration. */
export function readCredentialsFile(file: string): AwsCredentials {
  const hint = 'pass the path of a readable credential_process JSON file ({"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ..., "SessionToken": ..., "Expiration": ...}), or leave --credentials-file out to use AWS keys or a Bitbucket OIDC token from the environment';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PipeError(`cannot read credentials file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { exitCode: ExitCode.badInput, hint });
  }
  let parsed: Record<string, string>;
  try {
    parsed = JSON.parse(text) as Record<string, string>;
  } catch (err) {
    // the parser's message quotes the text around the error, which is the secret key as often as not
    throw new PipeError(`credentials file ${file} is not JSON (${jsonErrorPlace(text, err)})`, { exitCode: ExitCode.badInput, hint });
  }
  if (!parsed.AccessKeyId || !parsed.SecretAccessKey) throw new PipeError(`credentials file ${file} has no AccessKeyId/SecretAccessKey`);
  registerSecret(parsed.SecretAccessKey);
  registerSecret(parsed.SessionToken);
  return {
    accessKeyId: parsed.AccessKeyId,
    secretAccessKey: parsed.SecretAccessKey,
    sessionToken: parsed.SessionToken,
    expiration: parsed.Expiration ? new Date(parsed.Expiration) : undefined,
  };
}

/** Where JSON.parse stopped ("at line L, column C"), from the position in its message and nothing else of it. */
function jsonErrorPlace(text: string, err: unknown): string {
  const message = String((err as Error)?.message);
  if (/[[]/.test(text.trimStart()[0] ?? '') && /aws_access_key_id/i.test(text)) return 'it looks like an AWS credentials INI file';
  const position = /at position (\d+)/.exec(message)?.[1] ?? (/end of JSON input/.test(message) ? String(text.length) : undefined);
  if (position === undefined) return 'unexpected text';
  const before = text.slice(0, Number(position)).split('\n');
  return `at line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

async function credentialsFor(o: Options, env: NodeJS.ProcessEnv): Promise<AwsCredentials> {
  let base: AwsCredentials | undefined;
  if (o.credentialsFile) base = readCredentialsFile(o.credentialsFile);
  else if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    registerSecret(env.AWS_SECRET_ACCESS_KEY);
    registerSecret(env.AWS_SESSION_TOKEN);
    base = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN || undefined };
  }
  if (base && !o.roleArn) return base;
  if (!base && !env.AWS_OIDC_ROLE_ARN) {
    throw new UsageError('no AWS credentials: pass --credentials-file, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_OIDC_ROLE_ARN with `oidc: true` on the step');
  }
  // Only these paths need the AWS SDK.
  const logger = createLogger({ debug: isTrue(env.DEBUG), out: (l) => process.stderr.write(l + '\n') });
  const sts = { region: o.region, endpoint: env.AWS_ENDPOINT_URL_STS ?? env.AWS_ENDPOINT_URL, logger };
  const build = { repoSlug: env.BITBUCKET_REPO_SLUG, buildNumber: env.BITBUCKET_BUILD_NUMBER };
  const name = o.sessionName ?? env.ROLE_SESSION_NAME;
  if (base) {
    const { assumeRole, sessionName } = await import('./sts.js');
    return (await assumeRole(sts, base, { roleArn: o.roleArn!, sessionName: sessionName(name, build), durationSeconds: 900 })).credentials;
  }
  const { obtainAwsIdentity } = await import('./credentials.js');
  const identity = await obtainAwsIdentity(
    { oidcRoleArn: env.AWS_OIDC_ROLE_ARN, oidcToken: env.BITBUCKET_STEP_OIDC_TOKEN, roleArn: o.roleArn, roleSessionName: name, sessionDurationSeconds: 900 },
    build,
    sts,
  );
  return identity.credentials;
}

export async function eksTokenCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  registerCredentialVariables(env);
  try {
    const o = options(argv, env);
    if (o === 'help') {
      process.stdout.write(EKS_TOKEN_USAGE + '\n');
      return 0;
    }
    const credentials = await credentialsFor(o, env);
    const now = new Date();
    if (credentials.expiration && credentials.expiration.getTime() <= now.getTime()) {
      // only a credentials file carries an expiry of its own: AWS keys from the environment have
      // none, and an exchange or --role-arn here makes a fresh 15-minute session
      throw new PipeError(`the credentials in ${o.credentialsFile ?? 'the credentials file'} expired at ${credentials.expiration.toISOString()}`, {
        hint: 'rerun the process that writes the credentials file (its credential_process), or leave --credentials-file out to use AWS keys or a Bitbucket OIDC token from the environment',
      });
    }
    const token = await makeEksToken(credentials, o.cluster, o.region, now);
    process.stdout.write(execCredential(token, tokenExpiry(now, credentials)) + '\n');
    return 0;
  } catch (err) {
    const e = err instanceof PipeError ? err : new PipeError(mask(String((err as Error)?.message ?? err)));
    process.stderr.write(mask(`✖ eks-token: ${e.located}${e.hint ? `\n  What to do: ${e.hint}` : ''}`) + '\n');
    return e.exitCode;
  }
}
