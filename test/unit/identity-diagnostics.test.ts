import { describe, expect, it } from 'vitest';
import { explainRejection, trustPolicyFor } from '../../src/identity/diagnostics.js';
import type { OidcClaims } from '../../src/identity/oidc.js';

const iss = 'https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc';
const repo = '{0b6c7c0e-53a4-4bd3-9b0c-2b7c1c1d8a10}';
const env = '{6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0}';
const step = '{9e8d7c6b-5a49-4838-a727-161514131211}';
const aud = 'ari:cloud:bitbucket::workspace/1a2b3c4d-1111-4222-8333-444455556666';
const roleArn = 'arn:aws:iam::123456789012:role/ci/deploy-prod';
const now = Date.UTC(2026, 0, 1, 12, 0, 0);
const deployment: OidcClaims = { iss, aud, sub: `${repo}:${env}:${step}`, repositoryUuid: repo, deploymentEnvironmentUuid: env, exp: now / 1000 + 3000, branchName: 'main' };

/** The JSON object printed in a diagnostics block (it spans the lines from "{" to "}"). */
function printedPolicy(lines: string[]): unknown {
  const start = lines.indexOf('{');
  const end = lines.indexOf('}', start);
  return JSON.parse(lines.slice(start, end + 1).join('\n'));
}

describe('trustPolicyFor', () => {
  it('builds the policy for a deployment step: provider ARN from the issuer, aud StringEquals, sub per environment', () => {
    const advice = trustPolicyFor(deployment, roleArn);
    expect(advice.providerArn).toBe('arn:aws:iam::123456789012:oidc-provider/api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc');
    expect(advice.roleName).toBe('deploy-prod');
    expect(advice.policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Federated: advice.providerArn },
          Action: 'sts:AssumeRoleWithWebIdentity',
          Condition: {
            StringEquals: { 'api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc:aud': aud },
            StringLike: { 'api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc:sub': `${repo}:${env}:*` },
          },
        },
      ],
    });
  });

  it('allows any step of the repository when the token is not from a deployment step', () => {
    const advice = trustPolicyFor({ iss, aud, sub: `${repo}:${step}` }, roleArn);
    expect(advice.subjectPattern).toBe(`${repo}:*`);
  });

  it('keeps the partition of the role (China, GovCloud)', () => {
    expect(trustPolicyFor(deployment, 'arn:aws-cn:iam::123456789012:role/x').providerArn).toMatch(/^arn:aws-cn:iam::123456789012:oidc-provider\/api\.bitbucket\.org\//);
    expect(trustPolicyFor(deployment, 'arn:aws-us-gov:iam::123456789012:role/x').providerArn).toMatch(/^arn:aws-us-gov:/);
  });
});

describe('explainRejection', () => {
  it('for an audience mismatch: names the provider, the audience to add, the claims and a pasteable policy', () => {
    const lines = explainRejection({ code: 'InvalidIdentityToken', message: 'Incorrect token audience', roleArn, claims: deployment, now });
    const text = lines.join('\n');
    expect(text).toContain('InvalidIdentityToken: Incorrect token audience');
    expect(text).toContain(`does not list this token's audience`);
    expect(text).toContain(`--client-id '${aud}'`);
    expect(text).toMatch(/^ {2}sub\s+\{0b6c7c0e.*\}:\{6f1e2d3c.*\}:\{9e8d7c6b.*\}$/m);
    expect(text).toMatch(/^ {2}deploymentEnvironmentUuid\s+\{6f1e2d3c/m);
    expect(printedPolicy(lines)).toEqual(trustPolicyFor(deployment, roleArn).policy);
  });

  it('for AccessDenied: says the trust policy does not match and where to edit it', () => {
    const text = explainRejection({ code: 'AccessDenied', message: 'Not authorized to perform sts:AssumeRoleWithWebIdentity', roleArn, claims: deployment, now }).join('\n');
    expect(text).toContain('IAM > Roles > deploy-prod > Trust relationships');
    expect(text).toContain(`"${repo}:${env}:*"`);
  });

  it('for a missing provider: gives the command that creates it', () => {
    const text = explainRejection({ code: 'InvalidIdentityToken', message: `No OpenIDConnect provider found in your account for ${iss}`, roleArn, claims: deployment, now }).join('\n');
    expect(text).toContain(`aws iam create-open-id-connect-provider --url ${iss} --client-id-list '${aud}'`);
  });

  it.each([
    ['ExpiredTokenException', 'Token expired: current date/time 1 must be before the expiration date/time0', /expired when STS checked it/],
    ['IDPRejectedClaim', 'The identity provider (IdP) reported that authentication failed.', /rejected a claim/],
  ])('for %s: explains the cause and still prints the policy', (code, message, cause) => {
    const lines = explainRejection({ code, message, roleArn, claims: deployment, now });
    expect(lines.join('\n')).toMatch(cause);
    expect(printedPolicy(lines)).toEqual(trustPolicyFor(deployment, roleArn).policy);
  });
});
