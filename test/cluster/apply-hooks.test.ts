// Resource hooks through the engine: Helm's pre-upgrade migration Job with before-hook-creation
// (re-created on every deploy, before the objects it prepares), PostSync hooks after the app is
// healthy, hook-succeeded, a failing PreSync hook, and hooks outside prune. kwok runs a Job's pod
// to Succeeded; a Job whose pod cannot be scheduled fails by its activeDeadlineSeconds.
import { describe, expect, it } from 'vitest';
import { deploy, diff } from '../../src/apply/index.js';
import type { K8sObject } from '../../src/render/model.js';
import { app, asAdmin, config, configMap, deployment, getJson, kubectl, ledger, logger, plan, rendered, uid } from './helpers/engine.js';

const { admin, access, signal } = asAdmin();

function job(name: string, annotations: Record<string, string>, o: { version: string; fail?: boolean }): K8sObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, annotations },
    spec: {
      backoffLimit: 0,
      ...(o.fail ? { activeDeadlineSeconds: 2 } : {}),
      template: {
        spec: {
          restartPolicy: 'Never',
          tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
          ...(o.fail ? { nodeSelector: { 'no-such-node': 'true' } } : {}),
          containers: [{ name: 'run', image: `registry.example/migrate:${o.version}`, env: [{ name: 'VERSION', value: o.version }] }],
        },
      },
    },
  };
}

const MIGRATE = { 'helm.sh/hook': 'pre-install,pre-upgrade', 'helm.sh/hook-delete-policy': 'before-hook-creation', 'helm.sh/hook-weight': '-5' };
const NOTIFY = { 'argocd.argoproj.io/hook': 'PostSync' };
const CLEANUP = { 'helm.sh/hook': 'post-install,post-upgrade', 'helm.sh/hook-delete-policy': 'hook-succeeded' };

describe('hooks: a pre-upgrade migration Job, PostSync hooks, delete policies, prune', () => {
  const id = uid();
  const env = `hooks-${id}`;
  const ns = `hooks-${id}`;
  const apps = [app('shop', { namespace: ns, timeoutSeconds: 60 })];
  const render = (version: string, o: { fail?: boolean; hooks?: boolean; extra?: boolean } = {}) =>
    new Map([
      [
        'shop',
        rendered('shop', [
          configMap('settings', undefined, { version }),
          ...(o.extra === false ? [] : [configMap('extra', undefined, { a: '1' })]),
          deployment('web', undefined),
          ...(o.hooks === false
            ? []
            : [job('migrate', MIGRATE, { version, fail: o.fail }), job('notify', NOTIFY, { version }), job('cleanup', CLEANUP, { version }), configMap('sync-failed', undefined, { version }, { annotations: { 'argocd.argoproj.io/hook': 'SyncFail' } }), { ...configMap('smoke-test', undefined), metadata: { name: 'smoke-test', annotations: { 'helm.sh/hook': 'test' } } }]),
        ]),
      ],
    ]);
  const run = async (version: string, o: { fail?: boolean; hooks?: boolean; extra?: boolean; vars?: Record<string, string> } = {}) => {
    const log = logger();
    const result = await deploy({ plan: plan({ environment: env, apps, status: { shop: 'changed' } }), rendered: render(version, o), access, config: config(admin, o.vars), logger: log, signal, pollMs: 200 });
    return { result, app: result.apps[0]!, log: log.lines.join('\n') };
  };
  const steps = (objects: { id: string; action: string; hook?: string }[]) => objects.map((x) => `${x.hook ? `${x.hook} ` : ''}${x.id} ${x.action}`);
  const live = (kind: string, name: string) => getJson(admin, [kind, '-n', ns, name]);
  let notifyUid = '';

  it('first deploy: the PreSync Job runs and completes before the ConfigMap is applied; PostSync hooks after the app is healthy', async () => {
    const { result, app: a, log } = await run('v1');
    expect(result.ok, log).toBe(true);
    const order = steps(a.objects);
    expect([...order].sort()).toEqual(
      [
        `ConfigMap/${ns}/smoke-test skipped`,
        `Namespace/${ns} created`,
        `PreSync Job/${ns}/migrate created`,
        `ConfigMap/${ns}/extra created`,
        `ConfigMap/${ns}/settings created`,
        `Deployment/${ns}/web created`,
        `PostSync Job/${ns}/cleanup created`,
        `PostSync Job/${ns}/notify created`,
        `PostSync Job/${ns}/cleanup deleted`,
      ].sort(),
    );
    const at = (step: string) => order.indexOf(step);
    expect(at(`PreSync Job/${ns}/migrate created`)).toBeLessThan(at(`ConfigMap/${ns}/settings created`));
    expect(at(`Deployment/${ns}/web created`)).toBeLessThan(at(`PostSync Job/${ns}/notify created`));
    expect(steps(a.objects.slice(-3))).toEqual([`PostSync Job/${ns}/cleanup created`, `PostSync Job/${ns}/notify created`, `PostSync Job/${ns}/cleanup deleted`]);
    expect(a.objects[0]!.note).toBe('not run: only install and upgrade hooks run on a deploy (helm.sh/hook: test)');
    expect(a.counts).toEqual({ created: 7, configured: 0, unchanged: 0, pruned: 0 });
    expect(log).toMatch(/^shop: deployed in \d+\.\ds \(7 created, 0 configured, 0 unchanged, 0 pruned; 3 hook\(s\) run\)$/m);
    expect(log).toContain(`shop: running 1 PreSync hook(s): Job/${ns}/migrate`);

    const migrate = (await live('job', 'migrate'))!;
    expect(migrate.status.conditions.some((c: { type: string; status: string }) => c.type === 'Complete' && c.status === 'True')).toBe(true);
    expect(migrate.metadata.labels).toMatchObject({ 'app-of-apps.io/app': 'shop', 'app-of-apps.io/environment': env, 'app-of-apps.io/managed-by': 'app-of-apps-pipe' });
    // the Job had completed when the ConfigMap was created (the API server's times, to the second)
    const settings = (await live('configmap', 'settings'))!;
    expect(Date.parse(migrate.status.completionTime)).toBeLessThanOrEqual(Date.parse(settings.metadata.creationTimestamp as string));
    const web = (await live('deployment', 'web'))!;
    const notify = (await live('job', 'notify'))!;
    expect(Date.parse(notify.metadata.creationTimestamp as string)).toBeGreaterThanOrEqual(Date.parse(web.metadata.creationTimestamp as string));
    notifyUid = notify.metadata.uid as string;
    // hook-succeeded: gone once it completed; the helm test hook was never applied
    expect(await live('job', 'cleanup')).toBeUndefined();
    expect(await live('configmap', 'smoke-test')).toBeUndefined();
    expect(await live('configmap', 'sync-failed')).toBeUndefined();
    // hooks are not the app's inventory
    expect((await ledger(admin, env)).shop!.objects.sort()).toEqual([`apps/v1 Deployment ${ns}/web`, `v1 ConfigMap ${ns}/extra`, `v1 ConfigMap ${ns}/settings`]);
  });

  it('an upgrade that changes the Job and the ConfigMap re-creates the Job (new template live) before the ConfigMap changes', async () => {
    const oldUid = (await live('job', 'migrate'))!.metadata.uid;
    const { result, app: a, log } = await run('v2');
    expect(result.ok, log).toBe(true);
    const order = steps(a.objects);
    expect(order.slice(1, 4)).toEqual([`Namespace/${ns} unchanged`, `PreSync Job/${ns}/migrate deleted`, `PreSync Job/${ns}/migrate created`]);
    expect(order.indexOf(`ConfigMap/${ns}/settings configured`)).toBeGreaterThan(3);
    const migrate = (await live('job', 'migrate'))!;
    expect(migrate.metadata.uid).not.toBe(oldUid);
    expect(migrate.spec.template.spec.containers[0].image).toBe('registry.example/migrate:v2');
    expect(migrate.status.succeeded).toBe(1);
    expect((await live('configmap', 'settings'))!.data).toEqual({ version: 'v2' });
    const notify = (await live('job', 'notify'))!;
    expect(notify.metadata.uid).not.toBe(notifyUid);
    expect(notify.spec.template.spec.containers[0].image).toBe('registry.example/migrate:v2');
    notifyUid = notify.metadata.uid as string;
  });

  it('diff mode shows hooks as would run, not as a diff against the previous run', async () => {
    const r = await diff({ plan: plan({ environment: env, apps, status: { shop: 'changed' } }), rendered: render('v2'), access, config: config(admin, { MODE: 'diff' }), logger: logger(), signal });
    expect(r.ok).toBe(true);
    const byId = Object.fromEntries(r.apps[0]!.objects.map((o) => [o.id, o]));
    expect(byId[`Job/${ns}/migrate`]).toMatchObject({ change: 'create', note: 'PreSync hook: would run (replacing the live one: BeforeHookCreation)' });
    expect(byId[`Job/${ns}/migrate`]!.diff).toMatch(/^\+kind: Job$/m);
    expect(byId[`Job/${ns}/cleanup`]).toMatchObject({ change: 'create', note: 'PostSync hook: would run' });
    expect(byId[`ConfigMap/${ns}/settings`]).toMatchObject({ change: 'none' });
    expect(byId[`ConfigMap/${ns}/sync-failed`]).toMatchObject({ change: 'none', note: 'SyncFail hook: runs only when the deploy fails' });
    expect(byId[`ConfigMap/${ns}/smoke-test`]).toMatchObject({ change: 'none', note: 'not run: only install and upgrade hooks run on a deploy (helm.sh/hook: test)' });
  });

  it('a failing PreSync Job fails the app: the ConfigMap is unchanged and the PostSync hooks do not run', async () => {
    const { result, app: a, log } = await run('v3', { fail: true });
    expect(result.ok).toBe(false);
    expect(a.outcome, log).toBe('failed');
    expect(a.reason).toMatch(new RegExp(`^Job/${ns}/migrate: PreSync hook failed: DeadlineExceeded`));
    expect(a.error!.hint).toMatch(/^the phases after PreSync did not run/);
    expect((await live('configmap', 'settings'))!.data).toEqual({ version: 'v2' });
    expect(a.objects.some((o) => o.hook === 'PostSync')).toBe(false);
    // SyncFail hooks run because the sync failed
    expect(steps(a.objects.slice(-1))).toEqual([`SyncFail ConfigMap/${ns}/sync-failed created`]);
    expect((await live('configmap', 'sync-failed'))!.data).toEqual({ version: 'v3' });
    expect(a.objects.some((o) => o.id === `ConfigMap/${ns}/settings`)).toBe(false);
    expect((await live('job', 'notify'))!.metadata.uid).toBe(notifyUid);
    expect((await live('job', 'migrate'))!.spec.template.spec.containers[0].image).toBe('registry.example/migrate:v3');
    // not recorded: the ledger keeps v2's commit, with the failed attempt noted
    expect((await ledger(admin, env)).shop!.failed).toBeDefined();
  });

  it('fixed, it deploys; hooks are never pruned with PRUNE=true, though the objects the app stopped rendering are', async () => {
    const fixed = await run('v4');
    expect(fixed.result.ok, fixed.log).toBe(true);
    expect(fixed.app.objects.some((o) => o.hook === 'SyncFail')).toBe(false);
    expect((await live('configmap', 'settings'))!.data).toEqual({ version: 'v4' });
    const { result, app: a, log } = await run('v4', { hooks: false, extra: false, vars: { PRUNE: 'true' } });
    expect(result.ok, log).toBe(true);
    expect(a.objects.filter((o) => o.action === 'pruned').map((o) => o.id)).toEqual([`ConfigMap/${ns}/extra`]);
    expect(await live('configmap', 'extra')).toBeUndefined();
    expect(await live('job', 'migrate')).toBeDefined();
    expect(await live('job', 'notify')).toBeDefined();
  });
});

describe('hooks: an app that recorded a hook as an ordinary object before', () => {
  it('keeps the hook out of prune and out of its inventory once it is run as a hook', async () => {
    const id = uid();
    const env = `hookinv-${id}`;
    const ns = `hookinv-${id}`;
    const apps = [app('db', { namespace: ns })];
    // an earlier deploy (before hooks ran as hooks) recorded the Job in the inventory
    const asObject = new Map([['db', rendered('db', [configMap('cfg', undefined), job('migrate', {}, { version: 'v1' })])]]);
    expect((await deploy({ plan: plan({ environment: env, apps }), rendered: asObject, access, config: config(admin), logger: logger(), signal })).ok).toBe(true);
    expect((await ledger(admin, env)).db!.objects).toContain(`batch/v1 Job ${ns}/migrate`);
    const asHook = new Map([['db', rendered('db', [configMap('cfg', undefined), job('migrate', { 'argocd.argoproj.io/hook': 'PreSync' }, { version: 'v2' })])]]);
    const r = await deploy({ plan: plan({ environment: env, apps, status: { db: 'changed' } }), rendered: asHook, access, config: config(admin, { PRUNE: 'true' }), logger: logger(), signal, pollMs: 200 });
    expect(r.ok, r.apps[0]!.reason).toBe(true);
    expect(r.apps[0]!.objects.some((o) => o.action === 'pruned')).toBe(false);
    expect((await getJson(admin, ['job', '-n', ns, 'migrate']))!.spec.template.spec.containers[0].image).toBe('registry.example/migrate:v2');
    expect((await ledger(admin, env)).db!.objects).toEqual([`v1 ConfigMap ${ns}/cfg`]);
  });
});

describe('a hook deleted before its result was seen', () => {
  it('fails the app at once, saying why, instead of waiting for the timeout', async () => {
    const id = uid();
    const ns = `hook-gone-${id}`;
    // never scheduled: it would run to the app's timeout; someone (a TTL controller, a person) deletes it meanwhile
    const stuck = job('stuck', { 'argocd.argoproj.io/hook': 'PreSync' }, { version: '1' }) as K8sObject & { spec: { template: { spec: Record<string, unknown> } } };
    stuck.spec.template.spec.nodeSelector = { 'no-such-node': 'true' };
    const started = Date.now();
    const run = deploy({
      plan: plan({ environment: `hook-gone-${id}`, apps: [app('shop', { namespace: ns, timeoutSeconds: 120 })] }),
      rendered: new Map([['shop', rendered('shop', [configMap('settings', undefined), stuck])]]),
      access,
      config: config(admin),
      logger: logger(),
      signal,
      pollMs: 200,
    });
    for (let i = 0; i < 100 && !(await getJson(admin, ['job', '-n', ns, 'stuck'])); i++) await new Promise((r) => setTimeout(r, 200));
    await kubectl(admin, ['delete', 'job', '-n', ns, 'stuck', '--wait=false']);
    const result = await run;
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(result.apps[0]!.outcome).toBe('failed');
    expect(result.apps[0]!.error!.details.join('\n')).toContain('Job/' + ns + '/stuck: deleted before its result was seen');
    expect(await getJson(admin, ['configmap', '-n', ns, 'settings'])).toBeUndefined();
  });
});
