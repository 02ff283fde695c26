import { describe, expect, it } from 'vitest';
import { deploy } from '../../src/apply/index.js';
import type { K8sObject } from '../../src/render/model.js';
import { app, asAdmin, config, configMap, getJson, kubectl, ledger, logger, plan, rendered, uid } from './helpers/engine.js';

const { admin, access, signal } = asAdmin();

describe('prune', () => {
  const id = uid();
  const env = `prune-${id}`;
  const ns = `prune-${id}`;
  const apps = [app('alpha', { namespace: ns, prune: true }), app('beta', { namespace: ns })];
  const run = (objs: Record<string, K8sObject[]>, vars: Record<string, string> = {}, o: { status?: Record<string, 'changed' | 'unchanged'>; removed?: string[]; apps?: typeof apps } = {}) =>
    deploy({
      plan: plan({ environment: env, apps: o.apps ?? apps, status: o.status, removed: o.removed }),
      rendered: new Map(Object.entries(objs).map(([k, v]) => [k, rendered(k, v)])),
      access,
      config: config(admin, vars),
      logger: logger(),
      signal,
    });

  it('removes exactly the object the app stopped rendering, and keeps opted-out, foreign and moved objects', async () => {
    const first = await run({
      alpha: [configMap('keep', undefined), configMap('drop', undefined), configMap('opt-out', undefined, { a: '1' }, { annotations: { 'app-of-apps.io/prune': 'false' } }), configMap('moves', undefined)],
      beta: [configMap('beta-own', undefined)],
    });
    expect(first.ok).toBe(true);
    // Someone else's object with the same labels would still need to be in alpha's inventory to be considered: create one outside it.
    await kubectl(admin, ['create', 'configmap', 'foreign', '-n', ns]);

    const second = await run({
      alpha: [configMap('keep', undefined)],
      beta: [configMap('beta-own', undefined), configMap('moves', undefined)],
    });
    expect(second.ok).toBe(true);
    const alpha = second.apps.find((a) => a.app === 'alpha')!;
    expect(alpha.objects.filter((o) => o.action === 'pruned').map((o) => o.id)).toEqual([`ConfigMap/${ns}/drop`]);
    expect(alpha.objects.find((o) => o.id === `ConfigMap/${ns}/opt-out`)).toMatchObject({ action: 'prune-skipped' });
    expect(alpha.counts.pruned).toBe(1);
    expect(await getJson(admin, ['configmap', '-n', ns, 'drop'])).toBeUndefined();
    for (const name of ['keep', 'opt-out', 'moves', 'beta-own', 'foreign']) expect(await getJson(admin, ['configmap', '-n', ns, name]), name).toBeDefined();
    expect((await getJson(admin, ['configmap', '-n', ns, 'moves']))!.metadata.labels!['app-of-apps.io/app']).toBe('beta');
    const l = await ledger(admin, env);
    expect(l.alpha!.objects).toEqual([`v1 ConfigMap ${ns}/keep`]);
    expect(l.beta!.objects.sort()).toEqual([`v1 ConfigMap ${ns}/beta-own`, `v1 ConfigMap ${ns}/moves`]);
  });

  it('never deletes an object whose live labels say it belongs elsewhere', async () => {
    await run({ alpha: [configMap('keep', undefined), configMap('relabelled', undefined)] }, {}, { status: { beta: 'unchanged' } });
    await kubectl(admin, ['label', 'configmap', '-n', ns, 'relabelled', 'app-of-apps.io/app=someone-else', '--overwrite']);
    const r = await run({ alpha: [configMap('keep', undefined)] }, {}, { status: { beta: 'unchanged' } });
    expect(r.apps[0]!.objects.find((o) => o.id === `ConfigMap/${ns}/relabelled`)).toMatchObject({ action: 'prune-skipped', note: 'labelled for app someone-else, not alpha' });
    expect(await getJson(admin, ['configmap', '-n', ns, 'relabelled'])).toBeDefined();
  });

  it('without prune, dropped objects stay and stay in the inventory, so turning prune on later removes them', async () => {
    const betaOnly = { status: { alpha: 'unchanged' as const } };
    await run({ beta: [configMap('beta-own', undefined), configMap('moves', undefined), configMap('later', undefined)] }, {}, betaOnly);
    await run({ beta: [configMap('beta-own', undefined), configMap('moves', undefined)] }, {}, betaOnly);
    expect(await getJson(admin, ['configmap', '-n', ns, 'later'])).toBeDefined();
    expect((await ledger(admin, env)).beta!.objects).toContain(`v1 ConfigMap ${ns}/later`);
    const r = await run({ beta: [configMap('beta-own', undefined), configMap('moves', undefined)] }, { PRUNE: 'true' }, betaOnly);
    expect(r.apps[0]!.counts.pruned).toBe(1);
    expect(await getJson(admin, ['configmap', '-n', ns, 'later'])).toBeUndefined();
  });

  it('refuses to prune everything when an app renders nothing', async () => {
    const r = await run({ alpha: [] }, {}, { status: { beta: 'unchanged' } });
    expect(r.apps[0]!.outcome).toBe('failed');
    expect(r.apps[0]!.reason).toMatch(/app alpha renders no objects; refusing to prune its 1 deployed objects/);
    expect(await getJson(admin, ['configmap', '-n', ns, 'keep'])).toBeDefined();
  });

  it('an app that is meant to be empty (allowEmpty) may prune everything it deployed', async () => {
    const delta = [app('delta', { namespace: ns, prune: true, allowEmpty: true })];
    await run({ delta: [configMap('delta-only', undefined)] }, {}, { apps: delta });
    const r = await run({ delta: [] }, {}, { apps: delta });
    expect(r.apps[0]).toMatchObject({ outcome: 'deployed', counts: { pruned: 1 } });
    expect(await getJson(admin, ['configmap', '-n', ns, 'delta-only'])).toBeUndefined();
    expect((await ledger(admin, env)).delta!.objects).toEqual([]);
  });

  it('pruneLast: the app prunes after every other app of the run, then is recorded', async () => {
    const last = [app('epsilon', { namespace: ns, prune: true, pruneLast: true }), app('zeta', { namespace: ns, dependsOn: ['epsilon'] })];
    const log = logger();
    const go = (objs: Record<string, K8sObject[]>) =>
      deploy({ plan: plan({ environment: env, apps: last }), rendered: new Map(Object.entries(objs).map(([k, v]) => [k, rendered(k, v)])), access, config: config(admin), logger: log, signal });
    await go({ epsilon: [configMap('eps-keep', undefined), configMap('eps-drop', undefined)], zeta: [configMap('zeta', undefined)] });
    log.lines.length = 0;
    const r = await go({ epsilon: [configMap('eps-keep', undefined)], zeta: [configMap('zeta', undefined, { a: '2' })] });
    expect(r.ok).toBe(true);
    expect(r.apps.find((a) => a.app === 'epsilon')!.counts.pruned).toBe(1);
    const at = (re: RegExp) => log.lines.findIndex((l) => re.test(l));
    expect(at(/^zeta: deployed/)).toBeGreaterThan(-1);
    expect(at(/^epsilon: deployed .* 1 pruned\)$/)).toBeGreaterThan(at(/^zeta: deployed/));
    expect(await getJson(admin, ['configmap', '-n', ns, 'eps-drop'])).toBeUndefined();
    expect((await ledger(admin, env)).epsilon!.objects).toEqual([`v1 ConfigMap ${ns}/eps-keep`]);
  });

  it('a removed app is pruned only with PRUNE_REMOVED_APPS', async () => {
    const kept = await run({}, {}, { apps: [apps[1]!], status: { beta: 'unchanged' }, removed: ['alpha'] });
    expect(kept.removed).toEqual([expect.objectContaining({ app: 'alpha', outcome: 'kept' })]);
    expect(await getJson(admin, ['configmap', '-n', ns, 'keep'])).toBeDefined();

    const pruned = await run({}, { PRUNE_REMOVED_APPS: 'true' }, { apps: [apps[1]!], status: { beta: 'unchanged' }, removed: ['alpha'] });
    expect(pruned.ok).toBe(true);
    expect(pruned.removed[0]).toMatchObject({ app: 'alpha', outcome: 'pruned' });
    expect(await getJson(admin, ['configmap', '-n', ns, 'keep'])).toBeUndefined();
    expect(await getJson(admin, ['configmap', '-n', ns, 'beta-own'])).toBeDefined();
    expect(Object.keys(await ledger(admin, env)).sort()).toEqual(['beta', 'delta', 'epsilon', 'zeta']);
  });
});

describe('objects kept by annotation', () => {
  const id = uid();
  const env = `keep-${id}`;
  const ns = `keep-${id}`;
  const eta = app('eta', { namespace: ns, prune: true });
  const helmKeep = { annotations: { 'helm.sh/resource-policy': 'keep' } };
  const deleteFalse = { annotations: { 'argocd.argoproj.io/sync-options': 'ServerSideApply=true,Delete=false' } };
  const run = (objects: K8sObject[] | undefined, vars: Record<string, string> = {}) =>
    deploy({
      plan: plan({ environment: env, apps: objects ? [eta] : [], removed: objects ? [] : ['eta'] }),
      rendered: new Map(objects ? [['eta', rendered('eta', objects)]] : []),
      access,
      config: config(admin, vars),
      logger: logger(),
      signal,
    });
  const exists = async (name: string) => (await getJson(admin, ['configmap', '-n', ns, name])) !== undefined;

  it('helm.sh/resource-policy: keep is never pruned; Delete=false keeps an object only when its app is removed', async () => {
    const first = await run([
      configMap('helm-keep-1', undefined, { a: '1' }, helmKeep),
      configMap('delete-false-1', undefined, { a: '1' }, deleteFalse),
      configMap('plain-1', undefined),
      configMap('helm-keep-2', undefined, { a: '1' }, helmKeep),
      configMap('delete-false-2', undefined, { a: '1' }, deleteFalse),
      configMap('plain-2', undefined),
      // a namespace of the app's own with a kept object inside: deleting it would delete that object
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${ns}-own` } },
      configMap('helm-keep-inside', `${ns}-own`, { a: '1' }, helmKeep),
    ]);
    expect(first.ok).toBe(true);

    // PRUNE: the app stops rendering the first three
    const dropped = await run([
      configMap('helm-keep-2', undefined, { a: '1' }, helmKeep),
      configMap('delete-false-2', undefined, { a: '1' }, deleteFalse),
      configMap('plain-2', undefined),
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${ns}-own` } },
      configMap('helm-keep-inside', `${ns}-own`, { a: '1' }, helmKeep),
    ]);
    expect(dropped.ok).toBe(true);
    const byId = (objects: { id: string }[]) => Object.fromEntries(objects.map((o) => [o.id, o]));
    expect(byId(dropped.apps[0]!.objects)).toMatchObject({
      [`ConfigMap/${ns}/helm-keep-1`]: { action: 'prune-skipped', note: 'kept (helm.sh/resource-policy: keep)' },
      [`ConfigMap/${ns}/delete-false-1`]: { action: 'pruned' },
      [`ConfigMap/${ns}/plain-1`]: { action: 'pruned' },
    });
    expect(await exists('helm-keep-1')).toBe(true);
    expect(await exists('delete-false-1')).toBe(false);
    expect(await exists('plain-1')).toBe(false);

    // PRUNE_REMOVED_APPS: the app is gone from the root
    const removed = await run(undefined, { PRUNE_REMOVED_APPS: 'true' });
    expect(removed.ok).toBe(true);
    expect(removed.removed[0]).toMatchObject({ app: 'eta', outcome: 'pruned' });
    expect(removed.removed[0]!.reason).toMatch(/^4 object\(s\) not pruned: .*kept \(argocd\.argoproj\.io\/sync-options: Delete=false\)/);
    expect(removed.removed[0]!.reason).toContain('kept (helm.sh/resource-policy: keep)');
    expect(byId(removed.removed[0]!.objects)).toEqual({
      [`ConfigMap/${ns}/helm-keep-2`]: { id: `ConfigMap/${ns}/helm-keep-2`, action: 'prune-skipped', note: 'kept (helm.sh/resource-policy: keep)' },
      [`ConfigMap/${ns}/delete-false-2`]: { id: `ConfigMap/${ns}/delete-false-2`, action: 'prune-skipped', note: 'kept (argocd.argoproj.io/sync-options: Delete=false)' },
      [`ConfigMap/${ns}/plain-2`]: { id: `ConfigMap/${ns}/plain-2`, action: 'pruned' },
      [`ConfigMap/${ns}-own/helm-keep-inside`]: { id: `ConfigMap/${ns}-own/helm-keep-inside`, action: 'prune-skipped', note: 'kept (helm.sh/resource-policy: keep)' },
      [`Namespace/${ns}-own`]: { id: `Namespace/${ns}-own`, action: 'prune-skipped', note: `kept: it holds ConfigMap/${ns}-own/helm-keep-inside, which is kept (helm.sh/resource-policy: keep)` },
    });
    expect(await exists('helm-keep-2')).toBe(true);
    expect(await exists('delete-false-2')).toBe(true);
    expect(await exists('plain-2')).toBe(false);
    expect((await getJson(admin, ['namespace', `${ns}-own`]))?.metadata.deletionTimestamp).toBeUndefined();
    expect(await getJson(admin, ['configmap', '-n', `${ns}-own`, 'helm-keep-inside'])).toBeDefined();
    expect(await ledger(admin, env)).toEqual({});
  });
});

describe('prune never deletes a namespace that holds objects of other apps', () => {
  const id = uid();
  const env = `prune-ns-${id}`;
  const shared = `shared-${id}`;
  const apps = [app('platform', { namespace: `platform-${id}`, prune: true }), app('tenant', { namespace: shared, createNamespace: false, dependsOn: ['platform'] })];
  const namespace = (name: string): K8sObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const run = (objs: Record<string, K8sObject[]>, status: Record<string, 'changed' | 'unchanged'> = {}) =>
    deploy({
      plan: plan({ environment: env, apps, status }),
      rendered: new Map(Object.entries(objs).map(([k, v]) => [k, rendered(k, v)])),
      access,
      config: config(admin),
      logger: logger(),
      signal,
    });

  it("the app that rendered the Namespace stops rendering it: the Namespace stays while another app's objects are in it", async () => {
    const first = await run({ platform: [namespace(shared), configMap('platform-cfg', undefined)], tenant: [configMap('tenant-cfg', undefined)] });
    expect(first.ok, JSON.stringify(first.apps)).toBe(true);

    const second = await run({ platform: [configMap('platform-cfg', undefined)] }, { platform: 'changed', tenant: 'unchanged' });
    expect(second.ok, JSON.stringify(second.apps)).toBe(true);
    expect(second.apps[0]!.objects).toContainEqual({ id: `Namespace/${shared}`, action: 'prune-skipped', note: `kept: it holds ConfigMap/${shared}/tenant-cfg of app tenant` });
    expect((await getJson(admin, ['namespace', shared]))?.metadata.deletionTimestamp).toBeUndefined();
    expect(await getJson(admin, ['configmap', '-n', shared, 'tenant-cfg'])).toBeDefined();
    // kept for now, not forgotten: once the tenant is gone, the platform's next prune deletes it
    expect((await ledger(admin, env)).platform!.objects).toContain(`v1 Namespace ${shared}`);
    const gone = await deploy({ plan: plan({ environment: env, apps: [apps[0]!], status: { platform: 'unchanged' }, removed: ['tenant'] }), rendered: new Map(), access, config: config(admin, { PRUNE_REMOVED_APPS: 'true' }), logger: logger(), signal });
    expect(gone.ok, JSON.stringify(gone.removed)).toBe(true);
    const third = await deploy({ plan: plan({ environment: env, apps: [apps[0]!], status: { platform: 'changed' } }), rendered: new Map([['platform', rendered('platform', [configMap('platform-cfg', undefined, { a: '2' })])]]), access, config: config(admin), logger: logger(), signal });
    expect(third.apps[0]!.objects).toContainEqual({ id: `Namespace/${shared}`, action: 'pruned' });
    expect((await ledger(admin, env)).platform!.objects).toEqual([`v1 ConfigMap platform-${id}/platform-cfg`]);
  });

  it("nor one that holds another environment's objects: an app removed with PRUNE_REMOVED_APPS keeps it", async () => {
    const mine = `${env}-a`;
    const theirs = `${env}-b`;
    const ns = `both-${id}`;
    const owner = [app('owner', { namespace: ns, createNamespace: false })];
    const guest = [app('guest', { namespace: ns, createNamespace: false })];
    const deployIn = (environment: string, apps: ReturnType<typeof app>[], objs: Record<string, K8sObject[]>, vars: Record<string, string> = {}, removed: string[] = []) =>
      deploy({ plan: plan({ environment, apps, removed }), rendered: new Map(Object.entries(objs).map(([k, v]) => [k, rendered(k, v)])), access, config: config(admin, vars), logger: logger(), signal });
    expect((await deployIn(mine, owner, { owner: [namespace(ns), configMap('own', undefined)] })).ok).toBe(true);
    expect((await deployIn(theirs, guest, { guest: [configMap('guest', undefined)] })).ok).toBe(true);

    const removed = await deployIn(mine, [], {}, { PRUNE_REMOVED_APPS: 'true' }, ['owner']);
    expect(removed.ok, JSON.stringify(removed.removed)).toBe(true);
    expect(removed.removed[0]!.objects).toEqual([
      { id: `ConfigMap/${ns}/own`, action: 'pruned' },
      { id: `Namespace/${ns}`, action: 'prune-skipped', note: `kept: it holds ConfigMap/${ns}/guest of app guest of environment ${theirs}` },
    ]);
    expect((await getJson(admin, ['namespace', ns]))?.metadata.deletionTimestamp).toBeUndefined();
    expect(await getJson(admin, ['configmap', '-n', ns, 'guest'])).toBeDefined();
    // the removed app's entry keeps the Namespace, so once the other environment leaves, it goes
    expect((await ledger(admin, mine)).owner!.objects).toEqual([`v1 Namespace ${ns}`]);
    expect((await deployIn(theirs, [], {}, { PRUNE_REMOVED_APPS: 'true' }, ['guest'])).ok).toBe(true);
    const again = await deployIn(mine, [], {}, { PRUNE_REMOVED_APPS: 'true' }, ['owner']);
    expect(again.removed[0]!.objects).toEqual([{ id: `Namespace/${ns}`, action: 'pruned' }]);
    expect(await ledger(admin, mine)).toEqual({});
  });
});

describe('prune never deletes the namespace the app itself still deploys into', () => {
  const id = uid();
  const env = `prune-own-${id}`;
  const ns = `own-ns-${id}`;
  it('an app that drops its Namespace manifest for createNamespace keeps the Namespace and what is in it', async () => {
    const apps = [app('web', { namespace: ns, prune: true })];
    const namespace: K8sObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } };
    const run = (objs: K8sObject[]) => deploy({ plan: plan({ environment: env, apps, status: { web: 'changed' } }), rendered: new Map([['web', rendered('web', objs)]]), access, config: config(admin), logger: logger(), signal });
    expect((await run([namespace, configMap('cfg', undefined)])).ok).toBe(true);
    const second = await run([configMap('cfg', undefined)]);
    expect(second.ok, JSON.stringify(second.apps)).toBe(true);
    expect(second.apps[0]!.objects).toContainEqual({ id: `Namespace/${ns}`, action: 'prune-skipped', note: `kept: it holds ConfigMap/${ns}/cfg, which app web deploys` });
    expect((await getJson(admin, ['namespace', ns]))?.metadata.deletionTimestamp).toBeUndefined();
    expect(await getJson(admin, ['configmap', '-n', ns, 'cfg'])).toBeDefined();
  });
});
