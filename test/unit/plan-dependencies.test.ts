import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../src/plan/decide.js';
import { analyzeDependencies, gitManifestSearch } from '../../src/plan/dependencies.js';
import type { App } from '../../src/root/model.js';
import { Git } from '../../src/util/git.js';
import { isRemote } from '../../src/util/source-files.js';
import { WorkTree } from '../../src/util/tree.js';
import { TestRepo } from '../support/repo.js';
import { app, root } from './plan-support.js';

const K = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n';
const CM = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n';

const FILES: Record<string, string> = {
  'libs/base/kustomization.yaml': `${K}resources:\n  - deploy.yaml\n`,
  'libs/base/deploy.yaml': CM,
  'libs/base/README.md': 'the shared base\n',
  'libs/other/kustomization.yml': `${K}resources: [x.yaml]\n`,
  'libs/other/x.yaml': CM,
  'libs/unused/kustomization.yaml': `${K}resources: [u.yaml]\n`,
  'libs/unused/u.yaml': CM,
  // an overlay on its own base, which uses the shared base
  'apps/a/overlays/prod/kustomization.yaml': `${K}resources:\n  - ../../base\npatches:\n  - path: patch.yaml\n`,
  'apps/a/overlays/prod/patch.yaml': CM,
  'apps/a/base/kustomization.yaml': `${K}resources:\n  - "../../../libs/base/"\n  - svc.yaml\n`,
  'apps/a/base/svc.yaml': CM,
  'apps/b/Kustomization': `${K}bases: ['../../libs/base']\n`,
  'apps/c/kustomization.yaml': `${K}resources:\n- ../../libs/other\n`,
  'apps/d/kustomization.yaml': `${K}components: [../../components/monitoring]\nconfigMapGenerator:\n  - name: cfg\n    files: [app.properties=../../config/shared.properties]\n    envs: [../../config/env.txt]\n`,
  'components/monitoring/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [sm.yaml]\n',
  'components/monitoring/sm.yaml': CM,
  'config/shared.properties': 'a=b\n',
  'config/env.txt': 'X=1\n',
  // a ".."-only reference names no folder
  'apps/f/kustomization.yaml': `${K}resources: [svc.yaml]\n`,
  'apps/f/svc.yaml': CM,
  'apps/f/overlays/x/kustomization.yaml': `${K}resources:\n  - ../..\n`,
  // a chart with a local dependency that has its own local dependency
  'apps/h/Chart.yaml': 'apiVersion: v2\nname: h\nversion: 1.0.0\ndependencies:\n  - name: common\n    version: 1.0.0\n    repository: file://../../charts/common\n',
  'apps/h/templates/cm.yaml': CM,
  'charts/common/Chart.yaml': 'apiVersion: v2\nname: common\nversion: 1.0.0\ndependencies:\n  - name: lib\n    version: 1.0.0\n    repository: "file://../lib"\n',
  'charts/lib/Chart.yaml': 'apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n',
  'charts/lib/templates/_x.tpl': '{{- define "x" }}x{{ end }}\n',
  'charts/unrelated/Chart.yaml': 'apiVersion: v2\nname: unrelated\nversion: 1.0.0\n',
  'envs/prod/h.yaml': 'replicas: 2\n',
  'envs/prod/other.yaml': 'replicas: 3\n',
  // remote resources are noted, not watched
  'apps/r/kustomization.yaml': `${K}resources:\n  - https://github.com/org/repo//deploy?ref=v1\n  - github.com/org/other/deploy\n  - local.yaml\n`,
  'apps/r/local.yaml': CM,
  // a folder above reaches its subfolder without ".."
  'apps/nest/kustomization.yaml': `${K}resources:\n  - inner\n`,
  'apps/nest/inner/kustomization.yaml': `${K}resources:\n  - ../../../libs/other\n`,
  'apps/plain/cm.yaml': CM,
  'apps/plain/sub/cm.yaml': CM,
};

const APPS: App[] = [
  app('a', { type: 'kustomize', path: 'apps/a/overlays/prod' }),
  app('b', { type: 'kustomize', path: 'apps/b' }),
  app('c', { type: 'kustomize', path: 'apps/c' }),
  app('d', { type: 'kustomize', path: 'apps/d' }),
  app('f', { type: 'kustomize', path: 'apps/f/overlays/x' }),
  app('h', { type: 'helm', path: 'apps/h', helm: { releaseName: 'h', valueFiles: ['envs/prod/h.yaml'], parameters: [], missingValueFiles: ['envs/prod/optional.yaml'] } }),
  app('r', { type: 'kustomize', path: 'apps/r' }),
  app('nest', { type: 'kustomize', path: 'apps/nest' }),
  app('plain', { path: 'apps/plain', directory: { recurse: false } }),
  app('watcher', { path: 'apps/watcher', watch: ['config/*.properties'] }),
];

describe('analyzeDependencies (a real repository, git grep)', () => {
  let repo: TestRepo;
  let git: Git;
  beforeAll(() => {
    repo = new TestRepo().write(FILES);
    repo.commit('initial');
    git = new Git(repo.dir);
  });
  afterAll(() => repo.cleanup());

  async function changedApps(files: string[]) {
    const tree = new WorkTree(repo.dir);
    const read: string[] = [];
    const counting = Object.assign(Object.create(tree) as WorkTree, { read: (f: string) => (read.push(f), tree.read(f)) });
    const analysis = await analyzeDependencies({ apps: APPS, changed: files, tree: counting, search: gitManifestSearch(git) });
    const commit = 'c'.repeat(40);
    const d = decide({
      root: root(APPS),
      base: () => ({ kind: 'commit', commit }),
      changed: new Map([[commit, files]]),
      baseRoots: new Map(),
      deps: analysis.deps,
      force: false,
      only: [],
    });
    const changed = d.changes.filter((c) => c.status === 'changed');
    return { names: changed.map((c) => c.app.name).sort(), reasons: Object.fromEntries(changed.map((c) => [c.app.name, c.reasons])), analysis, read };
  }

  it('a shared base change touches exactly the apps built on it, through a base of a base', async () => {
    const r = await changedApps(['libs/base/deploy.yaml']);
    expect(r.names).toEqual(['a', 'b']);
    expect(r.reasons.a).toEqual(['kustomize base libs/base/deploy.yaml changed']);
  });

  it('a referenced folder counts as a whole', async () => {
    expect((await changedApps(['libs/base/README.md'])).names).toEqual(['a', 'b']);
    expect((await changedApps(['libs/other/x.yaml'])).names).toEqual(['c', 'nest']);
    expect((await changedApps(['libs/unused/u.yaml'])).names).toEqual([]);
  });

  it('follows components and generator files', async () => {
    expect((await changedApps(['components/monitoring/sm.yaml'])).reasons).toEqual({ d: ['kustomize component components/monitoring/sm.yaml changed'] });
    expect((await changedApps(['config/env.txt'])).names).toEqual(['d']);
    // the watch glob and the generator both read it
    expect((await changedApps(['config/shared.properties'])).names).toEqual(['d', 'watcher']);
  });

  it('follows a reference made only of ".."', async () => {
    expect((await changedApps(['apps/f/svc.yaml'])).reasons).toEqual({ f: ['kustomize base apps/f/svc.yaml changed'] });
  });

  it('follows helm file:// dependencies recursively, and values files', async () => {
    expect((await changedApps(['charts/lib/templates/_x.tpl'])).reasons).toEqual({ h: ['chart dependency charts/lib/templates/_x.tpl changed'] });
    expect((await changedApps(['envs/prod/h.yaml'])).reasons).toEqual({ h: ['values file envs/prod/h.yaml changed'] });
    expect((await changedApps(['envs/prod/other.yaml', 'charts/unrelated/Chart.yaml'])).names).toEqual([]);
    // a values file the Application lists but that is absent (ignoreMissingValueFiles) was deleted, or comes back
    expect((await changedApps(['envs/prod/optional.yaml'])).reasons).toEqual({ h: ['values file envs/prod/optional.yaml changed'] });
  });

  it('changes in an app\'s own folder need no manifest to say so', async () => {
    expect((await changedApps(['apps/a/overlays/prod/patch.yaml', 'apps/a/base/svc.yaml'])).reasons).toEqual({
      a: ['apps/a/overlays/prod/patch.yaml changed', 'kustomize base apps/a/base/svc.yaml changed'],
    });
    // a non-recursive directory app ignores its subfolders
    expect((await changedApps(['apps/plain/sub/cm.yaml'])).names).toEqual([]);
    expect((await changedApps(['apps/plain/cm.yaml'])).names).toEqual(['plain']);
  });

  it('reads whole only the manifests above a folder that leads to a change', async () => {
    const r = await changedApps(['libs/other/x.yaml']);
    expect(r.reasons).toEqual({ c: ['kustomize base libs/other/x.yaml changed'], nest: ['kustomize base libs/other/x.yaml changed'] });
    // apps/nest's manifest alone is read whole: it may name "inner" without ".."
    expect(r.read).toEqual(['apps/nest/kustomization.yaml']);
    // git grep hands over the lines with "..", "://", "git@" or "?ref=" and their fields, far from all lines
    const manifestLines = Object.entries(FILES).flatMap(([f, t]) => (/(kustomization\.ya?ml|Kustomization|Chart\.yaml)$/.test(f) ? t.split('\n') : []));
    const outward = manifestLines.filter((l) => /\.\.|:\/\/|git@|\?ref=/.test(l)).length;
    const nest = FILES['apps/nest/kustomization.yaml']!.split('\n').length;
    expect(r.analysis.lines).toBeGreaterThanOrEqual(outward + nest);
    expect(r.analysis.lines).toBeLessThan(manifestLines.length / 2);
    expect((await changedApps([])).analysis.lines).toBe(0);
  });

  it('notes remote resources, which it cannot watch', async () => {
    const { analysis } = await changedApps(['apps/r/local.yaml']);
    // (a remote written as host/org/repo without a scheme or ?ref= is not recognised)
    expect(analysis.notes).toEqual(['apps/r/kustomization.yaml uses the remote resource https://github.com/org/repo//deploy?ref=v1, which is not watched for changes']);
  });

  it('tells remote kustomize references (fetched by kustomize) from paths in the repository', () => {
    for (const ref of ['https://github.com/org/repo//path?ref=v1', 'github.com/org/repo/path?ref=v1', 'git@github.com:org/repo.git//path', 'ssh://git@bitbucket.org/org/repo.git', 'github.com/org/repo/path']) {
      expect(isRemote(ref), ref).toBe(true);
    }
    for (const ref of ['../../bases/web', 'deploy.yaml', 'file://../base', 'overlays/prod.v2/x']) expect(isRemote(ref), ref).toBe(false);
  });

  it('reads references in any YAML style, and not in comments', async () => {
    const styled = new TestRepo().write({
      'libs/a/kustomization.yaml': `${K}resources: [x.yaml]\n`,
      'libs/b/kustomization.yaml': `${K}resources: [x.yaml]\n`,
      'libs/c/kustomization.yaml': `${K}resources: [x.yaml]\n`,
      'libs/d/kustomization.yaml': `${K}resources: [x.yaml]\n`,
      'apps/flow/kustomization.yaml': `${K}resources: ["../../libs/a/", '../../libs/b'] # and ../../libs/d\n`,
      'apps/block/kustomization.yaml': `${K}# - ../../libs/d\nconfigMapGenerator:\n  - name: x\n    files:\n      - key=../../libs/c/x.yaml\n`,
    });
    styled.commit();
    try {
      const apps = [app('flow', { type: 'kustomize', path: 'apps/flow' }), app('block', { type: 'kustomize', path: 'apps/block' })];
      const deps = async (changed: string[]) => {
        const a = await analyzeDependencies({ apps, changed, tree: new WorkTree(styled.dir), search: gitManifestSearch(new Git(styled.dir)) });
        return Object.fromEntries([...a.deps].map(([n, d]) => [n, d.paths]));
      };
      expect(await deps(['libs/a/x.yaml', 'libs/b/x.yaml', 'libs/c/x.yaml', 'libs/d/x.yaml'])).toEqual({
        flow: [
          { path: 'libs/a', kind: 'kustomize base' },
          { path: 'libs/b', kind: 'kustomize base' },
        ],
        block: [{ path: 'libs/c/x.yaml', kind: 'generator input' }],
      });
    } finally {
      styled.cleanup();
    }
  });

  it('a reference to a path inside a changed submodule leads to the submodule', async () => {
    const analysis = await analyzeDependencies({
      apps: [app('k', { type: 'kustomize', path: 'apps/k' })],
      changed: ['vendor/upstream'],
      submodules: ['vendor/upstream'],
      tree: new WorkTree(repo.dir),
      search: {
        outward: async () => [{ file: 'apps/k/kustomization.yaml', line: 3, text: '  - ../../vendor/upstream/deploy/base' }],
        all: async () => ['apps/k/kustomization.yaml'],
        links: async () => [],
        submodules: async () => ['vendor/upstream'],
      },
    });
    expect(analysis.deps.get('k')!.paths).toEqual([{ path: 'vendor/upstream', kind: 'kustomize input' }]);
  });

  it('reads references whose path has a space or a quote in it', async () => {
    const spaced = new TestRepo().write({
      'libs/web base/kustomization.yaml': `${K}resources: [x.yaml]\n`,
      "libs/o'neil/kustomization.yaml": `${K}resources: [x.yaml]\n`,
      'libs/flow base/kustomization.yaml': `${K}resources: [x.yaml]\n`,
      'charts/my lib/Chart.yaml': 'apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n',
      'apps/plain/kustomization.yaml': `${K}resources:\n  - ../../libs/web base\n`,
      'apps/quoted/kustomization.yaml': `${K}resources:\n  - "../../libs/o'neil"\n  - '../../libs/web base'  # both\n`,
      'apps/flow/kustomization.yaml': `${K}resources: [ "../../libs/flow base", ]\npatches:\n  - {path: "../../libs/my patch.yaml"}\n`,
      'libs/my patch.yaml': 'kind: ConfigMap\n',
      'apps/chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 1.0.0\ndependencies:\n  - name: lib\n    version: 1.0.0\n    repository: "file://../../charts/my lib"\n',
    });
    spaced.commit();
    try {
      const apps = ['plain', 'quoted', 'flow'].map((n) => app(n, { type: 'kustomize', path: `apps/${n}` }));
      apps.push(app('chart', { type: 'helm', path: 'apps/chart', helm: { releaseName: 'chart', valueFiles: [], parameters: [] } }));
      const deps = async (changed: string[]) => {
        const a = await analyzeDependencies({ apps, changed, tree: new WorkTree(spaced.dir), search: gitManifestSearch(new Git(spaced.dir)) });
        return Object.fromEntries([...a.deps].filter(([, d]) => d.paths.length).map(([n, d]) => [n, d.paths.map((p) => p.path)]));
      };
      expect(await deps(['libs/web base/x.yaml', "libs/o'neil/x.yaml", 'libs/flow base/x.yaml', 'charts/my lib/templates/_x.tpl', 'libs/my patch.yaml'])).toEqual({
        plain: ['libs/web base'],
        quoted: ["libs/o'neil", 'libs/web base'],
        flow: ['libs/flow base', 'libs/my patch.yaml'],
        chart: ['charts/my lib'],
      });
    } finally {
      spaced.cleanup();
    }
  });
});

describe("files an Argo CD Application's options add (kustomize components, helm fileParameters)", () => {
  const APPLIED: App[] = [
    app('k', { type: 'kustomize', path: 'apps/k', kustomize: { components: ['../../libs/comp'] } }),
    app('hf', { type: 'helm', path: 'apps/hf', helm: { releaseName: 'hf', valueFiles: [], parameters: [], fileParameters: [{ name: 's', path: 'shared/settings.txt' }] } }),
  ];
  let repo: TestRepo;
  beforeAll(() => {
    repo = new TestRepo().write({
      ...FILES,
      'apps/k/kustomization.yaml': `${K}resources: [cm.yaml]\n`,
      'apps/k/cm.yaml': CM,
      // a component that reaches a folder of its own
      'libs/comp/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [../other]\npatches: [{path: patch.yaml}]\n',
      'libs/comp/patch.yaml': CM,
      'apps/hf/Chart.yaml': 'apiVersion: v2\nname: hf\nversion: 1.0.0\n',
      'shared/settings.txt': 'a=1\n',
      'shared/other.txt': 'b=1\n',
    });
    repo.commit('initial');
  });
  afterAll(() => repo.cleanup());

  async function changedApps(files: string[]) {
    const analysis = await analyzeDependencies({ apps: APPLIED, changed: files, tree: new WorkTree(repo.dir), search: gitManifestSearch(new Git(repo.dir)) });
    const commit = 'c'.repeat(40);
    const d = decide({ root: root(APPLIED), base: () => ({ kind: 'commit', commit }), changed: new Map([[commit, files]]), baseRoots: new Map(), deps: analysis.deps, force: false, only: [] });
    const changed = d.changes.filter((c) => c.status === 'changed');
    return Object.fromEntries(changed.map((c) => [c.app.name, c.reasons]));
  }

  it('a component folder outside the app, and what it reaches, make the app changed', async () => {
    expect(await changedApps(['libs/comp/patch.yaml'])).toEqual({ k: ['kustomize component libs/comp/patch.yaml changed'] });
    expect(Object.keys(await changedApps(['libs/other/x.yaml']))).toEqual(['k']);
    expect(await changedApps(['libs/unused/u.yaml'])).toEqual({});
  });

  it('a file named by fileParameters makes the chart changed, and no other file beside it', async () => {
    expect(await changedApps(['shared/settings.txt'])).toEqual({ hf: ['helm file parameter shared/settings.txt changed'] });
    expect(await changedApps(['shared/other.txt'])).toEqual({});
  });
});
