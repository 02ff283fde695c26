import { describe, expect, it } from 'vitest';
import { assess, badConditions, crdEstablished, podProblem, waitsFor } from '../../src/apply/health.js';
import { keptBy, pruneCandidates } from '../../src/apply/prune.js';

const deploy = (spec: Record<string, unknown>, status: Record<string, unknown>, generation = 2) =>
  ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'web', generation }, spec: { replicas: 2, ...spec }, status }) as never;

describe('health', () => {
  it('only workloads are waited for', () => {
    expect(waitsFor({ apiVersion: 'apps/v1', kind: 'Deployment' })).toBe(true);
    expect(waitsFor({ apiVersion: 'batch/v1', kind: 'Job' })).toBe(true);
    expect(waitsFor({ apiVersion: 'v1', kind: 'ConfigMap' })).toBe(false);
    expect(waitsFor({ apiVersion: 'example.com/v1', kind: 'Deployment' })).toBe(false);
  });

  it('Deployment: observedGeneration, updated, old replicas gone, available', () => {
    expect(assess(deploy({}, { observedGeneration: 1, updatedReplicas: 2, replicas: 2, availableReplicas: 2 })).state).toBe('progressing');
    expect(assess(deploy({}, { observedGeneration: 2, updatedReplicas: 1, replicas: 2, availableReplicas: 2 }))).toEqual({ state: 'progressing', message: '1 of 2 updated replicas' });
    expect(assess(deploy({}, { observedGeneration: 2, updatedReplicas: 2, replicas: 3, availableReplicas: 2 })).state).toBe('progressing');
    expect(assess(deploy({}, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 })).state).toBe('progressing');
    expect(assess(deploy({}, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }))).toEqual({ state: 'ready' });
    expect(assess(deploy({ replicas: 0 }, { observedGeneration: 2 }))).toEqual({ state: 'ready' });
  });

  it('Deployment past its progress deadline has failed, with the reason', () => {
    const h = assess(deploy({}, { observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "api-1" has timed out progressing.' }] }));
    expect(h).toEqual({ state: 'failed', message: 'ProgressDeadlineExceeded: ReplicaSet "api-1" has timed out progressing.' });
  });

  it('StatefulSet, DaemonSet, Job, Pod', () => {
    const sts = (status: Record<string, unknown>) => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 's', generation: 1 }, spec: { replicas: 2 }, status }) as never;
    expect(assess(sts({ observedGeneration: 1, readyReplicas: 2, currentRevision: 'a', updateRevision: 'b' })).state).toBe('progressing');
    expect(assess(sts({ observedGeneration: 1, readyReplicas: 2, currentRevision: 'b', updateRevision: 'b' })).state).toBe('ready');
    const ds = (status: Record<string, unknown>) => ({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'd', generation: 1 }, spec: {}, status }) as never;
    expect(assess(ds({ observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 })).state).toBe('progressing');
    expect(assess(ds({ observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 })).state).toBe('ready');
    const job = (conditions: unknown[]) => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: {}, status: { conditions } }) as never;
    expect(assess(job([])).state).toBe('progressing');
    expect(assess(job([{ type: 'Complete', status: 'True' }])).state).toBe('ready');
    expect(assess(job([{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }]))).toEqual({
      state: 'failed',
      message: 'BackoffLimitExceeded: Job has reached the specified backoff limit',
    });
    const pod = (status: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, status }) as never;
    expect(assess(pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] })).state).toBe('ready');
    expect(assess(pod({ phase: 'Failed' })).state).toBe('failed');
  });

  it('CRDs are ready when Established; refused names fail', () => {
    const crd = (conditions: unknown[]) => ({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'w' }, status: { conditions } }) as never;
    expect(crdEstablished(crd([])).state).toBe('progressing');
    expect(crdEstablished(crd([{ type: 'Established', status: 'True' }])).state).toBe('ready');
    expect(crdEstablished(crd([{ type: 'NamesAccepted', status: 'False', message: 'taken' }])).state).toBe('failed');
  });

  it('evidence: bad conditions and pod problems in one line each', () => {
    expect(badConditions(deploy({}, { conditions: [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'no' }, { type: 'Progressing', status: 'True' }] }))).toEqual([
      'condition Available=False MinimumReplicasUnavailable: no',
    ]);
    const pod = (status: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-1' }, status }) as never;
    expect(podProblem(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/2 nodes are available' }] }))).toBe(
      'pod api-1: Unschedulable: 0/2 nodes are available',
    );
    expect(podProblem(pod({ phase: 'Pending', containerStatuses: [{ name: 'app', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nope"' } } }] }))).toBe(
      'pod api-1: container app ImagePullBackOff: Back-off pulling image "nope"',
    );
    expect(podProblem(pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }))).toBeUndefined();
  });
});

describe('prune decisions', () => {
  const previous = ['v1 ConfigMap web/old', 'apps/v1 Deployment web/api', 'v1 Namespace web', 'v1 ConfigMap web/moved', 'rbac.authorization.k8s.io/v1 ClusterRole reader'];

  it('candidates: previously applied, not rendered now, not owned by another app; namespaced first, Namespaces last', () => {
    const current = new Set(['apps:Deployment/web/api']);
    const protectedKeys = new Set([':ConfigMap/web/moved']);
    const c = pruneCandidates(previous, current, protectedKeys).map((i) => `${i.kind}/${i.namespace ?? ''}/${i.name}`);
    expect(c).toEqual(['ClusterRole//reader', 'ConfigMap/web/old', 'Namespace//web']);
  });

  it('nothing to prune when everything is still rendered', () => {
    expect(pruneCandidates(['v1 ConfigMap web/a'], new Set([':ConfigMap/web/a']), new Set())).toEqual([]);
  });

  it('per-object opt-out, and the annotations that keep an object, each named', () => {
    const o = (annotations?: Record<string, string>) => ({ metadata: { name: 'x', ...(annotations ? { annotations } : {}) } });
    for (const removed of [false, true]) {
      expect(keptBy(o({ 'app-of-apps.io/prune': 'false' }), removed)).toBe('opted out (app-of-apps.io/prune: "false")');
      expect(keptBy(o({ 'argocd.argoproj.io/sync-options': 'ServerSideApply=true,Prune=false' }), removed)).toBe('opted out (argocd.argoproj.io/sync-options: Prune=false)');
      // Helm keeps such objects whenever an operation would delete them: on prune and on app removal
      expect(keptBy(o({ 'helm.sh/resource-policy': 'keep' }), removed)).toBe('kept (helm.sh/resource-policy: keep)');
      expect(keptBy(o({ 'helm.sh/resource-policy': ' Keep ' }), removed)).toBe('kept (helm.sh/resource-policy: keep)');
      expect(keptBy(o({ 'app-of-apps.io/prune': 'true' }), removed)).toBeUndefined();
      expect(keptBy(o({ 'helm.sh/resource-policy': 'delete' }), removed)).toBeUndefined();
      expect(keptBy(o(), removed)).toBeUndefined();
    }
    // Argo CD's Delete=false keeps an object when its app is deleted, not when the app stops rendering it
    const deleteFalse = o({ 'argocd.argoproj.io/sync-options': 'Delete=false, ServerSideApply=true' });
    expect(keptBy(deleteFalse, true)).toBe('kept (argocd.argoproj.io/sync-options: Delete=false)');
    expect(keptBy(deleteFalse, false)).toBeUndefined();
    expect(keptBy(o({ 'argocd.argoproj.io/sync-options': 'Prune=true' }), true)).toBeUndefined();
    // Argo CD waits for a person to confirm these; a pipeline cannot ask, so it keeps the object
    const confirm = 'kept: argocd.argoproj.io/sync-options: Prune=confirm asks for a confirmation, which a pipeline cannot give (delete it by hand)';
    expect(keptBy(o({ 'argocd.argoproj.io/sync-options': 'Prune=confirm' }), false)).toBe(confirm);
    expect(keptBy(o({ 'argocd.argoproj.io/sync-options': 'Prune=confirm' }), true)).toBe(confirm);
    expect(keptBy(o({ 'argocd.argoproj.io/sync-options': 'Delete=confirm' }), true)).toBe(confirm.replace('Prune=', 'Delete='));
    expect(keptBy(o({ 'argocd.argoproj.io/sync-options': 'Delete=confirm' }), false)).toBeUndefined();
  });
});
