import pLimit from 'p-limit';
import { diffSummaryTable } from '../report/deploy-summary.js';
import { repositoryOf } from '../config/index.js';
import type { Logger } from '../report/logger.js';
import { namedByServer, type K8sObject } from '../render/model.js';
import { applyObject, readLive } from './apply-object.js';
import { missingNamespace, refuseOtherOwner, refusedForWhatItIs, unchangedByDigest, type RunContext } from './app.js';
import { KubeApiError } from './client.js';
import { ObjectError } from './errors.js';
import { unifiedDiff } from './diff-format.js';
import { dryRunHook } from './hook-run.js';
import { context, environmentOf, withSession, type EngineOptions } from './engine.js';
import { changesToDeploy } from '../plan/model.js';
import { appError, logAppError } from './errors.js';
import { errorMessage, PipeError } from '../util/errors.js';
import { itemKey, parseInventoryRef } from './inventory.js';
import type { AppDiff, AppError, DiffResult, ObjectDiff } from './model.js';
import { crdKinds, type PreparedApp, type Target } from './prepare.js';
import { readLedger } from './ledger.js';
import { prune, pruneCandidates } from './prune.js';

/**
 * What deploying one app would change, applying nothing: each object through a server-side
 * dry run (so defaults, webhooks and field ownership are the server's), compared with the live
 * object; plus the namespace CreateNamespace would make and what prune would delete. `creates`:
 * the namespaces this deploy would create (see namespacesCreated).
 */
export async function diffApp(ctx: RunContext, p: PreparedApp, creates: ReadonlySet<string> = new Set(), crds: CrdChanges = NO_CRD_CHANGES): Promise<AppDiff> {
  const app = p.change.app;
  const previous = ctx.previous.get(app.name);
  if (unchangedByDigest(p, previous)) {
    return { app: app.name, changed: false, objects: [], reason: 'unchanged (digest)' };
  }
  const objects: ObjectDiff[] = [];
  const problems: Error[] = [];
  if (app.createNamespace && app.namespace && !(await namespaceExists(ctx, app.namespace))) {
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: app.namespace } };
    objects.push({ id: `Namespace/${app.namespace}`, change: 'create', diff: unifiedDiff(`Namespace/${app.namespace}`, undefined, ns), note: 'CreateNamespace' });
  }
  for (const s of p.skipped) objects.push({ id: s.id, change: 'none', diff: '', note: s.reason });
  const limit = pLimit(8);
  await Promise.all(
    [...p.targets, ...p.hooks].map((t) =>
      limit(async () => {
        try {
          objects.push(await (t.hook ? diffHook(ctx, t, creates) : (crds.diffs.get(t) ?? diffObject(ctx, t, creates, crds.kinds))));
        } catch (err) {
          problems.push(err instanceof Error ? err : new Error(String(err)));
        }
      }),
    ),
  );
  if (ctx.config.prune || app.prune) {
    const current = new Set([...p.targets, ...p.hooks].map((t) => itemKey(parseInventoryRef(t.ref)!)));
    const candidates = pruneCandidates(previous?.objects ?? [], current, ctx.protectedKeys(app.name));
    const decided = await prune(ctx.client, ctx.discovery, candidates, { app: app.name, environment: ctx.environment, signal: ctx.hardSignal, dryRun: true, occupied: ctx.occupiedNamespaces(app.name) });
    for (const d of decided) {
      if (d.action === 'pruned') objects.push({ id: d.id, change: 'delete', diff: unifiedDiff(d.id, d.live, undefined), note: 'prune' });
      else objects.push({ id: d.id, change: 'none', diff: '', note: `not pruned: ${d.note ?? ''}` });
    }
  }
  objects.sort((a, b) => a.id.localeCompare(b.id));
  const changed = objects.some((o) => o.change !== 'none');
  if (!problems.length) return { app: app.name, changed, objects };
  return { app: app.name, changed, objects, reason: problems[0]!.message, error: diffError(problems) };
}

/** The failures of an app's objects as one error: one object's as deploy would report it, or a list, with what to do. */
function diffError(problems: Error[]): AppError {
  if (problems.length === 1) return appError(problems[0]);
  const hints = [...new Set(problems.map((e) => (e instanceof PipeError ? e.hint : undefined)).filter((h): h is string => !!h))];
  return { message: `${problems.length} object(s) could not be diffed`, details: problems.map((e) => e.message), hint: hints.length ? hints.join('; ') : undefined };
}

/**
 * The namespaces a deploy of these apps would create: an app's CreateNamespace, and Namespace
 * objects rendered by any of them. An object in another missing namespace fails as it would in
 * the deploy.
 */
export function namespacesCreated(apps: Iterable<PreparedApp>): Set<string> {
  const out = new Set<string>();
  for (const p of apps) {
    if (p.change.app.createNamespace && p.change.app.namespace) out.add(p.change.app.namespace);
    for (const t of p.targets) if (t.object.kind === 'Namespace' && t.object.apiVersion === 'v1') out.add(t.object.metadata.name);
  }
  return out;
}

/** The CRDs a diff compares first: the kinds they change, and each CRD's own diff, which its app's diff reuses. */
interface CrdChanges {
  /** "group:Kind" -> the name of its CRD, for CRDs that differ from the live ones. */
  kinds: ReadonlyMap<string, string>;
  diffs: ReadonlyMap<Target, Promise<ObjectDiff>>;
}
const NO_CRD_CHANGES: CrdChanges = { kinds: new Map(), diffs: new Map() };

/**
 * The kinds ("group:Kind") whose CRD, rendered in this run, differs from the live one, with the
 * CRD's name: the deploy applies it before the objects of its kind (in the app's first stage, or
 * in an app they depend on), so a dry run of those objects today may be refused for what changes.
 * Each CRD is compared once: its app's diff takes the same result.
 */
async function crdsChanged(ctx: RunContext, apps: Iterable<PreparedApp>, creates: ReadonlySet<string>): Promise<CrdChanges> {
  const kinds = new Map<string, string>();
  const diffs = new Map<Target, Promise<ObjectDiff>>();
  const crds = [...apps].flatMap((p) => p.targets).filter((t) => t.object.kind === 'CustomResourceDefinition' && t.object.apiVersion.startsWith('apiextensions.k8s.io/'));
  await Promise.all(
    crds.map(async (t) => {
      const diff = diffObject(ctx, t, creates, NO_CRD_CHANGES.kinds);
      diffs.set(t, diff);
      // a CRD that cannot be compared changes nothing here: its app's diff says why
      const d = await diff.catch(() => undefined);
      if (!d || d.change === 'none') return;
      for (const k of crdKinds([t.object]).values()) kinds.set(`${k.group}:${k.kind}`, t.object.metadata.name);
    }),
  );
  return { kinds, diffs };
}

async function namespaceExists(ctx: RunContext, name: string): Promise<boolean> {
  try {
    return Boolean(await ctx.client.get(`/api/v1/namespaces/${name}`, { signal: ctx.hardSignal }));
  } catch {
    return true; // may not read namespaces: assume it is there rather than claim a change
  }
}

async function diffObject(ctx: RunContext, t: Target, creates: ReadonlySet<string>, changingCrds: ReadonlyMap<string, string>): Promise<ObjectDiff> {
  if (t.fromNewCrd) {
    return { id: t.id, change: 'create', diff: unifiedDiff(t.id, undefined, t.object), note: 'its CRD is created by this deploy: not dry-run' };
  }
  const live = await readLive(ctx.client, t, ctx.hardSignal);
  // the deploy refuses an object another environment, or an app it does not deploy, deployed
  refuseOtherOwner(ctx, t.app, t.id, live.object);
  try {
    const r = await applyObject(ctx.client, t, { fieldManager: ctx.config.fieldManager, force: ctx.config.forceConflicts, signal: ctx.hardSignal, dryRun: true }, live);
    const diff = unifiedDiff(t.id, r.before, r.after);
    return { id: t.id, change: !r.before ? 'create' : diff ? 'update' : 'none', diff };
  } catch (err) {
    // The namespace does not exist yet and this deploy creates it (CreateNamespace, or a rendered
    // Namespace): show the object as rendered. Otherwise the deploy would fail just so: say so.
    const missing = missingNamespace(err);
    if (missing && creates.has(missing)) {
      return { id: t.id, change: 'create', diff: unifiedDiff(t.id, undefined, t.object as K8sObject), note: `its namespace ${missing} is created by this deploy: not dry-run` };
    }
    // Refused for what it needs, not for what it is (a Pod's ServiceAccount the app creates first):
    // the deploy's preflight leaves it to the apply, so a new object is shown as rendered.
    if (!live.object && !refusedForWhatItIs(err)) {
      return { id: t.id, change: 'create', diff: unifiedDiff(t.id, undefined, t.object as K8sObject), note: `not dry-run: the server checks it against objects this deploy creates first (${serverMessage(err)})` };
    }
    // Refused by the CRD of today, which this deploy changes before it applies the object (a field
    // the CRD gains): compared as rendered, as a custom resource has little the server adds.
    const crd = changingCrds.get(`${t.info.group}:${t.object.kind}`);
    if (crd) {
      const diff = unifiedDiff(t.id, live.object, t.object);
      const note = `its CRD ${crd} changes in this deploy: not dry-run, compared as rendered (${serverMessage(err)})`;
      return { id: t.id, change: !live.object ? 'create' : diff ? 'update' : 'none', diff, note };
    }
    throw err;
  }
}

function serverMessage(err: unknown): string {
  const api = err instanceof ObjectError ? err.cause : err;
  return api instanceof KubeApiError ? (api.body.message ?? api.message) : errorMessage(err);
}

/**
 * A hook is not compared with the live one (a previous run): the deploy would run it, so it is
 * shown as a create, as rendered, once it passed the same dry run as the deploy's preflight.
 */
async function diffHook(ctx: RunContext, t: Target, creates: ReadonlySet<string>): Promise<ObjectDiff> {
  const h = t.hook!;
  if (h.phases.every((p) => p === 'SyncFail')) return { id: t.id, change: 'none', diff: '', note: 'SyncFail hook: runs only when the deploy fails' };
  const live = await readLive(ctx.client, t, ctx.hardSignal);
  refuseOtherOwner(ctx, t.app, t.id, live.object);
  const how = namedByServer(t.object)
    ? ' (a new object, named by the server: generateName)'
    : live.object && h.policies.includes('BeforeHookCreation')
      ? ' (replacing the live one: BeforeHookCreation)'
      : '';
  let note = `${h.phases.filter((p) => p !== 'SyncFail').join(',')} hook: would run${how}`;
  if (t.fromNewCrd) note += '; its CRD is created by this deploy: not dry-run';
  else {
    try {
      await dryRunHook(ctx, t, live);
    } catch (err) {
      const missing = missingNamespace(err);
      if (!missing || !creates.has(missing)) throw err;
      note += `; its namespace ${missing} is created by this deploy: not dry-run`;
    }
  }
  return { id: t.id, change: 'create', diff: unifiedDiff(t.id, undefined, t.object), note };
}

/** MODE=diff: what a deploy would change, through server-side dry runs; applies and records nothing, takes no lock. */
export async function diffPlan(o: EngineOptions): Promise<DiffResult> {
  const started = Date.now();
  const environment = environmentOf(o);
  const changes = changesToDeploy(o.plan);
  const result: DiffResult = { environment, commit: o.plan.head, apps: [], changed: false, ok: true, durationMs: 0 };
  if (changes.length) {
    result.apps = await withSession(o, changes, async ({ client, discovery, prepared, hard }) => {
      const snapshot = await readLedger(client, o.config.ledgerNamespace, environment, repositoryOf(o.config), o.signal);
      // diff mode holds no lock: it never writes the ledger
      const ctx = context(o, client, discovery, prepared, snapshot, o.signal, hard, AbortSignal.abort());
      const limit = pLimit(o.config.concurrency);
      const creates = namespacesCreated(prepared.values());
      const crds = await crdsChanged(ctx, prepared.values(), creates);
      return Promise.all(
        o.plan.layers.flat().map((app) =>
          limit(async (): Promise<AppDiff> => {
            try {
              return await diffApp(ctx, prepared.get(app)!, creates, crds);
            } catch (err) {
              return { app, changed: false, objects: [], error: appError(err) };
            }
          }),
        ),
      );
    });
  }
  for (const a of result.apps) logAppDiff(o.logger, a);
  result.changed = result.apps.some((a) => a.changed);
  result.ok = result.apps.every((a) => !a.error);
  result.durationMs = Date.now() - started;
  if (result.apps.length) o.logger.info(`\n${diffSummaryTable(result)}`);
  const failedApps = result.apps.filter((a) => a.error).length;
  if (result.changed) o.logger.info(`${result.apps.filter((a) => a.changed).length} of ${result.apps.length} apps would change`);
  else if (!failedApps) o.logger.info('No changes.');
  if (failedApps) o.logger.info(`${failedApps} of ${result.apps.length} apps could not be compared`);
  return result;
}

function logAppDiff(logger: Logger, a: AppDiff): void {
  const n = (c: string) => a.objects.filter((x) => x.change === c).length;
  if (a.error) logAppError(logger, `${a.app}: could not diff: ${a.error.message}`, a.error);
  if (!a.changed) {
    if (!a.error) logger.info(`${a.app}: ${a.reason ?? 'no changes'}`);
    return;
  }
  logger.info(`${a.app}: ${n('create')} to create, ${n('update')} to update, ${n('delete')} to delete`);
  for (const obj of a.objects) if (obj.diff) logger.info(`${obj.note ? `# ${obj.id}: ${obj.note}\n` : ''}${logged(obj.diff, logger.debugEnabled)}`);
}

/** Lines of one object's diff in the log: a CRD's schema or a dashboard's ConfigMap would bury the rest. */
const MAX_LOGGED_DIFF_LINES = 200;

function logged(diff: string, all: boolean): string {
  const lines = diff.split('\n');
  if (all || lines.length <= MAX_LOGGED_DIFF_LINES) return diff;
  return [...lines.slice(0, MAX_LOGGED_DIFF_LINES), `... ${lines.length - MAX_LOGGED_DIFF_LINES} more lines of this diff (DEBUG=true prints them all; the JSON report has all of it)`].join('\n');
}
