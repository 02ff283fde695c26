import pLimit from 'p-limit';
import { InputError, InputErrors } from '../util/errors.js';
import { definitionDigest } from './digest.js';
import { mapApplication, type Application, type ArgoContext } from './argocd.js';
import type { App, Origin, RootFormat, UnsupportedApp } from './model.js';
import { inOrder } from './issues.js';
import { CHART_FILES } from '../util/source-files.js';
import { join, READ_CONCURRENCY } from './source.js';
import type { PathKey, YamlDoc } from './yaml.js';

interface K8sDoc {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: unknown; namespace?: unknown };
}

const isArgo = (d: K8sDoc) => typeof d.apiVersion === 'string' && d.apiVersion.startsWith('argoproj.io/');

/**
 * A list (`kind: List`, or a typed one such as `ApplicationList`, as kubectl writes several objects
 * in one; Kubernetes reads any kind ending in List with items so) stands for its items, each located in it.
 */
function expandLists(docs: YamlDoc[]): YamlDoc[] {
  return docs.flatMap((doc) => {
    const v = doc.value as { kind?: unknown; items?: unknown } | undefined;
    if (!v || typeof v !== 'object' || typeof v.kind !== 'string' || !v.kind.endsWith('List') || !Array.isArray(v.items)) return [doc];
    return v.items.map(
      (item: unknown, i): YamlDoc => ({
        ...doc,
        value: item,
        line: doc.lineOf(['items', i]),
        lineOf: (path) => doc.lineOf(['items', i, ...path]),
        keyLineOf: (path, key) => doc.keyLineOf(['items', i, ...path], key),
      }),
    );
  });
}

/**
 * The apps of an Argo CD root: every Application becomes an app or an unsupported entry (never
 * dropped), an ApplicationSet is listed as unsupported, and other objects the root would create
 * are named in the notes. A Namespace the root creates counts as createNamespace for the
 * children that deploy into it (the common "namespaces in wave -1" pattern).
 */
export async function loadArgoDocs(
  docs: YamlDoc[],
  ctx: ArgoContext,
  format: RootFormat,
  rootFile: string,
): Promise<{ apps: App[]; unsupported: UnsupportedApp[]; notes: string[] }> {
  const errors: InputError[] = [];
  const others: string[] = [];
  const namespaces = new Map<string, string>();
  const applications: { obj: Application; origin: Origin; lineOf?: (path: PathKey[]) => number }[] = [];
  const unsupported: UnsupportedApp[] = [];
  const rendered = format === 'argocd-helm';
  for (const doc of expandLists(docs)) {
    const d = doc.value as K8sDoc | undefined;
    if (d === undefined || d === null) continue;
    const origin: Origin = rendered ? { file: doc.file } : { file: doc.file, line: doc.line };
    if (typeof d !== 'object' || Array.isArray(d) || !d.kind) {
      errors.push(new InputError('not a Kubernetes object (no kind)', { where: origin, hint: 'an Argo CD root holds Application objects (apiVersion argoproj.io/v1alpha1, kind Application)' }));
      continue;
    }
    const name = typeof d.metadata?.name === 'string' ? d.metadata.name : '(unnamed)';
    if (isArgo(d) && d.kind === 'Application') applications.push({ obj: d as Application, origin, lineOf: rendered ? undefined : doc.lineOf });
    else if (isArgo(d) && d.kind === 'ApplicationSet') {
      unsupported.push({ name, origin, source: 'ApplicationSet', reason: 'ApplicationSet generators create Applications inside Argo CD; write the Applications out (or use the native root) to deploy them with the pipe' });
    } else {
      if (d.kind === 'Namespace') namespaces.set(name, origin.file);
      others.push(`${String(d.kind)}/${name}`);
    }
  }

  // at a git revision, the children's Chart.yaml files in one read instead of a git process each
  await ctx.files.prefetch(
    applications.flatMap(({ obj }) => {
      const path = (obj.spec?.source ?? obj.spec?.sources?.[0])?.path;
      return typeof path === 'string' && !path.startsWith('/') ? CHART_FILES.map((f) => join(path, f)).filter((f) => !f.startsWith('../')) : [];
    }),
  );
  const limit = pLimit(READ_CONCURRENCY);
  const results = await Promise.all(
    applications.map(({ obj, origin, lineOf }) => limit(async () => {
      try {
        return await mapApplication(obj, origin, ctx, lineOf);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        errors.push(...(e instanceof InputErrors ? e.errors : [e]));
        return undefined;
      }
    })),
  );
  const seen = new Map<string, Origin>();
  for (const r of [...results, ...unsupported]) {
    if (!r) continue;
    const first = seen.get(r.name);
    if (first) {
      errors.push(
        new InputError(`duplicate Application name "${r.name}" (first at ${first.file}${first.line ? `:${first.line}` : ''})`, {
          where: r.origin,
          hint: 'Application names must be unique in the root',
        }),
      );
    } else seen.set(r.name, r.origin);
  }
  if (errors.length) throw new InputErrors(inOrder(errors));
  if (!applications.length && !unsupported.length) {
    throw new InputError(`${rootFile} holds no Argo CD Application`, {
      where: { variable: 'ROOT_MANIFEST' },
      hint: 'point ROOT_MANIFEST at app-of-apps.yaml (native), a directory or file of Applications, or a Helm chart that renders them',
    });
  }

  const apps = results.filter((r): r is App => r !== undefined && 'definitionDigest' in r);
  unsupported.push(...results.filter((r): r is UnsupportedApp => r !== undefined && 'reason' in r));
  for (const app of apps) {
    const declaredIn = namespaces.get(app.namespace);
    if (declaredIn && !app.createNamespace) {
      app.createNamespace = true;
      app.notes = [...(app.notes ?? []), `namespace ${app.namespace} is created because the root declares it (${declaredIn})`];
      app.definitionDigest = definitionDigest(app);
    }
  }
  const used = new Set(apps.map((a) => `Namespace/${a.namespace}`));
  const ignored = others.filter((o) => !used.has(o));
  const notes = ignored.length
    ? [`the root also holds ${ignored.length} object(s) that are not Applications, which the pipe does not deploy: ${ignored.join(', ')}`]
    : [];
  return { apps, unsupported, notes };
}
