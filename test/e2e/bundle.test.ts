// The pipe as it ships: the esbuild bundle started from its V8 startup snapshot by entrypoint.sh
// (the image's entrypoint), not the TypeScript sources. The identity path is the one that reaches
// code the bundle loads at run time (the AWS SDK's require of node:http, which the snapshot
// builder cannot load).
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBitbucketProxy } from '../support/bitbucket-proxy.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';
import { startStsServer, type StsServer } from '../support/sts-server.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const ACCOUNT = '111122223333';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/deploy`;
const tmp = mkdtempSync(join(tmpdir(), 'aoa-bundle-'));
const dist = join(tmp, 'dist');
let issuer: OidcIssuer;
let sts: StsServer;

beforeAll(async () => {
  execFileSync(process.execPath, [join(ROOT, 'scripts/bundle.mjs'), dist, '--snapshot'], { cwd: ROOT, stdio: 'pipe' });
  issuer = await startOidcIssuer();
  sts = await startStsServer({ region: 'eu-west-1' });
  sts.addOidcProvider({ url: issuer.issuer, clientIds: [issuer.audience] });
  sts.addRole({
    arn: ROLE,
    trustPolicy: issuer.trustPolicy({ account: ACCOUNT }),
  });
}, 120_000);
afterAll(async () => {
  await sts?.close();
  await issuer?.close?.();
  rmSync(tmp, { recursive: true, force: true });
});

const run = (args: string[], env: Record<string, string>, entrypoint = join(dist, 'entrypoint.sh')) =>
  // the image sets the SDK's Node-version notice off (Dockerfile); so does this run
  execa(entrypoint, args, {
    env: { PATH: process.env.PATH!, HOME: tmp, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    extendEnv: false,
    reject: false,
  });

const exampleRepo = () => {
  const repo = join(tmp, 'example');
  if (!existsSync(repo)) execFileSync(process.execPath, [join(ROOT, 'scripts/example-repo.mjs'), 'native', '--out', repo]);
  return repo;
};
const planExample = (env: Record<string, string> = {}, entrypoint?: string) =>
  run([], { MODE: 'plan', ENVIRONMENT: 'staging', BITBUCKET_CLONE_DIR: exampleRepo(), REPORT_FILE: join(tmp, 'report.json'), ...env }, entrypoint);

describe('the shipped bundle', () => {
  it('starts from the startup snapshot: it runs with the bundle file gone', async () => {
    const snapshotOnly = join(tmp, 'snapshot-only');
    cpSync(dist, snapshotOnly, { recursive: true });
    rmSync(join(snapshotOnly, 'pipe.cjs'));
    const r = await planExample({}, join(snapshotOnly, 'entrypoint.sh'));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('✔ Plan: 2 of 4 apps would be deployed');
  });

  it('starts from the bundle when NODE_OPTIONS is set (V8 refuses the snapshot with other flags)', async () => {
    const direct = await execa(process.execPath, ['--max-old-space-size=256', '--snapshot-blob', join(dist, 'pipe.blob'), join(dist, 'main.js'), '--version'], { reject: false });
    expect(direct.exitCode).not.toBe(0);
    const r = await planExample({ NODE_OPTIONS: '--max-old-space-size=256' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('✔ Plan: 2 of 4 apps would be deployed');
  });

  it('exchanges the OIDC token with STS and prints an ExecCredential (eks-token)', async () => {
    const oidc = await issuer.mint({}, { deployment: true });
    const r = await run(['eks-token', '--cluster-name', 'prod', '--region', 'eu-west-1'], {
      AWS_OIDC_ROLE_ARN: ROLE,
      BITBUCKET_STEP_OIDC_TOKEN: oidc,
      AWS_ENDPOINT_URL_STS: sts.url,
    });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const cred = JSON.parse(r.stdout);
    expect(cred).toMatchObject({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1beta1' });
    expect(await sts.verifyEksToken(cred.status.token, 'prod')).toMatchObject({ arn: expect.stringContaining(':assumed-role/deploy/') });
  });

  it('plans the example', async () => {
    const r = await planExample();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('✔ Plan: 2 of 4 apps would be deployed');
  });

  it('publishes the Code Insights report from the snapshot (HTTP through the proxy is loaded at run time)', async () => {
    const proxy = await startBitbucketProxy();
    try {
      const head = execFileSync('git', ['-C', exampleRepo(), 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
      const r = await planExample({ BITBUCKET_PIPELINE_UUID: '{1}', BITBUCKET_COMMIT: head, BITBUCKET_REPO_FULL_NAME: 'acme/platform-apps', CODE_INSIGHTS_PROXY: proxy.url });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Code Insights report "App of Apps plan: staging" published on ${head.slice(0, 12)}`);
      expect(proxy.requests.map((q) => q.method)).toEqual(['DELETE', 'PUT']);
      expect(proxy.requests[1]!.body).toMatchObject({ result: 'PASSED', title: 'App of Apps plan: staging' });
      expect((proxy.requests[1]!.body as { details: string }).details).toMatch(/^2 apps of 4 would be deployed: (web, admin|admin, web)\.$/);
    } finally {
      await proxy.close();
    }
  });
});
