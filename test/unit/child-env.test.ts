// The tools the pipe runs (git, helm, kubectl kustomize) never see its credentials; a kubeconfig's
// credential plugin, which may need them, does when asked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runTool } from '../../src/util/exec.js';
import { mask } from '../../src/report/mask.js';
import { Git } from '../../src/util/git.js';

const secrets = {
  BITBUCKET_STEP_OIDC_TOKEN: 'oidc-token-value-for-the-test',
  AWS_ACCESS_KEY_ID: 'AKIATESTCHILDENV0001',
  AWS_SECRET_ACCESS_KEY: 'secret-access-key-for-the-test',
  AWS_SESSION_TOKEN: 'session-token-for-the-test',
  KUBE_CONFIG: 'a3ViZWNvbmZpZy1mb3ItdGhlLXRlc3Q=',
};
const dir = mkdtempSync(join(tmpdir(), 'aoa-child-env-'));
beforeAll(() => {
  Object.assign(process.env, secrets);
  execFileSync('git', ['init', '-q', dir]);
});
afterAll(() => {
  for (const name of Object.keys(secrets)) delete process.env[name];
  rmSync(dir, { recursive: true, force: true });
});

const leaked = (env: string) => Object.values(secrets).filter((v) => env.includes(v));

it('a tool run gets no credential variables, and keeps the rest of the environment', async () => {
  const r = await runTool('sh', ['-c', 'env'], { env: { EXTRA: 'given' } });
  expect(leaked(r.stdout)).toEqual([]);
  expect(r.stdout).toContain('EXTRA=given');
  expect(r.stdout).toContain(`PATH=${process.env.PATH}`);
});

it('git gets none either', async () => {
  const out = await new Git(dir).run(['-c', 'alias.showenv=!env', 'showenv']);
  expect(leaked(out)).toEqual([]);
  expect(out).toContain('GIT_TERMINAL_PROMPT=0');
});

it('a credential plugin gets the AWS and OIDC ones when the caller says it needs them, never KUBE_CONFIG', async () => {
  const r = await runTool('sh', ['-c', 'env'], { withCredentials: true });
  const { KUBE_CONFIG, ...forPlugins } = secrets;
  expect(leaked(r.stdout).sort()).toEqual(Object.values(forPlugins).sort());
  expect(r.stdout).not.toContain(KUBE_CONFIG);
  // what it prints of them (a verbose error, its environment) is masked
  expect(mask(r.stdout).includes(secrets.AWS_SECRET_ACCESS_KEY)).toBe(false);
  expect(mask(`${secrets.AWS_SECRET_ACCESS_KEY} ${secrets.AWS_SESSION_TOKEN} ${secrets.BITBUCKET_STEP_OIDC_TOKEN}`)).toBe('**** **** ****');
});
