// The pipe's cluster access against an HTTPS API endpoint on 127.0.0.1 that accepts a token only
// if the local STS verifies it for this cluster: the pipe's own requests (tokens signed in
// process, nothing on disk), and the real kubectl running the pipe's eks-token subcommand as a
// credential plugin (a kubeconfig as README shows). Also: a KUBE_CONFIG's private file goes away
// on SIGTERM/SIGINT, and at DEBUG=true no secret reaches stdout or stderr (the canary).
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
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

/** Calls establishAccess the way run.ts does, from a separate process with the given env; --request: one GET through the apply stage's connection. */
const DRIVER = `
import { loadConfig } from '${ROOT}/src/config/index.ts';
import { establishAccess } from '${ROOT}/src/identity/index.ts';
import { KubeClient } from '${ROOT}/src/apply/client.ts';
import { connect } from '${ROOT}/src/apply/connection.ts';
import { createLogger } from '${ROOT}/src/report/logger.ts';
import { PipeError } from '${ROOT}/src/util/errors.ts';
import { existsSync } from 'node:fs';
const logger = createLogger({ debug: process.env.DEBUG === 'true' });
try {
  const access = await establishAccess(loadConfig(process.env), logger, { retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  logger.success(access.describe);
  if (access.kubeconfigPath) logger.info('KUBECONFIG=' + access.kubeconfigPath);
  logger.debug('bearer token for direct calls: ' + (await access.bearerToken()));
  if (process.argv.includes('--request')) {
    const connection = await connect(access);
    const version = await new KubeClient(connection).get('/version');
    logger.info('GET /version: ' + JSON.stringify(version));
    connection.close();
  }
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

/** Starts the driver with --wait; resolves once it has printed its kubeconfig path (a KUBE_CONFIG access). */
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

/** A kubeconfig whose user runs the pipe's eks-token subcommand, as README shows (here from the checkout). */
function pluginKubeconfig(clusterName: string): string {
  const file = join(tmp, `plugin-${clusterName}.yaml`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'eks', cluster: { server: apiUrl, 'certificate-authority-data': caData } }],
      users: [
        {
          name: 'eks',
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1beta1',
              command: process.execPath,
              args: ['--import', 'tsx', join(ROOT, 'src/main.ts'), 'eks-token', '--cluster-name', clusterName, '--region', 'eu-west-1'],
              interactiveMode: 'Never',
            },
          },
        },
      ],
      contexts: [{ name: 'eks', context: { cluster: 'eks', user: 'eks' } }],
      'current-context': 'eks',
    }),
  );
  return file;
}

/** A KUBE_CONFIG (base64) for the local API endpoint with a static token. */
function userKubeconfigVariable(): string {
  const kubeconfig = {
    apiVersion: 'v1',
    clusters: [{ name: 'local', cluster: { server: apiUrl, 'certificate-authority-data': caData } }],
    users: [{ name: 'ci', user: { token: 'static-token-for-the-signal-tests' } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: 'ci' } }],
    'current-context': 'local',
  };
  return Buffer.from(JSON.stringify(kubeconfig)).toString('base64');
}

describe("the pipe's EKS access", () => {
  it('authenticates its requests with tokens signed in process, with nothing written to disk', async () => {
    const scratch = mkdtempSync(join(tmp, 'tmpdir-'));
    const before = received.length;
    const r = await driver(pipeEnv({ TMPDIR: scratch, BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }) }), ['--request']);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toContain('GET /version: {"major":"1","minor":"33"');
    expect(r.all).not.toContain('KUBECONFIG=');
    // (tsx, which runs the driver from the checkout, keeps its compile cache there)
    expect(readdirSync(scratch).filter((name) => !name.startsWith('tsx-'))).toEqual([]);
    const [token] = received.slice(before);
    expect(await sts.verifyEksToken(token!, 'prod')).toMatchObject({ arn: `arn:aws:sts::${ACCOUNT}:assumed-role/deploy/bitbucket-platform-apps-42` });
  }, 60_000);

  it('is refused by the API server when the cluster is another one, and says so', async () => {
    const r = await driver(pipeEnv({ CLUSTER_NAME: 'staging', BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }) }), ['--request']);
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/401/);
    expect(r.all).not.toContain('GET /version: {');
  }, 60_000);
});

describe('kubectl with the eks-token credential plugin', () => {
  const pluginEnv = async () => ({
    PATH: process.env.PATH ?? '',
    HOME: tmp,
    AWS_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL_STS: sts.url,
    AWS_OIDC_ROLE_ARN: ROLE,
    BITBUCKET_REPO_SLUG: 'platform-apps',
    BITBUCKET_BUILD_NUMBER: '42',
    BITBUCKET_STEP_OIDC_TOKEN: await issuer.mint({}, { deployment: true }),
  });

  it('authenticates through the exec entry, a fresh token per kubectl process', async () => {
    const kubeconfig = pluginKubeconfig('prod');
    const env = await pluginEnv();
    const before = received.length;
    for (let i = 0; i < 2; i++) {
      // SigV4 dates have one-second resolution: a second apart, a token made afresh must differ
      if (i > 0) await new Promise((r) => setTimeout(r, 1100));
      const r = await kubectl(kubeconfig, ['get', '--raw', '/version'], env);
      expect(r.exitCode, r.all).toBe(0);
      expect(JSON.parse(r.stdout).gitVersion).toBe('v1.33.9');
    }
    const tokens = received.slice(before);
    expect(tokens).toHaveLength(2);
    expect(new Set(tokens).size).toBe(2);
    for (const t of tokens) expect(await sts.verifyEksToken(t, 'prod')).toMatchObject({ arn: `arn:aws:sts::${ACCOUNT}:assumed-role/deploy/bitbucket-platform-apps-42` });
  }, 90_000);

  it('is refused by the API server when the token is for another cluster', async () => {
    const r = await kubectl(pluginKubeconfig('staging'), ['get', '--raw', '/version'], await pluginEnv());
    expect(r.exitCode).not.toBe(0);
    expect(r.all).toMatch(/Unauthorized/);
  }, 90_000);
});

describe("a KUBE_CONFIG's private file", () => {
  it('is 0600 in a 0700 directory, which SIGTERM and SIGINT remove', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const { proc, kubeconfig } = await startDriver(pipeEnv({ KUBE_CONFIG: userKubeconfigVariable() }));
      expect(readFileSync(kubeconfig, 'utf8')).toContain('static-token-for-the-signal-tests');
      proc.kill(signal);
      expect((await proc).signal).toBe(signal);
      expect(existsSync(dirname(kubeconfig))).toBe(false);
    }
  }, 90_000);

  it('stays while a run that handles SIGTERM itself finishes its in-flight work, and goes when it exits', async () => {
    const { proc, kubeconfig } = await startDriver(pipeEnv({ KUBE_CONFIG: userKubeconfigVariable() }), ['--graceful']);
    proc.kill('SIGTERM');
    const end = await proc;
    expect(end.exitCode).toBe(143);
    expect(end.all).toContain('files during shutdown: true');
    expect(existsSync(dirname(kubeconfig))).toBe(false);
  }, 60_000);
});

describe('canary: no secret in any output at DEBUG=true', () => {
  it('the pipe\'s access and request, kubectl -v=9 with the plugin, eks-token with an OIDC exchange, and a refusal print no secret', async () => {
    const outputs: string[] = [];
    const oidcTokens: string[] = [];
    const mint = async () => {
      const t = await issuer.mint({}, { deployment: true });
      oidcTokens.push(t);
      return t;
    };
    const debug = { DEBUG: 'true' };
    const access = await driver(pipeEnv({ ...debug, BITBUCKET_STEP_OIDC_TOKEN: await mint() }), ['--request']);
    expect(access.exitCode, access.all).toBe(0);
    outputs.push(access.all ?? '');

    const k = await kubectl(pluginKubeconfig('prod'), ['get', '--raw', '/version', '-v=9'], {
      ...debug,
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL_STS: sts.url,
      AWS_OIDC_ROLE_ARN: ROLE,
      BITBUCKET_STEP_OIDC_TOKEN: await mint(),
    });
    expect(k.exitCode, k.all).toBe(0);
    outputs.push(k.all);

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
