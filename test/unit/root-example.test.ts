import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { git, load, loadAt, tempDir, writeFiles } from '../fixtures/root/repo.js';

const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'example-repo.mjs');
const exampleRepo = (...args: string[]) => execFileSync('node', [script, ...args]).toString().trim();

describe('examples/ as git repositories (scripts/example-repo.mjs)', () => {
  it('native: three commits, the last one changes the shared kustomize base; the root loads for both environments', async () => {
    const out = join(tempDir(), 'native');
    expect(exampleRepo('native', '--out', out)).toBe(out);
    expect(git(out, 'log', '--format=%s')).toBe('web-service base: add a readiness probe\napi: release 1.4.1\nnative example: initial layout');
    expect(git(out, 'diff', '--name-only', 'HEAD~1', 'HEAD')).toBe('bases/web-service/deployment.yaml');
    expect(git(out, 'status', '--porcelain')).toBe('');

    const production = await load(out, 'app-of-apps.yaml', { environment: 'production' });
    expect(production.apps.map((a) => [a.name, a.type, a.path])).toEqual([
      ['platform-config', 'directory', 'apps/platform-config'],
      ['api', 'helm', 'apps/api'],
      ['web', 'kustomize', 'apps/web/overlays/production'],
    ]);
    expect(production.disabled).toEqual(['admin']);
    const staging = await load(out, 'app-of-apps.yaml', { environment: 'staging' });
    expect(staging.apps.map((a) => a.name)).toEqual(['platform-config', 'api', 'web', 'admin']);
    expect(staging.apps[1]!.helm?.valueFiles).toEqual(['apps/api/values-staging.yaml']);

    // the root did not change in the last commit: same definitions at the base
    const base = await loadAt(out, 'HEAD~1', 'app-of-apps.yaml', { environment: 'staging' });
    expect(base).toEqual(staging);
  });

  it('argocd: both roots list every child, with the reason for the ones that cannot be rendered', async () => {
    const out = join(tempDir(), 'argocd');
    exampleRepo('argocd', `--out=${out}`);
    expect(git(out, 'diff', '--name-only', 'HEAD~1', 'HEAD')).toBe('frontend/values-live.yaml');
    const repoUrls = [git(out, 'remote', 'get-url', 'origin')];

    const directory = await load(out, 'applications', { repoUrls });
    expect(directory.apps.map((a) => `${a.name}:${a.type}`)).toEqual(['catalog:directory', 'checkout:kustomize', 'frontend:helm']);
    expect(directory.unsupported.map((u) => `${u.name}:${u.source}`)).toEqual(['ingress-nginx:remote chart', 'reports:jsonnet']);

    const chart = await load(out, 'apps', { repoUrls, environment: 'production' });
    expect(chart.apps.map((a) => `${a.name}:${a.type}:${a.syncWave}`)).toEqual(['catalog:directory:0', 'checkout:kustomize:1', 'frontend:helm:2']);
    expect(chart.apps[2]!.helm?.parameters).toEqual([{ name: 'replicas', value: '5' }]);
    expect(chart.unsupported.map((u) => `${u.name}:${u.source}`)).toEqual(['reports:jsonnet']);
    expect(await loadAt(out, 'HEAD~1', 'apps', { repoUrls, environment: 'production' })).toEqual(chart);
  });

  it('is idempotent and refuses a directory it did not make', () => {
    const out = join(tempDir(), 'again');
    exampleRepo('native', '--out', out);
    const first = git(out, 'rev-parse', 'HEAD');
    exampleRepo('native', '--out', out);
    expect(git(out, 'rev-parse', 'HEAD')).toBe(first);

    const foreign = tempDir();
    writeFiles(foreign, { 'keep.txt': 'mine' });
    const r = spawnSync('node', [script, 'native', '--out', foreign]);
    expect(r.status).toBe(2);
    expect(r.stderr.toString()).toContain('was not made by this script');
    expect(spawnSync('node', [script, 'nope']).stderr.toString()).toContain('unknown example "nope" (known: native, argocd)');
  });
});
