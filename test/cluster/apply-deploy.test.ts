import { describe, expect, it } from 'vitest';
import { deploy, diff, readDeployedState } from '../../src/apply/index.js';
import type { K8sObject } from '../../src/render/model.js';
import { app, asAdmin, config, configMap, deployment, getJson, kubectl, ledger, logger, plan, rendered, uid } from './helpers/engine.js';

const { admin, access, signal } = asAdmin();

describe('deploy: first deploy, audit, ledger, only what changed', () => {
  const id = uid();
  const env = `deploy-${id}`;
  const ns = { db: `db-${id}`, api: `api-${id}`, web: `web-${id}` };
  const apps = [
    app('database', { namespace: ns.db }),
    app('api', { namespace: ns.api, dependsOn: ['database'] }),
    app('web', { namespace: ns.web, dependsOn: ['api'] }),
  ];
  const objects: Record<string, K8sObject[]> = {
    database: [configMap('db-config', undefined), deployment('db', undefined)],
    api: [configMap('api-config', undefined, { level: 'info' }), deployment('api', undefined, { replicas: 2 }), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'api' }, spec: { selector: { app: 'api' }, ports: [{ port: 80 }] } }],
    web: [configMap('web-config', undefined)],
  };
  const renders = () => new Map(Object.entries(objects).map(([k, v]) => [k, rendered(k, v)]));
  let firstHead = '';

  it('deploys apps in dependency order, healthy, stamped and recorded', async () => {
    const p = plan({ environment: env, apps });
    firstHead = p.head;
    const log = logger();
    const result = await deploy({ plan: p, rendered: renders(), access, config: config(admin), logger: log, signal });
    expect(result.ok, log.lines.join('\n')).toBe(true);
    expect(result.apps.map((a) => [a.app, a.outcome])).toEqual([
      ['database', 'deployed'],
      ['api', 'deployed'],
      ['web', 'deployed'],
    ]);
    // CreateNamespace + 3 objects, all created.
    expect(result.apps[1]!.counts).toEqual({ created: 4, configured: 0, unchanged: 0, pruned: 0 });

    const api = await getJson(admin, ['deployment', '-n', ns.api, 'api', '--show-managed-fields']);
    expect(api!.status.availableReplicas).toBe(2);
    expect(api!.metadata.labels).toMatchObject({
      'app-of-apps.io/app': 'api',
      'app-of-apps.io/environment': env,
      'app-of-apps.io/build-number': '42',
      'app-of-apps.io/managed-by': 'app-of-apps-pipe',
    });
    expect(api!.metadata.annotations).toMatchObject({
      'app-of-apps.io/commit': p.head,
      'app-of-apps.io/repository': 'acme/platform-apps',
      'app-of-apps.io/triggerer': '{1a2b3c4d-0000-4000-8000-000000000001}',
    });
    const managers = (api!.metadata.managedFields as { manager: string; operation: string }[]).filter((m) => m.operation === 'Apply').map((m) => m.manager);
    expect(managers).toEqual(['app-of-apps-pipe']);

    const l = await ledger(admin, env);
    expect(Object.keys(l).sort()).toEqual(['api', 'database', 'web']);
    expect(l.api!.commit).toBe(p.head);
    expect(l.api!.buildNumber).toBe('42');
    expect(l.api!.objects.sort()).toEqual([`apps/v1 Deployment ${ns.api}/api`, `v1 ConfigMap ${ns.api}/api-config`, `v1 Service ${ns.api}/api`]);
    expect(log.lines.some((l) => /^api: started/.test(l))).toBe(true);
    expect(log.lines.some((l) => /^api: deployed in \d+\.\ds \(4 created, 0 configured, 0 unchanged, 0 pruned\)$/.test(l))).toBe(true);
    expect(log.lines.some((l) => /^APP\s+RESULT\s+CREATED/.test(l))).toBe(true);

    const state = await readDeployedState(access, { environment: env, ledgerNamespace: 'app-of-apps-pipe' });
    expect(state.apps.get('web')?.commit).toBe(p.head);
  });

  it('a change to one app touches only that app: other objects keep their resourceVersions and ledger entries', async () => {
    const before = {
      db: (await getJson(admin, ['deployment', '-n', ns.db, 'db']))!.metadata.resourceVersion,
      web: (await getJson(admin, ['configmap', '-n', ns.web, 'web-config']))!.metadata.resourceVersion,
      apiSvc: (await getJson(admin, ['service', '-n', ns.api, 'api']))!.metadata.resourceVersion,
    };
    const ledgerBefore = await ledger(admin, env);
    objects.api = [configMap('api-config', undefined, { level: 'debug' }), ...objects.api!.slice(1)];
    const p = plan({ environment: env, apps, status: { database: 'unchanged', web: 'unchanged', api: 'changed' } });
    const result = await deploy({ plan: p, rendered: renders(), access, config: config(admin, { BITBUCKET_BUILD_NUMBER: '43' }), logger: logger(), signal });
    expect(result.ok).toBe(true);
    expect(result.apps.map((a) => a.app)).toEqual(['api']);
    // The ConfigMap changed; the Deployment and Service only got new audit stamps.
    expect(result.apps[0]!.counts).toEqual({ created: 0, configured: 1, unchanged: 3, pruned: 0 });
    expect((await getJson(admin, ['deployment', '-n', ns.db, 'db']))!.metadata.resourceVersion).toBe(before.db);
    expect((await getJson(admin, ['configmap', '-n', ns.web, 'web-config']))!.metadata.resourceVersion).toBe(before.web);
    const svc = (await getJson(admin, ['service', '-n', ns.api, 'api']))!;
    expect(svc.metadata.labels!['app-of-apps.io/build-number']).toBe('43');
    expect(svc.metadata.resourceVersion).not.toBe(before.apiSvc);
    expect((await getJson(admin, ['configmap', '-n', ns.api, 'api-config']))!.data).toEqual({ level: 'debug' });
    const l = await ledger(admin, env);
    expect(l.database).toEqual(ledgerBefore.database);
    expect(l.web).toEqual(ledgerBefore.web);
    expect(l.api!.commit).toBe(p.head);
    expect(l.api!.commit).not.toBe(firstHead);
    expect(l.api!.buildNumber).toBe('43');
  });

  it('an unknown base (ledger commit not in the clone) is decided by digest: equal means nothing applied', async () => {
    const rv = (await getJson(admin, ['configmap', '-n', ns.web, 'web-config']))!.metadata.resourceVersion;
    const p = plan({ environment: env, apps, status: { database: 'unchanged', api: 'unchanged', web: 'unknown-base' } });
    const result = await deploy({ plan: p, rendered: renders(), access, config: config(admin), logger: logger(), signal });
    expect(result.apps.map((a) => [a.app, a.outcome, a.reason])).toEqual([['web', 'unchanged', 'unchanged (digest)']]);
    expect((await getJson(admin, ['configmap', '-n', ns.web, 'web-config']))!.metadata.resourceVersion).toBe(rv);
    // Recorded at the new commit, so the next plan has a base it can find.
    expect((await ledger(admin, env)).web!.commit).toBe(p.head);

    objects.web = [configMap('web-config', undefined, { a: '2' })];
    const changed = await deploy({ plan: plan({ environment: env, apps, status: { database: 'unchanged', api: 'unchanged', web: 'unknown-base' } }), rendered: renders(), access, config: config(admin), logger: logger(), signal });
    expect(changed.apps[0]!.outcome).toBe('deployed');
    expect((await getJson(admin, ['configmap', '-n', ns.web, 'web-config']))!.data).toEqual({ a: '2' });
  });

  it('re-running the same deploy converges: everything unchanged, nothing rewritten but the audit stamps', async () => {
    const p = plan({ environment: env, apps, status: { database: 'forced', api: 'forced', web: 'forced' } });
    const result = await deploy({ plan: p, rendered: renders(), access, config: config(admin), logger: logger(), signal });
    expect(result.ok).toBe(true);
    expect(result.apps.map((a) => a.app)).toEqual(['database', 'api', 'web']);
    for (const a of result.apps) {
      expect(a.outcome).toBe('deployed');
      expect(a.counts.created + a.counts.configured + a.counts.pruned).toBe(0);
      expect(a.counts.unchanged).toBe(a.objects.length);
    }
  });
});

describe('deploy: failures', () => {
  const id = uid();
  const env = `fail-${id}`;

  it('a failing rollout names the object and reason, skips dependents, leaves their ledger entries alone; independent apps go on', async () => {
    const apps = [
      app('db', { namespace: `fdb-${id}`, timeoutSeconds: 30 }),
      app('api', { namespace: `fapi-${id}`, dependsOn: ['db'] }),
      app('cache', { namespace: `fcache-${id}` }),
    ];
    const objs = new Map([
      ['db', rendered('db', [deployment('db', undefined, { nodeSelector: { 'no-such-node': 'true' }, progressDeadlineSeconds: 2 })])],
      ['api', rendered('api', [configMap('api', undefined)])],
      ['cache', rendered('cache', [deployment('cache', undefined)])],
    ]);
    const log = logger();
    const result = await deploy({ plan: plan({ environment: env, apps }), rendered: objs, access, config: config(admin), logger: log, signal, pollMs: 200 });
    expect(result.ok).toBe(false);
    const byApp = Object.fromEntries(result.apps.map((a) => [a.app, a]));
    expect(byApp.db!.outcome).toBe('failed');
    expect(byApp.db!.reason).toMatch(new RegExp(`^Deployment/fdb-${id}/db: rollout failed: ProgressDeadlineExceeded`));
    expect(byApp.db!.error!.details.join('\n')).toMatch(/Unschedulable|didn't match|node affinity\/selector/);
    expect(byApp.api).toMatchObject({ outcome: 'skipped', reason: 'dependency db failed' });
    expect(byApp.cache!.outcome).toBe('deployed');
    expect(log.lines.join('\n')).toMatch(/db: FAILED after/);
    const l = await ledger(admin, env);
    expect(Object.keys(l)).toEqual(['cache']);
    expect(await getJson(admin, ['configmap', '-n', `fapi-${id}`, 'api'])).toBeUndefined();

    // Fixed and re-run: converges, the ledger gets the rest.
    objs.set('db', rendered('db', [deployment('db', undefined)]));
    const again = await deploy({ plan: plan({ environment: env, apps, status: { cache: 'unchanged', db: 'changed', api: 'new' } }), rendered: objs, access, config: config(admin), logger: logger(), signal });
    expect(again.ok).toBe(true);
    expect(Object.keys(await ledger(admin, env)).sort()).toEqual(['api', 'cache', 'db']);
  });

  it('an attempt that fails after changing objects is noted in the ledger, so the next run deploys the app even after a revert', async () => {
    const apps = [app('cache', { namespace: `fcache-${id}`, timeoutSeconds: 30 })];
    const good = rendered('cache', [deployment('cache', undefined)]);
    const before = (await ledger(admin, env)).cache!;
    // the attempt changes a ConfigMap, then its rollout fails: the cluster is neither the old nor the new commit
    const bad = rendered('cache', [configMap('cache-config', undefined, { v: 'bad' }), deployment('cache', undefined, { nodeSelector: { 'no-such-node': 'true' }, progressDeadlineSeconds: 2 })]);
    const attempt = plan({ environment: env, apps, status: { cache: 'changed' } });
    const failed = await deploy({ plan: attempt, rendered: new Map([['cache', bad]]), access, config: config(admin), logger: logger(), signal, pollMs: 200 });
    expect(failed.apps[0]!.outcome).toBe('failed');
    const noted = (await ledger(admin, env)).cache as unknown as { commit: string; failed?: { commit: string } };
    expect(noted.commit).toBe(before.commit);
    expect(noted.failed?.commit).toBe(attempt.head);
    // what the next plan is given: the app's deployed commit, and the failed attempt after it
    const state = await readDeployedState(access, { environment: env, ledgerNamespace: 'app-of-apps-pipe' });
    expect(state.apps.get('cache')).toMatchObject({ commit: before.commit, failed: { commit: attempt.head } });

    // a clone without the entry's commit (unknown base): the good render's digest is the entry's,
    // but the mark says the cluster differs, so neither diff nor deploy takes the digest shortcut
    expect(good.digest).toBe(before.digest);
    const lost = plan({ environment: env, apps, status: { cache: 'unknown-base' } });
    const shown = await diff({ plan: lost, rendered: new Map([['cache', good]]), access, config: config(admin, { MODE: 'diff' }), logger: logger(), signal });
    expect(shown.apps.map((a) => [a.app, a.changed, a.reason])).toEqual([['cache', true, undefined]]);
    expect(shown.apps[0]!.objects.map((o) => [o.id, o.change])).toContainEqual([`Deployment/fcache-${id}/cache`, 'update']);

    // the change reverted: deployed again (the plan says changed, see decide), and the mark is gone
    const again = await deploy({ plan: plan({ environment: env, apps, status: { cache: 'changed' } }), rendered: new Map([['cache', good]]), access, config: config(admin), logger: logger(), signal });
    expect(again.apps[0]!.outcome).toBe('deployed');
    expect((await ledger(admin, env)).cache as unknown as { failed?: unknown }).not.toHaveProperty('failed');
  });

  it('a field owned by another manager is a conflict naming manager and field; FORCE_CONFLICTS takes it over', async () => {
    const ns = `conflict-${id}`;
    await kubectl(admin, ['create', 'namespace', ns]);
    await kubectl(admin, ['create', 'configmap', 'shared', '-n', ns, '--from-literal=owner=ops']);
    const apps = [app('cfg', { namespace: ns })];
    const objs = new Map([['cfg', rendered('cfg', [configMap('shared', undefined, { owner: 'pipe' })])]]);
    const result = await deploy({ plan: plan({ environment: `${env}-c`, apps }), rendered: objs, access, config: config(admin), logger: logger(), signal });
    expect(result.apps[0]!.outcome).toBe('failed');
    expect(result.apps[0]!.reason).toMatch(new RegExp(`ConfigMap/${ns}/shared: field manager conflict: 1 field\\(s\\) are managed by "kubectl-create"`));
    expect(result.apps[0]!.error!.details.join('\n')).toContain('.data.owner');
    expect(result.apps[0]!.error!.hint).toContain('FORCE_CONFLICTS=true');
    expect((await getJson(admin, ['configmap', '-n', ns, 'shared']))!.data).toEqual({ owner: 'ops' });

    const forced = await deploy({ plan: plan({ environment: `${env}-c`, apps }), rendered: objs, access, config: config(admin, { FORCE_CONFLICTS: 'true' }), logger: logger(), signal });
    expect(forced.apps[0]!.outcome).toBe('deployed');
    expect((await getJson(admin, ['configmap', '-n', ns, 'shared']))!.data).toEqual({ owner: 'pipe' });
  });

  it('a CRD and its custom resources in one app: the CRD is established before the resources are applied', async () => {
    const group = `g${id}.example.com`;
    const crd: K8sObject = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }],
      },
    };
    const widget: K8sObject = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } };
    const ns = `crd-${id}`;
    const apps = [app('widgets', { namespace: ns })];
    const result = await deploy({ plan: plan({ environment: `${env}-crd`, apps }), rendered: new Map([['widgets', rendered('widgets', [widget, crd])]]), access, config: config(admin), logger: logger(), signal });
    expect(result.apps[0]!.outcome, result.apps[0]!.reason).toBe('deployed');
    expect((await getJson(admin, [`widgets.${group}`, '-n', ns, 'w1']))!.spec.size).toBe(3);
  });
});

describe('deploy: sync waves of apps', () => {
  it('a failed app stops the apps of higher waves, as Argo CD halts a sync; its own wave goes on', async () => {
    const id = uid();
    const env = `waves-${id}`;
    const apps = [
      app('db', { namespace: `wdb-${id}`, syncWave: -1, timeoutSeconds: 30 }),
      app('queue', { namespace: `wq-${id}`, syncWave: -1 }),
      app('api', { namespace: `wapi-${id}`, syncWave: 0 }),
    ];
    const objs = new Map([
      ['db', rendered('db', [deployment('db', undefined, { nodeSelector: { 'no-such-node': 'true' }, progressDeadlineSeconds: 2 })])],
      ['queue', rendered('queue', [configMap('queue', undefined)])],
      ['api', rendered('api', [configMap('api', undefined)])],
    ]);
    const log = logger();
    const result = await deploy({ plan: plan({ environment: env, apps }), rendered: objs, access, config: config(admin), logger: log, signal, pollMs: 200 });
    expect(result.ok).toBe(false);
    const byApp = Object.fromEntries(result.apps.map((a) => [a.app, a]));
    expect(byApp.db!.outcome).toBe('failed');
    expect(byApp.queue!.outcome).toBe('deployed');
    expect(byApp.api).toMatchObject({ outcome: 'skipped', reason: 'wave -1 app db failed' });
    expect(log.lines).toContain('WARNING: api: skipped: wave -1 app db failed');
    expect(await getJson(admin, ['configmap', '-n', `wapi-${id}`, 'api'])).toBeUndefined();
    expect(Object.keys(await ledger(admin, env))).toEqual(['queue']);
  });
});
