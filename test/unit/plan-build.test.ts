import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { throughLinks } from '../../src/plan/dependencies.js';
import { buildPlan } from '../../src/plan/index.js';
import type { DeployedState, Plan } from '../../src/plan/model.js';
import { loadRoot } from '../../src/root/index.js';
import { memoryLogger } from '../../src/report/logger.js';
import { Git } from '../../src/util/git.js';
import { toolPath } from '../../src/util/tools.js';
import { GitTree, WorkTree, type Tree } from '../../src/util/tree.js';
import { TestRepo } from '../support/repo.js';

const K = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n';
const CM = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}}\ndata: {a: "1"}\n`;

const ROOT = `apiVersion: app-of-apps/v1
kind: Root
defaults: { namespace: shop }
environments:
  staging: {}
  production: {}
apps:
  - name: config
    path: apps/config
  - name: api
    path: apps/api
    dependsOn: [config]
    environments:
      staging: { helm: { valueFiles: [../../envs/staging/api.yaml] } }
      production: { helm: { valueFiles: [../../envs/production/api.yaml] } }
  - name: web
    path: apps/web/base
    overlays: { production: apps/web/overlays/production }
    dependsOn: [api]
  - name: admin
    path: apps/admin
  - name: worker
    path: apps/worker
    watch: [shared/config/**]
`;

const FILES: Record<string, string> = {
  'app-of-apps.yaml': ROOT,
  'apps/config/cm.yaml': CM('config'),
  'apps/api/Chart.yaml': 'apiVersion: v2\nname: api\nversion: 1.0.0\n',
  'apps/api/templates/cm.yaml': CM('api'),
  'envs/staging/api.yaml': 'replicas: 1\n',
  'envs/production/api.yaml': 'replicas: 3\n',
  'bases/web-service/kustomization.yaml': `${K}resources: [deployment.yaml]\n`,
  'bases/web-service/deployment.yaml': CM('web-service'),
  'apps/web/base/kustomization.yaml': `${K}resources:\n  - ../../../bases/web-service\n`,
  'apps/web/overlays/production/kustomization.yaml': `${K}resources:\n  - ../../base\n`,
  'apps/admin/kustomization.yaml': `${K}resources:\n  - ../../bases/web-service\n`,
  'apps/worker/cm.yaml': CM('worker'),
  'shared/config/settings.yaml': 'x: 1\n',
};

describe('buildPlan with the real root loader', () => {
  let repo: TestRepo;
  let tmp: string;
  let rootLoads: string[];
  beforeAll(() => {
    repo = new TestRepo().write(FILES);
    repo.commit('initial');
    tmp = mkdtempSync(join(tmpdir(), 'plan-build-'));
  });
  afterAll(() => {
    repo.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function plan(opts: { environment?: string; apps?: string[]; force?: boolean; deployed?: DeployedState } = {}): Promise<Plan> {
    const git = new Git(repo.dir);
    const environment = opts.environment ?? 'production';
    const load = (tree: Tree) => loadRoot({ tree, path: 'app-of-apps.yaml', environment, repoUrls: [], helmBin: toolPath('helm'), tmpDir: tmp });
    rootLoads = [];
    return buildPlan({
      git,
      workspace: repo.dir,
      root: await load(new WorkTree(repo.dir)),
      loadRootAt: (rev) => {
        rootLoads.push(rev);
        return load(new GitTree(git, rev));
      },
      config: { apps: opts.apps ?? [], force: opts.force ?? false, environment },
      build: {},
      deployed: opts.deployed,
      logger: memoryLogger(),
    });
  }
  const statuses = (p: Plan) => Object.fromEntries(p.apps.map((c) => [c.app.name, c.status]));
  const changed = (p: Plan) => Object.fromEntries(p.apps.filter((c) => c.status !== 'unchanged').map((c) => [c.app.name, c.reasons]));

  it('a shared base change deploys exactly the apps built on it, without reading the root at the base', async () => {
    const head = repo.write({ 'bases/web-service/deployment.yaml': CM('web-service-2') }).commit('base');
    const p = await plan();
    expect(p).toMatchObject({ head, baseSource: 'parent commit', environment: 'production', removed: [] });
    expect(changed(p)).toEqual({
      web: ['kustomize base bases/web-service/deployment.yaml changed'],
      admin: ['kustomize base bases/web-service/deployment.yaml changed'],
    });
    expect(p.layers).toEqual([['admin', 'web']]);
    expect(p.apps.map((c) => c.app.name)).toEqual(['admin', 'config', 'worker', 'api', 'web']);
    expect(rootLoads).toEqual([]);
  });

  it('an edited root entry changes exactly that app', async () => {
    repo.write({ 'app-of-apps.yaml': ROOT.replace('    path: apps/admin\n', '    path: apps/admin\n    namespace: backoffice\n') }).commit('admin namespace');
    const p = await plan();
    expect(changed(p)).toEqual({ admin: ['root entry changed'] });
    expect(rootLoads).toHaveLength(1);
  });

  it('values files and watch globs count, per environment', async () => {
    repo.write({ 'envs/staging/api.yaml': 'replicas: 2\n', 'shared/config/settings.yaml': 'x: 2\n' }).commit('staging values');
    expect(changed(await plan())).toEqual({ worker: ['watched path shared/config/settings.yaml changed (watch: shared/config/**)'] });
    expect(changed(await plan({ environment: 'staging' }))).toEqual({
      api: ['values file envs/staging/api.yaml changed'],
      worker: ['watched path shared/config/settings.yaml changed (watch: shared/config/**)'],
    });
  });

  it('reports a removed app and a new one', async () => {
    const next = ROOT.replace('  - name: admin\n    path: apps/admin\n', '  - name: billing\n    path: apps/billing\n');
    repo.write({ 'app-of-apps.yaml': next, 'apps/billing/cm.yaml': CM('billing') }).commit('admin out, billing in');
    const p = await plan();
    expect(p.removed).toEqual(['admin']);
    expect(statuses(p)).toMatchObject({ billing: 'new', config: 'unchanged', api: 'unchanged', web: 'unchanged', worker: 'unchanged' });
  });

  it('compares each app with its deployed commit, so a skipped pipeline forgets nothing', async () => {
    const log = repo.git('rev-list', 'HEAD').split('\n');
    const deployed: DeployedState = {
      source: 'test ledger',
      apps: new Map([
        // web was last deployed before the shared base changed, four commits ago
        ['web', { app: 'web', commit: log[4]! }],
        ['api', { app: 'api', commit: log[0]! }],
        ['config', { app: 'config', commit: log[0]! }],
      ]),
    };
    const p = await plan({ deployed });
    expect(p.baseSource).toBe('ledger');
    expect(statuses(p)).toEqual({ config: 'unchanged', api: 'unchanged', web: 'changed', worker: 'new', billing: 'new' });
    expect(p.apps.find((c) => c.app.name === 'web')!.base).toBe(log[4]);
    expect(p.layers).toEqual([['billing', 'web', 'worker']]);
  });

  it('APPS and FORCE', async () => {
    const p = await plan({ apps: ['api', 'web'], force: true });
    expect(statuses(p)).toEqual({ config: 'skipped', worker: 'skipped', billing: 'skipped', api: 'forced', web: 'forced' });
    expect(p.layers).toEqual([['api'], ['web']]);
  });
});

describe('buildPlan when the root at the base is missing or broken', () => {
  const SMALL = 'apiVersion: app-of-apps/v1\nkind: Root\napps:\n  - name: one\n    path: apps/one\n';

  async function planOf(repo: TestRepo): Promise<Plan> {
    const tmp = mkdtempSync(join(tmpdir(), 'plan-build-'));
    try {
      const git = new Git(repo.dir);
      const load = (tree: Tree) => loadRoot({ tree, path: 'app-of-apps.yaml', repoUrls: [], helmBin: toolPath('helm'), tmpDir: tmp });
      return await buildPlan({
        git,
        workspace: repo.dir,
        root: await load(new WorkTree(repo.dir)),
        loadRootAt: (rev) => load(new GitTree(git, rev)),
        config: { apps: [], force: false },
        build: {},
        logger: memoryLogger(),
      });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  it('every app is new when the root manifest was added since the base', async () => {
    const repo = new TestRepo().write({ 'apps/one/cm.yaml': CM('one') });
    const base = repo.commit('apps first');
    repo.write({ 'app-of-apps.yaml': SMALL }).commit('then the root');
    try {
      const p = await planOf(repo);
      expect(p.apps.map((c) => [c.app.name, c.status, c.reasons])).toEqual([['one', 'new', [`new app: the root manifest did not exist at ${base.slice(0, 12)}`]]]);
    } finally {
      repo.cleanup();
    }
  });

  it('a root that cannot be read at the base counts every entry as changed, and says why', async () => {
    const repo = new TestRepo().write({ 'apps/one/cm.yaml': CM('one'), 'app-of-apps.yaml': `${SMALL}  - name: [broken\n` });
    const base = repo.commit('broken root');
    repo.write({ 'app-of-apps.yaml': SMALL }).commit('fixed');
    try {
      const [one] = (await planOf(repo)).apps;
      expect(one!.status).toBe('changed');
      expect(one!.reasons[0]).toMatch(new RegExp(`^root entry compared as changed: the root manifest at ${base.slice(0, 12)} could not be read \\(app-of-apps\\.yaml:\\d+:\\d+: `));
    } finally {
      repo.cleanup();
    }
  });
});

describe('buildPlan with symbolic links inside the repository (the renderers follow them)', () => {
  const LINKED = `apiVersion: app-of-apps/v1
kind: Root
apps:
  - name: plain
    path: apps/plain
  - name: kust
    path: apps/kust
  - name: chart
    path: apps/chart
  - name: prod
    path: envs/production
`;

  it('a change below a link target changes the apps that reach it through the link, and says so', async () => {
    const repo = new TestRepo().write({
      'app-of-apps.yaml': LINKED,
      'shared/cm.yaml': CM('shared'),
      'shared/kbase/kustomization.yaml': `${K}resources: [cm.yaml, ../common]\n`,
      'shared/common/kustomization.yaml': `${K}resources: [cm.yaml]\n`,
      'shared/common/cm.yaml': CM('common'),
      'shared/kbase/cm.yaml': CM('kbase'),
      'apps/kust/kustomization.yaml': `${K}resources: [base]\n`,
      'libs/lib/Chart.yaml': 'apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n',
      'libs/lib/templates/_x.tpl': '{{- define "x" }}x{{ end }}\n',
      'apps/chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 0.1.0\n',
      'apps/chart/templates/cm.yaml': CM('chart'),
      'envs/staging/cm.yaml': CM('env'),
      'apps/plain/own.yaml': CM('own'),
    });
    // a file, a kustomize base, a vendored subchart and a whole environment folder, each a link
    symlinkSync('../../shared/cm.yaml', join(repo.dir, 'apps/plain/cm.yaml'));
    symlinkSync('../../shared/kbase', join(repo.dir, 'apps/kust/base'));
    mkdirSync(join(repo.dir, 'apps/chart/charts'));
    symlinkSync('../../../libs/lib', join(repo.dir, 'apps/chart/charts/lib'));
    symlinkSync('staging', join(repo.dir, 'envs/production'));
    repo.commit('links');
    const plan = async () => {
      const tmp = mkdtempSync(join(tmpdir(), 'plan-build-'));
      try {
        const git = new Git(repo.dir);
        const load = (tree: Tree) => loadRoot({ tree, path: 'app-of-apps.yaml', repoUrls: [], helmBin: toolPath('helm'), tmpDir: tmp });
        const p = await buildPlan({ git, workspace: repo.dir, root: await load(new WorkTree(repo.dir)), loadRootAt: (rev) => load(new GitTree(git, rev)), config: { apps: [], force: false }, build: {}, logger: memoryLogger() });
        return Object.fromEntries(p.apps.filter((c) => c.status !== 'unchanged').map((c) => [c.app.name, c.reasons]));
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    };
    try {
      repo.write({ 'shared/cm.yaml': CM('shared-2'), 'shared/kbase/cm.yaml': CM('kbase-2') }).commit('shared');
      expect(await plan()).toEqual({
        plain: ['shared/cm.yaml changed (seen through the symbolic link apps/plain/cm.yaml)'],
        // (one reason per file: the base reference through the link, or the link itself)
        kust: ['kustomize base shared/kbase/cm.yaml changed'],
      });
      repo.write({ 'libs/lib/templates/_x.tpl': '{{- define "x" }}y{{ end }}\n', 'envs/staging/cm.yaml': CM('env-2') }).commit('lib and staging');
      expect(await plan()).toEqual({
        chart: ['libs/lib/templates/_x.tpl changed (seen through the symbolic link apps/chart/charts/lib)'],
        prod: ['envs/staging/cm.yaml changed (seen through the symbolic link envs/production)'],
      });
      // a base reached from inside the link's target: the link leads where its target leads
      repo.write({ 'shared/common/cm.yaml': CM('common-2') }).commit('common');
      expect(await plan()).toEqual({ kust: ['kustomize base shared/common/cm.yaml changed'] });
      repo.write({ 'shared/other.yaml': CM('other') }).commit('unrelated');
      expect(await plan()).toEqual({});
    } finally {
      repo.cleanup();
    }
  });

  it('throughLinks: chains of links, a link to its own folder (bounded), a link to the top', () => {
    const links = [
      { path: 'a/lib', target: 'b/lib' },
      { path: 'b/lib', target: 'c' },
      { path: 'loop/again', target: 'loop' },
    ];
    const { files, via } = throughLinks(['c/x.yaml', 'loop/y.yaml'], links);
    expect(files).toContain('b/lib/x.yaml');
    expect(files).toContain('a/lib/x.yaml');
    expect(via.get('a/lib/x.yaml')).toEqual({ file: 'c/x.yaml', link: 'b/lib', hops: 2 });
    expect(files.filter((f) => f.startsWith('loop/'))).toEqual(['loop/y.yaml', 'loop/again/y.yaml', 'loop/again/again/y.yaml', 'loop/again/again/again/y.yaml', 'loop/again/again/again/again/y.yaml']);
    expect(throughLinks(['x.yaml'], [{ path: 'mirror', target: '' }]).files).toEqual(['x.yaml', 'mirror/x.yaml', 'mirror/mirror/x.yaml', 'mirror/mirror/mirror/x.yaml', 'mirror/mirror/mirror/mirror/x.yaml']);
    expect(throughLinks(['x.yaml'], []).files).toEqual(['x.yaml']);
  });
});

describe('buildPlan with an Argo CD root rendered by helm', () => {
  const REPO_URL = 'https://bitbucket.org/acme/gitops.git';
  const values = (bNamespace: string) =>
    `repoURL: ${REPO_URL}\napps:\n  - { name: a, path: apps/a, namespace: a }\n  - { name: b, path: apps/b, namespace: ${bNamespace} }\n`;
  const TEMPLATE = `{{- range .Values.apps }}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: { name: {{ .name }}, namespace: argocd }
spec:
  project: default
  source: { repoURL: {{ $.Values.repoURL }}, targetRevision: HEAD, path: {{ .path }} }
  destination: { server: https://kubernetes.default.svc, namespace: {{ .namespace }} }
{{- end }}
`;

  // the chart in a folder of its own, or at the top of the repository (ROOT_MANIFEST=.)
  it.each([
    ['root', 'root/'],
    ['.', ''],
  ])('a change to the root chart (ROOT_MANIFEST=%s) changes only the children whose rendered Application differs', async (rootPath, prefix) => {
    const repo = new TestRepo().write({
      [`${prefix}Chart.yaml`]: 'apiVersion: v2\nname: root\nversion: 0.1.0\n',
      [`${prefix}templates/apps.yaml`]: TEMPLATE,
      [`${prefix}values.yaml`]: values('b'),
      'apps/a/cm.yaml': CM('a'),
      'apps/b/cm.yaml': CM('b'),
    });
    repo.commit('initial');
    repo.write({ [`${prefix}values.yaml`]: values('b-moved') }).commit('b moves');
    const tmp = mkdtempSync(join(tmpdir(), 'plan-build-'));
    try {
      const git = new Git(repo.dir);
      const load = (tree: Tree) => loadRoot({ tree, path: rootPath, repoUrls: [REPO_URL], helmBin: toolPath('helm'), tmpDir: tmp });
      const root = await load(new WorkTree(repo.dir));
      expect(root.format).toBe('argocd-helm');
      const p = await buildPlan({
        git,
        workspace: repo.dir,
        root,
        loadRootAt: (rev) => load(new GitTree(git, rev)),
        config: { apps: [], force: false },
        build: {},
        logger: memoryLogger(),
      });
      expect(p.apps.map((c) => [c.app.name, c.status, c.reasons])).toEqual([
        ['a', 'unchanged', []],
        ['b', 'changed', ['root entry changed']],
      ]);
    } finally {
      repo.cleanup();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
