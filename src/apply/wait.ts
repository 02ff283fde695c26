import pLimit from 'p-limit';
import type { K8sObject } from '../render/model.js';
import { PipeError } from '../util/errors.js';
import { sleep } from '../util/retry.js';
import type { KubeClient } from './client.js';
import { objectPath, resourcePath, type ResourceInfo } from './discovery.js';
import { ObjectError } from './errors.js';
import { assess, badConditions, hookHealth, podProblem, waitsFor, type Health } from './health.js';
import type { Target } from './prepare.js';

export class CancelledError extends PipeError {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

export interface WaitOptions {
  /** Epoch ms: the app's TIMEOUT. */
  deadline: number;
  signal?: AbortSignal;
  pollMs?: number;
  timeoutSeconds: number;
  /** The targets are hooks of this phase: each must finish (hookHealth), and messages say so. */
  hookPhase?: string;
}

/**
 * A workload not found yet is progressing; a hook the pipe has just created and that is gone was
 * deleted before its result was seen (a Job's ttlSecondsAfterFinished, or someone): whether it
 * succeeded is unknown, so it fails at once rather than at the timeout.
 */
function gone(hookPhase: string | undefined): Health {
  if (!hookPhase) return { state: 'progressing', message: 'not found' };
  return {
    state: 'failed',
    message: 'deleted before its result was seen (by its ttlSecondsAfterFinished, or by someone): whether it succeeded is unknown; give it a ttlSecondsAfterFinished of a minute or more, or use hook-delete-policy HookSucceeded to have the pipe delete it once it succeeded',
  };
}

const POD: ResourceInfo = { group: '', version: 'v1', kind: 'Pod', resource: 'pods', namespaced: true };
const EVENT: ResourceInfo = { group: '', version: 'v1', kind: 'Event', resource: 'events', namespaced: true };

/**
 * Polls the app's workloads until all are ready; a failed rollout (ProgressDeadlineExceeded, a
 * failed Job, a failed Pod) stops the wait at once, the deadline stops it with what is still
 * missing. Either way the error names each object and the evidence (conditions, pods, events).
 */
export async function waitHealthy(client: KubeClient, targets: Target[], o: WaitOptions): Promise<void> {
  let pending = targets.filter((t) => waitsFor(t.object));
  const limit = pLimit(16);
  // Poll briskly while a rollout is young (most finish within seconds), then back off.
  const first = o.pollMs ?? 250;
  const started = Date.now();
  const last = new Map<Target, { live?: K8sObject; health: Health }>();
  while (pending.length) {
    if (o.signal?.aborted) throw new CancelledError();
    await Promise.all(
      pending.map((t) =>
        limit(async () => {
          const live = await client.get<K8sObject>(objectPath(t.info, t.object), { signal: o.signal });
          last.set(t, { live, health: live ? (o.hookPhase ? hookHealth(live) : assess(live)) : gone(o.hookPhase) });
        }),
      ),
    );
    const failed = pending.filter((t) => last.get(t)!.health.state === 'failed');
    pending = pending.filter((t) => last.get(t)!.health.state === 'progressing');
    const what = o.hookPhase ? `${o.hookPhase} hook` : 'rollout';
    if (failed.length) throw await rolloutError(client, failed, last, `${what} failed`, o.signal, o.hookPhase);
    if (!pending.length) return;
    if (Date.now() >= o.deadline) throw await rolloutError(client, pending, last, `${what} not ${o.hookPhase ? 'complete' : 'ready'} within TIMEOUT (${o.timeoutSeconds}s)`, o.signal, o.hookPhase);
    const delay = Date.now() - started < 10_000 ? first : Math.min(2_000, first * 4);
    await sleep(Math.min(delay, Math.max(0, o.deadline - Date.now())));
  }
}

async function rolloutError(
  client: KubeClient,
  targets: Target[],
  last: Map<Target, { live?: K8sObject; health: Health }>,
  why: string,
  signal?: AbortSignal,
  hookPhase?: string,
): Promise<ObjectError> {
  const details: string[] = [];
  for (const t of targets) {
    const seen = last.get(t)!;
    const message = seen.health.state === 'ready' ? '' : seen.health.message;
    details.push(`${t.id}: ${message}`);
    if (seen.live) for (const line of await evidence(client, t, seen.live, signal).catch(() => [])) details.push(`  ${line}`);
  }
  const first = targets[0]!;
  const head = last.get(first)!.health;
  const reason = head.state === 'ready' ? '' : `: ${head.message}`;
  const others = targets.length > 1 ? ` (and ${targets.length - 1} more)` : '';
  return new ObjectError(first.id, `${why}${reason}${others}`, {
    details,
    hint: hookPhase
      ? `the phases after ${hookPhase} did not run; see the conditions, pods and events above, fix the hook (or what it needs) or raise TIMEOUT`
      : 'see the conditions, pods and events above; fix the manifest (image, resources, node selector, probes) or raise TIMEOUT',
  });
}

/** Conditions, the first unhealthy pods and the latest warning events of a workload. */
async function evidence(client: KubeClient, t: Target, live: K8sObject & { spec?: any; status?: any }, signal?: AbortSignal): Promise<string[]> {
  const lines = badConditions(live);
  const ns = live.metadata.namespace;
  const selector = live.spec?.selector?.matchLabels as Record<string, string> | undefined;
  if (ns && selector && live.kind !== 'Pod') {
    const labelSelector = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',');
    const pods = await client.get<{ items: K8sObject[] }>(resourcePath(POD, ns), { query: { labelSelector, limit: 20 }, signal });
    const problems = (pods?.items ?? []).map((p) => podProblem(p)).filter((p): p is string => Boolean(p));
    lines.push(...problems.slice(0, 3));
    if (!pods?.items.length) lines.push('no pods were created');
  } else if (live.kind === 'Pod') {
    const p = podProblem(live);
    if (p) lines.push(p);
  }
  if (ns) {
    const fieldSelector = `involvedObject.name=${live.metadata.name},involvedObject.kind=${t.info.kind},type=Warning`;
    const events = await client.get<{ items: { reason?: string; message?: string; lastTimestamp?: string }[] }>(resourcePath(EVENT, ns), { query: { fieldSelector }, signal });
    for (const e of (events?.items ?? []).slice(-3)) lines.push(`event ${e.reason ?? ''}: ${e.message ?? ''}`.trim());
  }
  return lines;
}
