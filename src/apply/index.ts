import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import type { Config } from '../config/index.js';
import type { AppChange, DeployedState, Plan } from '../plan/model.js';
import type { RenderedApp } from '../render/model.js';
import { diffSummaryTable, formatDuration, summaryLine, summaryTable } from '../report/deploy-summary.js';
import type { Logger } from '../report/logger.js';
import { deployApp, type RunContext } from './app.js';
import type { AuditContext } from './audit.js';
import { KubeClient } from './client.js';
import { connect, type ClusterEndpoint } from './connection.js';
import { diffApp } from './diff.js';
import { clusterError } from './errors.js';
import { Discovery } from './discovery.js';
import { itemKey, parseInventoryRef } from './inventory.js';
import { deployedState, LedgerWriter, readLedger, type LedgerSnapshot } from './ledger.js';
import { EnvironmentLock } from './lock.js';
import type { AppDiff, AppResult, DeployResult, DiffResult, RemovedAppResult } from './model.js';
import { lockName } from './names.js';
import { prepare, type PreparedApp } from './prepare.js';
import { prune, pruneCandidates } from './prune.js';
import { runLayers } from './schedule.js';
import { countObjects } from './model.js';

export type { AppDiff, AppResult, DeployResult, DiffResult, ObjectResult, RemovedAppResult } from './model.js';
export type { ClusterEndpoint } from './connection.js';

export interface EngineOptions {
  plan: Plan;
  rendered: Map<string, RenderedApp>;
  access: ClusterEndpoint;
  config: Config;
  logger: Logger;
  /** Aborted on SIGTERM: no new app starts; in-flight requests get `graceMs` to end. */
  signal: AbortSignal;
  graceMs?: number;
  /** Lease duration of the environment lock (a killed run's lock expires after it). */
  lockLeaseSeconds?: number;
  /** First poll interval of health waits. */
  pollMs?: number;
}

/** What the ledger of an environment says is deployed (empty when there is no ledger yet). */
export async function readDeployedState(access: ClusterEndpoint, opts: { environment: string; ledgerNamespace: string; context?: string }): Promise<DeployedState> {
  const client = new KubeClient(await connect(access, { context: opts.context }));
  try {
    return deployedState(await readLedger(client, opts.ledgerNamespace, opts.environment));
  } catch (err) {
    throw clusterError(err, access.server);
  } finally {
    client.close();
  }
}

const toDeploy = (plan: Plan): AppChange[] => plan.apps.filter((c) => plan.layers.some((l) => l.includes(c.app.name)));
const environmentOf = (o: EngineOptions) => o.plan.environment ?? o.config.environment ?? 'default';

/** Objects each app owns (rendered now, or in its ledger inventory): other apps never prune them. */
function ownership(prepared: Map<string, PreparedApp>, snapshot: LedgerSnapshot): (app: string) => Set<string> {
  const owners = new Map<string, Set<string>>();
  const own = (key: string, app: string) => owners.set(key, (owners.get(key) ?? new Set()).add(app));
  for (const [app, p] of prepared) for (const t of p.targets) own(itemKey(parseInventoryRef(t.ref)!), app);
  for (const [app, e] of snapshot.entries) {
    for (const ref of e.objects) {
      const item = parseInventoryRef(ref);
      if (item) own(itemKey(item), app);
    }
  }
  return (app) => new Set([...owners].filter(([, apps]) => [...apps].some((a) => a !== app)).map(([key]) => key));
}

function auditOf(o: EngineOptions): Omit<AuditContext, 'app'> {
  const b = o.config.build;
  return { environment: environmentOf(o), commit: o.plan.head, buildNumber: b.buildNumber, repository: b.repoFullName, triggerer: b.triggerer };
}

function context(o: EngineOptions, client: KubeClient, discovery: Discovery, prepared: Map<string, PreparedApp>, snapshot: LedgerSnapshot, signal: AbortSignal, hardSignal: AbortSignal): RunContext {
  const environment = environmentOf(o);
  return {
    client,
    discovery,
    config: o.config,
    logger: o.logger,
    signal,
    hardSignal,
    environment,
    audit: auditOf(o),
    ledger: new LedgerWriter(client, o.config.ledgerNamespace, environment),
    previous: snapshot.entries,
    protectedKeys: ownership(prepared, snapshot),
    pollMs: o.pollMs,
  };
}

/** Every request in flight listens on the run's signals: dozens at once is expected, not a leak. */
function unbounded(signal: AbortSignal): AbortSignal {
  setMaxListeners(0, signal);
  return signal;
}

/** Stops starting work when `signal` aborts, and cuts in-flight requests `graceMs` later. */
function graceful(signal: AbortSignal, graceMs: number): { hard: AbortSignal; dispose: () => void } {
  unbounded(signal);
  const hard = new AbortController();
  unbounded(hard.signal);
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => (timer = setTimeout(() => hard.abort(signal.reason), graceMs));
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return { hard: hard.signal, dispose: () => (clearTimeout(timer), signal.removeEventListener('abort', onAbort)) };
}

function logAppResult(logger: Logger, r: AppResult): void {
  const c = r.counts;
  const took = formatDuration(r.durationMs);
  if (r.outcome === 'deployed') logger.info(`${r.app}: deployed in ${took} (${c.created} created, ${c.configured} configured, ${c.unchanged} unchanged, ${c.pruned} pruned)`);
  else if (r.outcome === 'unchanged') logger.info(`${r.app}: ${r.reason ?? 'unchanged'}, nothing applied`);
  else if (r.outcome === 'skipped') logger.warn(`${r.app}: skipped: ${r.reason ?? ''}`);
  else if (r.outcome === 'cancelled') logger.warn(`${r.app}: cancelled after ${took}; not recorded`);
  else {
    logger.error(`${r.app}: FAILED after ${took}: ${r.reason ?? ''}`);
    for (const d of r.error?.details ?? []) logger.error(`  ${d}`);
    if (r.error?.hint) logger.info(`  What to do: ${r.error.hint}`);
  }
}

/**
 * MODE=deploy. Everything is checked first (kinds, waves, duplicates, guardrails); then, holding
 * the environment's lock, the plan's layers are deployed (apps in parallel up to CONCURRENCY),
 * each app recorded in the ledger once healthy; removed apps are pruned with PRUNE_REMOVED_APPS.
 */
export async function deploy(o: EngineOptions): Promise<DeployResult> {
  try {
    return await deployRun(o);
  } catch (err) {
    throw clusterError(err, o.access.server);
  }
}

async function deployRun(o: EngineOptions): Promise<DeployResult> {
  const started = Date.now();
  const environment = environmentOf(o);
  const changes = toDeploy(o.plan);
  const result: DeployResult = { environment, commit: o.plan.head, apps: [], removed: [], ok: true, cancelled: false, durationMs: 0 };
  if (!changes.length && !(o.plan.removed.length && o.config.pruneRemovedApps)) {
    o.logger.info('Nothing to deploy.');
    for (const app of o.plan.removed) result.removed.push(keptRemoved(app));
    return { ...result, durationMs: Date.now() - started };
  }
  const client = new KubeClient(await connect(o.access, { context: o.config.identity.kubeContext }));
  const { hard, dispose } = graceful(o.signal, o.graceMs ?? 10_000);
  try {
    const discovery = new Discovery(client);
    const prepared = await prepare({ changes, rendered: o.rendered, discovery, root: o.plan.root, audit: auditOf(o), signal: o.signal });
    const b = o.config.build;
    const lock = await EnvironmentLock.acquire(client, {
      namespace: o.config.ledgerNamespace,
      name: lockName(environment),
      holder: `build ${b.buildNumber ?? '?'}, commit ${o.plan.head.slice(0, 12)}${b.repoFullName ? `, ${b.repoFullName}` : ''}`,
      leaseDurationSeconds: o.lockLeaseSeconds ?? 60,
      timeoutSeconds: o.config.lockTimeoutSeconds,
      logger: o.logger,
      signal: o.signal,
    });
    try {
      const snapshot = await readLedger(client, o.config.ledgerNamespace, environment, o.signal);
      for (const p of snapshot.problems) o.logger.warn(`${snapshot.source}: ${p} (the app is treated as never deployed)`);
      const stop = unbounded(AbortSignal.any([o.signal, lock.lost]));
      const ctx = context(o, client, discovery, prepared, snapshot, stop, unbounded(AbortSignal.any([hard, lock.lost])));
      const deferred: (() => Promise<AppResult>)[] = [];
      const results = await runLayers<AppResult>({
        layers: o.plan.layers,
        dependsOn: (app) => prepared.get(app)?.change.app.dependsOn ?? [],
        wave: (app) => prepared.get(app)?.change.app.syncWave ?? 0,
        concurrency: o.config.concurrency,
        signal: stop,
        run: async (app) => {
          const p = prepared.get(app)!;
          o.logger.info(`${app}: started (${p.targets.length} objects; ${p.change.status}${p.change.reasons.length ? `: ${p.change.reasons.slice(0, 3).join('; ')}` : ''})`);
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
      await lock.release();
    }
  } finally {
    dispose();
    client.close();
  }
  result.cancelled = o.signal.aborted;
  result.ok = !result.cancelled && result.apps.every((a) => a.outcome === 'deployed' || a.outcome === 'unchanged') && result.removed.every((r) => r.outcome !== 'failed');
  result.durationMs = Date.now() - started;
  o.logger.info(`\n${summaryTable(result)}`);
  o.logger.info(summaryLine(result));
  return result;
}

function keptRemoved(app: string): RemovedAppResult {
  return { app, outcome: 'kept', objects: [], reason: 'removed from the root; its objects stay (set PRUNE_REMOVED_APPS=true to delete them)' };
}

/** Apps gone from the root: with PRUNE_REMOVED_APPS their objects are pruned (same ownership checks) and their ledger entries dropped. */
async function removeApps(o: EngineOptions, ctx: RunContext, snapshot: LedgerSnapshot, stop: AbortSignal): Promise<RemovedAppResult[]> {
  const out: RemovedAppResult[] = [];
  for (const app of o.plan.removed) {
    const entry = snapshot.entries.get(app);
    if (!o.config.pruneRemovedApps || !entry) {
      out.push(keptRemoved(app));
      continue;
    }
    if (stop.aborted) {
      out.push({ app, outcome: 'kept', objects: [], reason: 'not pruned: the run was cancelled' });
      continue;
    }
    try {
      const candidates = pruneCandidates(entry.objects, new Set(), ctx.protectedKeys(app));
      const objects = (await prune(ctx.client, ctx.discovery, candidates, { app, environment: ctx.environment, signal: ctx.hardSignal })).map(({ live: _l, ...r }) => r);
      await ctx.ledger.remove(app);
      o.logger.info(`${app}: removed from the root; pruned ${objects.filter((r) => r.action === 'pruned').length} objects`);
      out.push({ app, outcome: 'pruned', objects });
    } catch (err) {
      o.logger.error(`${app}: pruning the removed app failed: ${(err as Error).message}`);
      out.push({ app, outcome: 'failed', objects: [], reason: (err as Error).message });
    }
  }
  return out;
}

/** MODE=diff: what a deploy would change, through server-side dry runs; applies and records nothing, takes no lock. */
export async function diff(o: EngineOptions): Promise<DiffResult> {
  try {
    return await diffRun(o);
  } catch (err) {
    throw clusterError(err, o.access.server);
  }
}

async function diffRun(o: EngineOptions): Promise<DiffResult> {
  const started = Date.now();
  const environment = environmentOf(o);
  const changes = toDeploy(o.plan);
  const result: DiffResult = { environment, commit: o.plan.head, apps: [], changed: false, ok: true, durationMs: 0 };
  if (changes.length) {
    const client = new KubeClient(await connect(o.access, { context: o.config.identity.kubeContext }));
    const { hard, dispose } = graceful(o.signal, o.graceMs ?? 10_000);
    try {
      const discovery = new Discovery(client);
      const prepared = await prepare({ changes, rendered: o.rendered, discovery, root: o.plan.root, audit: auditOf(o), signal: o.signal });
      const snapshot = await readLedger(client, o.config.ledgerNamespace, environment, o.signal);
      const ctx = context(o, client, discovery, prepared, snapshot, o.signal, hard);
      const limit = pLimit(o.config.concurrency);
      const diffs = await Promise.all(
        o.plan.layers.flat().map((app) =>
          limit(async (): Promise<AppDiff> => {
            try {
              return await diffApp(ctx, prepared.get(app)!);
            } catch (err) {
              return { app, changed: false, objects: [], error: { message: (err as Error).message, details: [] } };
            }
          }),
        ),
      );
      result.apps = diffs;
    } finally {
      dispose();
      client.close();
    }
  }
  for (const a of result.apps) logAppDiff(o.logger, a);
  result.changed = result.apps.some((a) => a.changed);
  result.ok = result.apps.every((a) => !a.error);
  result.durationMs = Date.now() - started;
  if (result.apps.length) o.logger.info(`\n${diffSummaryTable(result)}`);
  o.logger.info(result.changed ? `${result.apps.filter((a) => a.changed).length} of ${result.apps.length} apps would change` : 'No changes.');
  return result;
}

function logAppDiff(logger: Logger, a: AppDiff): void {
  const n = (c: string) => a.objects.filter((x) => x.change === c).length;
  if (a.error) {
    logger.error(`${a.app}: could not diff: ${a.error.message}`);
    for (const d of a.error.details) logger.error(`  ${d}`);
  }
  if (!a.changed) {
    if (!a.error) logger.info(`${a.app}: ${a.reason ?? 'no changes'}`);
    return;
  }
  logger.info(`${a.app}: ${n('create')} to create, ${n('update')} to update, ${n('delete')} to delete`);
  for (const obj of a.objects) if (obj.diff) logger.info(`${obj.note ? `# ${obj.id}: ${obj.note}\n` : ''}${obj.diff}`);
}
