import { createHash } from 'node:crypto';
import type { App } from './model.js';

/** JSON with object keys sorted and undefined dropped, so equal data always gives equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * The app's definition digest: everything the root says that changes what is deployed or how
 * objects are written (source, type, namespace, tool options, prune/apply options). Order-only
 * fields (dependsOn, syncWave), watch globs, wait/timeout and where the entry sits in the file
 * are left out: moving an entry or reordering apps redeploys nothing.
 */
export function definitionDigest(app: Omit<App, 'definitionDigest' | 'origin' | 'notes'>): string {
  const { name, path, type, namespace, createNamespace, prune, serverSideApply, pruneLast, directory, helm, kustomize } = app;
  const definition = { name, path, type, namespace, createNamespace, prune, serverSideApply, pruneLast, directory, helm, kustomize };
  return createHash('sha256').update(canonicalJson(definition)).digest('hex');
}
