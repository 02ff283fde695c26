// The Bitbucket step's OIDC token: read, registered as a secret, claims decoded for diagnostics.
// The token is never verified here (STS does that) and never printed; only its claims are.
import { decodeJwt } from 'jose';
import { registerSecret } from '../report/mask.js';
import { InputError, placeName, type Location } from '../util/errors.js';

/** The claims of a Bitbucket Pipelines OIDC token that matter for a trust policy. */
export interface OidcClaims {
  iss?: string;
  aud?: string | string[];
  sub?: string;
  exp?: number;
  iat?: number;
  workspaceUuid?: string;
  repositoryUuid?: string;
  deploymentEnvironmentUuid?: string;
  branchName?: string;
  pipelineUuid?: string;
  stepUuid?: string;
}

export const TOKEN_VARIABLE = 'BITBUCKET_STEP_OIDC_TOKEN';

const CLAIMS: (keyof OidcClaims)[] = [
  'iss',
  'aud',
  'sub',
  'exp',
  'iat',
  'workspaceUuid',
  'repositoryUuid',
  'deploymentEnvironmentUuid',
  'branchName',
  'pipelineUuid',
  'stepUuid',
];

/** Checks the token is there and is a JWT; returns its claims. `now` is epoch ms; `role` is where the role to assume was set. */
export function readOidcToken(token: string | undefined, now = Date.now(), role: Location = { variable: 'AWS_OIDC_ROLE_ARN' }): OidcClaims {
  if (!token) {
    throw new InputError(`${placeName(role)} is set but the step has no OIDC token`, {
      where: { variable: TOKEN_VARIABLE },
      hint: 'add `oidc: true` to the step that runs this pipe (bitbucket-pipelines.yml: `- step: { oidc: true, script: [...] }`), so Bitbucket sets BITBUCKET_STEP_OIDC_TOKEN',
    });
  }
  registerSecret(token);
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(token);
  } catch {
    throw new InputError('is not a JWT (three base64url parts separated by dots)', {
      where: { variable: TOKEN_VARIABLE },
      hint: 'do not set BITBUCKET_STEP_OIDC_TOKEN yourself: remove it from the pipe variables and add `oidc: true` to the step',
    });
  }
  const claims: OidcClaims = {};
  for (const name of CLAIMS) {
    const value = payload[name];
    if (typeof value === 'string' || typeof value === 'number' || Array.isArray(value)) Object.assign(claims, { [name]: value });
  }
  if (claims.exp !== undefined && claims.exp * 1000 <= now) {
    throw new InputError(`the OIDC token expired at ${isoSeconds(claims.exp)} (${ago(claims.exp, now)})`, {
      where: { variable: TOKEN_VARIABLE },
      hint: "use the token of the step that runs the pipe (Bitbucket sets a fresh one per step); do not pass a token saved from an earlier step, and check the runner's clock",
    });
  }
  return claims;
}

/** The first audience: the one a trust policy's aud condition compares with. */
export function audienceOf(claims: OidcClaims): string | undefined {
  return Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
}

/** The claims as aligned "name  value" lines, for a diagnostics block. */
export function describeClaims(claims: OidcClaims, now = Date.now()): string[] {
  return CLAIMS.filter((name) => claims[name] !== undefined).map((name) => {
    const value = claims[name]!;
    const shown =
      name === 'exp' || name === 'iat'
        ? `${isoSeconds(value as number)} (${name === 'exp' && (value as number) * 1000 > now ? `in ${minutes((value as number) * 1000 - now)}` : ago(value as number, now)})`
        : Array.isArray(value)
          ? value.join(', ')
          : String(value);
    return `${name.padEnd(26)}${shown}`;
  });
}

const isoSeconds = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const minutes = (ms: number) => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);
const ago = (epochSeconds: number, now: number) => `${minutes(now - epochSeconds * 1000)} ago`;
