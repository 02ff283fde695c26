// The pipe's kubeconfig used by the real kubectl: kubectl runs the pipe's eks-token subcommand
// through the exec entry and sends the token to an HTTPS API endpoint on 127.0.0.1 that accepts
// it only if the local STS verifies it for this cluster. Also: the private dir goes away on
// SIGTERM/SIGINT, and at DEBUG=true no secret reaches stdout or stderr (the canary).
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolPath } from '../../src/util/tools.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { startStsServer, type StsServer } from '../support/sts-server.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/deploy`;

let issuer: OidcIssuer;
let sts: StsServer;
let api: Server;
let apiUrl = '';
let caData = '';
let tmp = '';
const received: string[] = [];

/** Calls establishAccess the way run.ts does, from a separate process with the given env. */
const DRIVER = `
import { loadConfig } from '${ROOT}/src/config/index.ts';
import { establishAccess } from '${ROOT}/src/identity/index.ts';
import { createLogger } from '${ROOT}/src/report/logger.ts';
import { PipeError } from '${ROOT}/src/util/errors.ts';
import { existsSync } from 'node:fs';
const logger = createLogger({ debug: process.env.DEBUG === 'true' });
try {
  const access = await establishAccess(loadConfig(process.env), logger, { retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  logger.success(access.describe);
  logger.info('KUBECONFIG=' + access.kubeconfigPath);
  logger.debug('bearer token for direct calls: ' + (await access.bearerToken()));
  if (process.argv.includes('--graceful')) {
    // Like main.ts in a deploy: a SIGTERM handler that lets in-flight work finish, then exits.
    process.on('SIGTERM', () => setTimeout(() => {
      logger.info('files during shutdown: ' + existsSync(access.kubeconfigPath));
      process.exit(143);
    }, 200));
  }
  if (process.argv.includes('--wait')) setInterval(() => undefined, 1000);
  else await access.dispose();
} catch (err) {
  if (!(err instanceof PipeError)) throw err;
  logger.failure(err.located);
  if (err.hint) logger.info('  What to do: ' + err.hint);
  process.exitCode = err.exitCode;
}
`;

function pipeEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: tmp,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    MODE: 'deploy',
    CLUSTER_NAME: 'prod',
    CLUSTER_ENDPOINT: apiUrl,
    CLUSTER_CA_DATA: caData,
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL_STS: sts.url,
    AWS_OIDC_ROLE_ARN: ROLE,
    BITBUCKET_REPO_SLUG: 'platform-apps',
    BITBUCKET_BUILD_NUMBER: '42',
    ...extra,
  };
}

const driver = (env: Record<string, string>, args: string[] = []) =>
  execa(process.execPath, ['--import', 'tsx', join(tmp, 'driver.mts'), ...args], { cwd: ROOT, env, extendEnv: false, reject: false, all: true });

const kubectl = (kubeconfig: string, args: string[], env: Record<string, string> = {}) =>
  execa(toolPath('kubectl'), ['--kubeconfig', kubeconfig, ...args], { env: { PATH: process.env.PATH ?? '', HOME: tmp, ...env }, extendEnv: false, reject: false, all: true });

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'identity-kubectl-'));
  writeFileSync(join(tmp, 'driver.mts'), DRIVER);
  await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem')]);
  const cert = readFileSync(join(tmp, 'cert.pem'));
  caData = cert.toString('base64');
  issuer = await startOidcIssuer();
  sts = await startStsServer({ region: 'eu-west-1' });
  sts.addOidcProvider({ url: issuer.issuer, clientIds: [issuer.audience] });
  sts.addRole({
    arn: ROLE,
    trustPolicy: issuer.trustPolicy({ account: ACCOUNT, sub: `${issuer.repositoryUuid}:*` }),
  });
  api = createServer({ key: readFileSync(join(tmp, 'key.pem')), cert }, (req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    received.push(token);
    sts.verifyEksToken(token, 'prod').then(
      () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ major: '1', minor: '33', gitVersion: 'v1.33.9', platform: 'linux/amd64' }));
      },
      (err: Error) => {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `Unauthorized: ${err.message.slice(0, 80)}`, reason: 'Unauthorized', code: 401 }));
      },
    );
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiUrl = `https://127.0.0.1:${(api.address() as { port: number }).port}`;
}, 60_000);

afterAll(async () => {
  api?.closeAllConnections();
  await new Promise((resolve) => api?.close(resolve));
  await sts?.close();
  await issuer?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Starts the driver with --wait; resolves once it has printed its kubeconfig path. */
async function startDriver(env: Record<string, string>, extra: string[] = []) {
  const proc = execa(process.execPath, ['--import', 'tsx', join(tmp, 'driver.mts'), '--wait', ...extra], { cwd: ROOT, env, extendEnv: false, reject: false, all: true });
  let output = '';
  const kubeconfig = await new Promise<string>((resolve, reject) => {
    proc.all!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const m = /KUBECONFIG=(\S+)/.exec(output);
      if (m) resolve(m[1]!);
    });
    proc.then((r) => reject(new Error(`driver exited: ${r.all}`)), reject);
  });
  return { proc, kubeconfig };
}

describe('kubectl with the kubeconfig the pipe writes', () => {
  it('authenticates through the eks-token exec entry, a fresh token per kubectl process; SIGTERM removes the files', async () => {
    const { proc, kubeconfig } = await startDriver(pipeEnv({ BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }) }));
    const before = received.length;
    for (let i = 0; i < 2; i++) {
      // SigV4 dates have one-second resolution: a second apart, a token made afresh must differ
      if (i > 0) await new Promise((r) => setTimeout(r, 1100));
      const r = await kubectl(kubeconfig, ['get', '--raw', '/version']);
      expect(r.exitCode, r.all).toBe(0);
      expect(JSON.parse(r.stdout).gitVersion).toBe('v1.33.9');
    }
    const tokens = received.slice(before);
    expect(tokens).toHaveLength(2);
    expect(new Set(tokens).size).toBe(2);
    for (const t of tokens) expect(await sts.verifyEksToken(t, 'prod')).toMatchObject({ arn: `arn:aws:sts::${ACCOUNT}:assumed-role/deploy/bitbucket-platform-apps-42` });

    proc.kill('SIGTERM');
    const end = await proc;
    expect(end.signal).toBe('SIGTERM');
    expect(existsSync(dirname(kubeconfig))).toBe(false);
  }, 90_000);

  it('is refused by the API server when the token is for another cluster; SIGINT removes the files', async () => {
    const { proc, kubeconfig } = await startDriver(pipeEnv({ CLUSTER_NAME: 'staging', BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }) }));
    const r = await kubectl(kubeconfig, ['get', '--raw', '/version']);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/Unauthorized/);
    proc.kill('SIGINT');
    expect((await proc).signal).toBe('SIGINT');
    expect(existsSync(dirname(kubeconfig))).toBe(false);
  }, 90_000);
});

describe('a run that handles SIGTERM itself (graceful shutdown)', () => {
  it('keeps the files while its in-flight work finishes, and removes them when it exits', async () => {
    const { proc, kubeconfig } = await startDriver(pipeEnv({ BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }) }), ['--graceful']);
    proc.kill('SIGTERM');
    const end = await proc;
    expect(end.exitCode).toBe(143);
    expect(end.all).toContain('files during shutdown: true');
    expect(existsSync(dirname(kubeconfig))).toBe(false);
  }, 60_000);
});

describe('canary: no secret in any output at DEBUG=true', () => {
  it('establishAccess, kubectl -v=9, eks-token with an OIDC exchange, and a refusal print no secret', async () => {
    const outputs: string[] = [];
    const oidcTokens: string[] = [];
    const mint = async () => {
      const t = await issuer.mint({}, { deployment: true });
      oidcTokens.push(t);
      return t;
    };
    const debug = { DEBUG: 'true' };
    const { proc, kubeconfig } = await startDriver(pipeEnv({ ...debug, BITBUCKET_STEP_OIDC_TOKEN: await mint() }));
    const k = await kubectl(kubeconfig, ['get', '--raw', '/version', '-v=9']);
    expect(k.exitCode, k.all).toBe(0);
    outputs.push(k.all);
    proc.kill('SIGTERM');
    outputs.push((await proc).all ?? '');

    const plugin = await execa(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'eks-token', '--cluster-name', 'prod'], {
      cwd: ROOT,
      env: pipeEnv({ ...debug, BITBUCKET_STEP_OIDC_TOKEN: await mint() }),
      extendEnv: false,
      reject: false,
      all: true,
    });
    expect(plugin.exitCode, plugin.stderr).toBe(0);
    const pluginToken = JSON.parse(plugin.stdout).status.token as string;
    expect(await sts.verifyEksToken(pluginToken, 'prod')).toMatchObject({ account: ACCOUNT });
    outputs.push(plugin.stderr);

    const refused = await driver(pipeEnv({ ...debug, AWS_OIDC_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/missing`, BITBUCKET_STEP_OIDC_TOKEN: await mint() }));
    expect(refused.exitCode).toBe(2);
    expect(refused.all).toContain('STS refused the Bitbucket OIDC token');
    outputs.push(refused.all ?? '');

    const all = outputs.join('\n');
    expect(all).toContain('DEBUG: ');
    const secrets = [
      ...oidcTokens,
      ...sts.issued.flatMap((c) => [c.secretAccessKey, c.sessionToken!, encodeURIComponent(c.sessionToken!)]),
      ...received.filter(Boolean),
    ];
    expect(secrets.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(all.includes(secret), `a secret (${secret.slice(0, 6)}…) was printed`).toBe(false);
    expect(all).not.toMatch(/k8s-aws-v1\.[A-Za-z0-9_-]{20}/);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{20}/);
  }, 120_000);
});
