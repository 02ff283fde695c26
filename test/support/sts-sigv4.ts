/**
 * SigV4 verification for the local STS (test support), written from the AWS specification rather
 * than with the signing library the pipe uses, so that a mistake in how the pipe calls the library
 * cannot be mirrored here. Also the aws-iam-authenticator checks an EKS token goes through.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface IncomingSigned {
  method: string;
  /** Raw path without query, as received. */
  path: string;
  /** Raw query string without '?', as received. */
  rawQuery: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface SecretLookup {
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export type SigV4Verdict =
  | { ok: true; accessKeyId: string; presigned: boolean; date: Date; region: string }
  | { ok: false; status: number; code: string; message: string };

const ALGORITHM = 'AWS4-HMAC-SHA256';
const FIFTEEN_MINUTES = 15 * 60 * 1000;

/** RFC 3986 encoding as SigV4 wants it: only A-Z a-z 0-9 - _ . ~ stay literal. */
export function sigv4Encode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Query pairs decoded the way Go's url.ParseQuery and AWS do ('+' is a space). */
export function parseQuery(raw: string): [string, string][] {
  if (!raw) return [];
  return raw
    .split('&')
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf('=');
      const k = eq < 0 ? part : part.slice(0, eq);
      const v = eq < 0 ? '' : part.slice(eq + 1);
      const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      return [dec(k), dec(v)];
    });
}

const sha256hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s, 'utf8').digest();

function parseAmzDate(s: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? '');
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
}

const amzDate = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

interface AuthParts {
  credential: string;
  signedHeaders: string;
  signature: string;
  date?: string;
  securityToken?: string;
  presigned: boolean;
}

function authParts(req: IncomingSigned, query: [string, string][]): AuthParts | undefined {
  const q = (name: string) => query.find(([k]) => k === name)?.[1];
  if (q('X-Amz-Algorithm') !== undefined) {
    if (q('X-Amz-Algorithm') !== ALGORITHM) return undefined;
    return {
      credential: q('X-Amz-Credential') ?? '',
      signedHeaders: q('X-Amz-SignedHeaders') ?? '',
      signature: q('X-Amz-Signature') ?? '',
      date: q('X-Amz-Date'),
      securityToken: q('X-Amz-Security-Token'),
      presigned: true,
    };
  }
  const auth = req.headers.authorization;
  if (!auth?.startsWith(`${ALGORITHM} `)) return undefined;
  const fields = Object.fromEntries(
    auth
      .slice(ALGORITHM.length + 1)
      .split(',')
      .map((f) => f.trim().split('=') as [string, string]),
  );
  return {
    credential: fields.Credential ?? '',
    signedHeaders: fields.SignedHeaders ?? '',
    signature: fields.Signature ?? '',
    date: header(req.headers, 'x-amz-date'),
    securityToken: header(req.headers, 'x-amz-security-token'),
    presigned: false,
  };
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** The region a Host header implies for STS, or undefined for a non-AWS host. */
export function regionOfHost(host: string | undefined): string | undefined {
  const h = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  if (h === 'sts.amazonaws.com') return 'us-east-1';
  return /^sts\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(h)?.[1];
}

/**
 * Verifies a SigV4 request (Authorization header or presigned query) the way STS does.
 * `defaultRegion` is the region expected when the Host is not an AWS host name.
 */
export function verifySigV4(
  req: IncomingSigned,
  lookup: (accessKeyId: string) => SecretLookup | undefined,
  now: Date,
  defaultRegion: string,
): SigV4Verdict {
  const deny = (status: number, code: string, message: string) => ({ ok: false as const, status, code, message });
  const query = parseQuery(req.rawQuery);
  const parts = authParts(req, query);
  if (!parts) return deny(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
  const [accessKeyId = '', scopeDate, region, service, terminator] = parts.credential.split('/');
  const date = parseAmzDate(parts.date);
  if (!date || !scopeDate || terminator !== 'aws4_request' || !/^[0-9a-f]{64}$/.test(parts.signature)) {
    return deny(400, 'IncompleteSignature', 'Authorization header requires existence of either a X-Amz-Date or a Date header, and a well-formed Credential, SignedHeaders and Signature.');
  }
  const expectedRegion = regionOfHost(header(req.headers, 'host')) ?? defaultRegion;
  if (service !== 'sts' || region !== expectedRegion || scopeDate !== parts.date!.slice(0, 8)) {
    return deny(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${region}'. Credential should be scoped to correct service: 'sts'.`);
  }
  const signedHeaders = parts.signedHeaders.split(';');
  if (!signedHeaders.includes('host')) {
    return deny(403, 'SignatureDoesNotMatch', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const age = now.getTime() - date.getTime();
  if (age > FIFTEEN_MINUTES || -age > FIFTEEN_MINUTES) {
    const bound = new Date(now.getTime() + (age > 0 ? -FIFTEEN_MINUTES : FIFTEEN_MINUTES));
    return deny(403, 'SignatureDoesNotMatch', `Signature expired: ${parts.date} is now ${age > 0 ? 'earlier' : 'later'} than ${amzDate(bound)} (${amzDate(now)} ${age > 0 ? '-' : '+'} 15 min.)`);
  }
  const known = lookup(accessKeyId);
  if (!known || (known.sessionToken ?? undefined) !== (parts.securityToken ?? undefined)) {
    return deny(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
  }
  if (known.expiration && known.expiration.getTime() <= now.getTime()) {
    return deny(403, 'ExpiredToken', 'The security token included in the request is expired');
  }

  const canonicalQuery = query
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [sigv4Encode(k), sigv4Encode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : 1) : ak < bk ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signedHeaders
    .map((name) => `${name}:${(header(req.headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const payloadHash = header(req.headers, 'x-amz-content-sha256') ?? sha256hex(req.body);
  const canonicalRequest = [req.method, req.path || '/', canonicalQuery, canonicalHeaders, parts.signedHeaders, payloadHash].join('\n');
  const scope = `${scopeDate}/${region}/${service}/aws4_request`;
  const stringToSign = [ALGORITHM, parts.date, scope, sha256hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${known.secretAccessKey}`, scopeDate);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const expected = createHmac('sha256', key).update(stringToSign, 'utf8').digest();
  const given = Buffer.from(parts.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return deny(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
  }
  return { ok: true, accessKeyId, presigned: parts.presigned, date, region: region! };
}

const EKS_PREFIX = 'k8s-aws-v1.';
const ALLOWED_PARAMS = new Set([
  'action',
  'version',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-signedheaders',
]);

/**
 * aws-iam-authenticator's checks of an EKS bearer token before it asks STS: returns the presigned
 * URL to forward, or throws with the authenticator's reason.
 */
export function checkEksToken(token: string, now: Date): URL {
  if (token.length > 4096) throw new Error('token is too large');
  if (!token.startsWith(EKS_PREFIX)) throw new Error('token is missing expected "k8s-aws-v1." prefix');
  const encoded = token.slice(EKS_PREFIX.length);
  if (!/^[A-Za-z0-9_-]*$/.test(encoded)) throw new Error('illegal base64 data in token');
  const url = new URL(Buffer.from(encoded, 'base64url').toString('utf8'));
  if (url.protocol !== 'https:') throw new Error(`unexpected scheme "${url.protocol}" in pre-signed URL`);
  if (regionOfHost(url.host) === undefined || url.port) throw new Error(`unexpected hostname "${url.host}" in pre-signed URL`);
  if (url.pathname !== '/') throw new Error('unexpected path in pre-signed URL');
  const params = new Map<string, string>();
  for (const [key, value] of parseQuery(url.search.slice(1))) {
    const lower = key.toLowerCase();
    if (!ALLOWED_PARAMS.has(lower)) throw new Error(`non-whitelisted query parameter "${key}"`);
    if (params.has(lower)) throw new Error('query parameter with multiple values not supported');
    params.set(lower, value);
  }
  if (params.get('action') !== 'GetCallerIdentity') throw new Error('unexpected action parameter in pre-signed URL');
  if (!(params.get('x-amz-signedheaders') ?? '').split(';').includes('x-k8s-aws-id')) {
    throw new Error('client did not sign the x-k8s-aws-id header in the pre-signed URL');
  }
  const expires = Number(params.get('x-amz-expires'));
  if (!Number.isInteger(expires) || expires < 0 || expires > 900) {
    throw new Error(`X-Amz-Expires parameter in pre-signed URL is ${params.get('x-amz-expires')} which is out of range`);
  }
  const date = parseAmzDate(params.get('x-amz-date'));
  if (!date) throw new Error('error parsing X-Amz-Date parameter');
  if (now.getTime() >= date.getTime() + FIFTEEN_MINUTES) {
    throw new Error(`X-Amz-Date parameter is expired (15 minute expiration) ${params.get('x-amz-date')}`);
  }
  return url;
}
