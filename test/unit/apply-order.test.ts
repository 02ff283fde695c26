import { describe, expect, it } from 'vitest';
import { compareObjects, kindRank, stage, syncWave } from '../../src/apply/order.js';
import type { K8sObject } from '../../src/render/model.js';
import { InputError } from '../../src/util/errors.js';

const obj = (kind: string, name: string, opts: { apiVersion?: string; wave?: string; namespace?: string } = {}): K8sObject => ({
  apiVersion: opts.apiVersion ?? (kind === 'CustomResourceDefinition' ? 'apiextensions.k8s.io/v1' : 'v1'),
  kind,
  metadata: { name, namespace: opts.namespace, ...(opts.wave !== undefined ? { annotations: { 'argocd.argoproj.io/sync-wave': opts.wave } } : {}) },
});
const names = (list: K8sObject[]) => list.map((o) => `${o.kind}/${o.metadata.name}`);

describe('kind order', () => {
  it('follows Argo CD: Namespace first, RBAC before Service, Deployment before Job, unknown kinds last', () => {
    const sorted = [obj('Job', 'j'), obj('Widget', 'w'), obj('Deployment', 'd'), obj('Service', 's'), obj('RoleBinding', 'rb'), obj('ConfigMap', 'c'), obj('Namespace', 'n')].sort(compareObjects);
    expect(names(sorted)).toEqual(['Namespace/n', 'ConfigMap/c', 'RoleBinding/rb', 'Service/s', 'Deployment/d', 'Job/j', 'Widget/w']);
    expect(kindRank('ServiceAccount')).toBeLessThan(kindRank('Secret'));
    expect(kindRank('Unknown')).toBe(kindRank('OtherUnknown'));
  });

  it('sorts by name inside a kind', () => {
    expect(names([obj('ConfigMap', 'b'), obj('ConfigMap', 'a')].sort(compareObjects))).toEqual(['ConfigMap/a', 'ConfigMap/b']);
  });
});

describe('sync waves', () => {
  it('reads the annotation, default 0, negative allowed', () => {
    expect(syncWave(obj('ConfigMap', 'a'), 'app', 'id')).toBe(0);
    expect(syncWave(obj('ConfigMap', 'a', { wave: '-2' }), 'app', 'id')).toBe(-2);
    expect(syncWave(obj('ConfigMap', 'a', { wave: ' 5 ' }), 'app', 'id')).toBe(5);
  });

  it('refuses a wave that is not a whole number, naming the app and object', () => {
    expect(() => syncWave(obj('ConfigMap', 'a', { wave: 'first' }), 'web', 'ConfigMap/web/a')).toThrow(InputError);
    expect(() => syncWave(obj('ConfigMap', 'a', { wave: '1.5' }), 'web', 'ConfigMap/web/a')).toThrow(/app web: ConfigMap\/web\/a .* "1.5"/);
  });
});

describe('stage', () => {
  it('puts Namespaces and CRDs first whatever their wave, then waves in order, batched by kind', () => {
    const objects = [
      obj('Deployment', 'api'),
      obj('Widget', 'w1', { apiVersion: 'example.com/v1', wave: '1' }),
      obj('CustomResourceDefinition', 'widgets.example.com', { wave: '3' }),
      obj('ConfigMap', 'cfg'),
      obj('ConfigMap', 'cfg2'),
      obj('Namespace', 'web', { wave: '2' }),
      obj('Job', 'migrate', { wave: '-1' }),
      obj('Gadget', 'g1', { apiVersion: 'example.com/v1', wave: '1' }),
    ];
    const s = stage(objects, (o) => o, (o) => syncWave(o, 'app', o.metadata.name));
    expect(names(s.bootstrap)).toEqual(['Namespace/web', 'CustomResourceDefinition/widgets.example.com']);
    expect(s.waves.map((w) => w.wave)).toEqual([-1, 0, 1]);
    expect(s.waves[0]!.batches.map(names)).toEqual([['Job/migrate']]);
    expect(s.waves[1]!.batches.map(names)).toEqual([['ConfigMap/cfg', 'ConfigMap/cfg2'], ['Deployment/api']]);
    // Unknown kinds each get their own batch, in kind-name order.
    expect(s.waves[2]!.batches.map(names)).toEqual([['Gadget/g1'], ['Widget/w1']]);
  });

  it('an app with nothing rendered has no steps', () => {
    expect(stage([], (o: K8sObject) => o, () => 0)).toEqual({ bootstrap: [], waves: [] });
  });
});
