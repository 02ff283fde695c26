import { describe, expect, it } from 'vitest';
import { sessionName, stsClient } from '../../src/identity/sts.js';
import { AWS_RETRY, attemptFailure, awsHttpOptions, isConnectionReset, isTimeout, recordExchange } from '../../src/identity/aws-http.js';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { memoryLogger } from '../../src/report/logger.js';
import { awsErrorCode, isTransient } from '../../src/identity/aws-errors.js';
import { SESSION_NAME } from '../../src/config/index.js';

describe('sessionName', () => {
  it('uses ROLE_SESSION_NAME as given', () => {
    expect(sessionName('release-7', { repoSlug: 'x', buildNumber: '1' })).toBe('release-7');
  });

  it('derives a valid name from the repository slug and build number', () => {
    expect(sessionName(undefined, { repoSlug: 'platform-apps', buildNumber: '42' })).toBe('bitbucket-platform-apps-42');
  });

  it('sanitizes characters STS refuses and keeps at most 64 characters', () => {
    const name = sessionName(undefined, { repoSlug: 'weird slug/with~chars'.repeat(5), buildNumber: '7' });
    expect(name).toMatch(SESSION_NAME);
    expect(name.length).toBe(64);
    expect(name.startsWith('bitbucket-weird-slug-with-chars')).toBe(true);
  });

  it('falls back to a fixed valid name without Bitbucket variables', () => {
    expect(sessionName(undefined, {})).toMatch(SESSION_NAME);
  });
});

describe('isTransient', () => {
  const sdkError = (Code: string, status: number, message = '') => Object.assign(new Error(message), { name: `${Code}Exception`, Code, $metadata: { httpStatusCode: status } });

  it.each([
    ['Throttling', 400, ''],
    ['ServiceUnavailable', 503, ''],
    ['InternalFailure', 500, ''],
    ['IDPCommunicationError', 400, ''],
    ['InvalidIdentityToken', 400, "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"],
  ])('retries %s (%i)', (code, status, message) => {
    expect(isTransient(sdkError(code, status, message))).toBe(true);
  });

  it.each([
    ['AccessDenied', 403, 'Not authorized to perform sts:AssumeRoleWithWebIdentity'],
    ['InvalidIdentityToken', 400, 'Incorrect token audience'],
    ['IDPRejectedClaim', 403, ''],
    ['ExpiredTokenException', 400, 'Token expired'],
    ['ValidationError', 400, 'bad session name'],
  ])('does not retry %s', (code, status, message) => {
    expect(isTransient(sdkError(code, status, message))).toBe(false);
  });

  it('retries network failures and reads STS codes over SDK names', () => {
    expect(isTransient(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransient(new Error('a bug'))).toBe(false);
    expect(awsErrorCode(sdkError('IDPRejectedClaim', 403))).toBe('IDPRejectedClaim');
  });
});

describe('AWS client wiring', () => {
  it('an STS client times out its attempts with an error, not a warning', async () => {
    const handler = stsClient({ region: 'eu-west-1', logger: memoryLogger() }).config.requestHandler as unknown as { configProvider: Promise<Record<string, unknown>> };
    expect(await handler.configProvider).toMatchObject({ connectionTimeout: 3_000, requestTimeout: 8_000, throwOnRequestTimeout: true });
    expect(awsHttpOptions({ attemptMs: 50 })).toEqual({ connectionTimeout: 3_000, requestTimeout: 50, throwOnRequestTimeout: true });
  });

  it('retries as docs/security.md says: at most 5 attempts within 20 s', () => {
    expect(AWS_RETRY).toMatchObject({ attempts: 5, maxElapsedMs: 20_000 });
  });
});

describe('isTimeout and isConnectionReset', () => {
  // what @smithy/node-http-handler rejects with: it names ECONNRESET and EPIPE "TimeoutError" too
  const reset = Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' });
  const pipe = Object.assign(new Error('write EPIPE'), { name: 'TimeoutError', code: 'EPIPE' });
  const answer = Object.assign(new Error('a request has exceeded the configured 300 ms requestTimeout.'), { name: 'TimeoutError', code: 'ETIMEDOUT' });
  const connect = Object.assign(new Error('the request socket did not establish a connection with the server within the configured timeout of 3000 ms.'), { name: 'TimeoutError' });

  it('a reset or closed connection is not a timeout', () => {
    expect([reset, pipe].map(isTimeout)).toEqual([false, false]);
    expect([reset, pipe].map(isConnectionReset)).toEqual([true, true]);
    expect(attemptFailure(reset, 'ECONNRESET', 'socket hang up')).toBe('connection reset by the endpoint');
  });

  it('timeouts to connect and to answer are', () => {
    expect([answer, connect].map(isTimeout)).toEqual([true, true]);
    expect([answer, connect].map(isConnectionReset)).toEqual([false, false]);
    expect(attemptFailure(connect, 'TimeoutError', connect.message)).toBe('no connection within 3 s');
  });
});

describe('recordExchange', () => {
  // the network is stubbed: what matters is where the SDK sends the request
  const refused = { handle: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) };
  it.each([
    [{ region: 'us-east-1', useFipsEndpoint: true }, 'https://sts-fips.us-east-1.amazonaws.com'],
    [{ region: 'cn-north-1' }, 'https://sts.cn-north-1.amazonaws.com.cn'],
    [{ region: 'eu-west-1', endpoint: 'http://127.0.0.1:4566' }, 'http://127.0.0.1:4566'],
  ])('names the endpoint the SDK called (%o)', async (config, expected) => {
    const client = new STSClient({ ...config, credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' }, maxAttempts: 1, requestHandler: refused });
    const exchange = recordExchange(client);
    await expect(client.send(new GetCallerIdentityCommand({}))).rejects.toThrow(/ECONNREFUSED/);
    expect(exchange().endpoint).toBe(expected);
  });
});
