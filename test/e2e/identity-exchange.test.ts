// establishAccess over real HTTP: a local Bitbucket-shaped OIDC issuer and a local STS that
// verifies the JWT, the trust policy and SigV4. Faults are injected at the STS, not in the SDK.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, withEnvironmentTarget } from '../../src/config/index.js';
import { establishAccess, type AccessOptions } from '../../src/identity/index.js';
import { memoryLogger } from '../../src/report/logger.js';
import { PipeError } from '../../src/util/errors.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { startStsServer, type StsServer, type TrustPolicy } from '../support/sts-server.js';

const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/deploy`;
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBexample\n-----END CERTIFICATE-----\n').toString('base64');
const FAST = { baseDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 5_000 };

let issuer: OidcIssuer;
let sts: StsServer;

function policyFor(sub: string, aud = issuer.audience): TrustPolicy {
  return issuer.trustPolicy({ account: ACCOUNT, sub, aud });
}

/** A deploy whose cluster comes from eks:DescribeCluster at `url` (no CLUSTER_ENDPOINT / CLUSTER_CA_DATA given). */
async function describeClusterAt(url: string): Promise<NodeJS.ProcessEnv> {
  const e = env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), AWS_ENDPOINT_URL_EKS: url });
  delete e.CLUSTER_ENDPOINT;
  delete e.CLUSTER_CA_DATA;
  return e;
}

function env(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  return {
    MODE: 'deploy',
    CLUSTER_NAME: 'prod',
    CLUSTER_ENDPOINT: 'https://127.0.0.1:6443',
    CLUSTER_CA_DATA: CA,
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL_STS: sts.url,
    BITBUCKET_REPO_SLUG: 'platform-apps',
    BITBUCKET_BUILD_NUMBER: '42',
    ...extra,
  };
}

async function attempt(e: NodeJS.ProcessEnv, opts: AccessOptions = {}) {
  const logger = memoryLogger(true);
  const before = sts.requests.length;
  try {
    const access = await establishAccess(loadConfig(e), logger, { retry: FAST, ...opts });
    return { access, logger, requests: sts.requests.slice(before) };
  } catch (err) {
    return { err: err as PipeError, logger, requests: sts.requests.slice(before) };
  }
}

beforeAll(async () => {
  issuer = await startOidcIssuer();
  sts = await startStsServer({ region: 'eu-west-1' });
  sts.addOidcProvider({ url: issuer.issuer, clientIds: [issuer.audience] });
  sts.addRole({ arn: ROLE, trustPolicy: policyFor(`${issuer.repositoryUuid}:${issuer.deploymentEnvironmentUuid}:*`), maxSessionDuration: 7200 });
});
afterAll(async () => {
  await sts?.close();
  await issuer?.close();
});

describe('OIDC token -> STS -> EKS access', () => {
  it('exchanges a deployment step token, keeps the credentials in memory and makes tokens STS accepts', async () => {
    const token = await issuer.mint({}, { deployment: true });
    // the temp directory the pipe would write into, empty and its own for this call
    const scratch = mkdtempSync(join(tmpdir(), 'identity-exchange-'));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
    let result: Awaited<ReturnType<typeof attempt>>;
    try {
      result = await attempt(env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: token, SESSION_DURATION: '7200' }));
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    const { access, logger, requests } = result;
    expect(access, logger.lines.join('\n')).toBeDefined();
    expect(requests).toEqual([{ action: 'AssumeRoleWithWebIdentity', status: 200 }]);
    expect(access!.describe).toBe(`EKS cluster prod (eu-west-1) as arn:aws:sts::${ACCOUNT}:assumed-role/deploy/bitbucket-platform-apps-42`);
    expect(access!.server).toBe('https://127.0.0.1:6443');
    // nothing on disk: no kubeconfig, no credentials file
    expect(access!.kubeconfigPath).toBeUndefined();
    expect(readdirSync(scratch)).toEqual([]);
    rmSync(scratch, { recursive: true });
    expect(sts.issued.at(-1)!.expiration!.getTime() - Date.now()).toBeGreaterThan(7000 * 1000);

    const bearer = await access!.bearerToken();
    expect(await sts.verifyEksToken(bearer!, 'prod')).toMatchObject({ account: ACCOUNT, arn: sts.issued.at(-1)!.arn });
    await expect(sts.verifyEksToken(bearer!, 'staging')).rejects.toThrow(/SignatureDoesNotMatch/);
    await access!.dispose();
  });

  it('uses static keys with a warning, and chains to AWS_ROLE_ARN with them', async () => {
    const user = { accessKeyId: 'AKIAEXAMPLESTATIC01', secretAccessKey: 'static/secret/key/for/tests/0123456789ab', arn: `arn:aws:iam::${ACCOUNT}:user/ci` };
    sts.addCredentials(user);
    const chainedRole = `arn:aws:iam::${ACCOUNT}:role/deploy-chained`;
    sts.addRole({ arn: chainedRole, trustPolicy: { Statement: [{ Effect: 'Allow', Principal: { AWS: user.arn }, Action: 'sts:AssumeRole' }] } });

    const direct = await attempt(env({ AWS_ACCESS_KEY_ID: user.accessKeyId, AWS_SECRET_ACCESS_KEY: user.secretAccessKey }));
    expect(direct.access?.describe).toBe(`EKS cluster prod (eu-west-1) as ${user.arn}`);
    expect(direct.requests).toEqual([{ action: 'GetCallerIdentity', status: 200 }]);
    expect(direct.logger.lines.join('\n')).toMatch(/WARNING: using static AWS keys .*OIDC is preferred/);
    expect(await sts.verifyEksToken((await direct.access!.bearerToken())!, 'prod')).toMatchObject({ arn: user.arn });
    await direct.access!.dispose();

    const chained = await attempt(env({ AWS_ACCESS_KEY_ID: user.accessKeyId, AWS_SECRET_ACCESS_KEY: user.secretAccessKey, AWS_ROLE_ARN: chainedRole }));
    expect(chained.requests).toEqual([{ action: 'AssumeRole', status: 200 }]);
    expect(chained.access?.describe).toBe(`EKS cluster prod (eu-west-1) as arn:aws:sts::${ACCOUNT}:assumed-role/deploy-chained/bitbucket-platform-apps-42`);
    await chained.access!.dispose();
  });

  it('refuses wrong static keys, and a role that does not trust them, once each and naming the variable', async () => {
    const wrong = await attempt(env({ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLESTATIC01', AWS_SECRET_ACCESS_KEY: 'not-the-right-secret' }));
    expect(wrong.requests).toEqual([{ action: 'GetCallerIdentity', status: 403, code: 'SignatureDoesNotMatch' }]);
    expect(wrong.err!.located).toMatch(/^AWS_ACCESS_KEY_ID: STS refused: SignatureDoesNotMatch: /);
    expect(wrong.err!.exitCode).toBe(2);
    expect(wrong.err!.hint).toMatch(/wrong, deactivated or expired/);

    const untrusted = `arn:aws:iam::${ACCOUNT}:role/untrusting`;
    sts.addRole({ arn: untrusted, trustPolicy: { Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/someone-else` }, Action: 'sts:AssumeRole' }] } });
    const chain = await attempt(env({ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLESTATIC01', AWS_SECRET_ACCESS_KEY: 'static/secret/key/for/tests/0123456789ab', AWS_ROLE_ARN: untrusted }));
    expect(chain.requests).toEqual([{ action: 'AssumeRole', status: 403, code: 'AccessDenied' }]);
    expect(chain.err!.located).toBe(`AWS_ROLE_ARN: STS refused: AccessDenied: User: arn:aws:iam::${ACCOUNT}:user/ci is not authorized to perform: sts:AssumeRole on resource: ${untrusted}`);
    expect(chain.err!.hint).toContain('"Principal": {"AWS": "<caller role or user ARN>"}');
  });

  it('reads KUBE_CONFIG and KUBE_CONTEXT for clusters that are not EKS', async () => {
    const kubeconfig = {
      apiVersion: 'v1',
      clusters: [{ name: 'k3s', cluster: { server: 'https://10.0.0.1:6443', 'certificate-authority-data': CA } }],
      users: [{ name: 'ci', user: { token: 'kubeconfig-static-token-abc' } }],
      contexts: [{ name: 'k3s-ci', context: { cluster: 'k3s', user: 'ci' } }],
    };
    const logger = memoryLogger(true);
    const config = loadConfig({ MODE: 'deploy', KUBE_CONFIG: Buffer.from(JSON.stringify(kubeconfig)).toString('base64'), KUBE_CONTEXT: 'k3s-ci' });
    const access = await establishAccess(config, logger);
    expect(access.describe).toBe('cluster k3s (https://10.0.0.1:6443) from KUBE_CONFIG context k3s-ci');
    expect(await access.bearerToken()).toBe('kubeconfig-static-token-abc');
    expect(statSync(access.kubeconfigPath!).mode & 0o777).toBe(0o600);
    await access.dispose();
    expect(existsSync(access.kubeconfigPath!)).toBe(false);
  });
});

describe('a role named by the root manifest', () => {
  it("a refusal names the root manifest's field, not AWS_OIDC_ROLE_ARN", async () => {
    const missing = `arn:aws:iam::${ACCOUNT}:role/not-there`;
    const config = withEnvironmentTarget(
      loadConfig(env({ BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }) })),
      { name: 'staging', roleArn: missing },
      'app-of-apps.yaml',
    );
    const logger = memoryLogger(true);
    const err = (await establishAccess(config, logger, { retry: FAST }).catch((e: unknown) => e)) as PipeError;
    expect(err).toBeInstanceOf(PipeError);
    expect(err.exitCode).toBe(2);
    expect(err.located).toMatch(/^app-of-apps\.yaml: environments\.staging\.roleArn: STS refused: AccessDenied: /);
    expect(err.hint).toContain(`fix the trust policy of ${missing}`);
  });
});

describe('transient STS failures are retried, bounded', () => {
  it.each([
    ['Throttling', 'Throttling'],
    ['ServiceUnavailable', 'ServiceUnavailable'],
    ['IDPCommunicationError', 'IDPCommunicationError'],
    ['VerificationKeyUnavailable', 'InvalidIdentityToken'],
    ['ConnectionReset', 'ConnectionReset'],
  ] as const)('%s twice, then success', async (kind, code) => {
    sts.failNext(2, kind);
    const { access, logger, requests } = await attempt(env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }) }));
    expect(access, logger.lines.join('\n')).toBeDefined();
    expect(requests.map((r) => r.code ?? r.status)).toEqual([code, code, 200]);
    expect(logger.lines.filter((l) => /retrying in \d+ ms/.test(l))).toHaveLength(2);
    await access!.dispose();
  });

  it('gives up after the bounded attempts when STS keeps throttling', async () => {
    // Exactly as many failures as attempts: a sixth attempt would succeed and fail this test.
    sts.failNext(5, 'Throttling');
    const { err, requests } = await attempt(env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }) }));
    expect(requests.map((r) => r.code)).toEqual(Array(5).fill('Throttling'));
    expect(err).toBeInstanceOf(PipeError);
    expect(err!.message).toMatch(/^sts:AssumeRoleWithWebIdentity failed after 5 attempts in [\d.]+ s \(http:\/\/127\.0\.0\.1:\d+\): Throttling: Rate exceeded$/);
  });

  it('says clearly, and quickly, that STS cannot be reached', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const started = Date.now();
    const { err } = await attempt(env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${closed}` }));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(err).toBeInstanceOf(PipeError);
    expect(err!.exitCode).toBe(1);
    expect(err!.message).toMatch(new RegExp(`failed after 5 attempts in [\\d.]+ s \\(http://127\\.0\\.0\\.1:${closed}\\): ECONNREFUSED`));
    expect(err!.hint).toMatch(/AWS_ENDPOINT_URL_STS/);
  });
});

/** A TCP server on 127.0.0.1 that accepts connections and never answers (a proxy or firewall that holds requests). */
async function silentServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => void sockets.push(socket.on('error', () => undefined)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    connections: () => sockets.length,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

describe('an AWS endpoint that accepts connections and never answers', () => {
  // short attempt timeouts for a fast test; the handler is the pipe's own (awsHttpOptions), which
  // must throw when an attempt times out: @smithy/node-http-handler only warns unless told to
  const SHORT = { timeouts: { attemptMs: 300 } };

  it('STS: each attempt times out, all within the bound, and the error names the endpoint that did not answer', async () => {
    const silent = await silentServer();
    try {
      const started = Date.now();
      const { err, logger } = await attempt(env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), AWS_ENDPOINT_URL_STS: silent.url }), SHORT);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(err).toBeInstanceOf(PipeError);
      expect(err!.exitCode).toBe(1);
      expect(err!.message).toMatch(new RegExp(`^sts:AssumeRoleWithWebIdentity: ${silent.url.replace(/\./g, '\\.')} did not answer in time \\(5 attempts in [\\d.]+ s\\)$`));
      expect(err!.hint).toMatch(/AWS_ENDPOINT_URL_STS/);
      expect(err!.hint).not.toMatch(/AWS_OIDC_ROLE_ARN|trust policy/);
      expect(silent.connections()).toBe(5);
      expect(logger.lines.filter((l) => /attempt \d failed \(no answer within 0\.3 s\); retrying/.test(l))).toHaveLength(4);
    } finally {
      await silent.close();
    }
  });

  it('STS: attempts are given what is left of the retry budget, and none starts with less than a second left', async () => {
    const silent = await silentServer();
    try {
      const started = Date.now();
      const { err } = await attempt(
        env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), AWS_ENDPOINT_URL_STS: silent.url }),
        { timeouts: { attemptMs: 1_500 }, retry: { ...FAST, maxElapsedMs: 2_800 } },
      );
      const elapsed = Date.now() - started;
      // 1.5 s, then what is left (about 1.3 s, not 1.5); a third would have less than a second
      expect(silent.connections()).toBe(2);
      expect(elapsed).toBeGreaterThan(2_500);
      expect(elapsed).toBeLessThan(2_800 + 300);
      expect(err!.message).toMatch(/did not answer in time \(2 attempts in/);
    } finally {
      await silent.close();
    }
  });

  it('EKS DescribeCluster: the same, naming the EKS endpoint and AWS_ENDPOINT_URL_EKS', async () => {
    const silent = await silentServer();
    try {
      const e = await describeClusterAt(silent.url);
      const started = Date.now();
      const { err } = await attempt(e, SHORT);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(err!.exitCode).toBe(1);
      expect(err!.message).toMatch(new RegExp(`^eks:DescribeCluster: ${silent.url.replace(/\./g, '\\.')} did not answer in time \\(5 attempts in [\\d.]+ s\\)$`));
      expect(err!.hint).toMatch(/AWS_ENDPOINT_URL_EKS/);
      expect(silent.connections()).toBe(5);
    } finally {
      await silent.close();
    }
  });
});

/** An HTTP server on 127.0.0.1 that sends STS's status and headers at once, then its body one byte every `everyMs` (a proxy that trickles, a stalled transfer). */
async function tricklingServer(everyMs: number) {
  let requests = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server = createHttpServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.flushHeaders();
    const body = '<AssumeRoleWithWebIdentityResponse>'.repeat(100);
    let at = 0;
    const timer = setInterval(() => {
      if (at >= body.length || res.destroyed) return void clearInterval(timer);
      res.write(body[at++]);
    }, everyMs);
    timers.add(timer);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => {
      for (const timer of timers) clearInterval(timer);
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A TCP server on 127.0.0.1 that accepts each connection and closes it at once (reset), without answering. */
async function resettingServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    socket.on('error', () => undefined);
    socket.once('data', () => socket.resetAndDestroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('an AWS endpoint that sends its headers, then its answer a byte at a time', () => {
  // each byte would reset an idle timeout: the attempt is bounded by the clock instead
  const SHORT = { timeouts: { attemptMs: 400 } };

  it('STS: each attempt ends at its time limit, and the error is the one of an endpoint that does not answer', async () => {
    const trickle = await tricklingServer(50);
    try {
      const started = Date.now();
      const { err, logger } = await attempt(env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), AWS_ENDPOINT_URL_STS: trickle.url }), SHORT);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(err).toBeInstanceOf(PipeError);
      expect(err!.exitCode).toBe(1);
      expect(err!.message).toMatch(new RegExp(`^sts:AssumeRoleWithWebIdentity: ${trickle.url.replace(/\./g, '\\.')} did not answer in time \\(5 attempts in [\\d.]+ s\\)$`));
      expect(err!.message + err!.hint).not.toMatch(/parsed|aborted|not an answer from/);
      expect(err!.hint).toMatch(/AWS_ENDPOINT_URL_STS/);
      expect(trickle.requests()).toBe(5);
      expect(logger.lines.filter((l) => /attempt \d failed \(no answer within 0\.4 s\); retrying/.test(l))).toHaveLength(4);
    } finally {
      await trickle.close();
    }
  });

  it('STS: the attempts stay within the retry budget', async () => {
    const trickle = await tricklingServer(50);
    try {
      const started = Date.now();
      const { err } = await attempt(
        env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), AWS_ENDPOINT_URL_STS: trickle.url }),
        { timeouts: { attemptMs: 1_500 }, retry: { ...FAST, maxElapsedMs: 2_800 } },
      );
      const elapsed = Date.now() - started;
      expect(trickle.requests()).toBe(2);
      expect(elapsed).toBeLessThan(2_800 + 300);
      expect(err!.message).toMatch(/did not answer in time \(2 attempts in/);
    } finally {
      await trickle.close();
    }
  });

  it('EKS DescribeCluster: the same, naming the EKS endpoint', async () => {
    const trickle = await tricklingServer(50);
    try {
      const e = await describeClusterAt(trickle.url);
      const started = Date.now();
      const { err } = await attempt(e, SHORT);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(err!.exitCode).toBe(1);
      expect(err!.message).toMatch(new RegExp(`^eks:DescribeCluster: ${trickle.url.replace(/\./g, '\\.')} did not answer in time \\(5 attempts in [\\d.]+ s\\)$`));
      expect(err!.hint).toMatch(/AWS_ENDPOINT_URL_EKS/);
      expect(trickle.requests()).toBe(5);
    } finally {
      await trickle.close();
    }
  });
});

describe('an AWS endpoint that resets every connection', () => {
  it('STS: says the endpoint closed the connection, not that it did not answer in time', async () => {
    const reset = await resettingServer();
    try {
      const { err, logger } = await attempt(env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), AWS_ENDPOINT_URL_STS: reset.url }));
      expect(err).toBeInstanceOf(PipeError);
      expect(err!.exitCode).toBe(1);
      expect(err!.message).toMatch(new RegExp(`^sts:AssumeRoleWithWebIdentity: ${reset.url.replace(/\./g, '\\.')} reset or closed the connection without answering \\(5 attempts in [\\d.]+ s\\)$`));
      expect(err!.message).not.toMatch(/in time/);
      expect(err!.hint).toMatch(/proxy/);
      expect(err!.hint).toMatch(/AWS_ENDPOINT_URL_STS/);
      expect(err!.hint).not.toMatch(/trust policy|AWS_OIDC_ROLE_ARN/);
      expect(reset.connections()).toBe(5);
      expect(logger.lines.filter((l) => /attempt \d failed \(connection reset by the endpoint\); retrying/.test(l))).toHaveLength(4);
    } finally {
      await reset.close();
    }
  });

  it('EKS DescribeCluster: the same, naming the EKS endpoint and AWS_ENDPOINT_URL_EKS', async () => {
    const reset = await resettingServer();
    try {
      const e = await describeClusterAt(reset.url);
      const { err } = await attempt(e);
      expect(err!.exitCode).toBe(1);
      expect(err!.message).toMatch(new RegExp(`^eks:DescribeCluster: ${reset.url.replace(/\./g, '\\.')} reset or closed the connection without answering \\(5 attempts in [\\d.]+ s\\)$`));
      expect(err!.hint).toMatch(/AWS_ENDPOINT_URL_EKS/);
    } finally {
      await reset.close();
    }
  });
});

/** An HTTP server on 127.0.0.1 that answers every request the same way (a proxy, a captive portal, a cut connection). */
async function fixedAnswer(status: number, contentType: string, body: string) {
  let requests = 0;
  const server = createHttpServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(status, { 'content-type': contentType });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('answers that do not come from STS or EKS', () => {
  const NOT_STS = /^something else answered for STS: a proxy or firewall .*AWS_ENDPOINT_URL_STS/;

  it.each([
    ['a proxy\'s HTML 403', 403, 'text/html', '<html><body><h1>403 Forbidden</h1><p>Request blocked by corporate proxy</p></body></html>', 'HTTP 403, text/html', 1],
    ['a proxy\'s HTML 500 (retried like any 5xx)', 500, 'text/html', '<html><body><h1>Internal Server Error</h1></body></html>', 'HTTP 500, text/html', 5],
    ['truncated XML', 200, 'text/xml', '<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA', 'HTTP 200, text/xml that could not be parsed (XML parse error: missing closing tag </AccessKeyId>)', 1],
    ['an empty 200', 200, 'text/xml', '', 'HTTP 200, text/xml without credentials', 1],
    ['a captive portal\'s HTML 200', 200, 'text/html', '<html><body><h1>Login to the captive portal</h1></body></html>', 'HTTP 200, text/html without credentials', 1],
  ])('%s: names the endpoint and the status, says it is not STS, and does not blame the role', async (_name, status, contentType, body, answered, attempts) => {
    const fake = await fixedAnswer(status, contentType, body);
    try {
      const { err } = await attempt(env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), AWS_ENDPOINT_URL_STS: fake.url }));
      expect(err).toBeInstanceOf(PipeError);
      expect(err!.exitCode).toBe(1);
      expect(err!.message).toBe(`sts:AssumeRoleWithWebIdentity: ${fake.url} answered ${answered}, which is not an answer from STS`);
      expect(err!.hint).toMatch(NOT_STS);
      expect(err!.message + err!.hint).not.toMatch(/Unknown|trust policy|check AWS_OIDC_ROLE_ARN/);
      expect(fake.requests()).toBe(attempts);
    } finally {
      await fake.close();
    }
  });

  it('EKS DescribeCluster behind a proxy that answers HTML: names the EKS endpoint and AWS_ENDPOINT_URL_EKS', async () => {
    const fake = await fixedAnswer(403, 'text/html', '<html><body>Access denied by proxy</body></html>');
    try {
      const e = await describeClusterAt(fake.url);
      const { err } = await attempt(e);
      expect(err!.message).toBe(`eks:DescribeCluster: ${fake.url} answered HTTP 403, text/html, which is not an answer from EKS`);
      expect(err!.hint).toMatch(/AWS_ENDPOINT_URL_EKS/);
    } finally {
      await fake.close();
    }
  });
});

describe('an AWS session shorter than the deploy', () => {
  /** The access key a token was signed with (its X-Amz-Credential). */
  const keyOf = (token: string) => new URL(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString()).searchParams.get('X-Amz-Credential')!.split('/')[0];

  it('is renewed before it expires by the same exchange, and tokens are then signed with the new credentials', async () => {
    let offset = 0;
    const e = env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), SESSION_DURATION: '900' });
    const { access, logger, requests } = await attempt(e, { now: () => Date.now() + offset });
    expect(access, logger.lines.join('\n')).toBeDefined();
    expect(requests).toHaveLength(1);
    const first = sts.issued.at(-1)!;
    const before = sts.requests.length;

    const t1 = (await access!.bearerToken())!;
    expect(keyOf(t1)).toBe(first.accessKeyId);
    // 8 minutes in, 7 left: the token is re-signed (5-minute reuse), the session is not renewed
    offset = 8 * 60_000;
    const t2 = (await access!.bearerToken())!;
    expect(keyOf(t2)).toBe(first.accessKeyId);
    expect(sts.requests.slice(before)).toEqual([]);
    // 9.5 minutes in, under 6 left (a token may be used for 5): renewed, with the step's token
    offset = 9.5 * 60_000;
    const t3 = (await access!.bearerToken())!;
    expect(sts.requests.slice(before)).toEqual([{ action: 'AssumeRoleWithWebIdentity', status: 200 }]);
    const second = sts.issued.at(-1)!;
    expect(second.accessKeyId).not.toBe(first.accessKeyId);
    expect(keyOf(t3)).toBe(second.accessKeyId);
    expect(await sts.verifyEksToken(t3, 'prod')).toMatchObject({ arn: second.arn });
    // the renewed session is not renewed again (verifyEksToken's own GetCallerIdentity aside)
    expect(await access!.bearerToken()).toBe(t3);
    expect(sts.requests.slice(before).filter((r) => r.action === 'AssumeRoleWithWebIdentity')).toHaveLength(1);
    await access!.dispose();
  });

  it('a renewal asked for after SIGTERM is made within the grace period: the cancelled run still records finished apps and releases its lock', async () => {
    let offset = 0;
    const cancel = new AbortController();
    const e = env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), SESSION_DURATION: '900' });
    const { access, logger } = await attempt(e, { now: () => Date.now() + offset, signal: cancel.signal });
    expect(access, logger.lines.join('\n')).toBeDefined();
    const before = sts.requests.length;
    // the pipeline is stopped; the ledger write and the lock's release then need a token, and the session is due
    cancel.abort(new Error('cancelled by SIGTERM'));
    offset = 9.5 * 60_000;
    const token = (await access!.bearerToken())!;
    expect(sts.requests.slice(before)).toEqual([{ action: 'AssumeRoleWithWebIdentity', status: 200 }]);
    expect(await sts.verifyEksToken(token, 'prod')).toMatchObject({ arn: sts.issued.at(-1)!.arn });
    await access!.dispose();
  });

  it('a renewal asked for once the grace period after SIGTERM is over is not made, and says why (not SESSION_DURATION)', async () => {
    let offset = 0;
    const cancel = new AbortController();
    const e = env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), SESSION_DURATION: '900' });
    const { access } = await attempt(e, { now: () => Date.now() + offset, signal: cancel.signal, graceMs: 50 });
    const before = sts.requests.length;
    cancel.abort(new Error('cancelled by SIGTERM'));
    await new Promise((r) => setTimeout(r, 150));
    offset = 9.5 * 60_000;
    const err = (await access!.bearerToken().catch((x: unknown) => x)) as PipeError;
    expect(err).toBeInstanceOf(PipeError);
    expect(err.message).toMatch(/^the AWS session of arn:aws:sts::111122223333:assumed-role\/deploy\/\S+ expires at \S+ and was not renewed: the run was cancelled and its grace period \(0.05 s\) is over$/);
    expect(err.hint).not.toMatch(/SESSION_DURATION/);
    expect(sts.requests.slice(before)).toEqual([]);
    await access!.dispose();
  });

  it('a renewal that fails names the session, when it expires and SESSION_DURATION', async () => {
    let offset = 0;
    const e = env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), SESSION_DURATION: '900' });
    const { access } = await attempt(e, { now: () => Date.now() + offset });
    const first = sts.issued.at(-1)!;
    offset = 16 * 60_000;
    sts.failNext(1, 'IDPRejectedClaim');
    const err = (await access!.bearerToken().catch((x: unknown) => x)) as PipeError;
    expect(err).toBeInstanceOf(PipeError);
    expect(err.message).toBe(
      `the AWS session of ${first.arn} expired at ${first.expiration!.toISOString().replace(/\.\d{3}Z$/, '.000Z')} (SESSION_DURATION=900 s) and could not be renewed: AWS_OIDC_ROLE_ARN: STS refused: IDPRejectedClaim: The identity provider (IdP) reported that authentication failed`,
    );
    expect(err.hint).toMatch(/^set SESSION_DURATION to more than the deploy takes/);
    await access!.dispose();
  });

  it('a renewal that STS refuses is tried once for all callers, and says what changed since the start of the run, without the trust-policy diagnostic', async () => {
    let offset = 0;
    const e = env({ AWS_OIDC_ROLE_ARN: ROLE, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }), SESSION_DURATION: '900' });
    const { access, logger } = await attempt(e, { now: () => Date.now() + offset });
    const before = sts.requests.length;
    offset = 16 * 60_000;
    // one refusal: a second renewal would succeed, and a caller would get a token
    sts.failNext(1, 'IDPRejectedClaim');
    // the ledger note, the app's failure and the lock release, at the same time and one after the other
    const together = await Promise.all([1, 2, 3].map(() => access!.bearerToken().catch((x: unknown) => x)));
    const after = [];
    for (let i = 0; i < 3; i++) after.push(await access!.bearerToken().catch((x: unknown) => x));
    const errors = [...together, ...after] as PipeError[];
    for (const err of errors) expect(err).toBe(errors[0]);
    expect(errors[0]).toBeInstanceOf(PipeError);
    expect(sts.requests.slice(before)).toEqual([{ action: 'AssumeRoleWithWebIdentity', status: 403, code: 'IDPRejectedClaim' }]);

    const output = logger.lines.join('\n');
    // the first exchange's diagnostic is not printed for a token STS accepted at the start of the run
    expect(output.match(/Trust policy for deploy/g) ?? []).toHaveLength(0);
    expect(output.match(/STS refused the Bitbucket OIDC token/g) ?? []).toHaveLength(0);
    const err = errors[0]!;
    expect(err.message).toMatch(/could not be renewed: AWS_OIDC_ROLE_ARN: STS refused: IDPRejectedClaim: /);
    expect(err.hint).toMatch(/STS accepted the step's OIDC token for arn:aws:iam::111122223333:role\/deploy at the start of this run \(\d{4}-\d\d-\d\dT[\d:]+Z\) and refused it for the renewal/);
    expect(err.hint).toMatch(/the token expired/);
    expect(err.hint).toMatch(/trust policy or its OIDC provider changed/);
    expect(err.hint).not.toMatch(/as shown above/);
    await access!.dispose();
  });
});
