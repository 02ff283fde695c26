import type { AppChange } from '../plan/model.js';
import { nameOf, objectId, type K8sObject, type RenderedApp } from '../render/model.js';
import type { Root } from '../root/model.js';
import { InputError, PipeError } from '../util/errors.js';
import { stamp, type AuditContext } from './audit.js';
import type { Discovery, ResourceInfo } from './discovery.js';
import { checkGuardrails, type Touch } from './guardrails.js';
import { classifyHook, type Hook } from './hooks.js';
import { inventoryRef } from './inventory.js';
import { syncWave } from './order.js';

/** One object ready to apply: stamped, namespace defaulted, its resource known. */
export interface Target {
  app: string;
  id: string;
  /** Inventory entry recorded in the ledger (what prune works from). */
  ref: string;
  object: K8sObject;
  info: ResourceInfo;
  wave: number;
  /** Its kind comes from a CRD applied in this run: wait for the CRD before applying it. */
  fromNewCrd: boolean;
  /** A resource hook (see hooks.ts): run at its phase, never in the app's inventory. */
  hook?: Hook;
}

export interface PreparedApp {
  change: AppChange;
  rendered: RenderedApp;
  /** The app's ordinary objects: what is applied in waves, recorded as its inventory and pruned. */
  targets: Target[];
  /** Its resource hooks, in the order rendered (the engine runs them by phase, weight and kind). */
  hooks: Target[];
  /** Hooks that never run on a deploy (Skip, Helm's delete, rollback and test hooks), with why. */
  skipped: { id: string; reason: string }[];
}

/** Kinds defined by the CRDs among `objects`, keyed "group/version:Kind". */
export function crdKinds(objects: Iterable<K8sObject>): Map<string, ResourceInfo> {
  const kinds = new Map<string, ResourceInfo>();
  for (const o of objects) {
    if (o.kind !== 'CustomResourceDefinition' || !o.apiVersion.startsWith('apiextensions.k8s.io/')) continue;
    const spec = (o as { spec?: { group?: string; scope?: string; names?: { kind?: string; plural?: string }; versions?: { name: string }[] } }).spec;
    if (!spec?.group || !spec.names?.kind || !spec.names.plural) continue;
    for (const v of spec.versions ?? []) {
      kinds.set(`${spec.group}/${v.name}:${spec.names.kind}`, {
        group: spec.group,
        version: v.name,
        kind: spec.names.kind,
        resource: spec.names.plural,
        namespaced: spec.scope !== 'Cluster',
      });
    }
  }
  return kinds;
}

/**
 * Everything checked before the first apply: every object's kind is known to the cluster (or
 * defined by a CRD in this run), sync waves parse, no object is rendered twice, and every object
 * is inside the environment's guardrails. A problem anywhere applies nothing.
 */
export async function prepare(opts: {
  changes: AppChange[];
  rendered: Map<string, RenderedApp>;
  discovery: Discovery;
  root: Root;
  audit: Omit<AuditContext, 'app'>;
  signal?: AbortSignal;
}): Promise<Map<string, PreparedApp>> {
  const newKinds = crdKinds([...opts.rendered.values()].flatMap((r) => r.objects));
  const problems: { text: string; hint?: string }[] = [];
  const problem = (text: string, hint?: string) => problems.push({ text, hint });
  const fromError = (err: unknown) => problem((err as Error).message, err instanceof PipeError ? err.hint : undefined);
  const touches: Touch[] = [];
  const owner = new Map<string, string>();
  const prepared = new Map<string, PreparedApp>();
  for (const change of opts.changes) {
    const app = change.app;
    const rendered = opts.rendered.get(app.name);
    if (!rendered) {
      problem(`app ${app.name}: was not rendered`);
      continue;
    }
    const targets: Target[] = [];
    const hooks: Target[] = [];
    const skipped: PreparedApp['skipped'] = [];
    for (const raw of rendered.objects) {
      let kind: ReturnType<typeof classifyHook>;
      try {
        kind = classifyHook(raw, `app ${app.name}: ${objectId(raw)}`);
      } catch (err) {
        fromError(err);
        continue;
      }
      if (kind.kind === 'skipped') {
        skipped.push({ id: objectId({ ...raw, metadata: { ...raw.metadata, namespace: raw.metadata.namespace ?? app.namespace } }), reason: kind.reason });
        continue;
      }
      const known = await opts.discovery.find(raw.apiVersion, raw.kind, opts.signal);
      const info = known ?? newKinds.get(`${raw.apiVersion}:${raw.kind}`);
      if (!info) {
        problem(`app ${app.name}: ${objectId(raw)}: the cluster has no kind ${raw.kind} in ${raw.apiVersion} (is its CRD installed?)`, 'install CRDs with, or before, the apps that use them');
        continue;
      }
      const namespace = info.namespaced ? (raw.metadata.namespace ?? app.namespace) : undefined;
      const metadata = { ...raw.metadata, namespace };
      if (!namespace) delete metadata.namespace;
      const object = stamp({ ...raw, metadata }, { ...opts.audit, app: app.name });
      const id = objectId(object);
      const key = `${info.group}:${id}`;
      const other = owner.get(key);
      if (other) {
        problem(other === app.name ? `app ${app.name}: ${id} is rendered twice` : `app ${app.name}: ${id} is also rendered by app ${other}`, 'render each object in one app only: remove it from all but one of them (or give the copies other names or namespaces)');
        continue;
      }
      owner.set(key, app.name);
      try {
        const base = { app: app.name, id, ref: inventoryRef(object), object, info, fromNewCrd: !known };
        if (kind.kind === 'hook') hooks.push({ ...base, wave: kind.hook.weight, hook: kind.hook });
        else targets.push({ ...base, wave: syncWave(raw, app.name, id) });
      } catch (err) {
        fromError(err);
      }
      touches.push({ app: app.name, id, kind: info.kind, group: info.group, name: nameOf(raw), namespace });
    }
    if (app.createNamespace && app.namespace) {
      touches.push({ app: app.name, id: `Namespace/${app.namespace}`, kind: 'Namespace', group: '', name: app.namespace });
    }
    prepared.set(app.name, { change, rendered, targets, hooks, skipped });
  }
  if (problems.length) {
    throw new InputError(`${problems.length === 1 ? 'a rendered object cannot' : `${problems.length} rendered objects cannot`} be applied; nothing was applied`, {
      details: problems.map((p) => p.text),
      // what to do about each kind of problem found, once
      hint: [...new Set(problems.map((p) => p.hint ?? 'fix the manifests'))].join('; '),
    });
  }
  checkGuardrails(touches, opts.root.environment, opts.root.file);
  return prepared;
}
