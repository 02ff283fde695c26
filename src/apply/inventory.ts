import { nameOf, type K8sObject } from '../render/model.js';

/**
 * An app's inventory entry for one object, as the ledger stores it:
 * "apps/v1 Deployment web/api" (namespaced) or "v1 Namespace web" (cluster-scoped).
 * Compact: an app's inventory is part of its ledger entry, one ConfigMap.
 */
export interface InventoryItem {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export function inventoryRef(o: Pick<K8sObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const ns = o.metadata.namespace;
  return `${o.apiVersion} ${o.kind} ${ns ? `${ns}/` : ''}${nameOf(o)}`;
}

export function itemRef(i: InventoryItem): string {
  return inventoryRef({ apiVersion: i.apiVersion, kind: i.kind, metadata: { name: i.name, namespace: i.namespace } });
}

export function parseInventoryRef(ref: string): InventoryItem | undefined {
  const m = /^(\S+) (\S+) (?:([^/\s]+)\/)?([^/\s]+)$/.exec(ref);
  if (!m) return undefined;
  return { apiVersion: m[1]!, kind: m[2]!, namespace: m[3], name: m[4]! };
}

/** Kind/namespace/name: the id every message uses. */
export function itemId(i: InventoryItem): string {
  return i.namespace ? `${i.kind}/${i.namespace}/${i.name}` : `${i.kind}/${i.name}`;
}

/** The same object whatever version it was applied with: group, kind, namespace, name. */
export function itemKey(i: InventoryItem): string {
  const slash = i.apiVersion.indexOf('/');
  const group = slash < 0 ? '' : i.apiVersion.slice(0, slash);
  return `${group}:${itemId(i)}`;
}
