// The root manifest's environment names its cluster and role: a deploy with no CLUSTER_NAME or
// AWS_OIDC_ROLE_ARN variable uses them (here it stops at the missing OIDC token, before any call).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { committedRepo } from '../support/repo.js';

const top = mkdtempSync(join(tmpdir(), 'aoa-target-'));
afterAll(() => rmSync(top, { recursive: true, force: true }));

it("uses the environment's roleArn and cluster from the root manifest", async () => {
  const repo = join(top, 'native');
  execFileSync(process.execPath, ['scripts/example-repo.mjs', 'native', '--out', repo]);
  const head = execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const r = await runPipe(bitbucketEnv(repo, head, { MODE: 'deploy', BITBUCKET_DEPLOYMENT_ENVIRONMENT: 'staging' }));
  expect(r.exitCode, r.all).toBe(2);
  expect(r.stderr).toMatch(/BITBUCKET_STEP_OIDC_TOKEN/);
  // the role came from the root manifest, not from AWS_OIDC_ROLE_ARN: the message says so
  expect(r.stderr).toContain('BITBUCKET_STEP_OIDC_TOKEN: environments.staging.roleArn in app-of-apps.yaml is set but the step has no OIDC token');
  expect(r.all).not.toContain('AWS_OIDC_ROLE_ARN');
  expect(r.all).toMatch(/oidc: true/);
  expect(r.all).not.toMatch(/needs a cluster|no AWS credentials/);
});

it('without a cluster in the variables or the root, a deploy stops before anything, naming what to set', async () => {
  const { repo, dir, head } = committedRepo({
    'app-of-apps.yaml': 'apiVersion: app-of-apps/v1\nkind: Root\nenvironments:\n  staging: {}\napps:\n  - name: a\n    path: apps/a\n',
    'apps/a/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n',
  });
  const r = await runPipe(bitbucketEnv(dir, head, { MODE: 'deploy', ENVIRONMENT: 'staging' })).finally(() => repo.cleanup());
  expect(r.exitCode, r.all).toBe(2);
  expect(r.stderr).toMatch(/CLUSTER_NAME: MODE=deploy needs a cluster/);
  expect(r.stdout).toMatch(/What to do: .*`cluster` in the root manifest/);
});
