import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOidcToken, describeClaims, audienceOf } from '../../src/identity/oidc.js';
import { InputError } from '../../src/util/errors.js';
import { mask, resetSecrets } from '../../src/report/mask.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';

let issuer: OidcIssuer;
beforeAll(async () => {
  issuer = await startOidcIssuer();
});
afterAll(async () => {
  await issuer.close();
  resetSecrets();
});

function thrown(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    return err as InputError;
  }
  throw new Error('expected an error');
}

describe('readOidcToken', () => {
  it('names BITBUCKET_STEP_OIDC_TOKEN and the `oidc: true` fix when the token is missing', () => {
    const err = thrown(() => readOidcToken(undefined));
    expect(err).toBeInstanceOf(InputError);
    expect(err.exitCode).toBe(2);
    expect(err.where?.variable).toBe('BITBUCKET_STEP_OIDC_TOKEN');
    expect(err.hint).toContain('oidc: true');
  });

  it('decodes the Bitbucket claims of a deployment step and registers the token as a secret', async () => {
    const token = await issuer.mint({ branchName: 'release/1.2' }, { deployment: true });
    const claims = readOidcToken(token);
    expect(claims.iss).toBe(issuer.issuer);
    expect(claims.aud).toBe(issuer.audience);
    expect(claims.sub).toMatch(new RegExp(`^\\${issuer.repositoryUuid.slice(0, -1)}\\}:\\{`));
    expect(claims.repositoryUuid).toBe(issuer.repositoryUuid);
    expect(claims.deploymentEnvironmentUuid).toBe(issuer.deploymentEnvironmentUuid);
    expect(claims.workspaceUuid).toBe(issuer.workspaceUuid);
    expect(claims.branchName).toBe('release/1.2');
    expect(audienceOf({ aud: ['a', 'b'] })).toBe('a');
    expect(mask(`token=${token}`)).toBe('token=****');
  });

  it('refuses a value that is not a JWT without echoing it', () => {
    const err = thrown(() => readOidcToken('not-a-jwt-secret-value'));
    expect(err.where?.variable).toBe('BITBUCKET_STEP_OIDC_TOKEN');
    expect(err.message).not.toContain('not-a-jwt-secret-value');
    expect(err.hint).toContain('oidc: true');
  });

  it('refuses an expired token before calling STS, saying when it expired', async () => {
    const token = await issuer.mint({}, { issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresInSeconds: 3600 });
    const err = thrown(() => readOidcToken(token));
    expect(err.message).toMatch(/expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(60 min ago\)/);
    expect(err.where?.variable).toBe('BITBUCKET_STEP_OIDC_TOKEN');
  });
});

describe('describeClaims', () => {
  it('lists the claims with readable times and never the token', async () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    const lines = describeClaims({ iss: 'https://x', sub: '{r}:{s}', exp: now / 1000 + 1800, iat: now / 1000 - 60 }, now);
    expect(lines).toEqual([
      expect.stringMatching(/^iss\s+https:\/\/x$/),
      expect.stringMatching(/^sub\s+\{r\}:\{s\}$/),
      expect.stringMatching(/^exp\s+2026-01-01T12:30:00Z \(in 30 min\)$/),
      expect.stringMatching(/^iat\s+2026-01-01T11:59:00Z \(60 s ago\)$/),
    ]);
  });
});
