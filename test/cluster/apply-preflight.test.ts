// Before an app's first object is applied, each of its objects is read and dry-run on the server:
// an object the server refuses, or one another app or environment deployed, fails the app with
// none of its objects applied.
import { describe, expect, it } from 'vitest';
import { deploy } from '../../src/apply/index.js';
import type { K8sObject } from '../../src/render/model.js';
import { app, asAdmin, config, configMap, deployment, getJson, kubectl, ledger, logger, plan, rendered, uid } from './helpers/engine.js';

const { admin, access, signal } = asAdmin();

const service = (name: string, selector: string): K8sObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name },
  spec: { selector: { app: selector }, ports: [{ port: 80 }] },
});

/** A Deployment whose selector and pod labels are `selector` (a selector is immutable). */
function selecting(name: string, selector: string): K8sObject {
  const d = deployment(name, undefined) as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } } };
  d.spec.selector.matchLabels = { app: selector };
  d.spec.template.metadata.labels = { app: selector };
  return d;
}

describe('preflight: read and dry-run before the first apply', () => {
  const id = uid();
  const env = `pre-${id}`;
  const ns = `pre-${id}`;
  const run = (apps: ReturnType<typeof app>[], objs: Record<string, K8sObject[]>, status: Record<string, 'changed' | 'unchanged'> = {}, environment = env) =>
    deploy({
      plan: plan({ environment, apps, status }),
      rendered: new Map(Object.entries(objs).map(([k, v]) => [k, rendered(k, v)])),
      access,
      config: config(admin),
      logger: logger(),
      signal,
      pollMs: 200,
    });

  it('an object the server refuses fails its app with none of the app applied: the Service keeps its selector', async () => {
    const web = [app('web', { namespace: ns })];
    const first = await run(web, { web: [service('web', 'web'), selecting('web', 'web')] });
    expect(first.ok).toBe(true);
    const deployed = (await ledger(admin, env)).web!;

    // one commit moves both to a new selector: the Service would go first (kind order), the Deployment's is immutable
    const second = await run(web, { web: [service('web', 'web2'), selecting('web', 'web2')] }, { web: 'changed' });
    expect(second.ok).toBe(false);
    const r = second.apps[0]!;
    expect(r.outcome).toBe('failed');
    expect(r.reason).toMatch(new RegExp(`^Deployment/${ns}/web: server-side dry run rejected as invalid: .*field is immutable`));
    expect(r.objects).toEqual([]);
    expect((await getJson(admin, ['service', '-n', ns, 'web']))!.spec.selector).toEqual({ app: 'web' });
    // nothing changed: no failed mark, the entry is the last deploy's
    expect((await ledger(admin, env)).web).toEqual(deployed);
  });

  it('every refused object is named, not just the first', async () => {
    const web = [app('web', { namespace: ns })];
    const bad = (name: string): K8sObject => ({ ...configMap(name, undefined), data: { 'not a valid key!': 'x' } });
    const r = await run(web, { web: [service('web', 'web'), selecting('web', 'web'), bad('bad-one'), bad('bad-two')] }, { web: 'changed' });
    expect(r.apps[0]!.reason).toBe('2 objects were refused before any was applied');
    expect(r.apps[0]!.error!.details).toEqual([
      expect.stringMatching(new RegExp(`^ConfigMap/${ns}/bad-one: server-side dry run rejected as invalid`)),
      expect.stringMatching(new RegExp(`^ConfigMap/${ns}/bad-two: server-side dry run rejected as invalid`)),
    ]);
    expect(await getJson(admin, ['configmap', '-n', ns, 'bad-one'])).toBeUndefined();
  });

  it("an object another app of the environment deployed is not taken over by an app deployed without it", async () => {
    const apps = [app('a', { namespace: ns }), app('b', { namespace: ns })];
    const first = await run(apps, { a: [configMap('shared', undefined, { owner: 'a' })], b: [configMap('b-own', undefined)] });
    expect(first.ok).toBe(true);

    // b starts rendering a's object while a is unchanged (still in the root, still deploying it)
    const taking = await run(apps, { b: [configMap('b-own', undefined, { v: '2' }), configMap('shared', undefined, { owner: 'b' })] }, { a: 'unchanged', b: 'changed' });
    expect(taking.ok).toBe(false);
    expect(taking.apps.map((x) => [x.app, x.outcome, x.reason])).toEqual([['b', 'failed', `ConfigMap/${ns}/shared: is deployed by app a, which this run does not deploy`]]);
    expect(taking.apps[0]!.error!.hint).toBe('an object is deployed by one app: if app a no longer renders it, deploy both (APPS=a,b FORCE=true; moving it in one commit deploys both too); if it does, remove it from one of them');
    expect((await getJson(admin, ['configmap', '-n', ns, 'shared']))!.data).toEqual({ owner: 'a' });
    expect((await getJson(admin, ['configmap', '-n', ns, 'b-own']))!.data).toEqual({ a: '1' });

    // a moves it to b in the same commit (both deploy): allowed
    const moving = await run(apps, { a: [], b: [configMap('b-own', undefined), configMap('shared', undefined, { owner: 'b' })] }, { a: 'changed', b: 'changed' });
    expect(moving.apps.map((x) => [x.app, x.outcome])).toEqual([
      ['a', 'deployed'],
      ['b', 'deployed'],
    ]);
    expect((await getJson(admin, ['configmap', '-n', ns, 'shared']))!.data).toEqual({ owner: 'b' });

    // an app gone from the root (renamed, say) leaves its objects to whoever renders them now
    const renamed = [app('c', { namespace: ns }), app('a', { namespace: ns })];
    const rename = await run(renamed, { c: [configMap('b-own', undefined), configMap('shared', undefined, { owner: 'c' })] }, { a: 'unchanged', c: 'changed' });
    expect(rename.ok, JSON.stringify(rename.apps)).toBe(true);
    expect((await getJson(admin, ['configmap', '-n', ns, 'shared']))!.data).toEqual({ owner: 'c' });
  });

  it('a CRD and its resources changed together: the resources are dry-run against the new CRD', async () => {
    const group = `pre${id}.example.com`;
    const crd = (properties: Record<string, unknown>): K8sObject => ({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `gadgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { kind: 'Gadget', plural: 'gadgets', singular: 'gadget', listKind: 'GadgetList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties } } } } }],
      },
    });
    const gadget = (spec: Record<string, unknown>): K8sObject => ({ apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g1' }, spec });
    const apps = [app('gadgets', { namespace: `${ns}-g` })];
    const first = await run(apps, { gadgets: [crd({ size: { type: 'integer' } }), gadget({ size: 1 })] });
    expect(first.ok, JSON.stringify(first.apps)).toBe(true);
    // the new field is in the new schema only: dry-run against the live CRD, the resource is refused
    const second = await run(apps, { gadgets: [crd({ size: { type: 'integer' }, color: { type: 'string' } }), gadget({ size: 1, color: 'green' })] }, { gadgets: 'changed' });
    expect(second.apps.map((x) => [x.app, x.outcome, x.reason])).toEqual([['gadgets', 'deployed', undefined]]);
    expect((await getJson(admin, [`gadgets.${group}`, '-n', `${ns}-g`, 'g1']))!.spec).toEqual({ size: 1, color: 'green' });
  });

  it('a Pod and the ServiceAccount it runs as, in one app: admission looks the account up, so the Pod is left to its turn', async () => {
    const sa: K8sObject = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'runner' } };
    const pod: K8sObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p1' },
      spec: { serviceAccountName: 'runner', tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }], containers: [{ name: 'app', image: 'registry.example/app:1' }] },
    } as K8sObject;
    const r = await run([app('runner', { namespace: `${ns}-sa` })], { runner: [sa, pod] });
    expect(r.apps.map((x) => [x.app, x.outcome, x.reason])).toEqual([['runner', 'deployed', undefined]]);
    expect((await getJson(admin, ['pod', '-n', `${ns}-sa`, 'p1']))!.spec.serviceAccountName).toBe('runner');
  });

  it('a Pod Security denial (403) is a refusal: nothing of the app is applied', async () => {
    const restricted = `${ns}-psa`;
    await kubectl(admin, ['create', 'namespace', restricted]);
    await kubectl(admin, ['label', 'namespace', restricted, 'pod-security.kubernetes.io/enforce=restricted']);
    const privileged: K8sObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'root' },
      spec: { containers: [{ name: 'app', image: 'registry.example/app:1', securityContext: { privileged: true } }] },
    } as K8sObject;
    const r = await run([app('psa', { namespace: restricted, createNamespace: false })], { psa: [configMap('settings', undefined), privileged] });
    expect(r.apps[0]!.outcome).toBe('failed');
    expect(r.apps[0]!.reason).toMatch(new RegExp(`^Pod/${restricted}/root: server-side dry run forbidden: .*violates PodSecurity`));
    expect(await getJson(admin, ['configmap', '-n', restricted, 'settings'])).toBeUndefined();
  });

  it('an object of another environment is not taken over', async () => {
    const other = `${env}-other`;
    const mine = await run([app('cfg', { namespace: ns })], { cfg: [configMap('per-env', undefined, { env: 'one' })] });
    expect(mine.ok).toBe(true);
    const theirs = await run([app('cfg', { namespace: ns })], { cfg: [configMap('per-env', undefined, { env: 'two' })] }, {}, other);
    expect(theirs.apps.map((x) => [x.app, x.outcome, x.reason])).toEqual([['cfg', 'failed', `ConfigMap/${ns}/per-env: is deployed by app cfg of environment ${env}`]]);
    expect((await getJson(admin, ['configmap', '-n', ns, 'per-env']))!.data).toEqual({ env: 'one' });
  });
});
