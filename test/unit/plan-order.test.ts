import { describe, expect, it } from 'vitest';
import { dependencyGraph } from '../../src/plan/order.js';
import { InputError, InputErrors } from '../../src/util/errors.js';
import { app, root } from './plan-support.js';

const all = (names: string[]) => new Set(names);

function thrown(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    return e as InputError;
  }
  throw new Error('expected an error');
}

describe('dependencyGraph', () => {
  it('orders dependsOn in layers, independent apps side by side', () => {
    const g = dependencyGraph(root([app('web', { dependsOn: ['api'] }), app('api', { dependsOn: ['db'] }), app('db'), app('cache'), app('mq')]));
    expect(g.layers(all(['web', 'api', 'db', 'cache', 'mq']))).toEqual([['cache', 'db', 'mq'], ['api'], ['web']]);
    expect(g.order).toEqual(['cache', 'db', 'mq', 'api', 'web']);
  });

  it('keeps the order through apps that are not deployed', () => {
    const g = dependencyGraph(root([app('c', { dependsOn: ['b'] }), app('b', { dependsOn: ['a'] }), app('a'), app('x')]));
    expect(g.layers(all(['a', 'c', 'x']))).toEqual([['a', 'x'], ['c']]);
    expect(g.layers(all(['c']))).toEqual([['c']]);
  });

  it('puts higher sync waves after lower ones', () => {
    const g = dependencyGraph(root([app('late', { syncWave: 2 }), app('early', { syncWave: -1 }), app('mid'), app('mid2', { dependsOn: ['mid'] })]));
    expect(g.layers(all(['late', 'early', 'mid', 'mid2']))).toEqual([['early'], ['mid'], ['mid2'], ['late']]);
    expect(g.layers(all(['late', 'mid2']))).toEqual([['mid2'], ['late']]);
  });

  it('lets dependsOn win over a lower wave, and says so', () => {
    const g = dependencyGraph(root([app('api', { syncWave: 0, dependsOn: ['db'] }), app('db', { syncWave: 5 }), app('web', { syncWave: 1 })]));
    expect(g.layers(all(['api', 'db', 'web']))).toEqual([['web'], ['db'], ['api']]);
    expect(g.notes).toEqual(['api (wave 0) depends on db (wave 5): deployed in wave 5']);
    // the wave a failure is judged by: the one the app is deployed in
    expect(['api', 'db', 'web'].map(g.wave)).toEqual([5, 5, 1]);
  });

  it('reports a cycle with the path and the manifest line of an app in it', () => {
    const apps = [
      app('a', { dependsOn: ['b'], origin: { file: 'app-of-apps.yaml', line: 3 } }),
      app('b', { dependsOn: ['c'], origin: { file: 'app-of-apps.yaml', line: 7 } }),
      app('c', { dependsOn: ['a'], origin: { file: 'app-of-apps.yaml', line: 11 } }),
      app('d', { dependsOn: ['a'] }),
    ];
    const err = thrown(() => dependencyGraph(root(apps)));
    expect(err).toBeInstanceOf(InputError);
    expect(err.exitCode).toBe(2);
    expect(err.located).toBe('app-of-apps.yaml:3: dependency cycle: a -> b -> c -> a');
    expect(err.details).toEqual(['app-of-apps.yaml:3: a depends on b', 'app-of-apps.yaml:7: b depends on c', 'app-of-apps.yaml:11: c depends on a']);
  });

  it('reports an app that depends on itself', () => {
    const err = thrown(() => dependencyGraph(root([app('solo', { dependsOn: ['solo'], origin: { file: 'apps/solo.yaml', line: 2 } })])));
    expect(err.located).toBe('apps/solo.yaml:2: dependency cycle: solo -> solo');
  });

  it('reports every unknown dependency at its app\'s line, with a suggestion', () => {
    const err = thrown(() =>
      dependencyGraph(
        root([
          app('api', { dependsOn: ['datbase'], origin: { file: 'app-of-apps.yaml', line: 4 } }),
          app('web', { dependsOn: ['nope'], origin: { file: 'app-of-apps.yaml', line: 9 } }),
          app('database'),
        ]),
      ),
    ) as InputErrors;
    expect(err).toBeInstanceOf(InputErrors);
    expect(err.errors.map((e) => e.located)).toEqual([
      'app-of-apps.yaml:4: api depends on "datbase", which is not an app of the root manifest',
      'app-of-apps.yaml:9: web depends on "nope", which is not an app of the root manifest',
    ]);
    expect(err.errors[0]!.hint).toBe('did you mean "database"?');
  });

  it('does not wait for a dependency disabled in this environment', () => {
    const g = dependencyGraph(root([app('api', { dependsOn: ['db'] })], { disabled: ['db'], environment: { name: 'dev' } }));
    expect(g.layers(all(['api']))).toEqual([['api']]);
    expect(g.notes).toEqual(['api depends on db, which is disabled for dev: not waited for']);
  });

  it('orders 2,000 apps in a long chain quickly', () => {
    const apps = Array.from({ length: 2000 }, (_, i) => app(`a${i}`, { dependsOn: i ? [`a${i - 1}`] : [] }));
    const started = performance.now();
    const g = dependencyGraph(root(apps));
    const layers = g.layers(all(apps.map((a) => a.name)));
    expect(layers).toHaveLength(2000);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
