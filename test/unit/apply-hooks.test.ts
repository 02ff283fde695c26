import { describe, expect, it } from 'vitest';
import { classifyHook } from '../../src/apply/hooks.js';
import { hookHealth } from '../../src/apply/health.js';
import { stage } from '../../src/apply/order.js';
import type { K8sObject } from '../../src/render/model.js';
import { InputError } from '../../src/util/errors.js';

const obj = (annotations: Record<string, string> = {}, kind = 'Job', name = 'migrate'): K8sObject => ({
  apiVersion: kind === 'Job' ? 'batch/v1' : 'v1',
  kind,
  metadata: { name, namespace: 'shop', annotations },
});
const classify = (a: Record<string, string>) => classifyHook(obj(a), 'app shop: Job/shop/migrate');
const hook = (a: Record<string, string>) => {
  const c = classify(a);
  if (c.kind !== 'hook') throw new Error(`not a hook: ${JSON.stringify(c)}`);
  return c.hook;
};

describe('hook classification: annotations -> phase', () => {
  it('an object without hook annotations is an ordinary object', () => {
    expect(classify({})).toEqual({ kind: 'object' });
    expect(classify({ 'argocd.argoproj.io/sync-wave': '2', 'helm.sh/hook-weight': '1' })).toEqual({ kind: 'object' });
  });

  it('reads Argo CD phases, comma lists in phase order', () => {
    expect(hook({ 'argocd.argoproj.io/hook': 'PreSync' }).phases).toEqual(['PreSync']);
    expect(hook({ 'argocd.argoproj.io/hook': 'Sync' }).phases).toEqual(['Sync']);
    expect(hook({ 'argocd.argoproj.io/hook': 'PostSync, PreSync' }).phases).toEqual(['PreSync', 'PostSync']);
    expect(hook({ 'argocd.argoproj.io/hook': 'SyncFail' }).phases).toEqual(['SyncFail']);
  });

  it('maps Helm hooks as Argo CD does: install and upgrade hooks run, crd-install is an ordinary object', () => {
    expect(hook({ 'helm.sh/hook': 'pre-install,pre-upgrade' }).phases).toEqual(['PreSync']);
    expect(hook({ 'helm.sh/hook': 'pre-upgrade' }).phases).toEqual(['PreSync']);
    expect(hook({ 'helm.sh/hook': 'post-install, post-upgrade' }).phases).toEqual(['PostSync']);
    expect(hook({ 'helm.sh/hook': 'pre-install,post-upgrade,pre-delete' }).phases).toEqual(['PreSync', 'PostSync']);
    expect(classify({ 'helm.sh/hook': 'crd-install' })).toEqual({ kind: 'object' });
    expect(hook({ 'helm.sh/hook': 'pre-install' }).source).toBe('helm.sh/hook: pre-install');
  });

  it('the Argo CD annotation wins over the Helm one', () => {
    expect(hook({ 'argocd.argoproj.io/hook': 'PostSync', 'helm.sh/hook': 'pre-install' }).phases).toEqual(['PostSync']);
    expect(classify({ 'argocd.argoproj.io/hook': 'Skip', 'helm.sh/hook': 'pre-install' }).kind).toBe('skipped');
  });

  it('hooks that never run on a deploy are skipped, with the reason', () => {
    for (const h of ['pre-delete', 'post-delete', 'pre-rollback', 'post-rollback', 'test', 'test-success', 'pre-delete,post-delete']) {
      const c = classify({ 'helm.sh/hook': h });
      expect(c.kind, h).toBe('skipped');
      expect(c.kind === 'skipped' && c.reason).toBe(`not run: only install and upgrade hooks run on a deploy (helm.sh/hook: ${h})`);
    }
    expect(classify({ 'argocd.argoproj.io/hook': 'Skip' })).toEqual({ kind: 'skipped', reason: 'not applied (argocd.argoproj.io/hook: Skip)' });
    expect(classify({ 'argocd.argoproj.io/hook': 'PostDelete' }).kind).toBe('skipped');
  });

  it('an Argo CD hook annotation naming no phase is bad input, not a hook that silently never runs', () => {
    expect(() => classify({ 'argocd.argoproj.io/hook': 'PreSynk' })).toThrow(InputError);
    expect(() => classify({ 'argocd.argoproj.io/hook': 'PreSynk' })).toThrow('app shop: Job/shop/migrate: argocd.argoproj.io/hook: "PreSynk" names no hook phase (PreSynk unknown)');
    expect(() => classify({ 'argocd.argoproj.io/hook': '' })).toThrow(/names no hook phase/);
  });
});

describe('hook delete policies', () => {
  it('default to BeforeHookCreation, as Argo CD', () => {
    expect(hook({ 'argocd.argoproj.io/hook': 'PreSync' }).policies).toEqual(['BeforeHookCreation']);
    expect(hook({ 'helm.sh/hook': 'pre-upgrade' }).policies).toEqual(['BeforeHookCreation']);
  });

  it('read both annotations, Helm names mapped, unknown values ignored', () => {
    expect(hook({ 'helm.sh/hook': 'pre-upgrade', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' }).policies).toEqual(['BeforeHookCreation', 'HookSucceeded']);
    expect(hook({ 'argocd.argoproj.io/hook': 'PostSync', 'argocd.argoproj.io/hook-delete-policy': 'HookSucceeded' }).policies).toEqual(['HookSucceeded']);
    expect(hook({ 'argocd.argoproj.io/hook': 'PostSync', 'argocd.argoproj.io/hook-delete-policy': 'HookFailed', 'helm.sh/hook-delete-policy': 'hook-failed' }).policies).toEqual(['HookFailed']);
    expect(hook({ 'argocd.argoproj.io/hook': 'PostSync', 'helm.sh/hook-delete-policy': 'hook-succeeded, whatever' }).policies).toEqual(['HookSucceeded']);
  });
});

describe('hook weights and order inside a phase', () => {
  it('sync-wave wins over helm.sh/hook-weight; default 0; not a number is bad input', () => {
    expect(hook({ 'helm.sh/hook': 'pre-install' }).weight).toBe(0);
    expect(hook({ 'helm.sh/hook': 'pre-install', 'helm.sh/hook-weight': '-5' }).weight).toBe(-5);
    expect(hook({ 'helm.sh/hook': 'pre-install', 'helm.sh/hook-weight': '-5', 'argocd.argoproj.io/sync-wave': '3' }).weight).toBe(3);
    expect(() => hook({ 'helm.sh/hook': 'pre-install', 'helm.sh/hook-weight': 'first' })).toThrow('app shop: Job/shop/migrate has helm.sh/hook-weight: "first", which is not a whole number');
  });

  it('hooks of a phase go by weight, then kind order, then name', () => {
    const hooks = [
      obj({ 'helm.sh/hook': 'pre-install', 'helm.sh/hook-weight': '1' }, 'Job', 'late'),
      obj({ 'helm.sh/hook': 'pre-install' }, 'Job', 'b'),
      obj({ 'helm.sh/hook': 'pre-install' }, 'ConfigMap', 'z'),
      obj({ 'helm.sh/hook': 'pre-install', 'helm.sh/hook-weight': '-1' }, 'Job', 'first'),
    ];
    const weight = (o: K8sObject) => (classifyHook(o, 'x') as { hook: { weight: number } }).hook.weight;
    const staged = stage(hooks, (o) => o, weight);
    expect(staged.waves.map((w) => [w.wave, w.batches.map((b) => b.map((o) => `${o.kind}/${o.metadata.name}`))])).toEqual([
      [-1, [['Job/first']]],
      [0, [['ConfigMap/z'], ['Job/b']]],
      [1, [['Job/late']]],
    ]);
  });
});

describe('hook health', () => {
  const live = (kind: string, status: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({ apiVersion: kind === 'Job' ? 'batch/v1' : 'v1', kind, metadata: { name: 'h' }, spec, status });
  it('a hook Pod is done when it Succeeded, not when it is Ready', () => {
    expect(hookHealth(live('Pod', { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] })).state).toBe('progressing');
    expect(hookHealth(live('Pod', { phase: 'Succeeded' })).state).toBe('ready');
    expect(hookHealth(live('Pod', { phase: 'Failed', reason: 'Error' })).state).toBe('failed');
  });
  it('a hook Job is done when Complete, fails when Failed, and a suspended one is not done', () => {
    expect(hookHealth(live('Job', { conditions: [{ type: 'Complete', status: 'True' }] })).state).toBe('ready');
    expect(hookHealth(live('Job', { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] }))).toEqual({ state: 'failed', message: 'BackoffLimitExceeded:' });
    expect(hookHealth(live('Job', {}, { suspend: true })).state).toBe('progressing');
  });
});
