import pLimit from 'p-limit';
import { namedByServer, objectId, type K8sObject } from '../render/model.js';
import { sleep } from '../util/retry.js';
import { applyObject, deleteObject, readLive, type Applied, type Live } from './apply-object.js';
import type { RunContext } from './app.js';
import { KubeApiError } from './client.js';
import { objectPath, resourcePath } from './discovery.js';
import { ObjectError, objectError } from './errors.js';
import { hookHealth } from './health.js';
import type { DeletePolicy, HookPhase } from './hooks.js';
import type { ObjectResult } from './model.js';
import { stage } from './order.js';
import type { Target } from './prepare.js';
import { CancelledError, waitHealthy } from './wait.js';

/** The app's health deadline, shared by its hooks. */
export interface HookTiming {
  deadline: number;
  timeoutSeconds: number;
}

const replaces = (t: Target) => t.hook!.policies.includes('BeforeHookCreation');

/**
 * The preflight of a hook: a hook that BeforeHookCreation replaces is dry-run as a create (POST),
 * since it will be deleted and created afresh: a field that cannot change on the live object
 * (a Job's template) must not block it. The server validates and admits a create before it
 * looks for an existing object, so AlreadyExists means everything else passed. Other hooks are
 * dry-run as the server-side apply they get.
 */
export async function dryRunHook(ctx: RunContext, t: Target, live: Live): Promise<void> {
  // a hook the server names (generateName) is always created: dry-run as the create it gets
  const generated = namedByServer(t.object);
  if (!generated && (!live.object || !replaces(t))) {
    await applyObject(ctx.client, t, { fieldManager: ctx.config.fieldManager, force: ctx.config.forceConflicts, signal: ctx.hardSignal, dryRun: true }, live);
    return;
  }
  try {
    await ctx.client.request('POST', resourcePath(t.info, t.object.metadata.namespace), {
      body: t.object,
      query: { fieldManager: ctx.config.fieldManager, dryRun: 'All' },
      signal: ctx.hardSignal,
    });
  } catch (err) {
    if (!generated && err instanceof KubeApiError && err.status === 409 && err.reason === 'AlreadyExists') return;
    throw objectError(t.id, `server-side dry run (as a create: ${generated ? 'the server names it' : 'BeforeHookCreation replaces the live one'})`, err);
  }
}

/**
 * Runs the app's hooks of one phase: by weight, then kind order, each group created (the live
 * one deleted first with BeforeHookCreation), waited for until complete whatever WAIT says (the
 * next phase depends on it), and deleted by HookSucceeded or HookFailed. A failed hook fails
 * the phase, so the phases after it do not run.
 */
export async function runHooks(ctx: RunContext, app: string, phase: HookPhase, hooks: Target[], objects: ObjectResult[], timing: HookTiming): Promise<void> {
  const mine = hooks.filter((t) => t.hook!.phases.includes(phase));
  if (!mine.length) return;
  ctx.logger.info(`${app}: running ${mine.length} ${phase} hook(s): ${mine.map((t) => t.id).join(', ')}`);
  const staged = stage(mine, (t) => t.object, (t) => t.wave);
  const groups = [...(staged.bootstrap.length ? [[staged.bootstrap]] : []), ...staged.waves.map((w) => w.batches)];
  const limit = pLimit(8);
  for (const batches of groups) {
    const created: Target[] = [];
    for (const batch of batches) {
      if (ctx.signal.aborted) throw new CancelledError();
      const settled = await Promise.allSettled(batch.map((t) => limit(() => createHook(ctx, t, phase, timing))));
      // results in the batch's order (kind, name), whatever order the requests finished in
      for (const s of settled) {
        if (s.status === 'fulfilled') {
          objects.push(...s.value.results);
          created.push(s.value.target);
        }
      }
      const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failure) throw failure.reason;
    }
    try {
      await waitHealthy(ctx.client, created, { deadline: timing.deadline, signal: ctx.signal, pollMs: ctx.pollMs, timeoutSeconds: timing.timeoutSeconds, hookPhase: phase });
    } catch (err) {
      if (!(err instanceof CancelledError)) await deleteByPolicy(ctx, created, 'HookFailed', phase, objects, true);
      throw err;
    }
    await deleteByPolicy(ctx, created, 'HookSucceeded', phase, objects, false);
  }
  ctx.logger.info(`${app}: ${phase} hook(s) completed`);
}

/**
 * Creates one hook: with BeforeHookCreation, the live one (a previous run) is deleted first and
 * waited out. A hook the server names (generateName) is created anew (POST), as Argo CD creates it:
 * the target returned carries the name it got, for the wait and the delete policies.
 */
async function createHook(ctx: RunContext, t: Target, phase: HookPhase, timing: HookTiming): Promise<{ results: ObjectResult[]; target: Target }> {
  if (namedByServer(t.object)) {
    let made: K8sObject;
    try {
      ({ body: made } = await ctx.client.request<K8sObject>('POST', resourcePath(t.info, t.object.metadata.namespace), {
        body: t.object,
        query: { fieldManager: ctx.config.fieldManager },
        signal: ctx.hardSignal,
      }));
    } catch (err) {
      throw objectError(t.id, 'creating the hook', err);
    }
    const object = { ...t.object, metadata: { ...t.object.metadata, name: made.metadata.name } };
    const target = { ...t, object, id: objectId(object) };
    return { results: [{ id: target.id, action: 'created', hook: phase, note: t.hook!.source }], target };
  }
  const out: ObjectResult[] = [];
  let before = (await readLive(ctx.client, t, ctx.hardSignal)).object;
  if (before && replaces(t)) {
    await deleteHook(ctx, t, before, timing);
    out.push({ id: t.id, action: 'deleted', hook: phase, note: 'the previous one (BeforeHookCreation)' });
    before = undefined;
  }
  const r: Applied = await applyObject(ctx.client, t, { fieldManager: ctx.config.fieldManager, force: ctx.config.forceConflicts, signal: ctx.hardSignal }, { object: before });
  out.push({ id: t.id, action: r.action, hook: phase, note: t.hook!.source });
  return { results: out, target: t };
}

/**
 * Deletes a live hook (conditional on its uid; Background propagation, so a Job's pods go with
 * it) and waits until it is gone, so the create that follows makes a new object.
 */
async function deleteHook(ctx: RunContext, t: Target, live: K8sObject, timing: HookTiming): Promise<void> {
  const path = objectPath(t.info, t.object);
  const uid = live.metadata.uid as string | undefined;
  try {
    await deleteObject(ctx.client, path, live, ctx.hardSignal);
  } catch (err) {
    if (!(err instanceof KubeApiError && (err.status === 404 || err.status === 409))) throw objectError(t.id, 'deleting the previous hook', err);
  }
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    const now = await ctx.client.get<K8sObject>(path, { signal: ctx.hardSignal });
    if (!now || now.metadata.uid !== uid) return;
    if (Date.now() > timing.deadline) throw new ObjectError(t.id, `the previous hook was not gone within TIMEOUT (${timing.timeoutSeconds}s)${now.metadata.finalizers ? `: finalizers ${JSON.stringify(now.metadata.finalizers)}` : ''}`);
    if (ctx.signal.aborted) throw new CancelledError();
    await sleep(delay);
  }
}

/**
 * HookSucceeded (after the group completed) or HookFailed (after it failed: the hooks that
 * failed). A delete that fails is a warning: the hook did its work.
 */
async function deleteByPolicy(ctx: RunContext, hooks: Target[], policy: DeletePolicy, phase: HookPhase, objects: ObjectResult[], onlyFailed: boolean): Promise<void> {
  for (const t of hooks.filter((h) => h.hook!.policies.includes(policy))) {
    try {
      const live = await ctx.client.get<K8sObject & { status?: Record<string, unknown> }>(objectPath(t.info, t.object), { signal: ctx.hardSignal });
      if (!live || (onlyFailed && hookHealth(live).state !== 'failed')) continue;
      await deleteObject(ctx.client, objectPath(t.info, t.object), live, ctx.hardSignal);
      objects.push({ id: t.id, action: 'deleted', hook: phase, note: policy });
    } catch (err) {
      ctx.logger.warn(`${t.app}: could not delete ${phase} hook ${t.id} (${policy}): ${(err as Error).message}`);
    }
  }
}
