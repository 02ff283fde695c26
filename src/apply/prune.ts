import pLimit from 'p-limit';
import type { K8sObject } from '../render/model.js';
import { ANNOTATION, LABEL, ownedBy } from './audit.js';
import type { KubeClient } from './client.js';
import { resourcePath, type Discovery } from './discovery.js';
import { objectError } from './errors.js';
import { itemId, itemKey, parseInventoryRef, type InventoryItem } from './inventory.js';
import type { ObjectResult } from './model.js';
import { kindRank } from './order.js';

/**
 * What an app applied before (its ledger inventory) and no longer renders, minus anything
 * another app renders now or recorded as its own: an object that moved between apps is never
 * pruned by the app it left. Namespaced objects are pruned before cluster-scoped ones, in
 * reverse kind order (Deployments before the ConfigMaps they mount, Namespaces last).
 */
export function pruneCandidates(previous: string[], current: Set<string>, protectedKeys: Set<string>): InventoryItem[] {
  const seen = new Set<string>();
  const out: InventoryItem[] = [];
  for (const ref of previous) {
    const item = parseInventoryRef(ref);
    if (!item) continue;
    const key = itemKey(item);
    if (current.has(key) || protectedKeys.has(key) || seen.has(key)) continue;
    seen.add(key);
    out.push(item);
  }
  return out.sort((a, b) => kindRank(b.kind) - kindRank(a.kind) || itemId(a).localeCompare(itemId(b)));
}

/** The per-object opt-out: app-of-apps.io/prune: "false", or Argo CD's sync-options Prune=false. */
export function optedOut(o: Pick<K8sObject, 'metadata'>): boolean {
  const a = o.metadata.annotations ?? {};
  return a[ANNOTATION.prune] === 'false' || /(^|,)\s*Prune=false\s*(,|$)/.test(a['argocd.argoproj.io/sync-options'] ?? '');
}

export interface PruneOptions {
  app: string;
  environment?: string;
  signal?: AbortSignal;
  /** Only decide; delete nothing (diff mode). */
  dryRun?: boolean;
}

export interface Pruned extends ObjectResult {
  live?: K8sObject;
}

/**
 * Deletes the candidates this app still owns: the live object must carry this app's and this
 * environment's labels (so objects of other apps, other tools or other environments are never
 * touched) and must not opt out. The delete is conditional on the uid that was checked.
 */
export async function prune(client: KubeClient, discovery: Discovery, items: InventoryItem[], o: PruneOptions): Promise<Pruned[]> {
  const results: Pruned[] = [];
  const limit = pLimit(8);
  const ranks = [...new Set(items.map((i) => kindRank(i.kind)))];
  for (const rank of ranks) {
    const batch = items.filter((i) => kindRank(i.kind) === rank);
    results.push(...(await Promise.all(batch.map((item) => limit(() => pruneOne(client, discovery, item, o))))).filter((r): r is Pruned => r !== undefined));
  }
  return results;
}

async function pruneOne(client: KubeClient, discovery: Discovery, item: InventoryItem, o: PruneOptions): Promise<Pruned | undefined> {
  const id = itemId(item);
  const info = await discovery.find(item.apiVersion, item.kind, o.signal);
  if (!info) return { id, action: 'prune-skipped', note: `${item.apiVersion} ${item.kind} is no longer served by the cluster` };
  const path = resourcePath(info, item.namespace, item.name);
  let live: K8sObject | undefined;
  try {
    live = await client.get<K8sObject>(path, { signal: o.signal });
  } catch (err) {
    throw objectError(id, 'reading the object to prune', err);
  }
  if (!live) return undefined; // already gone
  if (!ownedBy(live, o.app, o.environment)) {
    const labelled = live.metadata.labels?.[LABEL.app];
    return { id, action: 'prune-skipped', note: labelled ? `labelled for app ${labelled}, not ${o.app}` : 'not labelled as this app\'s' };
  }
  if (optedOut(live)) return { id, action: 'prune-skipped', note: `opted out (${ANNOTATION.prune}: "false")` };
  if (live.metadata.deletionTimestamp) return { id, action: 'pruned', note: 'already being deleted', live };
  if (!o.dryRun) {
    try {
      await client.request('DELETE', path, {
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', preconditions: { uid: live.metadata.uid } },
        signal: o.signal,
      });
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw objectError(id, 'prune', err);
    }
  }
  return { id, action: 'pruned', live };
}
