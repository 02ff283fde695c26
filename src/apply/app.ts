import pLimit from 'p-limit';
import type { Config } from '../config/index.js';
import type { K8sObject } from '../render/model.js';
import type { Logger } from '../report/logger.js';
import { PipeError, errorMessage } from '../util/errors.js';
import { sleep } from '../util/retry.js';
import { applyObject, readLive, type Live } from './apply-object.js';
import { ANNOTATION, LABEL, MANAGED_BY, auditAnnotations, labelValue, type AuditContext } from './audit.js';
import { KubeApiError, type KubeClient } from './client.js';
import type { Discovery } from './discovery.js';
import { appError, ObjectError, objectError } from './errors.js';
import { crdEstablished } from './health.js';
import { dryRunHook, runHooks, type HookTiming } from './hook-run.js';
import { itemKey, itemRef, parseInventoryRef } from './inventory.js';
import { checkEntrySize, type LedgerEntry, type LedgerWriter } from './ledger.js';
import { countObjects, type AppResult, type ObjectResult } from './model.js';
import { stage } from './order.js';
import { crdKinds, type PreparedApp, type Target } from './prepare.js';
import { prune, pruneCandidates } from './prune.js';
import { CancelledError, waitHealthy } from './wait.js';

/**
 * The lost-base shortcut: git cannot say what changed since the app's ledger entry (its commit is
 * not in the clone), but the rendered digest equals the recorded one, and no attempt since left
 * the cluster elsewhere (the `failed` mark).
 */
export function unchangedByDigest(p: PreparedApp, previous: LedgerEntry | undefined): boolean {
  return p.change.status === 'unknown-base' && !!previous?.digest && previous.digest === p.rendered.digest && !previous.failed;
}

/** Everything an app's deploy needs from the run. */
export interface RunContext {
  client: KubeClient;
  discovery: Discovery;
  config: Config;
  logger: Logger;
  /** Aborted: start nothing new (the app stops between steps and is not recorded). */
  signal: AbortSignal;
  /** Aborted after the grace period: in-flight requests are cut. */
  hardSignal: AbortSignal;
  /** Aborted when the environment lock was lost: another run may write the ledger now. */
  lockLost: AbortSignal;
  /**
   * Label values of the apps that keep their objects through this run: apps of the environment
   * this run does not deploy. An object one of them deployed is not taken over by another app (an
   * object of an app deployed in this run, or gone from the root, may move).
   */
  keeping: ReadonlySet<string>;
  environment: string;
  audit: Omit<AuditContext, 'app'>;
  ledger: LedgerWriter;
  /** The ledger as read under the lock. */
  previous: Map<string, LedgerEntry>;
  /** Objects other apps render now or recorded as theirs: never pruned by this app. */
  protectedKeys: (app: string) => Set<string>;
  /**
   * Namespaces holding objects other apps own, of this environment or another (namespace -> one
   * such object and its app, for the note): never pruned by this app. Read when first asked.
   */
  occupiedNamespaces: (app: string) => () => Promise<Map<string, string>>;
  pollMs?: number;
}

export interface AppRun {
  result: AppResult;
  /** pruneLast apps: the prune and the ledger write, run after every other app of the run. */
  deferred?: () => Promise<AppResult>;
}

/**
 * One app: CreateNamespace, Namespaces and CRDs (waiting until established), PreSync hooks, then
 * each sync wave in kind order with its Sync hooks (waiting for its workloads before the next
 * wave), prune, PostSync hooks, and the ledger entry, written only once all of it succeeded.
 * A failure runs the SyncFail hooks.
 */
export async function deployApp(ctx: RunContext, p: PreparedApp): Promise<AppRun> {
  const app = p.change.app;
  const started = Date.now();
  const objects: ObjectResult[] = [];
  const done = (outcome: AppResult['outcome'], reason?: string): AppResult => ({
    app: app.name,
    outcome,
    reason,
    objects: [...objects],
    counts: countObjects(objects),
    durationMs: Date.now() - started,
  });
  const previous = ctx.previous.get(app.name);
  const pruning = ctx.config.prune || app.prune;
  // SyncFail hooks run for a sync that failed once it had begun: not for one refused before anything was applied
  let applying = false;
  try {
    if (unchangedByDigest(p, previous)) {
      await ctx.ledger.record(entry(ctx, p, previous!.objects));
      return { result: done('unchanged', 'unchanged (digest)') };
    }
    if (pruning && p.targets.length === 0 && (previous?.objects.length ?? 0) > 0 && !app.allowEmpty) {
      throw new PipeError(`app ${app.name} renders no objects; refusing to prune its ${previous!.objects.length} deployed objects`, {
        hint: `if the app is meant to be empty, set allowEmpty: true on it in the root manifest; otherwise check its path (${app.path})`,
      });
    }
    // an app whose inventory could not be recorded is refused before anything is applied
    checkEntrySize(entry(ctx, p, [...p.targets.map((t) => t.ref), ...(previous?.objects ?? [])]));
    const deadline = started + app.timeoutSeconds * 1000;
    const timing: HookTiming = { deadline, timeoutSeconds: app.timeoutSeconds };
    const wait = ctx.config.wait && app.wait;
    const step = stepTimer(ctx, app.name);
    const staged = stage(p.targets, (t) => t.object, (t) => t.wave);
    for (const s of p.skipped) objects.push({ id: s.id, action: 'skipped', note: s.reason });
    // every object and hook read and dry-run before the first is applied (those whose namespace or
    // CRD this deploy creates: once these exist)
    const live = new Map<Target, Live>();
    const creates = new Set(staged.bootstrap.filter((t) => t.object.kind === 'Namespace').map((t) => t.object.metadata.name));
    if (app.createNamespace && app.namespace) creates.add(app.namespace);
    const later = await preflight(ctx, app.name, [...p.targets, ...p.hooks], live, { creates, crdKinds: definedKinds(staged.bootstrap) });
    step('read and dry-run');
    await markAttempt(ctx, previous);
    applying = true;
    if (app.createNamespace && app.namespace) objects.push(await createNamespace(ctx, app.namespace));

    await applyWave(ctx, [staged.bootstrap], objects, live);
    await waitForCrds(ctx, [...p.targets, ...p.hooks], staged.bootstrap, deadline, app.timeoutSeconds);
    step('namespaces and CRDs');
    if (later.length) {
      await preflight(ctx, app.name, later, live);
      step(`read and dry-run ${later.length} objects of new namespaces or CRDs`);
    }
    await runHooks(ctx, app.name, 'PreSync', p.hooks, objects, timing);
    // Sync hooks go with the wave of their weight, after its objects and before its health wait.
    const syncHooks = p.hooks.filter((t) => t.hook!.phases.includes('Sync'));
    const waves = [...new Set([...staged.waves.map((w) => w.wave), ...syncHooks.map((t) => t.wave)])].sort((a, b) => a - b);
    for (const [i, n] of waves.entries()) {
      const w = staged.waves.find((x) => x.wave === n);
      // after a hook phase or a wave's health wait, objects are read again for the apply's before-and-after
      if (i > 0 || p.hooks.length) for (const t of w?.batches.flat() ?? []) live.delete(t);
      if (w) await applyWave(ctx, w.batches, objects, live);
      await runHooks(ctx, app.name, 'Sync', syncHooks.filter((t) => t.wave === n), objects, timing);
      step(`wave ${n} applied`);
      // Argo CD semantics: a wave is healthy before the next one starts.
      if (wait && w) {
        await waitHealthy(ctx.client, w.batches.flat(), { deadline, signal: ctx.signal, pollMs: ctx.pollMs, timeoutSeconds: app.timeoutSeconds });
        step(`wave ${n} healthy`);
      }
      if (i < waves.length - 1) checkCancelled(ctx);
    }
    checkCancelled(ctx);
    const postSync = async () => {
      if (!p.hooks.some((t) => t.hook!.phases.includes('PostSync'))) return;
      // PostSync hooks run once the app is healthy, which is what they are for, even with WAIT=false
      if (!wait) await waitHealthy(ctx.client, p.targets, { deadline, signal: ctx.signal, pollMs: ctx.pollMs, timeoutSeconds: app.timeoutSeconds });
      checkCancelled(ctx);
      await runHooks(ctx, app.name, 'PostSync', p.hooks, objects, timing);
    };
    const finish = () => pruneAndRecord(ctx, p, objects, pruning, postSync).then(() => (step('pruned and recorded'), done('deployed')));
    const unfinished = async (err: unknown): Promise<AppResult> => {
      const syncFail = applying ? await runSyncFail(ctx, p, err, objects) : undefined;
      const result = withSyncFail(failed(ctx, app.name, err, objects, started), syncFail);
      return result;
    };
    if (app.pruneLast && pruning) return { result: done('deployed'), deferred: () => finish().catch(unfinished) };
    return { result: await finish() };
  } catch (err) {
    const syncFail = applying ? await runSyncFail(ctx, p, err, objects) : undefined;
    const result = withSyncFail(failed(ctx, app.name, err, objects, started), syncFail);
    return { result };
  }
}

/**
 * SyncFail hooks, when the app failed (not when it was cancelled): run with a timeout of their
 * own (the app's may be what ran out). Their own failure is returned, to go with the app's error.
 */
async function runSyncFail(ctx: RunContext, p: PreparedApp, err: unknown, objects: ObjectResult[]): Promise<string | undefined> {
  const hooks = p.hooks.filter((t) => t.hook!.phases.includes('SyncFail'));
  if (!hooks.length || err instanceof CancelledError || ctx.signal.aborted) return undefined;
  const timeoutSeconds = p.change.app.timeoutSeconds;
  try {
    await runHooks(ctx, p.change.app.name, 'SyncFail', hooks, objects, { deadline: Date.now() + timeoutSeconds * 1000, timeoutSeconds });
    return undefined;
  } catch (e) {
    return `SyncFail hook: ${errorMessage(e)}`;
  }
}

function withSyncFail(result: AppResult, syncFail: string | undefined): AppResult {
  if (!syncFail || !result.error) return result;
  return { ...result, error: { ...result.error, details: [...result.error.details, syncFail] } };
}

/**
 * Before an attempt's first change to a deployed app, its ledger entry gets the attempt's mark
 * (`failed`: commit and time): the cluster is about to be neither the recorded commit nor the new
 * one. A successful deploy writes the entry without it; a run killed outright (SIGKILL, a second
 * SIGTERM, a lost runner) leaves it, so the next run deploys the app even when git says nothing
 * changed since the entry's commit (the change reverted). An app never deployed needs no mark: it
 * is new at the next run anyway. Not once the lock is lost: another run may have written the entry.
 * A mark that cannot be written fails the app before anything is applied. A failed or cancelled
 * attempt keeps the mark even when no change is known to have been made: a request cut off or
 * timed out may still have been applied by the server, and a redeploy of the recorded commit
 * costs less than a revert that is never deployed.
 */
async function markAttempt(ctx: RunContext, previous: LedgerEntry | undefined): Promise<void> {
  if (!previous || ctx.lockLost.aborted) return;
  await ctx.ledger.record({ ...previous, failed: { commit: ctx.audit.commit, at: new Date().toISOString() } });
}


function failed(ctx: RunContext, app: string, err: unknown, objects: ObjectResult[], started: number): AppResult {
  const base = { app, objects: [...objects], counts: countObjects(objects), durationMs: Date.now() - started };
  // After SIGTERM, a request cut short (or any error that is not the app's own) means cancelled, not failed.
  if (err instanceof CancelledError || ctx.hardSignal.aborted || (ctx.signal.aborted && !(err instanceof PipeError))) {
    return { ...base, outcome: 'cancelled', reason: 'cancelled before it finished' };
  }
  const error = appError(err);
  return { ...base, outcome: 'failed', reason: error.message, error };
}

/** DEBUG lines with the time each step of an app took. */
function stepTimer(ctx: RunContext, app: string): (what: string) => void {
  let last = Date.now();
  return (what) => {
    const now = Date.now();
    ctx.logger.debug(`${app}: ${what} (${now - last} ms)`);
    last = now;
  };
}

function checkCancelled(ctx: RunContext): void {
  if (ctx.signal.aborted) throw new CancelledError();
}

/** "group:Kind" of the kinds the CRDs among `targets` define. */
function definedKinds(targets: Target[]): Set<string> {
  return new Set([...crdKinds(targets.map((t) => t.object)).values()].map((k) => `${k.group}:${k.kind}`));
}

/**
 * Before an object of the app is applied: each is read, and goes through a server-side dry run. An
 * object the server refuses for what it is (an immutable field changed, an invalid value, a
 * webhook's denial, a field manager's conflict, the deploy identity's missing permission), or one
 * that another app or environment deployed, fails the app with none of these objects applied,
 * instead of after the objects before it went live (a Service's new selector live over the old
 * Deployment's pods is an outage). A refusal that may come from an object this app creates first
 * (a Pod's ServiceAccount that admission looks up, say) does not count here: the object is applied
 * in its turn, and the apply says. In the first pass (`first`), objects whose namespace or CRD this
 * deploy creates or changes are returned, to be dry-run once those are applied. The live objects go
 * into `live`, for the apply's before-and-after.
 */
async function preflight(ctx: RunContext, app: string, targets: Target[], live: Map<Target, Live>, first?: { creates: ReadonlySet<string>; crdKinds: ReadonlySet<string> }): Promise<Target[]> {
  checkCancelled(ctx);
  const later: Target[] = [];
  const failed: unknown[] = []; // by target, in the app's order
  const limit = pLimit(8);
  await Promise.all(
    targets.map((t, i) =>
      limit(async () => {
        if (first && (t.fromNewCrd || first.crdKinds.has(`${t.info.group}:${t.object.kind}`))) return void later.push(t);
        try {
          const l = await readLive(ctx.client, t, ctx.hardSignal);
          refuseOtherOwner(ctx, app, t.id, l.object);
          try {
            if (t.hook) await dryRunHook(ctx, t, l);
            else await applyObject(ctx.client, t, { fieldManager: ctx.config.fieldManager, force: ctx.config.forceConflicts, signal: ctx.hardSignal, dryRun: true }, l);
          } catch (err) {
            const missing = missingNamespace(err);
            if (first && missing && first.creates.has(missing)) return void later.push(t);
            if (!refusedForWhatItIs(err)) {
              ctx.logger.debug(`${app}: ${errorMessage(err)} (in the dry run: left to the apply, as an object this app applies first may be what it needs)`);
            } else throw err;
          }
          live.set(t, l);
        } catch (err) {
          failed[i] = err;
        }
      }),
    ),
  );
  const failures = failed.filter((f) => f !== undefined);
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    const hints = [...new Set(failures.flatMap((f) => (f instanceof PipeError && f.hint ? [f.hint] : [])))];
    const details = failures.flatMap((f) => [errorMessage(f), ...(f instanceof PipeError ? f.details.map((d) => `  ${d}`) : [])]);
    throw new PipeError(`${failures.length} objects were refused before any was applied`, { details, hint: hints.join('; ') || undefined, cause: failures[0] });
  }
  return later;
}

/**
 * Whether the server refused an object in a dry run for what the object is: it is invalid (400,
 * 422: an immutable field, a bad value, a webhook's denial), conflicts with a field manager (409),
 * leaves a namespace nothing creates (404), or is denied (403: RBAC, Pod Security, a webhook).
 * Other refusals (a 403 of an admission plugin that looks up an object this app creates first,
 * such as a Pod's ServiceAccount; a server error) may not hold once the app's earlier objects are
 * applied.
 */
export function refusedForWhatItIs(err: unknown): boolean {
  const api = err instanceof ObjectError ? err.cause : err;
  if (!(api instanceof KubeApiError)) return true;
  const message = api.body.message ?? '';
  if (api.status === 400 || api.status === 409 || api.status === 422) return true;
  if (api.status === 404) return missingNamespace(err) !== undefined;
  // RBAC, Pod Security and webhook denials block; an admission plugin's lookup of another object does not
  if (api.status === 403) return !/error looking up|not found/i.test(message);
  return false;
}

/** Throws, naming the owner and what to do, when a live object belongs to another environment or to an app this run does not deploy. */
export function refuseOtherOwner(ctx: RunContext, app: string, id: string, live: K8sObject | undefined): void {
  const owner = otherOwner(ctx, app, live);
  if (owner) throw new ObjectError(id, `is ${owner.what}`, { hint: owner.hint });
}

/** Who else deployed a live object, when that is another environment, or an app this run does not deploy; and what to do. */
function otherOwner(ctx: RunContext, app: string, live: K8sObject | undefined): { what: string; hint: string } | undefined {
  const labels = live?.metadata.labels;
  if (!live || labels?.[LABEL.managedBy] !== MANAGED_BY) return undefined;
  const annotations = live.metadata.annotations ?? {};
  const owner = annotations[ANNOTATION.app] ?? labels[LABEL.app] ?? '?';
  // the repository names the owner in the message only: a renamed repository's objects keep the old name
  const repository = annotations[ANNOTATION.repository];
  const elsewhere = repository && ctx.audit.repository && repository.toLowerCase() !== ctx.audit.repository.toLowerCase() ? repository : undefined;
  const from = elsewhere ? ` from repository ${elsewhere}` : '';
  const env = labels[LABEL.environment];
  if (env !== undefined && env !== labelValue(ctx.environment)) {
    return {
      what: `deployed by app ${owner} of environment ${annotations[ANNOTATION.environment] ?? env}${from}`,
      hint: 'an object is deployed for one environment: give each environment its own namespace, or its own object name',
    };
  }
  const ownerLabel = labels[LABEL.app];
  if (ownerLabel !== undefined && ownerLabel !== labelValue(app) && ctx.keeping.has(ownerLabel)) {
    return {
      what: `deployed by app ${owner}${from}, which this run does not deploy`,
      hint: elsewhere
        ? `an object is deployed from one repository: remove it from app ${app} here, or from app ${owner} in ${elsewhere} (deploy that first)`
        : `an object is deployed by one app: if app ${owner} no longer renders it, deploy both (APPS=${owner},${app} FORCE=true; moving it in one commit deploys both too); if it does, remove it from one of them`,
    };
  }
  return undefined;
}

/** The namespace an object's request failed for because it does not exist (yet). */
export function missingNamespace(err: unknown): string | undefined {
  const api = err instanceof ObjectError ? err.cause : undefined;
  return api instanceof KubeApiError && api.status === 404 ? /namespaces? "([^"]+)" not found/.exec(api.body.message ?? '')?.[1] : undefined;
}

/** Applies a wave's batches in order; live objects not read yet are read first, in parallel. */
async function applyWave(ctx: RunContext, batches: Target[][], objects: ObjectResult[], live: Map<Target, Live>): Promise<void> {
  const targets = batches.flat();
  if (!targets.length) return;
  checkCancelled(ctx);
  const limit = pLimit(8);
  await settle(targets.filter((t) => !live.has(t)).map((t) => limit(async () => void live.set(t, await readLive(ctx.client, t, ctx.hardSignal)))));
  for (const batch of batches) {
    checkCancelled(ctx);
    await settle(
      batch.map((t) =>
        limit(async () => {
          const r = await applyObject(ctx.client, t, { fieldManager: ctx.config.fieldManager, force: ctx.config.forceConflicts, signal: ctx.hardSignal }, live.get(t));
          objects.push({ id: t.id, action: r.action });
        }),
      ),
    );
  }
}

/** Waits for every promise (no request is left running unobserved), then throws the first failure. */
async function settle(work: Promise<unknown>[]): Promise<void> {
  const failure = (await Promise.allSettled(work)).find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
}

/** Namespaces made for CreateNamespace are created if missing, never taken over or pruned (as Argo CD does). */
async function createNamespace(ctx: RunContext, name: string): Promise<ObjectResult> {
  const id = `Namespace/${name}`;
  try {
    if (await ctx.client.get(`/api/v1/namespaces/${name}`, { signal: ctx.hardSignal })) return { id, action: 'unchanged' };
  } catch {
    // May not read namespaces: try to create it; AlreadyExists is fine.
  }
  const annotations = auditAnnotations({ ...ctx.audit, app: '' });
  delete annotations[ANNOTATION.app];
  const body = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { [LABEL.managedBy]: MANAGED_BY, [LABEL.environment]: labelValue(ctx.environment) }, annotations },
  };
  try {
    await ctx.client.request('POST', '/api/v1/namespaces', { body, query: { fieldManager: ctx.config.fieldManager }, signal: ctx.hardSignal });
    return { id, action: 'created' };
  } catch (err) {
    if ((err as { status?: number }).status === 409) return { id, action: 'unchanged' };
    throw objectError(id, 'creating the namespace (CreateNamespace)', err);
  }
}

/** CRDs applied by this app must be Established, and their kinds served, before their objects are applied. */
async function waitForCrds(ctx: RunContext, targets: Target[], bootstrap: Target[], deadline: number, timeoutSeconds: number): Promise<void> {
  const crds = bootstrap.filter((t) => t.object.kind === 'CustomResourceDefinition');
  for (const crd of crds) {
    for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
      checkCancelled(ctx);
      const live = await ctx.client.get<K8sObject>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.object.metadata.name}`, { signal: ctx.hardSignal });
      const health = live ? crdEstablished(live) : { state: 'progressing' as const, message: 'not found' };
      if (health.state === 'ready') break;
      if (health.state === 'failed') throw new ObjectError(crd.id, health.message);
      if (Date.now() > deadline) throw new ObjectError(crd.id, `not Established within TIMEOUT (${timeoutSeconds}s): ${health.message}`);
      await sleep(delay);
    }
  }
  const waiting = targets.filter((t) => t.fromNewCrd);
  for (const apiVersion of new Set(waiting.map((t) => t.object.apiVersion))) {
    const kinds = new Set(waiting.filter((t) => t.object.apiVersion === apiVersion).map((t) => t.object.kind));
    for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
      ctx.discovery.invalidate(apiVersion);
      const found = await Promise.all([...kinds].map((k) => ctx.discovery.find(apiVersion, k, ctx.hardSignal)));
      if (found.every(Boolean)) break;
      if (Date.now() > deadline) throw new PipeError(`${apiVersion} ${[...kinds].join(', ')} not served by the API server within TIMEOUT (${timeoutSeconds}s)`);
      checkCancelled(ctx);
      await sleep(delay);
    }
  }
}

function entry(ctx: RunContext, p: PreparedApp, objects: string[]): LedgerEntry {
  return {
    app: p.change.app.name,
    commit: ctx.audit.commit,
    digest: p.rendered.digest,
    deployedAt: new Date().toISOString(),
    buildNumber: ctx.audit.buildNumber,
    triggerer: ctx.audit.triggerer,
    repository: ctx.audit.repository,
    repositoryUuid: ctx.config.build.repoUuid,
    objects,
  };
}

/**
 * Prune (when on) what the app no longer renders, run `beforeRecord` (PostSync hooks: after the
 * prune, as Argo CD prunes in the Sync phase), then record the app. Without prune, objects
 * it no longer renders stay in its inventory, so turning prune on later still removes them.
 */
async function pruneAndRecord(ctx: RunContext, p: PreparedApp, objects: ObjectResult[], pruning: boolean, beforeRecord: () => Promise<void>): Promise<void> {
  const app = p.change.app.name;
  const previous = ctx.previous.get(app)?.objects ?? [];
  // hooks are never pruned, and leave the inventory of an app that recorded one as an object before
  const current = new Set([...p.targets, ...p.hooks].map((t) => itemKey(parseInventoryRef(t.ref)!)));
  const candidates = pruneCandidates(previous, current, ctx.protectedKeys(app));
  const inventory = p.targets.map((t) => t.ref);
  if (pruning && candidates.length) {
    checkCancelled(ctx);
    // a Namespace this app still deploys into is kept, as one other apps deploy into
    const occupied = async () => {
      const held = new Map(await ctx.occupiedNamespaces(app)());
      for (const t of p.targets) {
        const ns = t.object.metadata.namespace;
        if (ns && !held.has(ns)) held.set(ns, `${t.id}, which app ${app} deploys`);
      }
      return held;
    };
    const results = await prune(ctx.client, ctx.discovery, candidates, { app, environment: ctx.environment, signal: ctx.hardSignal, occupied });
    objects.push(...results.map(({ live: _live, retry: _retry, ...r }) => r));
    // a Namespace kept while it holds other apps' objects stays in the inventory, to prune once free
    inventory.push(...results.flatMap((r) => (r.retry ? [itemRef(r.retry)] : [])));
  } else {
    const keep = new Set(candidates.map(itemKey));
    inventory.push(...previous.filter((ref) => {
      const item = parseInventoryRef(ref);
      return item !== undefined && keep.has(itemKey(item));
    }));
  }
  await beforeRecord();
  // a pruneLast app records after every other app: the lock may have been lost by then
  if (ctx.lockLost.aborted) throw new CancelledError();
  await ctx.ledger.record(entry(ctx, p, inventory));
}
