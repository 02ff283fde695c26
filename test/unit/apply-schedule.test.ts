import { describe, expect, it } from 'vitest';
import type { AppOutcome } from '../../src/apply/model.js';
import { runLayers } from '../../src/apply/schedule.js';

interface R {
  app: string;
  outcome: AppOutcome;
  reason?: string;
}

function harness(opts: { deps?: Record<string, string[]>; waves?: Record<string, number>; fail?: string[]; concurrency?: number; abortAfter?: string }) {
  const started: string[] = [];
  let running = 0;
  let maxRunning = 0;
  const controller = new AbortController();
  const run = async (app: string): Promise<R> => {
    started.push(app);
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    if (opts.abortAfter === app) controller.abort();
    return { app, outcome: opts.fail?.includes(app) ? 'failed' : 'deployed' };
  };
  return {
    started,
    maxRunning: () => maxRunning,
    go: (layers: string[][]) =>
      runLayers<R>({
        layers,
        dependsOn: (a) => opts.deps?.[a] ?? [],
        wave: (a) => opts.waves?.[a] ?? 0,
        concurrency: opts.concurrency ?? 4,
        signal: controller.signal,
        run,
        skip: (app, reason) => ({ app, outcome: 'skipped', reason }),
        cancel: (app) => ({ app, outcome: 'cancelled' }),
      }),
  };
}

describe('runLayers', () => {
  it('runs layers in order and apps of a layer in parallel up to the concurrency', async () => {
    const h = harness({ concurrency: 2 });
    const results = await h.go([['a', 'b', 'c', 'd'], ['e']]);
    expect([...results.values()].every((r) => r.outcome === 'deployed')).toBe(true);
    expect(h.maxRunning()).toBe(2);
    expect(h.started.at(-1)).toBe('e');
  });

  it('a failed app skips its dependents, transitively, with the cause; independent apps go on', async () => {
    const h = harness({ fail: ['db'], deps: { api: ['db'], web: ['api'], cache: [], worker: ['cache'] } });
    const results = await h.go([['db', 'cache'], ['api', 'worker'], ['web']]);
    expect(results.get('db')!.outcome).toBe('failed');
    expect(results.get('api')).toEqual({ app: 'api', outcome: 'skipped', reason: 'dependency db failed' });
    expect(results.get('web')).toEqual({ app: 'web', outcome: 'skipped', reason: 'dependency api was skipped' });
    expect(results.get('worker')!.outcome).toBe('deployed');
    expect(h.started).not.toContain('api');
    expect(h.started).not.toContain('web');
  });

  it('dependencies outside the run (unchanged apps) do not block', async () => {
    const h = harness({ deps: { api: ['not-in-this-run'] } });
    expect((await h.go([['api']])).get('api')!.outcome).toBe('deployed');
  });

  it('inside a layer, lower app sync waves finish before higher ones start', async () => {
    const h = harness({ waves: { late: 1, early: -1, mid: 0 }, concurrency: 8 });
    await h.go([['late', 'mid', 'early']]);
    expect(h.started).toEqual(['early', 'mid', 'late']);
  });

  it('a failure in a wave stops every higher wave (as Argo CD halts a sync); the same wave goes on', async () => {
    const h = harness({ fail: ['db'], waves: { db: -1, cache: -1, queue: -1, api: 0, web: 1 }, deps: { queue: ['cache'] }, concurrency: 8 });
    const results = await h.go([['cache', 'db'], ['queue'], ['api'], ['web']]);
    expect(results.get('db')!.outcome).toBe('failed');
    expect(results.get('cache')!.outcome).toBe('deployed');
    expect(results.get('queue')!.outcome).toBe('deployed');
    expect(results.get('api')).toEqual({ app: 'api', outcome: 'skipped', reason: 'wave -1 app db failed' });
    expect(results.get('web')).toEqual({ app: 'web', outcome: 'skipped', reason: 'wave -1 app db failed' });
    expect(h.started.sort()).toEqual(['cache', 'db', 'queue']);
  });

  it('a dependent is skipped for its dependency, other apps of higher waves for the wave; inside one layer too', async () => {
    const h = harness({ fail: ['db'], waves: { db: 0, api: 1, late: 2, other: 1 }, deps: { api: ['db'] }, concurrency: 8 });
    const results = await h.go([['db'], ['api', 'other'], ['late']]);
    expect(results.get('api')!.reason).toBe('dependency db failed');
    expect(results.get('other')!.reason).toBe('wave 0 app db failed');
    expect(results.get('late')!.reason).toBe('wave 0 app db failed');
    const one = harness({ fail: ['early'], waves: { early: -1, late: 1, mid: 0 } });
    const layer = await one.go([['late', 'mid', 'early']]);
    expect(layer.get('mid')!.reason).toBe('wave -1 app early failed');
    expect(layer.get('late')!.reason).toBe('wave -1 app early failed');
    expect(one.started).toEqual(['early']);
  });

  it('after an abort no app starts: the rest are cancelled, dependents of cancelled apps skipped', async () => {
    const h = harness({ abortAfter: 'a', deps: { c: ['b'] }, concurrency: 1 });
    const results = await h.go([['a', 'b'], ['c']]);
    expect(results.get('a')!.outcome).toBe('deployed');
    expect(results.get('b')!.outcome).toBe('cancelled');
    expect(results.get('c')!.outcome).toBe('skipped');
    expect(h.started).toEqual(['a']);
  });
});
