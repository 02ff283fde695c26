/**
 * A local AWS STS for tests: a real HTTP server on 127.0.0.1 that verifies what STS verifies.
 *
 *   const issuer = await startOidcIssuer();                        // test/support/oidc-issuer.ts
 *   const sts = await startStsServer({ region: 'eu-west-1' });
 *   sts.addOidcProvider({ url: issuer.issuer, clientIds: [issuer.audience] });
 *   sts.addRole({ arn: 'arn:aws:iam::111122223333:role/deploy', trustPolicy });  // IAM JSON
 *   sts.addCredentials({ accessKeyId, secretAccessKey, arn: 'arn:aws:iam::111122223333:user/ci' });
 *   // SDK / pipe: AWS_ENDPOINT_URL_STS=sts.url, AWS_REGION=sts.region
 *   sts.failNext(2, 'Throttling');           // the next two requests fail like STS would
 *   sts.requests                             // [{ action, status, code }] of every request
 *   await sts.verifyEksToken(token, 'prod')  // { account, arn, userId } or throws the reason
 *   await sts.close();
 *
 * Actions: AssumeRoleWithWebIdentity (JWT signature against the issuer's JWKS fetched over HTTP
 * through its discovery document, iss registered as an OIDC provider in the role's account, aud
 * among the provider's client ids, exp, then the role's trust policy with the token's aud/sub as
 * condition keys), AssumeRole (SigV4-signed, for role chaining) and GetCallerIdentity (POST with
 * an Authorization header, or a presigned GET). Every failure is answered with STS's error XML and
 * code (or JSON when the request sends `Accept: application/json`, as aws-iam-authenticator does).
 *
 * For an EKS authenticator in front of a kube-apiserver: verifyEksToken() runs
 * aws-iam-authenticator's token checks and then forwards the presigned URL here, with
 * `Host: sts.<region>.amazonaws.com`, `x-k8s-aws-id: <cluster>` and `Accept: application/json`.
 * Like STS, a presigned request is good for 15 minutes after X-Amz-Date (X-Amz-Expires is only
 * range-checked), which is why EKS tokens live 15 minutes.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { checkEksToken, parseQuery, verifySigV4 } from './sts-sigv4.js';
import { trustAllows, type TrustPolicy } from './sts-policy.js';

export type { TrustPolicy } from './sts-policy.js';

export interface StsServerOptions {
  /** The region this endpoint serves (requests must be signed for it). Default eu-west-1. */
  region?: string;
  /** Clock, for expiry tests. */
  now?: () => number;
}

export interface RoleDefinition {
  arn: string;
  trustPolicy: TrustPolicy | string;
  /** Seconds; default 3600 like IAM. */
  maxSessionDuration?: number;
}

export interface CredentialsDefinition {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Who these credentials are: arn:aws:iam::<account>:user/<name> or an assumed-role ARN. */
  arn: string;
  expiration?: Date;
}

export interface CallerIdentity {
  account: string;
  arn: string;
  userId: string;
}

/** Failures STS really answers with; 'ConnectionReset' drops the connection instead. */
export type FailureKind =
  | 'Throttling'
  | 'ServiceUnavailable'
  | 'InternalFailure'
  | 'IDPCommunicationError'
  | 'IDPRejectedClaim'
  | 'VerificationKeyUnavailable'
  | 'RegionDisabledException'
  | 'ConnectionReset';

export interface StsRequestRecord {
  action: string;
  status: number;
  code?: string;
}

export interface StsServer {
  /** http://127.0.0.1:<port> */
  url: string;
  region: string;
  /** Like iam:CreateOpenIDConnectProvider; `account` defaults to any account. */
  addOidcProvider(p: { url: string; clientIds: string[]; account?: string }): void;
  /** Like iam:AddClientIDToOpenIDConnectProvider, by the provider's ARN. */
  addClientIdToOidcProvider(providerArn: string, clientId: string): void;
  addRole(role: RoleDefinition): void;
  setTrustPolicy(roleArn: string, policy: TrustPolicy | string): void;
  addCredentials(c: CredentialsDefinition): void;
  /** The next n requests (of `action`, if given) fail with `kind`. */
  failNext(n: number, kind: FailureKind, opts?: { action?: string }): void;
  readonly requests: StsRequestRecord[];
  /** Every set of temporary credentials this server handed out. */
  readonly issued: CredentialsDefinition[];
  verifyEksToken(token: string, clusterId: string): Promise<CallerIdentity>;
  close(): Promise<void>;
}

class StsFault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const FAILURES: Record<Exclude<FailureKind, 'ConnectionReset'>, [number, string, string]> = {
  Throttling: [400, 'Throttling', 'Rate exceeded'],
  ServiceUnavailable: [503, 'ServiceUnavailable', 'Service is unable to handle request.'],
  InternalFailure: [500, 'InternalFailure', 'An internal error has occurred.'],
  IDPCommunicationError: [400, 'IDPCommunicationError', 'The request could not be fulfilled because the identity provider (IDP) that was asked to verify the incoming identity token could not be reached. Retry the request.'],
  IDPRejectedClaim: [403, 'IDPRejectedClaim', 'The identity provider (IdP) reported that authentication failed.'],
  VerificationKeyUnavailable: [400, 'InvalidIdentityToken', "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"],
  RegionDisabledException: [403, 'RegionDisabledException', 'STS is not activated in this region for account. Your account administrator can activate STS in this region using the IAM Console.'],
};

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
const randomId = (prefix: string, n = 16) =>
  prefix + [...randomBytes(n)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');
const accountOf = (arn: string) => /^arn:aws[\w-]*:(?:iam|sts)::(\d{12}):/.exec(arn)?.[1] ?? '000000000000';

function toXml(name: string, value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'object' && value !== null) {
    return `<${name}>${Object.entries(value).map(([k, v]) => toXml(k, v)).join('')}</${name}>`;
  }
  return `<${name}>${xmlEscape(String(value))}</${name}>`;
}

export async function startStsServer(opts: StsServerOptions = {}): Promise<StsServer> {
  const region = opts.region ?? 'eu-west-1';
  const now = () => new Date(opts.now ? opts.now() : Date.now());
  const providers: { account?: string; id: string; url: string; clientIds: string[] }[] = [];
  const roles = new Map<string, RoleDefinition>();
  const credentials = new Map<string, CredentialsDefinition & { userId: string }>();
  const failures: { kind: FailureKind; action?: string }[] = [];
  const requests: StsRequestRecord[] = [];
  const issued: CredentialsDefinition[] = [];

  const policyOf = (role: RoleDefinition): TrustPolicy =>
    typeof role.trustPolicy === 'string' ? (JSON.parse(role.trustPolicy) as TrustPolicy) : role.trustPolicy;

  function issue(roleArn: string, sessionName: string, durationSeconds: number): Record<string, unknown> {
    const roleName = roleArn.split('/').pop()!;
    const roleId = randomId('AROA');
    const creds: CredentialsDefinition & { userId: string } = {
      accessKeyId: randomId('ASIA'),
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(300).toString('base64')}`,
      arn: `arn:aws:sts::${accountOf(roleArn)}:assumed-role/${roleName}/${sessionName}`,
      expiration: new Date(now().getTime() + durationSeconds * 1000),
      userId: `${roleId}:${sessionName}`,
    };
    credentials.set(creds.accessKeyId, creds);
    issued.push(creds);
    return {
      AssumedRoleUser: { Arn: creds.arn, AssumedRoleId: creds.userId },
      Credentials: {
        AccessKeyId: creds.accessKeyId,
        SecretAccessKey: creds.secretAccessKey,
        SessionToken: creds.sessionToken,
        Expiration: creds.expiration!.toISOString().replace(/\.\d{3}/, ''),
      },
    };
  }

  function validate(p: Map<string, string>, sessionRequired = true): number {
    const session = p.get('RoleSessionName') ?? '';
    const v = (field: string, value: string, constraint: string) =>
      new StsFault(400, 'ValidationError', `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`);
    if (!p.get('RoleArn') || p.get('RoleArn')!.length < 20) throw v('roleArn', p.get('RoleArn') ?? 'null', 'Member must have length greater than or equal to 20');
    if (sessionRequired && session.length < 2) throw v('roleSessionName', session, 'Member must have length greater than or equal to 2');
    if (session.length > 64) throw v('roleSessionName', session, 'Member must have length less than or equal to 64');
    if (!/^[\w+=,.@-]*$/.test(session)) throw v('roleSessionName', session, 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
    const duration = Number(p.get('DurationSeconds') ?? 3600);
    if (!Number.isInteger(duration) || duration < 900) throw v('durationSeconds', String(duration), 'Member must have value greater than or equal to 900');
    if (duration > 43200) throw v('durationSeconds', String(duration), 'Member must have value less than or equal to 43200');
    return duration;
  }

  async function fetchJwks(issuerUrl: string): Promise<JSONWebKeySet> {
    const unreachable = new StsFault(400, 'InvalidIdentityToken', FAILURES.VerificationKeyUnavailable[2]);
    try {
      const discovery = await fetch(`${issuerUrl}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
      if (!discovery.ok) throw unreachable;
      const { jwks_uri } = (await discovery.json()) as { jwks_uri: string };
      const jwks = await fetch(jwks_uri, { signal: AbortSignal.timeout(5000) });
      if (!jwks.ok) throw unreachable;
      return (await jwks.json()) as JSONWebKeySet;
    } catch {
      throw unreachable;
    }
  }

  async function assumeRoleWithWebIdentity(p: Map<string, string>): Promise<Record<string, unknown>> {
    const duration = validate(p);
    const token = p.get('WebIdentityToken') ?? '';
    if (token.length < 4 || token.length > 20000) throw new StsFault(400, 'ValidationError', `1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length between 4 and 20000`);
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      throw new StsFault(400, 'InvalidIdentityToken', 'The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)');
    }
    const roleArn = p.get('RoleArn')!;
    const account = accountOf(roleArn);
    const iss = String(claims.iss ?? '');
    const provider = providers.find((x) => x.url === iss && (x.account ?? account) === account);
    if (!provider) throw new StsFault(400, 'InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${iss}`);
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud ?? ''];
    if (!aud.some((a) => provider.clientIds.includes(a))) throw new StsFault(400, 'InvalidIdentityToken', 'Incorrect token audience');
    const jwks = await fetchJwks(iss);
    try {
      await jwtVerify(token, createLocalJWKSet(jwks), { issuer: iss, algorithms: ['RS256'], currentDate: now() });
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        const nowSec = Math.floor(now().getTime() / 1000);
        throw new StsFault(400, 'ExpiredTokenException', `Token expired: current date/time ${nowSec} must be before the expiration date/time${claims.exp}`);
      }
      throw new StsFault(400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.');
    }
    const role = roles.get(roleArn);
    const context: Record<string, string> = { [`${provider.id}:aud`]: aud[0]!, [`${provider.id}:sub`]: String(claims.sub ?? '') };
    const federated = `arn:aws:iam::${account}:oidc-provider/${provider.id}`;
    const allowed = role && trustAllows(policyOf(role), { action: 'sts:AssumeRoleWithWebIdentity', principal: federated, principalKind: 'Federated', context });
    if (!allowed) throw new StsFault(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    if (duration > (role.maxSessionDuration ?? 3600)) throw new StsFault(400, 'ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    return {
      ...issue(roleArn, p.get('RoleSessionName')!, duration),
      SubjectFromWebIdentityToken: String(claims.sub ?? ''),
      Audience: aud[0],
      Provider: provider.id,
    };
  }

  function assumeRole(p: Map<string, string>, caller: CredentialsDefinition): Record<string, unknown> {
    const duration = validate(p);
    const roleArn = p.get('RoleArn')!;
    const role = roles.get(roleArn);
    // A role session is trusted as its role: arn:aws:sts::A:assumed-role/R/S -> arn:aws:iam::A:role/R
    const principal = caller.arn.replace(/^arn:(aws[\w-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.*$/, 'arn:$1:iam::$2:role/$3');
    const allowed = role && trustAllows(policyOf(role), { action: 'sts:AssumeRole', principal, principalKind: 'AWS', context: {} });
    if (!allowed) throw new StsFault(403, 'AccessDenied', `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
    if (caller.arn.includes(':assumed-role/') && duration > 3600) {
      throw new StsFault(400, 'ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    }
    if (duration > (role.maxSessionDuration ?? 3600)) throw new StsFault(400, 'ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    return issue(roleArn, p.get('RoleSessionName')!, duration);
  }

  function authenticate(req: IncomingMessage, rawQuery: string, body: string): CredentialsDefinition & { userId: string } {
    const verdict = verifySigV4(
      { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, rawQuery, headers: req.headers, body },
      (id) => credentials.get(id),
      now(),
      region,
    );
    if (!verdict.ok) throw new StsFault(verdict.status, verdict.code, verdict.message);
    return credentials.get(verdict.accessKeyId)!;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const rawQuery = (req.url ?? '').split('?')[1] ?? '';
    const isForm = req.method === 'POST' && /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '');
    const params = new Map(parseQuery(rawQuery).concat(isForm ? parseQuery(body) : []));
    const action = params.get('Action') ?? '';
    const json = /application\/json/.test(req.headers.accept ?? '');
    const requestId = randomUUID();
    const reply = (status: number, payload: string, type: string) => {
      res.writeHead(status, { 'content-type': type, 'x-amzn-requestid': requestId });
      res.end(payload);
    };
    try {
      const failure = failures.findIndex((f) => !f.action || f.action === action);
      if (failure >= 0) {
        const { kind } = failures.splice(failure, 1)[0]!;
        if (kind === 'ConnectionReset') {
          requests.push({ action, status: 0, code: kind });
          req.socket.destroy();
          return;
        }
        const [status, code, message] = FAILURES[kind];
        throw new StsFault(status, code, message);
      }
      let result: Record<string, unknown>;
      if (action === 'AssumeRoleWithWebIdentity') result = await assumeRoleWithWebIdentity(params);
      else if (action === 'AssumeRole') result = assumeRole(params, authenticate(req, rawQuery, body));
      else if (action === 'GetCallerIdentity') {
        const caller = authenticate(req, rawQuery, body);
        result = { Arn: caller.arn, UserId: caller.userId, Account: accountOf(caller.arn) };
      } else throw new StsFault(400, 'InvalidAction', `Could not find operation ${action} for version ${params.get('Version') ?? 'NO_VERSION_SPECIFIED'}`);
      requests.push({ action, status: 200 });
      const metadata = { RequestId: requestId };
      if (json) {
        return reply(200, JSON.stringify({ [`${action}Response`]: { [`${action}Result`]: result, ResponseMetadata: metadata } }), 'application/json');
      }
      const inner = toXml(`${action}Result`, result) + toXml('ResponseMetadata', metadata);
      return reply(200, `<${action}Response xmlns="${NS}">${inner}</${action}Response>\n`, 'text/xml');
    } catch (err) {
      const fault = err instanceof StsFault ? err : new StsFault(500, 'InternalFailure', String(err));
      requests.push({ action, status: fault.status, code: fault.code });
      const type = fault.status >= 500 ? 'Receiver' : 'Sender';
      if (json) {
        return reply(fault.status, JSON.stringify({ Error: { Code: fault.code, Message: fault.message, Type: type }, RequestId: requestId }), 'application/json');
      }
      const error = toXml('Error', { Type: type, Code: fault.code, Message: fault.message });
      return reply(fault.status, `<ErrorResponse xmlns="${NS}">${error}${toXml('RequestId', requestId)}</ErrorResponse>\n`, 'text/xml');
    }
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  /** Asks this server about a presigned URL the way aws-iam-authenticator asks STS. */
  function forward(presigned: URL, clusterId: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, method: 'GET', path: presigned.pathname + presigned.search, headers: { host: presigned.host, 'x-k8s-aws-id': clusterId, accept: 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  return {
    url,
    region,
    requests,
    issued,
    addOidcProvider({ url: providerUrl, clientIds, account }) {
      providers.push({ account, id: providerUrl.replace(/^https?:\/\//, ''), url: providerUrl, clientIds: [...clientIds] });
    },
    addClientIdToOidcProvider(providerArn, clientId) {
      const [, account, id] = /^arn:[\w-]+:iam::(\d{12}):oidc-provider\/(.+)$/.exec(providerArn) ?? [];
      const provider = providers.find((x) => x.id === id && (x.account ?? account) === account);
      if (!provider) throw new Error(`sts-server: no OIDC provider ${providerArn}`);
      provider.clientIds.push(clientId);
    },
    addRole(role) {
      roles.set(role.arn, role);
    },
    setTrustPolicy(roleArn, trustPolicy) {
      const role = roles.get(roleArn);
      if (!role) throw new Error(`sts-server: no role ${roleArn}`);
      role.trustPolicy = trustPolicy;
    },
    addCredentials(c) {
      credentials.set(c.accessKeyId, { ...c, userId: randomId('AIDA') });
    },
    failNext(n, kind, o = {}) {
      for (let i = 0; i < n; i++) failures.push({ kind, action: o.action });
    },
    async verifyEksToken(token, clusterId) {
      const presigned = checkEksToken(token, now());
      const { status, body } = await forward(presigned, clusterId);
      if (status !== 200) throw new Error(`error from AWS (expected 200, got ${status}). Body: ${body}`);
      const result = (JSON.parse(body) as { GetCallerIdentityResponse: { GetCallerIdentityResult: { Account: string; Arn: string; UserId: string } } })
        .GetCallerIdentityResponse.GetCallerIdentityResult;
      return { account: result.Account, arn: result.Arn, userId: result.UserId };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
