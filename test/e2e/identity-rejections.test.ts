// STS rejections over real HTTP: each code is answered once (no retry storm), with a diagnostics
// block that is enough to fix the trust policy; the tests apply what was printed and try again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { establishAccess } from '../../src/identity/index.js';
import { memoryLogger } from '../../src/report/logger.js';
import { InputError, PipeError } from '../../src/util/errors.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { startStsServer, type StsServer, type TrustPolicy } from '../support/sts-server.js';

const ACCOUNT = '111122223333';
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBexample\n-----END CERTIFICATE-----\n').toString('base64');
const FAST = { baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 5_000 };

let issuer: OidcIssuer;
let sts: StsServer;

const federated = (account = ACCOUNT) => `arn:aws:iam::${account}:oidc-provider/${issuer.providerId}`;

function trust(sub: string, aud = issuer.audience, account = ACCOUNT): TrustPolicy {
  return issuer.trustPolicy({ account, sub, aud });
}

async function attempt(roleArn: string, token: string | undefined, server = sts, extra: Record<string, string> = {}) {
  const logger = memoryLogger(true);
  const before = server.requests.length;
  const config = loadConfig({
    MODE: 'deploy',
    CLUSTER_NAME: 'prod',
    CLUSTER_ENDPOINT: 'https://127.0.0.1:6443',
    CLUSTER_CA_DATA: CA,
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL_STS: server.url,
    AWS_OIDC_ROLE_ARN: roleArn,
    BITBUCKET_STEP_OIDC_TOKEN: token,
    ...extra,
  });
  try {
    const access = await establishAccess(config, logger, { retry: FAST });
    await access.dispose();
    return { access, output: logger.lines.join('\n'), requests: server.requests.slice(before) };
  } catch (err) {
    return { err: err as PipeError, output: logger.lines.join('\n'), requests: server.requests.slice(before) };
  }
}

/** The trust policy JSON as printed: from a line "{" to the next line "}". */
function printedPolicy(output: string): TrustPolicy {
  const match = /^\{\n[\s\S]*?\n\}$/m.exec(output);
  expect(match, output).not.toBeNull();
  return JSON.parse(match![0]) as TrustPolicy;
}

beforeAll(async () => {
  issuer = await startOidcIssuer();
  sts = await startStsServer({ region: 'eu-west-1' });
  sts.addOidcProvider({ url: issuer.issuer, clientIds: [issuer.audience], account: ACCOUNT });
});
afterAll(async () => {
  await sts?.close();
  await issuer?.close();
});

describe('a trust policy that does not match the token', () => {
  it('AccessDenied: prints the claims and the policy; pasting that policy makes the next run pass', async () => {
    const role = `arn:aws:iam::${ACCOUNT}:role/wrong-repository`;
    sts.addRole({ arn: role, trustPolicy: trust('{00000000-0000-4000-8000-000000000000}:*') });
    const token = await issuer.mint({}, { deployment: true });
    const first = await attempt(role, token);
    expect(first.requests).toEqual([{ action: 'AssumeRoleWithWebIdentity', status: 403, code: 'AccessDenied' }]);
    expect(first.err).toBeInstanceOf(InputError);
    expect(first.err!.located).toBe('AWS_OIDC_ROLE_ARN: STS refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity');
    expect(first.err!.hint).toContain('as shown above');
    expect(first.output).toContain('IAM > Roles > wrong-repository > Trust relationships');
    expect(first.output).toMatch(new RegExp(`^ {2}repositoryUuid\\s+\\${issuer.repositoryUuid.slice(0, -1)}\\}$`, 'm'));
    expect(first.output).not.toContain(token);

    sts.setTrustPolicy(role, printedPolicy(first.output));
    const second = await attempt(role, await issuer.mint({}, { deployment: true }));
    expect(second.err).toBeUndefined();
    expect(second.requests.map((r) => r.status)).toEqual([200]);
  });

  it('InvalidIdentityToken (audience): the printed command and policy are enough to fix provider and role', async () => {
    const role = `arn:aws:iam::${ACCOUNT}:role/custom-audience`;
    sts.addRole({ arn: role, trustPolicy: trust(`${issuer.repositoryUuid}:*`) });
    const token = await issuer.mint({ aud: 'my-deploy-audience' });
    const first = await attempt(role, token);
    expect(first.requests).toEqual([{ action: 'AssumeRoleWithWebIdentity', status: 400, code: 'InvalidIdentityToken' }]);
    expect(first.err!.located).toBe('AWS_OIDC_ROLE_ARN: STS refused: InvalidIdentityToken: Incorrect token audience');
    expect(first.output).not.toContain(token);

    const add = /add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn (\S+) --client-id '([^']+)'/.exec(first.output);
    expect(add, first.output).not.toBeNull();
    expect(add![1]).toBe(federated());
    sts.addClientIdToOidcProvider(add![1]!, add![2]!);
    sts.setTrustPolicy(role, printedPolicy(first.output));
    const second = await attempt(role, await issuer.mint({ aud: 'my-deploy-audience' }));
    expect(second.err).toBeUndefined();
  });

  it('InvalidIdentityToken (no provider in the account): the printed create command fixes it', async () => {
    const otherAccount = '444455556666';
    const role = `arn:aws:iam::${otherAccount}:role/deploy`;
    sts.addRole({ arn: role, trustPolicy: { Statement: [] } });
    const first = await attempt(role, await issuer.mint());
    expect(first.requests.map((r) => r.code)).toEqual(['InvalidIdentityToken']);
    const create = /create-open-id-connect-provider --url (\S+) --client-id-list '([^']+)'/.exec(first.output);
    expect(create, first.output).not.toBeNull();
    sts.addOidcProvider({ url: create![1]!, clientIds: [create![2]!], account: otherAccount });
    sts.setTrustPolicy(role, printedPolicy(first.output));
    expect((await attempt(role, await issuer.mint())).err).toBeUndefined();
  });
});

describe('other refusals: answered once, explained', () => {
  const role = `arn:aws:iam::${ACCOUNT}:role/deploy`;
  beforeAll(() => sts.addRole({ arn: role, trustPolicy: trust(`${issuer.repositoryUuid}:*`), maxSessionDuration: 3600 }));

  it('IDPRejectedClaim', async () => {
    sts.failNext(1, 'IDPRejectedClaim');
    const r = await attempt(role, await issuer.mint());
    expect(r.requests.map((x) => x.code)).toEqual(['IDPRejectedClaim']);
    expect(r.err!.exitCode).toBe(2);
    expect(r.output).toContain('rejected a claim');
    expect(printedPolicy(r.output)).toEqual({ Version: '2012-10-17', ...trust(`${issuer.repositoryUuid}:*`) });
  });

  it('ExpiredTokenException (STS clock ahead of the runner)', async () => {
    const ahead = await startStsServer({ region: 'eu-west-1', now: () => Date.now() + 2 * 3600_000 });
    try {
      ahead.addOidcProvider({ url: issuer.issuer, clientIds: [issuer.audience] });
      ahead.addRole({ arn: role, trustPolicy: trust(`${issuer.repositoryUuid}:*`) });
      const r = await attempt(role, await issuer.mint(), ahead);
      expect(r.requests.map((x) => x.code)).toEqual(['ExpiredTokenException']);
      expect(r.err!.located).toMatch(/^AWS_OIDC_ROLE_ARN: STS refused: ExpiredTokenException: Token expired/);
      expect(r.output).toContain("check the runner's clock");
    } finally {
      await ahead.close();
    }
  });

  it('a forged token (signature STS cannot verify)', async () => {
    const token = await issuer.mint({}, { forged: true });
    const r = await attempt(role, token);
    expect(r.requests.map((x) => x.code)).toEqual(['InvalidIdentityToken']);
    expect(r.output).toContain('could not validate the token itself');
    expect(r.output).not.toContain(token);
  });

  it('SESSION_DURATION above the role maximum names the variable', async () => {
    const r = await attempt(role, await issuer.mint(), sts, { SESSION_DURATION: '7200' });
    expect(r.requests.map((x) => x.code)).toEqual(['ValidationError']);
    expect(r.err!.located).toBe('SESSION_DURATION: STS rejected the request: The requested DurationSeconds exceeds the MaxSessionDuration set for this role');
    expect(r.err!.exitCode).toBe(2);
  });

  it('token missing: names BITBUCKET_STEP_OIDC_TOKEN and `oidc: true`, calls nothing', async () => {
    const r = await attempt(role, undefined);
    expect(r.requests).toEqual([]);
    expect(r.err).toBeInstanceOf(InputError);
    expect(r.err!.located).toBe('BITBUCKET_STEP_OIDC_TOKEN: AWS_OIDC_ROLE_ARN is set but the step has no OIDC token');
    expect(r.err!.hint).toContain('oidc: true');
  });

  it('token expired: refused before STS, saying when', async () => {
    const token = await issuer.mint({}, { issuedAt: Math.floor(Date.now() / 1000) - 4000, expiresInSeconds: 3600 });
    const r = await attempt(role, token);
    expect(r.requests).toEqual([]);
    expect(r.err!.located).toMatch(/^BITBUCKET_STEP_OIDC_TOKEN: the OIDC token expired at \S+Z \(\d+ min ago\)$/);
  });
});
