import pLimit from 'p-limit';
import type { K8sObject } from '../render/model.js';
import { ANNOTATION, LABEL, ownedBy } from './audit.js';
import type { KubeClient } from './client.js';
import { resourcePath, type Discovery } from './discovery.js';
import { deleteObject } from './apply-object.js';
import { objectError } from './errors.js';
import { itemId, itemKey, parseInventoryRef, type InventoryItem } from './inventory.js';
import type { ObjectResult } from './model.js';
import { kindRank } from './order.js';
import { errorMessage } from '../util/errors.js';

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

const SYNC_OPTIONS = 'argocd.argoproj.io/sync-options';
const RESOURCE_POLICY = 'helm.sh/resource-policy';

const syncOption = (a: Record<string, string>, option: string) => (a[SYNC_OPTIONS] ?? '').split(',').some((o) => o.trim() === option);

/**
 * Why an object must not be deleted, naming the annotation, or undefined when it may be:
 * - app-of-apps.io/prune: "false", or Argo CD's sync-options Prune=false: never pruned;
 * - helm.sh/resource-policy: keep: never deleted, as Helm skips it on upgrade and uninstall
 *   (compared trimmed and in lower case, as Helm does);
 * - Argo CD's sync-options Delete=false: kept when its app is deleted (`appRemoved`: the app is
 *   gone from the root or disabled), not when the app merely stopped rendering it;
 * - Argo CD's Prune=confirm and Delete=confirm: Argo CD waits for a person to confirm; a pipeline
 *   cannot ask, so the object is kept (delete it by hand once confirmed).
 */
export function keptBy(o: Pick<K8sObject, 'metadata'>, appRemoved: boolean): string | undefined {
  const a = o.metadata.annotations ?? {};
  if (a[ANNOTATION.prune] === 'false') return `opted out (${ANNOTATION.prune}: "false")`;
  if (syncOption(a, 'Prune=false')) return `opted out (${SYNC_OPTIONS}: Prune=false)`;
  if (a[RESOURCE_POLICY]?.trim().toLowerCase() === 'keep') return `kept (${RESOURCE_POLICY}: keep)`;
  if (appRemoved && syncOption(a, 'Delete=false')) return `kept (${SYNC_OPTIONS}: Delete=false)`;
  if (syncOption(a, 'Prune=confirm')) return `kept: ${SYNC_OPTIONS}: Prune=confirm asks for a confirmation, which a pipeline cannot give (delete it by hand)`;
  if (appRemoved && syncOption(a, 'Delete=confirm')) return `kept: ${SYNC_OPTIONS}: Delete=confirm asks for a confirmation, which a pipeline cannot give (delete it by hand)`;
  return undefined;
}

export interface PruneOptions {
  app: string;
  environment?: string;
  signal?: AbortSignal;
  /** Only decide; delete nothing (diff mode). */
  dryRun?: boolean;
  /** The app itself is being deleted (removed from the root, or disabled): Delete=false keeps objects too. */
  appRemoved?: boolean;
  /** Namespaces holding objects of other apps (namespace -> one of them), asked only when a Namespace is a candidate: kept, as deleting one deletes its objects. */
  occupied?: () => Promise<ReadonlyMap<string, string>>;
}

export interface Pruned extends ObjectResult {
  live?: K8sObject;
  /**
   * Kept for now, not for good: a Namespace that holds objects of other apps (or whose other
   * users could not be listed). It stays in the app's inventory, so a later prune deletes it
   * once it is free; forgotten, it would be left behind for ever.
   */
  retry?: InventoryItem;
}

/**
 * Deletes the candidates this app still owns: the live object must carry this app's and this
 * environment's labels (so objects of other apps, other tools or other environments are never
 * touched) and must not be kept by an annotation (see keptBy). A Namespace holding an object kept
 * that way, or an object of another app (`occupied`), is kept too: deleting it would delete them.
 * The delete is conditional on the uid that was checked.
 */
export async function prune(client: KubeClient, discovery: Discovery, items: InventoryItem[], o: PruneOptions): Promise<Pruned[]> {
  const results: Pruned[] = [];
  const limit = pLimit(8);
  const ranks = [...new Set(items.map((i) => kindRank(i.kind)))];
  // Namespaces come last (reverse kind order): by then every object kept inside one is known
  const holding = new Map<string, string>();
  for (const rank of ranks) {
    const batch = items.filter((i) => kindRank(i.kind) === rank);
    const pruneOrKeep = async (item: InventoryItem): Promise<(Pruned & { keptBy?: true }) | undefined> => {
      if (item.kind === 'Namespace' && !item.namespace) {
        // kept for good when it holds an object kept by an annotation; for now when other apps use it
        const keptInside = holding.get(item.name);
        if (keptInside) return { id: itemId(item), action: 'prune-skipped', note: `kept: it holds ${keptInside}` };
        let used: string | undefined;
        try {
          used = (await o.occupied?.())?.get(item.name);
        } catch (err) {
          return { id: itemId(item), action: 'prune-skipped', note: `kept: cannot tell whether another environment's apps use it (listing the ledgers failed: ${errorMessage(err)})`, retry: item };
        }
        if (used) return { id: itemId(item), action: 'prune-skipped', note: `kept: it holds ${used}`, retry: item };
      }
      return limit(() => pruneOne(client, discovery, item, o));
    };
    for (const [i, r] of (await Promise.all(batch.map(pruneOrKeep))).entries()) {
      if (!r) continue;
      const { keptBy: byAnnotation, ...result } = r;
      results.push(result);
      const ns = batch[i]!.namespace;
      if (byAnnotation && ns && !holding.has(ns)) holding.set(ns, `${r.id}, which is ${r.note}`);
    }
  }
  return results;
}

/** keptBy: kept by an annotation (keptBy), not for another reason such as another owner. */
async function pruneOne(client: KubeClient, discovery: Discovery, item: InventoryItem, o: PruneOptions): Promise<(Pruned & { keptBy?: true }) | undefined> {
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
  const kept = keptBy(live, o.appRemoved ?? false);
  if (kept) return { id, action: 'prune-skipped', note: kept, keptBy: true };
  if (live.metadata.deletionTimestamp) return { id, action: 'pruned', note: 'already being deleted', live };
  if (!o.dryRun) {
    try {
      await deleteObject(client, path, live, o.signal);
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw objectError(id, 'prune', err);
    }
  }
  return { id, action: 'pruned', live };
}
