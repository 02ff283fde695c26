/**
 * A local OpenID Connect issuer shaped like Bitbucket Pipelines' (test support).
 *
 * A real HTTP server on 127.0.0.1 serving the discovery document and the JWKS under
 * /2.0/workspaces/<workspace>/pipelines-config/identity/oidc, and minting RS256 tokens with the
 * claims a Bitbucket step gets (sub "{repo}:{step}", or "{repo}:{env}:{step}" in a deployment step).
 *
 *   const issuer = await startOidcIssuer();
 *   const token = await issuer.mint({ branchName: 'main' }, { deployment: true });
 *   issuer.setJwksAvailable(false); // the "couldn't retrieve verification key" case
 *   await issuer.close();
 */
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TrustPolicy } from './sts-policy.js';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet } from 'jose';

export interface BitbucketClaims {
  iss: string;
  aud: string;
  sub: string;
  iat: number;
  exp: number;
  workspaceUuid: string;
  repositoryUuid: string;
  pipelineUuid: string;
  stepUuid: string;
  deploymentEnvironmentUuid?: string;
  branchName?: string;
  [claim: string]: unknown;
}

export interface MintOptions {
  /** Adds deploymentEnvironmentUuid and the three-part sub of a deployment step. */
  deployment?: boolean;
  /** Lifetime from iat; negative makes an already expired token. Default 3600. */
  expiresInSeconds?: number;
  /** iat in epoch seconds; default now. */
  issuedAt?: number;
  /** Sign with a key the JWKS does not publish (a forged token). */
  forged?: boolean;
}

export interface OidcIssuer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The `iss` of every token: url + /2.0/workspaces/<workspace>/pipelines-config/identity/oidc */
  issuer: string;
  /** The issuer without its scheme: what IAM calls the provider (its ARN ends with it). */
  providerId: string;
  workspace: string;
  workspaceUuid: string;
  /** Bitbucket's default audience: ari:cloud:bitbucket::workspace/<uuid without braces> */
  audience: string;
  repositoryUuid: string;
  deploymentEnvironmentUuid: string;
  jwks: JSONWebKeySet;
  mint(claims?: Partial<BitbucketClaims>, opts?: MintOptions): Promise<string>;
  /** The claims mint() would put in a token, for assertions. */
  claims(claims?: Partial<BitbucketClaims>, opts?: MintOptions): BitbucketClaims;
  /**
   * A role trust policy for this issuer's tokens, as an IAM user writes one: the federated provider
   * in `account`, StringEquals on aud (default: this issuer's audience; null: no aud condition) and,
   * when given, StringLike on sub.
   */
  trustPolicy(o: { account: string; sub?: string; aud?: string | null }): TrustPolicy;
  /** When false, the discovery document and JWKS answer 503. */
  setJwksAvailable(available: boolean): void;
  close(): Promise<void>;
}

const braced = () => `{${randomUUID()}}`;

export async function startOidcIssuer(opts: { workspace?: string } = {}): Promise<OidcIssuer> {
  const workspace = opts.workspace ?? 'acme';
  const workspaceUuid = braced();
  const repositoryUuid = braced();
  const deploymentEnvironmentUuid = braced();
  const kid = randomUUID();
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const stranger = (await generateKeyPair('RS256')).privateKey;
  const jwks: JSONWebKeySet = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  const path = `/2.0/workspaces/${workspace}/pipelines-config/identity/oidc`;
  let available = true;
  let issuer = '';

  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (!available) return send(503, { error: 'unavailable' });
    if (req.url === `${path}/.well-known/openid-configuration`) {
      return send(200, {
        issuer,
        jwks_uri: `${issuer}/keys`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss'],
      });
    }
    if (req.url === `${path}/keys`) return send(200, jwks);
    send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = url + path;

  const claims = (overrides: Partial<BitbucketClaims> = {}, o: MintOptions = {}): BitbucketClaims => {
    const iat = o.issuedAt ?? Math.floor(Date.now() / 1000);
    const stepUuid = braced();
    const env = o.deployment ? { deploymentEnvironmentUuid } : {};
    const sub = o.deployment ? `${repositoryUuid}:${deploymentEnvironmentUuid}:${stepUuid}` : `${repositoryUuid}:${stepUuid}`;
    return {
      iss: issuer,
      aud: `ari:cloud:bitbucket::workspace/${workspaceUuid.slice(1, -1)}`,
      sub,
      iat,
      exp: iat + (o.expiresInSeconds ?? 3600),
      workspaceUuid,
      repositoryUuid,
      pipelineUuid: braced(),
      stepUuid,
      branchName: 'main',
      ...env,
      ...overrides,
    };
  };

  const providerId = issuer.replace(/^https?:\/\//, '');
  const audience = `ari:cloud:bitbucket::workspace/${workspaceUuid.slice(1, -1)}`;
  return {
    url,
    issuer,
    providerId,
    workspace,
    workspaceUuid,
    audience,
    repositoryUuid,
    deploymentEnvironmentUuid,
    jwks,
    claims,
    async mint(overrides = {}, o = {}) {
      const payload = claims(overrides, o);
      const key: CryptoKey = o.forged ? stranger : privateKey;
      return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key);
    },
    trustPolicy({ account, sub, aud = audience }) {
      const equals = aud === null ? undefined : { [`${providerId}:aud`]: aud };
      const like = sub === undefined ? undefined : { [`${providerId}:sub`]: sub };
      return {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Federated: `arn:aws:iam::${account}:oidc-provider/${providerId}` },
            Action: 'sts:AssumeRoleWithWebIdentity',
            Condition: { ...(equals && { StringEquals: equals }), ...(like && { StringLike: like }) },
          },
        ],
      };
    },
    setJwksAvailable(value) {
      available = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
