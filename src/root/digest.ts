import * as crypto from 'node:crypto';
import type { App } from './model.js';

/** SHA-256 hex; the one-shot crypto.hash (Node 20.12+) costs a third of a Hash object, which matters 2,000 times. */
const sha256: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text) : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** Object keys sorted, undefined dropped: equal data, equal JSON text. */
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
  // keys in sorted order by construction; only the user's own maps need sorting
  const definition = {
    createNamespace: app.createNamespace,
    directory: app.directory && { exclude: app.directory.exclude, include: app.directory.include, recurse: app.directory.recurse },
    helm: app.helm && {
      fileParameters: app.helm.fileParameters,
      namespace: app.helm.namespace,
      parameters: app.helm.parameters.map((p) => ({ forceString: p.forceString, name: p.name, value: p.value })),
      releaseName: app.helm.releaseName,
      skipCrds: app.helm.skipCrds,
      valueFiles: app.helm.valueFiles,
      values: app.helm.values && sortKeys(app.helm.values),
    },
    kustomize: app.kustomize && {
      clashFails: app.kustomize.clashFails,
      commonAnnotations: app.kustomize.commonAnnotations && sortKeys(app.kustomize.commonAnnotations),
      commonLabels: app.kustomize.commonLabels && sortKeys(app.kustomize.commonLabels),
      components: app.kustomize.components,
      ignoreMissingComponents: app.kustomize.ignoreMissingComponents,
      images: app.kustomize.images,
      namePrefix: app.kustomize.namePrefix,
      nameSuffix: app.kustomize.nameSuffix,
      namespace: app.kustomize.namespace,
      patches: app.kustomize.patches && sortKeys(app.kustomize.patches),
      replicas: app.kustomize.replicas,
    },
    name: app.name,
    namespace: app.namespace,
    path: app.path,
    prune: app.prune,
    pruneLast: app.pruneLast,
    serverSideApply: app.serverSideApply,
    type: app.type,
  };
  return sha256(JSON.stringify(definition));
}
