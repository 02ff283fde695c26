import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_FILE_BYTES } from '../../src/util/tree.js';
import { commitAll, inputErrors, load, loadAt, makeRepo, tempDir } from '../fixtures/root/repo.js';

const HEAD = 'apiVersion: app-of-apps/v1\nkind: Root\n';
const APP_FILES = { 'apps/a/x.yaml': 'kind: ConfigMap\n', 'apps/b/x.yaml': 'kind: ConfigMap\n' };

/** Loads `root` (written as r.yaml next to two plain apps) and returns the located errors. */
async function errorsOf(root: string, opts: { environment?: string; files?: Record<string, string> } = {}) {
  const dir = makeRepo({ 'r.yaml': root, ...APP_FILES, ...opts.files });
  return inputErrors(load(dir, 'r.yaml', { environment: opts.environment }));
}

describe('bad native roots fail with file:line and what to do (exit 2)', () => {
  it('malformed YAML', async () => {
    const { located, errors } = await errorsOf(`${HEAD}apps:\n  - name: a\n    path: apps/a: b\n`);
    expect(located).toEqual(['r.yaml:5:11: Nested mappings are not allowed in compact mappings']);
    expect(errors[0]!.exitCode).toBe(2);
    expect(errors[0]!.hint).toContain('YAML syntax');
  });

  it('an empty root, a misspelled apiVersion key, and YAML nested deeper than a parser follows', async () => {
    for (const text of ['', '# nothing yet\n']) {
      const { located, errors } = await errorsOf(text);
      expect(located).toEqual(['r.yaml:1: r.yaml is empty']);
      expect(errors[0]!.hint).toMatch(/^write the root manifest there/);
    }
    // kind: Root is enough to read it as a native root, so the schema says what is wrong
    expect((await errorsOf('apiversion: app-of-apps/v1\nkind: Root\napps: []\n')).located).toEqual([
      'r.yaml:1: "apiVersion" is required',
      'r.yaml:1: unknown key "apiversion" (did you mean "apiVersion"?)',
    ]);
    const deep = await errorsOf(`${HEAD}apps: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`);
    expect(deep.located).toEqual(['r.yaml:3: the YAML is nested too deeply to read']);
    expect(deep.errors[0]!.hint).toMatch(/^nest values less deeply/);
  });

  it('a key written twice', async () => {
    const { located } = await errorsOf(`${HEAD}apps:\n  - name: a\n    path: apps/a\n    path: apps/b\n`);
    expect(located[0]).toMatch(/^r\.yaml:6(:\d+)?: Map keys must be unique/);
  });

  it('a value of the wrong type, and all problems of the file together', async () => {
    const { located, errors } = await errorsOf(`${HEAD}apps:
  - name: a
    path: apps/a
    prune: "yes"
  - name: b
    path: apps/b
    timeout: soon
    syncWave: 1.5
`);
    expect(located).toEqual([
      expect.stringMatching(/^r\.yaml:6: apps\[0\]\.prune: .*expected boolean/),
      expect.stringMatching(/^r\.yaml:9: apps\[1\]\.timeout: expected a duration from 1s to 24h such as 300, 90s, 5m or 1h30m/),
      expect.stringMatching(/^r\.yaml:10: apps\[1\]\.syncWave: .*expected int/),
    ]);
    expect(errors.every((e) => e.exitCode === 2 && e.hint?.includes('docs/root-manifest.md'))).toBe(true);
    // no wait of 0 s (it would fail at once), none over a day, no empty duration
    for (const timeout of ['0s', '"0"', '""', '999999h', '0', '90000']) {
      const bad = await errorsOf(`${HEAD}apps:\n  - name: a\n    path: apps/a\n    timeout: ${timeout}\n`);
      expect(bad.located, timeout).toEqual([expect.stringMatching(/^r\.yaml:6: apps\[0\]\.timeout: expected a duration from 1s to 24h/)]);
    }
  });

  it('unknown keys, with "did you mean" for a near miss', async () => {
    const { located, errors } = await errorsOf(`${HEAD}defaults:
  namespce: web
apps:
  - name: a
    path: apps/a
    helm:
      valueFile: [v.yaml]
    colour: blue
`);
    expect(located).toEqual([
      'r.yaml:4: unknown key "namespce" in defaults (did you mean "namespace"?)',
      'r.yaml:9: unknown key "valueFile" in apps[0].helm (did you mean "valueFiles"?)',
      'r.yaml:10: unknown key "colour" in apps[0]',
    ]);
    expect(errors[0]!.hint).toBe('rename it to "namespace"');
    expect(errors[2]!.hint).toMatch(/^remove it; allowed here: name, path, type, enabled, namespace/);
  });

  it('a missing required key names the entry', async () => {
    const { located } = await errorsOf(`${HEAD}apps:\n  - name: a\n    path: apps/a\n  - name: b\n    namespace: x\n`);
    expect(located).toEqual(['r.yaml:6: "path" is required in apps[1]']);
  });

  it('a wrong apiVersion or kind', async () => {
    const { located } = await errorsOf('apiVersion: app-of-apps/v2\nkind: Root\napps: []\n');
    expect(located[0]).toMatch(/^r\.yaml:1: apiVersion: .*app-of-apps\/v1/);
  });

  it('a second document in a native root', async () => {
    const { located } = await errorsOf(`${HEAD}apps: []\n---\nkind: Other\n`);
    expect(located).toEqual(['r.yaml:5: r.yaml holds 2 YAML documents; a native root (apiVersion app-of-apps/v1) is a single document']);
  });

  it('duplicate app names', async () => {
    const { located } = await errorsOf(`${HEAD}apps:\n  - name: a\n    path: apps/a\n  - name: a\n    path: apps/b\n`);
    expect(located).toEqual(['r.yaml:6: duplicate app name "a" (first declared at r.yaml:4)']);
  });

  it('dependsOn naming no app', async () => {
    const { located, errors } = await errorsOf(`${HEAD}apps:\n  - name: a\n    path: apps/a\n    dependsOn:\n      - b\n      - databse\n  - name: b\n    path: apps/b\n`);
    expect(located).toEqual(['r.yaml:8: app a depends on "databse", which is not an app in r.yaml']);
    expect(errors[0]!.hint).toBe('use one of: a, b');
  });

  const ENVS = `${HEAD}environments:\n  staging: {}\n  production:\napps:\n  - name: a\n    path: apps/a\n`;

  it('ENVIRONMENT not declared: lists the declared ones', async () => {
    const { located, errors } = await errorsOf(ENVS, { environment: 'qa' });
    expect(located).toEqual(['ENVIRONMENT: environment "qa" is not declared in r.yaml:3 (declared: staging, production)']);
    expect(errors[0]!.hint).toContain('set ENVIRONMENT to one of staging, production');
  });

  it('ENVIRONMENT unset although the root declares environments', async () => {
    const { located } = await errorsOf(ENVS);
    expect(located).toEqual(['ENVIRONMENT: r.yaml:3 declares environments staging, production but ENVIRONMENT is not set']);
  });

  it('an overlay or override for an environment the root does not declare', async () => {
    const { located } = await errorsOf(`${ENVS}    overlays:\n      prod: apps/b\n    environments:\n      staging: {}\n      stagin: { enabled: false }\n`, {
      environment: 'staging',
    });
    expect(located).toEqual([
      'r.yaml:10: app a: overlays.prod names an environment that r.yaml does not declare',
      'r.yaml:13: app a: environments.stagin names an environment that r.yaml does not declare',
    ]);
  });

  it('paths that do not exist: path, overlay, values file', async () => {
    const { located, errors } = await errorsOf(
      `${HEAD}environments: { prod: {} }
apps:
  - name: a
    path: apps/nope
  - name: b
    path: apps/b
    overlays:
      prod: apps/b/overlays/prod
  - name: c
    path: chart
    environments:
      prod:
        helm:
          valueFiles: [values-prod.yaml]
  - name: d
    path: apps/a/x.yaml
`,
      { environment: 'prod', files: { 'chart/Chart.yaml': 'apiVersion: v2\nname: c\nversion: 1.0.0\n' } },
    );
    expect(located).toEqual([
      'r.yaml:6: app a: path "apps/nope" does not exist at this commit',
      'r.yaml:10: app b: overlays.prod "apps/b/overlays/prod" does not exist at this commit',
      'r.yaml:16: app c: values file "values-prod.yaml" (chart/values-prod.yaml) does not exist at this commit',
      'r.yaml:18: app d: path "apps/a/x.yaml" is a file, not a directory',
    ]);
    expect(errors[0]!.hint).toContain('fix the path');
  });

  it('paths outside the repository: ../, absolute, values file climbing out, watch glob', async () => {
    const { located } = await errorsOf(`${HEAD}apps:
  - name: a
    path: ../elsewhere
  - name: b
    path: /etc
  - name: c
    path: apps/a
    helm: { valueFiles: [../../../../secret.yaml] }
    type: helm
  - name: d
    path: apps/b
    watch: [../other/**]
`, { files: { 'apps/a/Chart.yaml': 'apiVersion: v2\nname: a\nversion: 1.0.0\n' } });
    expect(located).toEqual([
      'r.yaml:5: path "../elsewhere" is outside the repository',
      'r.yaml:7: path "/etc" is outside the repository',
      'r.yaml:10: "../../../../secret.yaml" (relative to apps/a) is outside the repository',
      'r.yaml:14: app d: watch glob "../other/**" leaves the repository',
    ]);
  });

  it('a symbolic link that leaves the repository', async () => {
    const outside = tempDir('outside-');
    const dir = makeRepo({ 'r.yaml': `${HEAD}apps:\n  - name: a\n    path: apps/link\n`, ...APP_FILES });
    symlinkSync(outside, join(dir, 'apps', 'link'));
    const { located, errors } = await inputErrors(load(dir, 'r.yaml'));
    expect(located).toEqual([expect.stringMatching(/^r\.yaml:5: path "apps\/link" leads outside the repository through a symbolic link/)]);
    expect(errors[0]!.hint).toContain('replace the link');
  });

  it('a YAML alias bomb', async () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [prev, name] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e']]) bomb.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    const { located, errors } = await errorsOf(`${HEAD}apps: []\nx-bomb:\n  ${bomb.join('\n  ')}\n`);
    expect(located).toEqual([expect.stringMatching(/^r\.yaml:6: YAML aliases expand this document to over 100000 values/)]);
    expect(errors[0]!.hint).toContain('anchors and aliases');
  });

  it('a file over the size limit', async () => {
    const { located } = await errorsOf(`${HEAD}apps: []\n#${'x'.repeat(MAX_FILE_BYTES)}\n`);
    expect(located).toEqual([expect.stringMatching(/^r\.yaml: r\.yaml is \d+ bytes, over the 4194304-byte limit/)]);
  });

  it('options for another source type', async () => {
    const { located } = await errorsOf(`${HEAD}apps:\n  - name: a\n    path: apps/a\n    kustomize: { namePrefix: x- }\n`);
    expect(located).toEqual(['r.yaml:6: app a: kustomize options on an app of type directory (apps/a)']);
  });

  it('an explicit type the files do not back', async () => {
    const { located } = await errorsOf(`${HEAD}apps:\n  - name: a\n    path: apps/a\n    type: helm\n`);
    expect(located).toEqual(['r.yaml:6: app a: type helm, but apps/a has no Chart.yaml']);
  });

  it('a namespace the environment does not allow', async () => {
    const { located } = await errorsOf(`${HEAD}environments:\n  prod: { allowedNamespaces: [web, team-*] }\napps:\n  - { name: a, path: apps/a, namespace: team-x }\n  - { name: b, path: apps/b, namespace: kube-system }\n`, {
      environment: 'prod',
    });
    expect(located).toEqual(['r.yaml:7: app b deploys into namespace kube-system, which environment prod does not allow (allowed: web, team-*)']);
  });

  it('a root manifest that does not exist names ROOT_MANIFEST', async () => {
    const dir = makeRepo(APP_FILES);
    const { located, errors } = await inputErrors(load(dir, 'app-of-apps.yaml'));
    expect(located).toEqual(['ROOT_MANIFEST: root manifest app-of-apps.yaml does not exist in the repository']);
    expect(errors[0]!.hint).toContain('a Helm chart that renders them');
  });

  it('at a git revision, a missing path names the revision', async () => {
    const dir = makeRepo({ 'r.yaml': `${HEAD}apps:\n  - name: a\n    path: apps/gone\n`, ...APP_FILES });
    const sha = commitAll(dir);
    const { located } = await inputErrors(loadAt(dir, sha, 'r.yaml'));
    expect(located).toEqual([`r.yaml:5: app a: path "apps/gone" does not exist at revision ${sha.slice(0, 12)}`]);
  });
});

describe('bad Argo CD roots', () => {
  const app = (name: string, path: string, extra = '') =>
    `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: ${name}\n${extra}spec:\n  source:\n    repoURL: https://git.example.com/team/repo.git\n    path: ${path}\n  destination:\n    namespace: x\n`;
  const repoUrls = ['git@git.example.com:team/repo.git'];

  it('a missing path, a path outside, a duplicate name and a bad sync wave, each at its file:line', async () => {
    const dir = makeRepo({
      ...APP_FILES,
      'argo/one.yaml': `${app('a', 'apps/a')}---\n${app('gone', 'apps/gone')}`,
      'argo/two.yaml': `# second file\n${app('a', 'apps/b')}---\n${app('up', '../x')}---\n${app('wave', 'apps/b', '  annotations:\n    argocd.argoproj.io/sync-wave: soon\n')}`,
    });
    const { located } = await inputErrors(load(dir, 'argo', { repoUrls }));
    expect(located).toEqual([
      'argo/one.yaml:19: Application gone: spec.source.path "apps/gone" does not exist in this repository',
      'argo/two.yaml:2: duplicate Application name "a" (first at argo/one.yaml:1)',
      'argo/two.yaml:20: path "../x" is outside the repository',
      'argo/two.yaml:29: Application wave: annotation argocd.argoproj.io/sync-wave is "soon", not a whole number',
    ]);
  });

  it('an object without kind and an Application without name', async () => {
    const dir = makeRepo({ ...APP_FILES, 'apps.yaml': `just: data\n---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {}\nspec: {}\n` });
    const { located } = await inputErrors(load(dir, 'apps.yaml', { repoUrls }));
    expect(located).toEqual(['apps.yaml:1: not a Kubernetes object (no kind)', 'apps.yaml:3: Application without metadata.name']);
  });

  it('a directory without any Application', async () => {
    const dir = makeRepo({ ...APP_FILES });
    const { located } = await inputErrors(load(dir, 'apps/a', { repoUrls }));
    expect(located).toEqual(['ROOT_MANIFEST: apps/a holds no Argo CD Application']);
  });

  it('a root chart that helm cannot render names its Chart.yaml', async () => {
    const dir = makeRepo({ 'root/Chart.yaml': 'apiVersion: v2\nname: root\nversion: 0.1.0\n', 'root/templates/a.yaml': '{{ .Values.missing.deeper }}\n' });
    const { located, errors } = await inputErrors(load(dir, 'root', { repoUrls }));
    expect(located[0]).toMatch(/^root\/Chart\.yaml: helm template of the root chart root failed: [\s\S]*nil pointer evaluating/);
    expect(errors[0]!.hint).toContain('helm template root root');
  });
});
