import { nameOf, type K8sObject } from '../render/model.js';
import { InputError } from '../util/errors.js';

/** Argo CD's kind order (gitops-engine sync_tasks.go); kinds not listed go last, by name. */
const KIND_ORDER = [
  'Namespace',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'PodSecurityPolicy',
  'PodDisruptionBudget',
  'ServiceAccount',
  'Secret',
  'SecretList',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleList',
  'ClusterRoleBinding',
  'ClusterRoleBindingList',
  'Role',
  'RoleList',
  'RoleBinding',
  'RoleBindingList',
  'Service',
  'DaemonSet',
  'Pod',
  'ReplicationController',
  'ReplicaSet',
  'Deployment',
  'HorizontalPodAutoscaler',
  'StatefulSet',
  'Job',
  'CronJob',
  'IngressClass',
  'Ingress',
  'APIService',
];
const RANK = new Map(KIND_ORDER.map((k, i) => [k, i]));

export const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';

export function kindRank(kind: string): number {
  return RANK.get(kind) ?? KIND_ORDER.length;
}

/** Argo CD order inside one wave: kind rank, then kind name (unknown kinds), then namespace/name. */
export function compareObjects(a: K8sObject, b: K8sObject): number {
  return (
    kindRank(a.kind) - kindRank(b.kind) ||
    a.kind.localeCompare(b.kind) ||
    (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
    nameOf(a).localeCompare(nameOf(b))
  );
}

/** The object's sync wave (default 0); a value that is not an integer is bad input. */
export function syncWave(o: K8sObject, app: string, id: string): number {
  const raw = o.metadata.annotations?.[SYNC_WAVE];
  if (raw === undefined) return 0;
  if (!/^\s*[-+]?\d+\s*$/.test(raw)) {
    throw new InputError(`app ${app}: ${id} has ${SYNC_WAVE}: "${raw}", which is not a whole number`, {
      hint: 'use an integer such as "-1", "0" or "5"',
    });
  }
  return Number(raw);
}

/** Namespaces and CRDs go first: everything else may live in them or be an instance of them. */
export function isBootstrap(o: Pick<K8sObject, 'kind' | 'apiVersion'>): boolean {
  return (
    (o.kind === 'Namespace' && o.apiVersion === 'v1') ||
    (o.kind === 'CustomResourceDefinition' && o.apiVersion.startsWith('apiextensions.k8s.io/'))
  );
}

export interface Wave<T> {
  wave: number;
  /** Batches in kind order; the objects of one batch share a kind rank and are applied in parallel. */
  batches: T[][];
}

export interface StagedApply<T> {
  bootstrap: T[];
  waves: Wave<T>[];
}

/**
 * The order of one app's apply: Namespaces and CRDs first (whatever their wave), then the rest
 * by sync wave, and inside a wave by kind (batches of equal kind rank) and name.
 */
export function stage<T>(items: T[], object: (t: T) => K8sObject, wave: (t: T) => number): StagedApply<T> {
  const bootstrap = items.filter((t) => isBootstrap(object(t))).sort((a, b) => compareObjects(object(a), object(b)));
  const byWave = new Map<number, T[]>();
  for (const t of items) {
    if (isBootstrap(object(t))) continue;
    const w = wave(t);
    byWave.set(w, [...(byWave.get(w) ?? []), t]);
  }
  const waves = [...byWave.entries()]
    .sort(([a], [b]) => a - b)
    .map(([w, list]) => {
      const sorted = [...list].sort((a, b) => compareObjects(object(a), object(b)));
      const batches: T[][] = [];
      let last: string | undefined;
      for (const t of sorted) {
        const kind = object(t).kind;
        // Unknown kinds share a rank but get a batch per kind.
        const key = RANK.has(kind) ? String(kindRank(kind)) : `?${kind}`;
        if (key === last) batches[batches.length - 1]!.push(t);
        else batches.push([t]);
        last = key;
      }
      return { wave: w, batches };
    });
  return { bootstrap, waves };
}
