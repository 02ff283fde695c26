import { randomBytes, timingSafeEqual } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A webhook token authenticator (TokenReview, authentication.k8s.io/v1) that treats
 * "k8s-aws-v1." tokens the way aws-iam-authenticator does on EKS: strict checks of the presigned
 * STS URL, then the presigned GetCallerIdentity call itself, sent to a local STS, and a mapping
 * of the caller's IAM role (or user) to a Kubernetes user and groups, like an access entry.
 */

/** Like an EKS access entry or an aws-auth mapRoles/mapUsers line. */
export interface RoleMapping {
  /** IAM role ARN (sessions of the role match; a role path is ignored, as on EKS) or IAM user ARN. */
  arn: string;
  /** May use {{AccountID}}, {{SessionName}} ("@" made "-"), {{SessionNameRaw}}, {{AccessKeyID}}. */
  username: string;
  groups?: string[];
}

export interface AuthenticatorSettings {
  /** Where GetCallerIdentity goes, e.g. http://127.0.0.1:PORT/ (the test STS). Unset: every AWS token fails. */
  stsUrl?: string;
  roleMappings: RoleMapping[];
}

export interface Decision {
  authenticated: boolean;
  reason: string;
  username?: string;
  arn?: string;
}

export interface VerifiedUrl {
  host: string;
  rawQuery: string;
  accessKeyId: string;
}

export class TokenRejected extends Error {}

const prefix = 'k8s-aws-v1.';
const maxTokenBytes = 4096;
const presignedValidityMs = 15 * 60_000;
const allowedParams = new Set([
  'action', 'version', 'x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-expires',
  'x-amz-security-token', 'x-amz-signature', 'x-amz-signedheaders',
]);
const stsHost = /^sts(\.[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+)?\.amazonaws\.com(\.cn)?$/;

/** The checks aws-iam-authenticator makes before it calls STS; throws TokenRejected. */
export function verifyTokenFormat(token: string, now = new Date()): VerifiedUrl {
  if (token.length > maxTokenBytes) throw new TokenRejected('token is too large');
  if (!token.startsWith(prefix)) throw new TokenRejected(`token is missing expected "${prefix}" prefix`);
  const encoded = token.slice(prefix.length);
  if (!/^[A-Za-z0-9_-]*$/.test(encoded) || encoded.length % 4 === 1) throw new TokenRejected('token is not unpadded base64url');
  const url = Buffer.from(encoded, 'base64url').toString('utf8');
  const parts = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/.exec(url);
  if (!parts) throw new TokenRejected('token does not hold a URL');
  const [, scheme = '', host = '', path = '', rawQuery = ''] = parts;
  if (scheme.toLowerCase() !== 'https') throw new TokenRejected(`unexpected scheme "${scheme}" in pre-signed URL`);
  if (!stsHost.test(host)) throw new TokenRejected(`unexpected hostname "${host}" in pre-signed URL`);
  if (decode(path) !== '/') throw new TokenRejected('unexpected path in pre-signed URL');
  const params = parseQuery(rawQuery);
  if (params.get('action') !== 'GetCallerIdentity') throw new TokenRejected('unexpected action parameter in pre-signed URL');
  const signed = (params.get('x-amz-signedheaders') ?? '').split(';').map((h) => h.toLowerCase());
  if (!signed.includes('x-k8s-aws-id')) throw new TokenRejected('client did not sign the x-k8s-aws-id header in the pre-signed URL');
  const expiresText = params.get('x-amz-expires') ?? '';
  const expires = /^[+-]?\d+$/.test(expiresText) ? Number(expiresText) : NaN;
  if (!(expires >= 0 && expires <= 900)) throw new TokenRejected(`invalid X-Amz-Expires parameter in pre-signed URL: ${expiresText}`);
  const date = params.get('x-amz-date');
  if (!date) throw new TokenRejected('X-Amz-Date parameter must be present in pre-signed URL');
  const signedAt = parseAmzDate(date);
  if (now.getTime() > signedAt + presignedValidityMs) throw new TokenRejected(`X-Amz-Date parameter is expired (15 minute expiration) ${date}`);
  return { host, rawQuery, accessKeyId: (params.get('x-amz-credential') ?? '').split('/')[0] ?? '' };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new TokenRejected('malformed query parameter');
  }
}

/** Lower-cased keys; unknown, repeated or malformed parameters are refused. */
function parseQuery(raw: string): Map<string, string> {
  if (raw.includes(';')) throw new TokenRejected('malformed query parameter');
  const params = new Map<string, string>();
  for (const pair of raw.split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1));
    const lower = key.toLowerCase();
    if (!allowedParams.has(lower)) throw new TokenRejected(`non-whitelisted query parameter "${key}"`);
    if (params.has(lower)) throw new TokenRejected('query parameter with multiple values not supported');
    params.set(lower, value);
  }
  return params;
}

function parseAmzDate(date: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  const ms = m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
  if (!m || Number.isNaN(ms) || new Date(ms).getUTCDate() !== +m[3]!) {
    throw new TokenRejected(`error parsing X-Amz-Date parameter ${date} into format 20060102T150405Z`);
  }
  return ms;
}

interface CallerIdentity {
  arn: string;
  account: string;
  userId: string;
}

/** The presigned GET, as aws-iam-authenticator sends it, but to the configured STS address. */
async function callSts(stsUrl: string, verified: VerifiedUrl, clusterName: string): Promise<CallerIdentity> {
  const target = new URL(stsUrl);
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port || 80,
        method: 'GET',
        path: `/?${verified.rawQuery}`,
        headers: { Host: verified.host, 'x-k8s-aws-id': clusterName, Accept: 'application/json' },
        timeout: 10_000,
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (c: string) => (data += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('STS did not answer within 10 s')));
    req.on('error', reject);
    req.end();
  }).catch((err: Error) => {
    throw new TokenRejected(`error during GET: ${err.message}`);
  });
  if (status !== 200) throw new TokenRejected(`error from AWS (expected 200, got ${status}). Body: ${body.slice(0, 500)}`);
  let result: { Arn?: string; Account?: string; UserId?: string } | undefined;
  try {
    result = (JSON.parse(body) as { GetCallerIdentityResponse?: { GetCallerIdentityResult?: typeof result } }).GetCallerIdentityResponse?.GetCallerIdentityResult;
  } catch {
    throw new TokenRejected('STS answer is not JSON');
  }
  if (!result?.Arn) throw new TokenRejected('STS answer has no GetCallerIdentityResult.Arn');
  return { arn: result.Arn, account: result.Account ?? '', userId: result.UserId ?? '' };
}

/** arn:aws:sts::A:assumed-role/R/S -> arn:aws:iam::A:role/R; role paths dropped; users unchanged. */
export function canonicalArn(arn: string): string {
  const m = /^arn:(aws|aws-cn|aws-us-gov):(sts|iam)::(\d{12}):(assumed-role|role|user)\/(.+)$/.exec(arn);
  if (!m) throw new TokenRejected(`arn "${arn}" is not an IAM role, assumed role or user`);
  const [, partition, , account, kind, rest = ''] = m;
  if (kind === 'user') return `arn:${partition}:iam::${account}:user/${rest}`;
  const parts = rest.split('/');
  const role = kind === 'assumed-role' ? parts[0] : parts[parts.length - 1];
  return `arn:${partition}:iam::${account}:role/${role}`;
}

function mapIdentity(caller: CallerIdentity, accessKeyId: string, mappings: RoleMapping[]): Decision & { groups: string[]; uid: string; extra: Record<string, string[]> } {
  const canonical = canonicalArn(caller.arn);
  const mapping = mappings.find((m) => canonicalArn(m.arn) === canonical);
  if (!mapping) throw new TokenRejected(`ARN is not mapped: ${canonical}`);
  const [userId = '', sessionName = ''] = caller.userId.split(':');
  const username = mapping.username
    .replaceAll('{{AccountID}}', caller.account)
    .replaceAll('{{SessionName}}', sessionName.replaceAll('@', '-'))
    .replaceAll('{{SessionNameRaw}}', sessionName)
    .replaceAll('{{AccessKeyID}}', accessKeyId);
  const extra = { arn: [caller.arn], canonicalArn: [canonical], accessKeyId: [accessKeyId], ...(sessionName ? { sessionName: [sessionName] } : {}) };
  return { authenticated: true, reason: 'mapped', username, arn: caller.arn, groups: mapping.groups ?? [], uid: `aws-iam-authenticator:${caller.account}:${userId}`, extra };
}

export interface EksAuthenticator {
  /** https://127.0.0.1:PORT/authenticate, for the API server's webhook kubeconfig. */
  url: string;
  /** Bearer token for the /settings endpoint (changing the STS address and mappings from tests). */
  adminToken: string;
  settings: AuthenticatorSettings;
  /** Most recent decisions first (at most 50), to show why a token was refused. */
  decisions: Decision[];
  close(): Promise<void>;
}

export async function startEksAuthenticator(opts: { clusterName: string; tls: { cert: string; key: string }; settings?: Partial<AuthenticatorSettings> }): Promise<EksAuthenticator> {
  const adminToken = randomBytes(24).toString('hex');
  const auth: Omit<EksAuthenticator, 'url' | 'close'> = {
    adminToken,
    settings: { roleMappings: [], ...opts.settings },
    decisions: [],
  };
  const record = (d: Decision): Decision => {
    auth.decisions.unshift(d);
    auth.decisions.length = Math.min(auth.decisions.length, 50);
    return d;
  };

  async function review(token: string): Promise<object> {
    try {
      const verified = verifyTokenFormat(token);
      if (!auth.settings.stsUrl) throw new TokenRejected('no STS address is configured for the test bed authenticator');
      const caller = await callSts(auth.settings.stsUrl, verified, opts.clusterName);
      const { groups, uid, extra, ...decision } = mapIdentity(caller, verified.accessKeyId, auth.settings.roleMappings);
      record(decision);
      return { authenticated: true, user: { username: decision.username, uid, groups, extra } };
    } catch (err) {
      if (!(err instanceof TokenRejected)) throw err;
      record({ authenticated: false, reason: err.message });
      return { authenticated: false, error: err.message };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    // The API server's client adds ?timeout=...; route on the path alone.
    const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    if (path === '/settings') {
      if (!sameSecret(req.headers.authorization ?? '', `Bearer ${adminToken}`)) return send(res, 401, { error: 'unauthorized' });
      if (req.method === 'PUT') Object.assign(auth.settings, JSON.parse(body) as Partial<AuthenticatorSettings>);
      return send(res, 200, { settings: auth.settings, decisions: auth.decisions });
    }
    if (req.method !== 'POST' || path !== '/authenticate') return send(res, 404, { error: `no ${req.method} ${path}` });
    const tokenReview = JSON.parse(body) as { spec?: { token?: string } };
    const status = await review(tokenReview.spec?.token ?? '');
    send(res, 200, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status });
  }

  const server: Server = createServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => {
    handle(req, res).catch((err: Error) => send(res, 500, { error: err.message }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    ...auth,
    url: `https://127.0.0.1:${port}/authenticate`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8').on('data', (c: string) => (data += c)).on('end', () => resolve(data)).on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
