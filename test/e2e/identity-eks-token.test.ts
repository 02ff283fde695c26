// EKS tokens, cross-checked with implementations nobody here wrote: tokens from `aws eks get-token`
// (awscli) and the pipe's own pass the same aws-iam-authenticator-style verifier backed by the
// local STS; tampered ones do not; botocore's signer computes the same signature as the pipe.
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeEksToken, TOKEN_PREFIX, type AwsCredentials } from '../../src/identity/eks-token.js';
import { startStsServer, type CredentialsDefinition, type StsServer } from '../support/sts-server.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const REGION = 'eu-west-1';
let sts: StsServer;
let creds: AwsCredentials & { arn: string };
let tmp: string;

beforeAll(async () => {
  sts = await startStsServer({ region: REGION });
  const def: CredentialsDefinition = {
    accessKeyId: 'ASIATESTEKSTOKEN0001',
    secretAccessKey: 'eksTokenTestSecretKey/with+special=chars0',
    sessionToken: 'IQoJb3JpZ2luX2VjEKz//////////wEaCWV1LXdlc3QtMSJHMEUCIQ+test/session=token',
    arn: 'arn:aws:sts::111122223333:assumed-role/deploy/bitbucket-platform-apps-42',
  };
  sts.addCredentials(def);
  creds = def;
  tmp = mkdtempSync(join(tmpdir(), 'identity-eks-token-'));
});
afterAll(async () => {
  await sts?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const awsEnv = () => ({
  PATH: process.env.PATH,
  HOME: tmp,
  AWS_ACCESS_KEY_ID: creds.accessKeyId,
  AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
  AWS_SESSION_TOKEN: creds.sessionToken,
  AWS_DEFAULT_REGION: REGION,
});

async function awsCliToken(cluster: string): Promise<string> {
  const r = await execa('aws', ['eks', 'get-token', '--cluster-name', cluster, '--region', REGION, '--output', 'json'], { env: awsEnv(), extendEnv: false });
  return JSON.parse(r.stdout).status.token as string;
}

/** Re-encodes a token after changing its presigned URL. */
function tamper(token: string, change: (url: URL) => void): string {
  const url = new URL(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString());
  change(url);
  return TOKEN_PREFIX + Buffer.from(url.toString()).toString('base64url');
}

describe('the verifier accepts tokens from awscli and from the pipe alike', () => {
  it.each(['awscli', 'pipe'])('a %s token for the right cluster authenticates as the role session', async (source) => {
    const token = source === 'awscli' ? await awsCliToken('prod') : await makeEksToken(creds, 'prod', REGION);
    expect(await sts.verifyEksToken(token, 'prod')).toEqual({ account: '111122223333', arn: creds.arn, userId: expect.stringMatching(/^AIDA/) });
  });

  it.each(['awscli', 'pipe'])('a %s token is refused for another cluster, with a bad signature, an extra parameter, another action or host', async (source) => {
    const token = source === 'awscli' ? await awsCliToken('prod') : await makeEksToken(creds, 'prod', REGION);
    await expect(sts.verifyEksToken(token, 'staging')).rejects.toThrow(/got 403.*SignatureDoesNotMatch/);
    const badSignature = tamper(token, (u) => u.searchParams.set('X-Amz-Signature', '0'.repeat(64)));
    await expect(sts.verifyEksToken(badSignature, 'prod')).rejects.toThrow(/SignatureDoesNotMatch/);
    const extra = tamper(token, (u) => u.searchParams.append('X-Amz-Foo', 'bar'));
    await expect(sts.verifyEksToken(extra, 'prod')).rejects.toThrow('non-whitelisted query parameter "X-Amz-Foo"');
    const otherAction = tamper(token, (u) => u.searchParams.set('Action', 'AssumeRole'));
    await expect(sts.verifyEksToken(otherAction, 'prod')).rejects.toThrow('unexpected action parameter');
    const otherHost = tamper(token, (u) => (u.host = 'sts.example.com'));
    await expect(sts.verifyEksToken(otherHost, 'prod')).rejects.toThrow('unexpected hostname');
  });

  it.each(['awscli', 'pipe'])('a %s token is refused once 15 minutes have passed (a verifier whose clock is ahead)', async (source) => {
    const token = source === 'awscli' ? await awsCliToken('prod') : await makeEksToken(creds, 'prod', REGION);
    const later = await startStsServer({ region: REGION, now: () => Date.now() + 16 * 60_000 });
    try {
      later.addCredentials({ ...creds, arn: creds.arn });
      await expect(later.verifyEksToken(token, 'prod')).rejects.toThrow(/X-Amz-Date parameter is expired/);
      await expect(sts.verifyEksToken(token, 'prod')).resolves.toMatchObject({ arn: creds.arn });
    } finally {
      await later.close();
    }
  });

  it('a correctly signed token older than 15 minutes is refused', async () => {
    const old = await makeEksToken(creds, 'prod', REGION, new Date(Date.now() - 16 * 60_000));
    await expect(sts.verifyEksToken(old, 'prod')).rejects.toThrow(/X-Amz-Date parameter is expired/);
    const fresh = await makeEksToken(creds, 'prod', REGION, new Date(Date.now() - 13 * 60_000));
    await expect(sts.verifyEksToken(fresh, 'prod')).resolves.toMatchObject({ account: '111122223333' });
  });
});

describe("botocore's signer", () => {
  it('computes the same presigned URL as the pipe, for the same credentials, cluster and time', async () => {
    const at = new Date(Date.UTC(2026, 2, 4, 5, 6, 7));
    const ours = new URL(Buffer.from((await makeEksToken(creds, 'prod-cluster', REGION, at)).slice(TOKEN_PREFIX.length), 'base64url').toString());
    const script = `
import datetime, json, sys
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
a = json.load(sys.stdin)
botocore.auth.get_current_datetime = lambda: datetime.datetime(2026, 3, 4, 5, 6, 7)
req = AWSRequest(method='GET', url='https://sts.%s.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15' % a['region'], headers={'x-k8s-aws-id': a['cluster']})
botocore.auth.SigV4QueryAuth(Credentials(a['key'], a['secret'], a['token']), 'sts', a['region'], expires=60).add_auth(req)
print(req.prepare().url)
`;
    const input = JSON.stringify({ key: creds.accessKeyId, secret: creds.secretAccessKey, token: creds.sessionToken, region: REGION, cluster: 'prod-cluster' });
    const r = await execa('python3', ['-c', script], { input });
    const theirs = new URL(r.stdout.trim());
    expect(theirs.host).toBe(ours.host);
    expect(Object.fromEntries(ours.searchParams)).toEqual(Object.fromEntries(theirs.searchParams));
    expect(ours.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('the eks-token subcommand, run as kubectl runs it', () => {
  const run = (args: string[], env: Record<string, string | undefined> = {}) =>
    execa(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'eks-token', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: tmp, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
      extendEnv: false,
      reject: false,
    });

  it('prints an ExecCredential from a credentials file, valid for 14 minutes', async () => {
    const file = join(tmp, 'aws-credentials.json');
    writeFileSync(file, JSON.stringify({ Version: 1, AccessKeyId: creds.accessKeyId, SecretAccessKey: creds.secretAccessKey, SessionToken: creds.sessionToken }), { mode: 0o600 });
    const started = Date.now();
    const r = await run(['--cluster-name', 'prod', '--region', REGION, '--credentials-file', file]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1beta1', spec: {} });
    const expires = Date.parse(out.status.expirationTimestamp);
    expect(expires - started).toBeGreaterThan(13.9 * 60_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(14 * 60_000);
    expect(await sts.verifyEksToken(out.status.token, 'prod')).toMatchObject({ arn: creds.arn });
  });

  it('takes the standard AWS_* variables and the aws-iam-authenticator -i flag', async () => {
    const r = await run(['-i', 'prod'], { AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_SESSION_TOKEN: creds.sessionToken, AWS_REGION: REGION });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await sts.verifyEksToken(JSON.parse(r.stdout).status.token, 'prod')).toMatchObject({ arn: creds.arn });
  });

  it('assumes --role-arn with the given keys first, without the static-key warning', async () => {
    const role = 'arn:aws:iam::111122223333:role/cluster-reader';
    sts.addRole({ arn: role, trustPolicy: { Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:role/deploy' }, Action: 'sts:AssumeRole' }] } });
    const r = await run(['--cluster-name', 'prod', '--role-arn', role, '--session-name', 'kubectl-user'], {
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      AWS_SESSION_TOKEN: creds.sessionToken,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_STS: sts.url,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(await sts.verifyEksToken(JSON.parse(r.stdout).status.token, 'prod')).toMatchObject({ arn: 'arn:aws:sts::111122223333:assumed-role/cluster-reader/kubectl-user' });
  });

  it('a credentials file that is not JSON: its position only, none of its text (the parser would quote the secret key)', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const cases = {
      unquoted: `{"AccessKeyId":"AKIAQAQAQAQAQAQAQAQA","SecretAccessKey":${secret}}`,
      trailingComma: `{"AccessKeyId":"AKIAQAQAQAQAQAQAQAQA","SecretAccessKey":"${secret}",}`,
      ini: `[default]\naws_access_key_id = AKIAQAQAQAQAQAQAQAQA\naws_secret_access_key = ${secret}\n`,
      truncated: `{"AccessKeyId":"AKIAQAQAQAQAQAQAQAQA",\n"SecretAccessKey":"${secret}`,
    };
    // V8 gives a position for some errors only ("unexpected text" then)
    const places = { unquoted: 'unexpected text', trailingComma: 'at line 1, column 100', ini: 'it looks like an AWS credentials INI file', truncated: 'at line 2, column 60' };
    for (const [name, text] of Object.entries(cases)) {
      const file = join(tmp, `creds-${name}.json`);
      writeFileSync(file, text, { mode: 0o600 });
      const r = await run(['--cluster-name', 'prod', '--region', REGION, '--credentials-file', file]);
      for (let i = 0; i + 6 <= secret.length; i++) expect(r.stderr, `${name}: part of the secret key printed`).not.toContain(secret.slice(i, i + 6));
      expect(r.exitCode, name).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`✖ eks-token: credentials file ${file} is not JSON (${places[name as keyof typeof cases]})`);
      expect(r.stderr).toContain('credential_process JSON file');
    }
  });

  it('an expired credentials file: says which file, and not to raise SESSION_DURATION (the subcommand has none)', async () => {
    const file = join(tmp, 'expired-credentials.json');
    writeFileSync(file, JSON.stringify({ Version: 1, AccessKeyId: creds.accessKeyId, SecretAccessKey: creds.secretAccessKey, SessionToken: creds.sessionToken, Expiration: '2020-01-01T00:00:00Z' }), { mode: 0o600 });
    const r = await run(['--cluster-name', 'prod', '--region', REGION, '--credentials-file', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`✖ eks-token: the credentials in ${file} expired at 2020-01-01T00:00:00.000Z`);
    expect(r.stderr).toContain('rerun the process that writes the credentials file');
    expect(r.stderr).not.toContain('SESSION_DURATION');
  });

  it("prints nothing on stderr when it loads the AWS SDK, also without the SDK's Node-version switch in the environment", async () => {
    const role = 'arn:aws:iam::111122223333:role/cluster-reader';
    sts.addRole({ arn: role, trustPolicy: { Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:role/deploy' }, Action: 'sts:AssumeRole' }] } });
    const r = await run(['--cluster-name', 'prod', '--role-arn', role, '--session-name', 'kubectl-user'], {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined,
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      AWS_SESSION_TOKEN: creds.sessionToken,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_STS: sts.url,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('explains what is missing, exit code 2, nothing on stdout', async () => {
    const noCluster = await run(['--region', REGION]);
    expect(noCluster.exitCode).toBe(2);
    expect(noCluster.stdout).toBe('');
    expect(noCluster.stderr).toContain('✖ eks-token: --cluster-name is required');
    const noCredentials = await run(['--cluster-name', 'prod', '--region', REGION]);
    expect(noCredentials.exitCode).toBe(2);
    expect(noCredentials.stderr).toContain('no AWS credentials: pass --credentials-file');
    const help = await run(['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage: app-of-apps-pipe eks-token --cluster-name NAME');
  });
});
