import type { K8sObject } from '../render/model.js';

/** Where a workload is in its rollout (kubectl rollout status semantics). */
export type Health = { state: 'ready' } | { state: 'progressing'; message: string } | { state: 'failed'; message: string };

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

type Live = K8sObject & { spec?: Record<string, any>; status?: Record<string, any> };

const READY: Health = { state: 'ready' };
const progressing = (message: string): Health => ({ state: 'progressing', message });

function conditions(o: Live): Condition[] {
  return (o.status?.conditions as Condition[] | undefined) ?? [];
}

function condition(o: Live, type: string): Condition | undefined {
  return conditions(o).find((c) => c.type === type);
}

/** Kinds whose readiness the engine waits for; everything else is done once applied. */
export function waitsFor(o: Pick<K8sObject, 'apiVersion' | 'kind'>): boolean {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return (
    (group === 'apps' && ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind)) ||
    (group === 'batch' && o.kind === 'Job') ||
    (group === '' && o.kind === 'Pod')
  );
}

function observed(o: Live): boolean {
  const gen = o.metadata.generation as number | undefined;
  const obs = o.status?.observedGeneration as number | undefined;
  return gen === undefined || (obs !== undefined && obs >= gen);
}

function deployment(o: Live): Health {
  if (o.spec?.paused) return READY;
  if (!observed(o)) return progressing('waiting for the controller to observe the new generation');
  const prog = condition(o, 'Progressing');
  if (prog?.reason === 'ProgressDeadlineExceeded') return { state: 'failed', message: `ProgressDeadlineExceeded: ${prog.message ?? ''}`.trim() };
  const want = (o.spec?.replicas as number | undefined) ?? 1;
  const s = o.status ?? {};
  const updated = (s.updatedReplicas as number | undefined) ?? 0;
  if (updated < want) return progressing(`${updated} of ${want} updated replicas`);
  if (((s.replicas as number | undefined) ?? 0) > updated) return progressing(`${(s.replicas as number) - updated} old replicas are pending termination`);
  if (((s.availableReplicas as number | undefined) ?? 0) < updated) return progressing(`${s.availableReplicas ?? 0} of ${updated} updated replicas are available`);
  return READY;
}

function statefulSet(o: Live): Health {
  if (o.spec?.updateStrategy?.type === 'OnDelete') return READY;
  if (!observed(o) || !o.status?.observedGeneration) return progressing('waiting for the controller to observe the new generation');
  const want = (o.spec?.replicas as number | undefined) ?? 1;
  const s = o.status;
  if (((s.readyReplicas as number | undefined) ?? 0) < want) return progressing(`${s.readyReplicas ?? 0} of ${want} replicas ready`);
  const partition = o.spec?.updateStrategy?.rollingUpdate?.partition as number | undefined;
  if (partition) {
    const updated = (s.updatedReplicas as number | undefined) ?? 0;
    return updated < want - partition ? progressing(`${updated} of ${want - partition} replicas updated`) : READY;
  }
  if (s.updateRevision !== s.currentRevision) return progressing(`${s.updatedReplicas ?? 0} of ${want} replicas at the new revision`);
  return READY;
}

function daemonSet(o: Live): Health {
  if (o.spec?.updateStrategy?.type === 'OnDelete') return READY;
  if (!observed(o)) return progressing('waiting for the controller to observe the new generation');
  const s = o.status ?? {};
  const desired = (s.desiredNumberScheduled as number | undefined) ?? 0;
  if (((s.updatedNumberScheduled as number | undefined) ?? 0) < desired) return progressing(`${s.updatedNumberScheduled ?? 0} of ${desired} pods updated`);
  if (((s.numberAvailable as number | undefined) ?? 0) < desired) return progressing(`${s.numberAvailable ?? 0} of ${desired} pods available`);
  return READY;
}

function job(o: Live): Health {
  const failed = condition(o, 'Failed');
  if (failed?.status === 'True') return { state: 'failed', message: `${failed.reason ?? 'Failed'}: ${failed.message ?? ''}`.trim() };
  if (condition(o, 'Complete')?.status === 'True') return READY;
  if (o.spec?.suspend) return READY;
  return progressing(`${o.status?.succeeded ?? 0} of ${o.spec?.completions ?? 1} completions`);
}

function pod(o: Live): Health {
  const phase = o.status?.phase as string | undefined;
  if (phase === 'Succeeded') return READY;
  if (phase === 'Failed') return { state: 'failed', message: `pod failed: ${o.status?.reason ?? ''} ${o.status?.message ?? ''}`.trim() };
  return condition(o, 'Ready')?.status === 'True' ? READY : progressing(`pod is ${phase ?? 'Pending'}`);
}

/** The health of a live object; kinds without a rollout are ready once applied. */
export function assess(o: Live): Health {
  if (!waitsFor(o)) return READY;
  switch (o.kind) {
    case 'Deployment':
      return deployment(o);
    case 'StatefulSet':
      return statefulSet(o);
    case 'DaemonSet':
      return daemonSet(o);
    case 'Job':
      return job(o);
    default:
      return pod(o);
  }
}

/**
 * A hook's health: a hook is done when it finished, not when it runs, so a Pod must have
 * Succeeded (Ready is not enough); a Job must be Complete; other kinds as assess says.
 */
export function hookHealth(o: Live): Health {
  if (o.kind === 'Pod' && !o.apiVersion.includes('/')) {
    const phase = o.status?.phase as string | undefined;
    if (phase === 'Succeeded') return READY;
    if (phase === 'Failed') return { state: 'failed', message: `pod failed: ${o.status?.reason ?? ''} ${o.status?.message ?? ''}`.trim() };
    return progressing(`pod is ${phase ?? 'Pending'}, not completed`);
  }
  if (o.kind === 'Job' && o.spec?.suspend && condition(o, 'Complete')?.status !== 'True') return progressing('the Job is suspended');
  return assess(o);
}

/** A CRD is usable once Established (and its names accepted). */
export function crdEstablished(o: Live): Health {
  const names = condition(o, 'NamesAccepted');
  if (names?.status === 'False') return { state: 'failed', message: `NamesAccepted=False: ${names.message ?? ''}` };
  return condition(o, 'Established')?.status === 'True' ? READY : progressing('not Established yet');
}

/** Conditions worth showing when a rollout fails: those not in their good state. */
export function badConditions(o: Live): string[] {
  const good: Record<string, string> = { Available: 'True', Progressing: 'True', Complete: 'True', Ready: 'True', Failed: 'False', ReplicaFailure: 'False' };
  return conditions(o)
    .filter((c) => (good[c.type] ?? 'True') !== c.status || c.reason === 'ProgressDeadlineExceeded')
    .map((c) => `condition ${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ''}${c.message ? `: ${c.message}` : ''}`);
}

/** What is wrong with a pod, in a line: unschedulable, image pull errors, crashes, not ready. */
export function podProblem(p: Live): string | undefined {
  const name = p.metadata.name;
  const sched = condition(p, 'PodScheduled');
  if (sched?.status === 'False') return `pod ${name}: ${sched.reason ?? 'Unschedulable'}: ${sched.message ?? ''}`.trim();
  const statuses = [...((p.status?.initContainerStatuses as any[]) ?? []), ...((p.status?.containerStatuses as any[]) ?? [])];
  for (const c of statuses) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && waiting.reason !== 'PodInitializing' && waiting.reason !== 'ContainerCreating') {
      return `pod ${name}: container ${c.name} ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
    }
    const term = c.state?.terminated ?? c.lastState?.terminated;
    if (term && term.exitCode !== 0) return `pod ${name}: container ${c.name} terminated ${term.reason ?? ''} (exit code ${term.exitCode})`;
  }
  if (p.status?.phase === 'Failed') return `pod ${name}: Failed ${p.status?.reason ?? ''} ${p.status?.message ?? ''}`.trim();
  if (condition(p, 'Ready')?.status !== 'True' && p.status?.phase !== 'Succeeded') return `pod ${name}: ${p.status?.phase ?? 'Pending'}, not ready`;
  return undefined;
}
