import type { K8sObject } from '../render/model.js';
import { InputError } from '../util/errors.js';
import { SYNC_WAVE } from './order.js';

/**
 * Resource hooks, as Argo CD runs them (gitops-engine's hook and helm hook packages): an object
 * annotated `argocd.argoproj.io/hook`, or, without that annotation, `helm.sh/hook`, is not part of
 * the app's ordinary objects: it is created at its phase of the sync, waited for until complete,
 * and deleted by its delete policy. Pure: the engine decides what to do with the answer.
 */

export type HookPhase = 'PreSync' | 'Sync' | 'PostSync' | 'SyncFail';
export type DeletePolicy = 'BeforeHookCreation' | 'HookSucceeded' | 'HookFailed';

export const ARGO_HOOK = 'argocd.argoproj.io/hook';
export const ARGO_DELETE_POLICY = 'argocd.argoproj.io/hook-delete-policy';
export const HELM_HOOK = 'helm.sh/hook';
export const HELM_DELETE_POLICY = 'helm.sh/hook-delete-policy';
export const HELM_WEIGHT = 'helm.sh/hook-weight';

export const PHASES: readonly HookPhase[] = ['PreSync', 'Sync', 'PostSync', 'SyncFail'];

/** Helm's hook types Argo CD runs, and the phase each maps to. */
const HELM_PHASE: Record<string, HookPhase> = {
  'pre-install': 'PreSync',
  'pre-upgrade': 'PreSync',
  'post-install': 'PostSync',
  'post-upgrade': 'PostSync',
};

const HELM_POLICY: Record<string, DeletePolicy> = {
  'before-hook-creation': 'BeforeHookCreation',
  'hook-succeeded': 'HookSucceeded',
  'hook-failed': 'HookFailed',
};

export interface Hook {
  /** The phases it runs in (in phase order); one object may run in several. */
  phases: HookPhase[];
  /** BeforeHookCreation when none is given (Argo CD's default). */
  policies: DeletePolicy[];
  /** Order inside its phase: argocd.argoproj.io/sync-wave, else helm.sh/hook-weight, else 0. */
  weight: number;
  /** The annotation it was read from, for messages: `argocd.argoproj.io/hook: PreSync`. */
  source: string;
}

/** What the engine does with a rendered object. */
export type HookClass = { kind: 'object' } | { kind: 'hook'; hook: Hook } | { kind: 'skipped'; reason: string };

const csv = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/**
 * Classifies an object: an ordinary object, a hook (phases, delete policies, weight), or a hook
 * the pipe does not run (Skip, Helm's delete, rollback and test hooks, Argo CD's PostDelete).
 * `crd-install` is an ordinary object, as in Argo CD. A hook annotation naming no phase Argo CD
 * knows is bad input rather than silently never run; so is a weight that is not a whole number.
 */
export function classifyHook(o: Pick<K8sObject, 'metadata'>, where: string): HookClass {
  const a = o.metadata.annotations ?? {};
  let phases: HookPhase[];
  let source: string;
  if (a[ARGO_HOOK] !== undefined) {
    const types = csv(a[ARGO_HOOK]);
    source = `${ARGO_HOOK}: ${a[ARGO_HOOK]}`;
    if (types.includes('Skip')) return { kind: 'skipped', reason: `not applied (${source})` };
    const unknown = types.filter((t) => !PHASES.includes(t as HookPhase) && t !== 'PostDelete');
    if (unknown.length || !types.length) {
      throw new InputError(`${where}: ${ARGO_HOOK}: "${a[ARGO_HOOK]}" names no hook phase${unknown.length ? ` (${unknown.join(', ')} unknown)` : ''}`, {
        hint: `use PreSync, Sync, PostSync, SyncFail or Skip (a comma list is allowed)`,
      });
    }
    phases = PHASES.filter((p) => types.includes(p));
    if (!phases.length) return { kind: 'skipped', reason: `not run: the pipe deletes no apps, so it runs no PostDelete hooks (${source})` };
  } else if (a[HELM_HOOK] !== undefined) {
    const types = csv(a[HELM_HOOK]);
    source = `${HELM_HOOK}: ${a[HELM_HOOK]}`;
    if (types.length === 1 && types[0] === 'crd-install') return { kind: 'object' };
    phases = PHASES.filter((p) => types.some((t) => HELM_PHASE[t] === p));
    if (!phases.length) return { kind: 'skipped', reason: `not run: only install and upgrade hooks run on a deploy (${source})` };
  } else {
    return { kind: 'object' };
  }
  const policies = [
    ...csv(a[ARGO_DELETE_POLICY]).filter((p): p is DeletePolicy => p === 'BeforeHookCreation' || p === 'HookSucceeded' || p === 'HookFailed'),
    ...csv(a[HELM_DELETE_POLICY]).flatMap((p) => (HELM_POLICY[p] ? [HELM_POLICY[p]] : [])),
  ];
  return { kind: 'hook', hook: { phases, policies: policies.length ? [...new Set(policies)] : ['BeforeHookCreation'], weight: hookWeight(a, where), source } };
}

/** argocd.argoproj.io/sync-wave wins over helm.sh/hook-weight, as in Argo CD. */
function hookWeight(a: Record<string, string>, where: string): number {
  const key = a[SYNC_WAVE] !== undefined ? SYNC_WAVE : a[HELM_WEIGHT] !== undefined ? HELM_WEIGHT : undefined;
  if (!key) return 0;
  const raw = a[key]!;
  if (!/^\s*[-+]?\d+\s*$/.test(raw)) {
    throw new InputError(`${where} has ${key}: "${raw}", which is not a whole number`, { hint: 'use an integer such as "-1", "0" or "5"' });
  }
  return Number(raw);
}
