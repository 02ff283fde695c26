import { describe, expect, it } from 'vitest';
import { BatchGitTree } from '../fixtures/root/batch-tree.js';
import { commitAll, git, load, loadAt, makeRepo, writeFiles } from '../fixtures/root/repo.js';

const CHART = 'apiVersion: v2\nname: db\nversion: 0.1.0\n';
const KUSTOMIZATION = 'resources: [deployment.yaml]\n';

/** A small native repo: plain, kustomize with a shared base and overlays, and a helm chart. */
function shop(root: string) {
  return makeRepo({
    'app-of-apps.yaml': root,
    'apps/config/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n',
    'apps/db/Chart.yaml': CHART,
    'apps/db/values.yaml': 'replicas: 1\n',
    'apps/db/values-prod.yaml': 'replicas: 3\n',
    'apps/db/values-stage.yaml': 'replicas: 1\n',
    'shared/values-common.yaml': 'tier: gold\n',
    'bases/web/kustomization.yaml': KUSTOMIZATION,
    'bases/web/deployment.yaml': 'kind: Deployment\n',
    'apps/web/base/kustomization.yml': 'resources: [../../../bases/web]\n',
    'apps/web/overlays/prod/kustomization.yaml': 'resources: [../../base]\n',
    'apps/web/overlays/stage/Kustomization': 'resources: [../../base]\n',
  });
}

const ROOT = `apiVersion: app-of-apps/v1
kind: Root
defaults:
  namespace: shop
  createNamespace: true
  timeout: 2m
environments:
  stage:
    cluster: { name: stage-eks, region: eu-west-1 }
    roleArn: arn:aws:iam::111111111111:role/deploy-stage
  prod:
    cluster: { name: prod-eks, region: eu-central-1 }
    allowedNamespaces: [shop, data-*]
    allowedClusterKinds: [Namespace]
    defaults: { prune: true, timeout: 10m }
apps:
  - name: config
    path: apps/config
    directory: { recurse: true, exclude: "*.txt" }
  - name: db
    path: apps/db
    namespace: data
    helm:
      valueFiles: [values.yaml, /shared/values-common.yaml]
      values: { image: { tag: "1" }, labels: { a: x } }
      parameters: [{ name: auth.enabled, value: true }]
    environments:
      prod:
        namespace: data-prod
        wait: false
        helm:
          valueFiles: [values-prod.yaml]
          values: { image: { pullPolicy: Always } }
          parameters: [{ name: tier, value: "1", forceString: true }]
      stage:
        helm: { valueFiles: [values-stage.yaml], releaseName: db-stage }
  - name: web
    path: apps/web/base
    overlays: { prod: apps/web/overlays/prod, stage: apps/web/overlays/stage }
    dependsOn: [db, config]
    syncWave: 2
    watch: ["libs/web/**"]
    kustomize: { namePrefix: shop-, images: [web=web:1] }
    environments:
      prod: { prune: false, kustomize: { images: [side=side:2], commonLabels: { env: prod } } }
  - name: beta
    path: apps/config
    enabled: false
    environments: { stage: { enabled: true } }
`;

describe('native root', () => {
  it('resolves every app for production: overlays, values per environment, defaults in order', async () => {
    const root = await load(shop(ROOT), 'app-of-apps.yaml', { environment: 'prod' });
    expect(root.format).toBe('native');
    expect(root.environments).toEqual(['stage', 'prod']);
    expect(root.environment).toEqual({
      name: 'prod',
      cluster: { name: 'prod-eks', region: 'eu-central-1' },
      roleArn: undefined,
      allowedNamespaces: ['shop', 'data-*'],
      allowedClusterKinds: ['Namespace'],
    });
    expect(root.apps.map((a) => a.name)).toEqual(['config', 'db', 'web']);
    expect(root.disabled).toEqual(['beta']);

    const [config, db, web] = root.apps;
    expect(config).toMatchObject({
      type: 'directory',
      path: 'apps/config',
      namespace: 'shop',
      createNamespace: true,
      prune: true,
      wait: true,
      timeoutSeconds: 600,
      serverSideApply: true,
      directory: { recurse: true, exclude: '*.txt' },
      origin: { file: 'app-of-apps.yaml', line: 17 },
    });
    expect(db).toMatchObject({
      type: 'helm',
      namespace: 'data-prod',
      wait: false,
      prune: true,
      helm: {
        releaseName: 'db',
        valueFiles: ['apps/db/values.yaml', 'shared/values-common.yaml', 'apps/db/values-prod.yaml'],
        values: { image: { tag: '1', pullPolicy: 'Always' }, labels: { a: 'x' } },
        parameters: [
          { name: 'auth.enabled', value: 'true' },
          { name: 'tier', value: '1', forceString: true },
        ],
      },
    });
    expect(web).toMatchObject({
      type: 'kustomize',
      path: 'apps/web/overlays/prod',
      prune: false,
      dependsOn: ['db', 'config'],
      syncWave: 2,
      watch: ['libs/web/**'],
      kustomize: { namePrefix: 'shop-', images: ['web=web:1', 'side=side:2'], commonLabels: { env: 'prod' } },
    });
  });

  it('resolves the same root differently for staging', async () => {
    const root = await load(shop(ROOT), 'app-of-apps.yaml', { environment: 'stage' });
    expect(root.environment?.roleArn).toBe('arn:aws:iam::111111111111:role/deploy-stage');
    expect(root.apps.map((a) => a.name)).toEqual(['config', 'db', 'web', 'beta']);
    expect(root.disabled).toEqual([]);
    const db = root.apps[1]!;
    expect(db.namespace).toBe('data');
    expect(db.prune).toBe(false);
    expect(db.timeoutSeconds).toBe(120);
    expect(db.helm?.releaseName).toBe('db-stage');
    expect(db.helm?.valueFiles).toEqual(['apps/db/values.yaml', 'shared/values-common.yaml', 'apps/db/values-stage.yaml']);
    // "Kustomization" (capitalised, no extension) is a kustomization too
    expect(root.apps[2]).toMatchObject({ path: 'apps/web/overlays/stage', type: 'kustomize', kustomize: { images: ['web=web:1'] } });
  });

  it('matches ENVIRONMENT case-insensitively when only the case differs', async () => {
    const root = await load(shop(ROOT), 'app-of-apps.yaml', { environment: 'PROD' });
    expect(root.environment?.name).toBe('prod');
  });

  it('detects the type from the files and lets the root override it', async () => {
    const dir = makeRepo({
      'root.yaml': `apiVersion: app-of-apps/v1
kind: Root
apps:
  - { name: chart, path: a }
  - { name: kust, path: b }
  - { name: kust-yml, path: c }
  - { name: plain, path: d }
  - { name: chart-as-kustomize, path: e, type: kustomize }
`,
      'a/Chart.yaml': CHART,
      'b/kustomization.yaml': KUSTOMIZATION,
      'c/kustomization.yml': KUSTOMIZATION,
      'd/x.yaml': 'kind: ConfigMap\n',
      'e/Chart.yaml': CHART,
      'e/kustomization.yaml': 'helmCharts: []\n',
    });
    const root = await load(dir, 'root.yaml');
    expect(root.apps.map((a) => [a.name, a.type])).toEqual([
      ['chart', 'helm'],
      ['kust', 'kustomize'],
      ['kust-yml', 'kustomize'],
      ['plain', 'directory'],
      ['chart-as-kustomize', 'kustomize'],
    ]);
    expect(root.apps[0]).toMatchObject({ namespace: 'default', createNamespace: false, prune: false, wait: true, timeoutSeconds: 300, helm: { releaseName: 'chart', valueFiles: [], parameters: [] } });
    expect(root.environment).toBeUndefined();
  });

  it('treats ENVIRONMENT as a label when the root declares no environments', async () => {
    const dir = makeRepo({ 'r.yaml': 'apiVersion: app-of-apps/v1\nkind: Root\napps: [{ name: a, path: a }]\n', 'a/x.yaml': 'kind: X\n' });
    const root = await load(dir, 'r.yaml', { environment: 'qa' });
    expect(root.environment).toEqual({ name: 'qa', cluster: undefined, roleArn: undefined, allowedNamespaces: undefined, allowedClusterKinds: undefined });
    expect(root.notes).toEqual(['r.yaml declares no environments: ENVIRONMENT=qa is only a label']);
  });

  it('accepts anchors and merge keys, and a directory holding app-of-apps.yaml', async () => {
    const dir = makeRepo({
      'deploy/app-of-apps.yaml': `apiVersion: app-of-apps/v1
kind: Root
apps:
  - &app { name: a, path: a, namespace: team, prune: true }
  - { <<: *app, name: b }
`,
      'a/x.yaml': 'kind: X\n',
    });
    const root = await load(dir, 'deploy');
    expect(root.file).toBe('deploy/app-of-apps.yaml');
    expect(root.apps.map((a) => [a.name, a.namespace, a.prune])).toEqual([
      ['a', 'team', true],
      ['b', 'team', true],
    ]);
  });

  it('drops a dependency on an app disabled in this environment, with a note', async () => {
    const root = await load(shop(ROOT.replace('dependsOn: [db, config]', 'dependsOn: [db, beta]')), 'app-of-apps.yaml', { environment: 'prod' });
    const web = root.apps.find((a) => a.name === 'web')!;
    expect(web.dependsOn).toEqual(['db']);
    expect(web.notes).toEqual(['depends on beta, which is disabled in prod: not waited for']);
  });

  it('lists a chart whose dependencies need the network as unsupported, and a vendored one as helm', async () => {
    const deps = 'dependencies:\n  - name: redis\n    version: 1.0.0\n    repository: https://charts.example.com\n';
    const dir = makeRepo({
      'r.yaml': 'apiVersion: app-of-apps/v1\nkind: Root\napps:\n  - { name: remote, path: remote }\n  - { name: vendored, path: vendored }\n  - { name: local, path: local }\n',
      'remote/Chart.yaml': CHART + deps,
      'vendored/Chart.yaml': CHART + deps,
      'vendored/charts/redis-1.0.0.tgz': 'archive',
      'local/Chart.yaml': CHART + 'dependencies:\n  - name: lib\n    repository: file://../lib\n',
    });
    const root = await load(dir, 'r.yaml');
    expect(root.apps.map((a) => a.name)).toEqual(['vendored', 'local']);
    expect(root.unsupported).toHaveLength(1);
    expect(root.unsupported[0]).toMatchObject({ name: 'remote', source: 'helm (remote dependencies)', origin: { file: 'r.yaml', line: 4 } });
    expect(root.unsupported[0]!.reason).toContain('redis 1.0.0 from https://charts.example.com is not vendored in charts/');
  });
});

describe('definition digest', () => {
  it('changes only for the apps whose definition changed', async () => {
    const dir = shop(ROOT);
    const before = await load(dir, 'app-of-apps.yaml', { environment: 'prod' });
    writeFiles(dir, {
      'app-of-apps.yaml': ROOT.replace('values: { image: { pullPolicy: Always } }', 'values: { image: { pullPolicy: IfNotPresent } }')
        // moving an entry, reordering dependencies and comments change nothing that is deployed
        .replace('dependsOn: [db, config]', 'dependsOn: [config, db]\n    # a comment'),
    });
    const after = await load(dir, 'app-of-apps.yaml', { environment: 'prod' });
    const digests = (r: typeof before) => Object.fromEntries(r.apps.map((a) => [a.name, a.definitionDigest]));
    const [b, a] = [digests(before), digests(after)];
    expect(a.db).not.toBe(b.db);
    expect(a.config).toBe(b.config);
    expect(a.web).toBe(b.web);
    expect(b.db).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs between environments when the resolved definition differs', async () => {
    const dir = shop(ROOT);
    const prod = await load(dir, 'app-of-apps.yaml', { environment: 'prod' });
    const stage = await load(dir, 'app-of-apps.yaml', { environment: 'stage' });
    expect(prod.apps[1]!.definitionDigest).not.toBe(stage.apps[1]!.definitionDigest);
  });
});

describe('root at a git revision', () => {
  it('loads the same at a commit (GitTree) as in the work tree', async () => {
    const dir = shop(ROOT);
    const sha = commitAll(dir);
    for (const environment of ['prod', 'stage']) {
      const work = await load(dir, 'app-of-apps.yaml', { environment });
      const atCommit = await loadAt(dir, sha, 'app-of-apps.yaml', { environment });
      expect(atCommit).toEqual(work);
    }
  });

  it('reads the charts ahead in one batch when the tree offers readMany', async () => {
    const dir = shop(ROOT);
    const sha = commitAll(dir);
    const tree = new BatchGitTree(dir, sha);
    const batched = await load(dir, 'app-of-apps.yaml', { environment: 'prod', tree });
    expect(batched).toEqual(await load(dir, 'app-of-apps.yaml', { environment: 'prod' }));
    expect(tree.batches).toBe(1);
    expect(tree.singleReads).toEqual(['app-of-apps.yaml']);
  });

  it('reads the older revision, not the work tree', async () => {
    const dir = shop(ROOT);
    const first = commitAll(dir);
    writeFiles(dir, { 'app-of-apps.yaml': ROOT.replace('  - name: beta', '  - name: gamma') });
    git(dir, 'commit', '--quiet', '--no-gpg-sign', '-am', 'rename');
    const old = await loadAt(dir, first, 'app-of-apps.yaml', { environment: 'stage' });
    const head = await loadAt(dir, 'HEAD', 'app-of-apps.yaml', { environment: 'stage' });
    expect(old.apps.map((a) => a.name)).toContain('beta');
    expect(head.apps.map((a) => a.name)).toContain('gamma');
  });
});

describe('deploy settings from the pipe', () => {
  const files = {
    'app-of-apps.yaml': [
      'apiVersion: app-of-apps/v1',
      'kind: Root',
      'apps:',
      '  - name: quick',
      '    path: apps/a',
      '  - name: slow',
      '    path: apps/a',
      '    timeout: 20m',
      '    allowEmpty: true',
      '',
    ].join('\n'),
    'apps/a/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n',
  };

  it('TIMEOUT is the default timeout; the root still wins where it sets one', async () => {
    const dir = makeRepo(files);
    const root = await load(dir, 'app-of-apps.yaml', { defaultTimeoutSeconds: 90 });
    const byName = Object.fromEntries(root.apps.map((a) => [a.name, a]));
    expect(byName.quick!.timeoutSeconds).toBe(90);
    expect(byName.slow!.timeoutSeconds).toBe(1200);
    expect((await load(dir, 'app-of-apps.yaml')).apps[0]!.timeoutSeconds).toBe(300);
  });

  it('allowEmpty is off unless the app asks for it', async () => {
    const root = await load(makeRepo(files), 'app-of-apps.yaml');
    expect(root.apps.map((a) => [a.name, a.allowEmpty])).toEqual([
      ['quick', false],
      ['slow', true],
    ]);
  });
});
