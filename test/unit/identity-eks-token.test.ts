import { describe, expect, it } from 'vitest';
import { execCredential, makeEksToken, stsHost, tokenExpiry, TOKEN_PREFIX } from '../../src/identity/eks-token.js';
import { mask } from '../../src/report/mask.js';
import { checkEksToken, verifySigV4 } from '../support/sts-sigv4.js';

const credentials = { accessKeyId: 'ASIAEXAMPLEKEYID0001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE+/=token' };
const at = new Date(Date.UTC(2026, 5, 1, 10, 0, 0));

function decode(token: string): URL {
  return new URL(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
}

describe('makeEksToken', () => {
  it('is k8s-aws-v1. + unpadded base64url of a presigned STS GetCallerIdentity URL', async () => {
    const token = await makeEksToken(credentials, 'prod', 'eu-west-1', at);
    expect(token.startsWith('k8s-aws-v1.')).toBe(true);
    expect(token.slice(TOKEN_PREFIX.length)).toMatch(/^[A-Za-z0-9_-]+$/);
    const url = decode(token);
    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe('/');
    const q = url.searchParams;
    expect(q.get('Action')).toBe('GetCallerIdentity');
    expect(q.get('Version')).toBe('2011-06-15');
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Credential')).toBe('ASIAEXAMPLEKEYID0001/20260601/eu-west-1/sts/aws4_request');
    expect(q.get('X-Amz-Date')).toBe('20260601T100000Z');
    expect(q.get('X-Amz-Expires')).toBe('60');
    expect(q.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(q.get('X-Amz-Security-Token')).toBe(credentials.sessionToken);
    expect([...q.keys()].sort()).toEqual(['Action', 'Version', 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-Security-Token', 'X-Amz-Signature', 'X-Amz-SignedHeaders']);
  });

  it('passes the SigV4 check for its cluster only, and aws-iam-authenticator-style format checks', async () => {
    const token = await makeEksToken(credentials, 'prod', 'eu-west-1', at);
    const url = checkEksToken(token, new Date(at.getTime() + 60_000));
    const request = (cluster: string) => ({
      method: 'GET',
      path: '/',
      rawQuery: url.search.slice(1),
      headers: { host: url.host, 'x-k8s-aws-id': cluster },
      body: '',
    });
    const lookup = () => ({ secretAccessKey: credentials.secretAccessKey, sessionToken: credentials.sessionToken });
    expect(verifySigV4(request('prod'), lookup, new Date(at.getTime() + 60_000), 'eu-west-1')).toMatchObject({ ok: true, presigned: true });
    expect(verifySigV4(request('staging'), lookup, new Date(at.getTime() + 60_000), 'eu-west-1')).toMatchObject({ ok: false, code: 'SignatureDoesNotMatch' });
    expect(() => checkEksToken(token, new Date(at.getTime() + 15 * 60_000))).toThrow(/expired/);
  });

  it('signs for the China partition host in cn- regions, and is masked in any output', async () => {
    expect(stsHost('cn-north-1')).toBe('sts.cn-north-1.amazonaws.com.cn');
    const token = await makeEksToken({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret-example-key' }, 'c', 'cn-north-1', at);
    expect(decode(token).host).toBe('sts.cn-north-1.amazonaws.com.cn');
    expect(decode(token).searchParams.has('X-Amz-Security-Token')).toBe(false);
    expect(mask(`Authorization: Bearer ${token}`)).toBe('Authorization: Bearer ****');
  });
});

describe('tokenExpiry and execCredential', () => {
  it('expires 14 minutes after signing, or a minute before the credentials do', () => {
    expect(tokenExpiry(at, credentials).toISOString()).toBe('2026-06-01T10:14:00.000Z');
    const soon = { ...credentials, expiration: new Date(at.getTime() + 5 * 60_000) };
    expect(tokenExpiry(at, soon).toISOString()).toBe('2026-06-01T10:04:00.000Z');
  });

  it('prints the v1beta1 ExecCredential kubectl reads', () => {
    expect(JSON.parse(execCredential('k8s-aws-v1.abc', new Date(Date.UTC(2026, 5, 1, 10, 14, 0, 123))))).toEqual({
      kind: 'ExecCredential',
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      spec: {},
      status: { expirationTimestamp: '2026-06-01T10:14:00Z', token: 'k8s-aws-v1.abc' },
    });
  });
});
