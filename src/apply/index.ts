import type { DeployedState, Plan } from '../plan/model.js';
import { formatDuration, summaryLine, summaryTable } from '../report/deploy-summary.js';
import { repositoryOf } from '../config/index.js';
import type { Logger } from '../report/logger.js';
import { deployApp, type RunContext } from './app.js';
import { KubeClient } from './client.js';
import { connect, type ClusterEndpoint } from './connection.js';
import { context, environmentOf, unbounded, withSession, type EngineOptions } from './engine.js';
import { changesToDeploy } from '../plan/model.js';
import { appError, clusterError, logAppError } from './errors.js';
import { InputError } from '../util/errors.js';
import { itemRef } from './inventory.js';
import { deployedState, migrateLegacyLedger, readLedger, type LedgerSnapshot, type RepositoryId } from './ledger.js';
import { EnvironmentLock } from './lock.js';
import { countObjects, type AppResult, type DeployResult, type ObjectResult, type RemovedAppResult } from './model.js';
import { ledgerName, lockName } from './names.js';
import { prune, pruneCandidates } from './prune.js';
import { runLayers } from './schedule.js';
import { checkUnplannedMoves, movedSincePlan } from './stale.js';

export type { AppDiff, AppResult, DeployResult, DiffResult, ObjectResult, RemovedAppResult } from './model.js';
export type { ClusterEndpoint } from './connection.js';
export type { EngineOptions } from './engine.js';
export { diffPlan as diff } from './diff.js';
export { readCapabilities, type ClusterFacts } from './capabilities.js';

/** What the ledger of an environment says is deployed (empty when there is no ledger yet). */
export async function readDeployedState(access: ClusterEndpoint, opts: { environment: string; ledgerNamespace: string; repository?: RepositoryId; context?: string }): Promise<DeployedState> {
  const client = new KubeClient(await connect(access, { context: opts.context }));
  try {
    return deployedState(await readLedger(client, opts.ledgerNamespace, opts.environment, opts.repository));
  } catch (err) {
    throw clusterError(err, access.server);
  } finally {
    client.close();
  }
}

/** Objects prune left in place, each with the reason (an opt-out or keep annotation, another owner). */
function logNotPruned(logger: Logger, app: string, objects: ObjectResult[]): void {
  for (const o of objects) if (o.action === 'prune-skipped') logger.info(`${app}: not pruned: ${o.id}: ${o.note ?? ''}`);
}

/** "; 2 hooks run": hooks count among the objects created, and are named here. */
function hooksRun(objects: ObjectResult[]): string {
  const run = new Set(objects.filter((o) => o.hook && o.action !== 'deleted').map((o) => `${o.hook} ${o.id}`)).size;
  return run ? `; ${run} hook(s) run` : '';
}

function logAppResult(logger: Logger, r: AppResult): void {
  const c = r.counts;
  const took = formatDuration(r.durationMs);
  logNotPruned(logger, r.app, r.objects);
  for (const o of r.objects) if (o.action === 'skipped') logger.info(`${r.app}: ${o.id}: ${o.note ?? 'not run'}`);
  if (r.outcome === 'deployed') logger.info(`${r.app}: deployed in ${took} (${c.created} created, ${c.configured} configured, ${c.unchanged} unchanged, ${c.pruned} pruned${hooksRun(r.objects)})`);
  else if (r.outcome === 'unchanged') logger.info(`${r.app}: ${r.reason ?? 'unchanged'}, nothing applied`);
  else if (r.outcome === 'skipped') logger.warn(`${r.app}: skipped: ${r.reason ?? ''}`);
  else if (r.outcome === 'cancelled') logger.warn(`${r.app}: cancelled after ${took}; not recorded`);
  else {
    logAppError(logger, `${r.app}: FAILED after ${took}: ${r.reason ?? ''}`, r.error ?? { message: r.reason ?? '', details: [] });
  }
}

/**
 * MODE=deploy. Everything is checked first (kinds, waves, duplicates, guardrails); then, holding
 * the environment's lock, the plan's layers are deployed (apps in parallel up to CONCURRENCY),
 * each app recorded in the ledger once healthy; removed apps are pruned with PRUNE_REMOVED_APPS.
 */
export async function deploy(o: EngineOptions): Promise<DeployResult> {
  const started = Date.now();
  const environment = environmentOf(o);
  const changes = changesToDeploy(o.plan);
  const result: DeployResult = { environment, commit: o.plan.head, apps: [], removed: [], ok: true, cancelled: false, durationMs: 0 };
  if (!changes.length && !(o.plan.removed.length && o.config.pruneRemovedApps)) {
    // "up to date" is only true once no other run is deploying: checked under the lock
    if (o.deployed) {
      await withSession(o, changes, async ({ client }) => {
        const lock = await takeLock(o, client);
        try {
          const snapshot = await readLedger(client, o.config.ledgerNamespace, environment, repositoryOf(o.config), o.signal);
          checkUnplannedMoves({ planned: o.deployed, now: snapshot.entries, deploying: new Set(), head: o.plan.head, scope: selected(o), removed: o.plan.removed });
        } finally {
          await lock.release();
        }
      });
    }
    o.logger.info('Nothing to deploy.');
    for (const app of o.plan.removed) {
      const kept = keptRemoved(o.plan, app);
      o.logger.warn(`${app}: ${kept.reason}`);
      result.removed.push(kept);
    }
    return { ...result, durationMs: Date.now() - started };
  }
  await withSession(o, changes, async ({ client, discovery, prepared, hard }) => {
    const lock = await takeLock(o, client);
    try {
      const snapshot = await readLedger(client, o.config.ledgerNamespace, environment, repositoryOf(o.config), o.signal);
      for (const p of snapshot.problems) o.logger.warn(`${snapshot.source}: ${p} (the app is treated as never deployed)`);
      checkSharedLedger(snapshot, prepared, environment);
      checkUnplannedMoves({ planned: o.deployed, now: snapshot.entries, deploying: new Set(o.plan.layers.flat()), head: o.plan.head, scope: selected(o), removed: o.plan.removed });
      const stop = unbounded(AbortSignal.any([o.signal, lock.lost]));
      const ctx = context(o, client, discovery, prepared, snapshot, stop, unbounded(AbortSignal.any([hard, lock.lost])), lock.lost);
      // a ledger in the format of earlier versions becomes a ConfigMap per app, under the lock
      await migrateLegacyLedger(client, o.config.ledgerNamespace, snapshot, ctx.ledger, o.logger, o.signal);
      const moved = await movedSincePlan({ planned: o.deployed, now: snapshot.entries, apps: o.plan.layers.flat(), head: o.plan.head, workspace: o.config.workspace });
      const deferred: (() => Promise<AppResult>)[] = [];
      const results = await runLayers<AppResult>({
        layers: o.plan.layers,
        dependsOn: (app) => prepared.get(app)?.change.app.dependsOn ?? [],
        wave: (app) => o.plan.waves[app] ?? 0,
        concurrency: o.config.concurrency,
        signal: stop,
        run: async (app) => {
          const m = moved.get(app);
          if (m) {
            const r: AppResult = { app, outcome: m.outcome, reason: m.reason, objects: [], counts: countObjects([]), durationMs: 0, ...(m.outcome === 'failed' ? { error: { message: m.reason, details: [], hint: m.hint } } : {}) };
            logAppResult(o.logger, r);
            return r;
          }
          const p = prepared.get(app)!;
          o.logger.info(`${app}: started (${p.targets.length} objects${p.hooks.length ? `, ${p.hooks.length} hook(s)` : ''}; ${p.change.status}${p.change.reasons.length ? `: ${p.change.reasons.slice(0, 3).join('; ')}` : ''})`);
          const run = await deployApp(ctx, p);
          if (run.deferred) deferred.push(async () => run.deferred!());
          else logAppResult(o.logger, run.result);
          return run.result;
        },
        skip: (app, cause) => {
          const r: AppResult = { app, outcome: 'skipped', reason: cause, objects: [], counts: countObjects([]), durationMs: 0 };
          logAppResult(o.logger, r);
          return r;
        },
        cancel: (app) => ({ app, outcome: 'cancelled', reason: 'not started: the run was cancelled', objects: [], counts: countObjects([]), durationMs: 0 }),
      });
      // PruneLast apps prune after every other app of the run.
      for (const finish of deferred) {
        const r = await finish();
        results.set(r.app, r);
        logAppResult(o.logger, r);
      }
      result.apps = o.plan.layers.flat().map((app) => results.get(app)!).filter(Boolean);
      result.removed = await removeApps(o, ctx, snapshot, stop);
    } finally {
      if (lock.lost.aborted) result.lockLost = true;
      await lock.release();
    }
  });
  result.cancelled = o.signal.aborted;
  result.ok = !result.cancelled && result.apps.every((a) => a.outcome === 'deployed' || a.outcome === 'unchanged') && result.removed.every((r) => r.outcome !== 'failed');
  result.durationMs = Date.now() - started;
  o.logger.info(`\n${summaryTable(result)}`);
  o.logger.info(summaryLine(result));
  return result;
}

/** The environment's lock, held by this run's build and commit (waiting up to LOCK_TIMEOUT). */
function takeLock(o: EngineOptions, client: KubeClient): Promise<EnvironmentLock> {
  const b = o.config.build;
  return EnvironmentLock.acquire(client, {
    namespace: o.config.ledgerNamespace,
    name: lockName(environmentOf(o)),
    holder: `build ${b.buildNumber ?? '?'}, commit ${o.plan.head.slice(0, 12)}${b.repoFullName ? `, ${b.repoFullName}` : ''}`,
    leaseDurationSeconds: o.lockLeaseSeconds ?? 60,
    timeoutSeconds: o.config.lockTimeoutSeconds,
    logger: o.logger,
    signal: o.signal,
  });
}

/** The apps APPS names (the run's scope), or undefined when it names none (every app). */
function selected(o: EngineOptions): ReadonlySet<string> | undefined {
  return o.config.apps.length ? new Set(o.config.apps) : undefined;
}

/**
 * Two repositories may deploy apps to one environment's ledger, each keeping to its own entries,
 * but not apps of the same name: each would take the other's entry for its own deploy.
 */
function checkSharedLedger(snapshot: LedgerSnapshot, prepared: Map<string, unknown>, environment: string): void {
  const clashes = [...prepared.keys()].flatMap((app) => {
    const e = snapshot.foreign.get(app);
    return e ? [`app ${app} is in the ledger from repository ${e.repository ?? e.repositoryUuid ?? '?'} (commit ${e.commit.slice(0, 12)}${e.buildNumber ? `, build ${e.buildNumber}` : ''}; ConfigMap ${ledgerName(environment, app)})`] : [];
  });
  if (!clashes.length) return;
  throw new InputError(`the ${snapshot.source} holds apps of the same name from another repository; nothing was applied`, {
    details: clashes,
    hint: "give each repository its own ledger and lock (LEDGER_NAMESPACE) or environment name, or rename the apps; if this repository was renamed or moved, delete the stale entries' ConfigMaps named above (in LEDGER_NAMESPACE)",
  });
}

/** An app of the ledger not deployed any more: gone from the root, or disabled for the environment. */
function gone(plan: Plan, app: string): { why: string; mark: { disabled?: true } } {
  if (!plan.root.disabled.includes(app)) return { why: 'removed from the root', mark: {} };
  return { why: `disabled${plan.environment ? ` for ${plan.environment}` : ''}`, mark: { disabled: true } };
}

function keptRemoved(plan: Plan, app: string): RemovedAppResult {
  const { why, mark } = gone(plan, app);
  return { app, outcome: 'kept', ...mark, objects: [], reason: `${why}; its objects stay (set PRUNE_REMOVED_APPS=true to delete them)` };
}

/**
 * Apps gone from the root (or disabled for the environment): with PRUNE_REMOVED_APPS their
 * objects are pruned (same ownership checks) and their ledger entries dropped.
 */
async function removeApps(o: EngineOptions, ctx: RunContext, snapshot: LedgerSnapshot, stop: AbortSignal): Promise<RemovedAppResult[]> {
  const out: RemovedAppResult[] = [];
  for (const app of o.plan.removed) {
    const entry = snapshot.entries.get(app);
    if (!o.config.pruneRemovedApps || !entry) {
      out.push(keptRemoved(o.plan, app));
      continue;
    }
    const { why, mark } = gone(o.plan, app);
    if (stop.aborted) {
      out.push({ app, outcome: 'kept', ...mark, objects: [], reason: 'not pruned: the run was cancelled' });
      continue;
    }
    try {
      const candidates = pruneCandidates(entry.objects, new Set(), ctx.protectedKeys(app));
      const results = await prune(ctx.client, ctx.discovery, candidates, { app, environment: ctx.environment, signal: ctx.hardSignal, appRemoved: true, occupied: ctx.occupiedNamespaces(app) });
      const objects = results.map(({ live: _l, retry: _r, ...r }) => r);
      // a Namespace kept while it holds other apps' objects keeps the entry: a later run prunes it once free
      const left = results.flatMap((r) => (r.retry ? [itemRef(r.retry)] : []));
      if (left.length) await ctx.ledger.record({ ...entry, objects: left });
      else await ctx.ledger.remove(app);
      logNotPruned(o.logger, app, objects);
      const kept = objects.filter((r) => r.action === 'prune-skipped');
      const note = kept.length ? `${kept.length} object(s) not pruned: ${[...new Set(kept.map((r) => r.note))].join('; ')}` : undefined;
      o.logger.info(`${app}: ${why}; pruned ${objects.filter((r) => r.action === 'pruned').length} objects${note ? `; ${note}` : ''}`);
      out.push({ app, outcome: 'pruned', ...mark, objects, ...(note ? { reason: note } : {}) });
    } catch (err) {
      const error = appError(err);
      logAppError(o.logger, `${app}: ${why}; pruning its objects failed: ${error.message}`, error);
      out.push({ app, outcome: 'failed', ...mark, objects: [], reason: error.message, error });
    }
  }
  return out;
}
