import { z } from 'zod';
import { InputError, InputErrors, type Location } from '../util/errors.js';
import { posix } from 'node:path';
import { repoPath } from '../util/tree.js';
import { isRemote } from '../util/source-files.js';
import { definitionDigest } from './digest.js';
import type { RepoFiles } from './files.js';
import type { App, DirectoryOptions, HelmOptions, KustomizeOptions, Origin, SourceType, UnsupportedApp } from './model.js';
import { normalizeRepoUrl } from './repo-url.js';
import { chartNeedsNetwork, detectArgoType, jsonnetFiles, ksonnetApp, relativeTo, typeMismatch } from './source.js';
import { applicationVariables, CLUSTER_VARIABLES, expand, REVISION_VARIABLES, substitutedTexts, variablesIn } from './build-environment.js';
import { describePath } from './issues.js';
import { lazyLocation, parseYaml, type PathKey } from './yaml.js';

export interface ArgoContext {
  files: RepoFiles;
  /** This repository's identities (origin remote, BITBUCKET_GIT_HTTP_ORIGIN / _SSH_ORIGIN). */
  repoUrls: string[];
  /** The branch being built: a targetRevision naming it is what the pipe deploys anyway. */
  branch?: string;
  /** Names a destination.name may give the cluster the pipe deploys to (ENVIRONMENT, CLUSTER_NAME), besides in-cluster. */
  clusterNames?: string[];
  /** The API endpoint of that cluster when given (CLUSTER_ENDPOINT): a destination.server naming it is this cluster too. */
  clusterServer?: string;
  /** TIMEOUT: Argo CD Applications carry no health timeout of their own. */
  timeoutSeconds?: number;
  /** Filled on first use: this repository's normalized URLs and the answers so far. */
  normalized?: { mine: Set<string>; seen: Map<string, boolean> };
}

/**
 * The types of the fields the pipe reads, as Argo CD's Application CRD has them (Kubernetes would
 * refuse another type): a mistyped field is an input error at its line, never a silent default.
 * Other fields are not looked at.
 */
const text = z.string();
/** Argo CD's KustomizePatch: only these fields reach the kustomization (it is a typed struct there). */
const PatchFields = z.looseObject({
  path: text.optional(),
  patch: text.optional(),
  target: z
    .looseObject({
      group: text.optional(),
      version: text.optional(),
      kind: text.optional(),
      name: text.optional(),
      namespace: text.optional(),
      labelSelector: text.optional(),
      annotationSelector: text.optional(),
    })
    .optional(),
  options: z.record(z.string(), z.boolean()).optional(),
});
const SourceFields = z.looseObject({
  repoURL: text.optional(),
  path: text.optional(),
  targetRevision: text.optional(),
  chart: text.optional(),
  ref: text.optional(),
  helm: z
    .looseObject({
      releaseName: text.optional(),
      valueFiles: z.array(text).optional(),
      values: z.union([text, z.record(z.string(), z.unknown())], { error: 'expected YAML text or a map of values' }).optional(),
      valuesObject: z.record(z.string(), z.unknown()).optional(),
      parameters: z.array(z.looseObject({ name: text, value: z.union([text, z.number(), z.boolean()]).optional(), forceString: z.boolean().optional() })).optional(),
      ignoreMissingValueFiles: z.boolean().optional(),
      namespace: text.optional(),
      skipCrds: z.boolean().optional(),
      fileParameters: z.array(z.looseObject({ name: text, path: text })).optional(),
    })
    .optional(),
  kustomize: z
    .looseObject({
      namePrefix: text.optional(),
      nameSuffix: text.optional(),
      images: z.array(text).optional(),
      commonLabels: z.record(z.string(), text).optional(),
      forceCommonLabels: z.boolean().optional(),
      commonAnnotations: z.record(z.string(), text).optional(),
      forceCommonAnnotations: z.boolean().optional(),
      commonAnnotationsEnvsubst: z.boolean().optional(),
      namespace: text.optional(),
      // count is an IntOrString in Argo CD's type
      replicas: z.array(z.looseObject({ name: text, count: z.union([z.number().int(), text]) })).optional(),
      components: z.array(text).optional(),
      ignoreMissingComponents: z.boolean().optional(),
      patches: z.array(PatchFields).optional(),
    })
    .optional(),
  directory: z.looseObject({ recurse: z.boolean().optional(), include: text.optional(), exclude: text.optional() }).optional(),
});
const ApplicationFields = z.looseObject({
  metadata: z.looseObject({
    name: text.min(1, 'expected a name').max(253),
    annotations: z.record(z.string(), z.unknown()).optional(),
  }),
  spec: z
    .looseObject({
      source: SourceFields.optional(),
      sources: z.array(SourceFields).optional(),
      destination: z
        .looseObject({
          // "" is unset (the default namespace), as in Argo CD
          namespace: text
            .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/, 'expected a Kubernetes namespace name (lowercase letters, digits and "-")')
            .max(63)
            .optional(),
          server: text.optional(),
          name: text.optional(),
        })
        .optional(),
      syncPolicy: z
        .looseObject({
          automated: z.looseObject({ prune: z.boolean().optional(), allowEmpty: z.boolean().optional() }).nullish(),
          syncOptions: z.array(text).optional(),
        })
        .nullish(),
    })
    .optional(),
});

/** An Argo CD Application as far as the pipe reads it (argoproj.io/v1alpha1), once checked. */
export type Application = z.output<typeof ApplicationFields>;
type Source = z.output<typeof SourceFields>;

const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';
const IN_CLUSTER = ['https://kubernetes.default.svc', 'https://kubernetes.default.svc/'];
/** Tool options the pipe renders; any other option changes the output in a way it would not reproduce. */
const HELM_KEYS = ['releaseName', 'valueFiles', 'values', 'valuesObject', 'parameters', 'ignoreMissingValueFiles', 'passCredentials', 'namespace', 'skipCrds', 'fileParameters'];
const KUSTOMIZE_KEYS = [
  'namePrefix',
  'nameSuffix',
  'images',
  'commonLabels',
  'forceCommonLabels',
  'commonAnnotations',
  'forceCommonAnnotations',
  'commonAnnotationsEnvsubst',
  'namespace',
  'replicas',
  'components',
  'ignoreMissingComponents',
  'patches',
];

/**
 * One Application -> an App of the resolved model, or an UnsupportedApp with the reason. Input
 * errors (no name, a path that does not exist or leaves the repository) throw, located at `origin`.
 */
export async function mapApplication(
  given: Application,
  origin: Origin,
  ctx: ArgoContext,
  lineOf?: (path: PathKey[]) => number,
): Promise<App | UnsupportedApp> {
  // a null field is an unset one, as Kubernetes stores the object (an empty `valueFiles:` of a template)
  const obj = withoutNulls(given) as Application;
  const at = (...path: PathKey[]): Location => (lineOf ? lazyLocation(origin.file, () => lineOf(path)) : { ...origin });
  if (!obj.metadata?.name) throw new InputError('Application without metadata.name', { where: origin, hint: 'give every Application a name' });
  const checked = ApplicationFields.safeParse(obj);
  if (!checked.success) {
    const label = typeof obj.metadata.name === 'string' ? `Application ${obj.metadata.name}: ` : 'Application: ';
    throw new InputErrors(
      checked.error.issues.map((issue) => {
        const path = issue.path.filter((k): k is PathKey => typeof k !== 'symbol');
        return new InputError(`${label}${describePath(path)}: ${issue.message}`, {
          where: at(...path),
          hint: "Argo CD could not sync this Application either: give the field the type of Argo CD's Application (a list where it takes a list, a string where it takes a string, a namespace name as Kubernetes wants it)",
        });
      }),
    );
  }
  const name = obj.metadata.name;
  const unsupported = (source: string, reason: string): UnsupportedApp => ({ name, reason, origin, source });
  const spec = obj.spec ?? {};

  // as Argo CD: when spec.sources is given, spec.source is ignored
  const multi = Array.isArray(spec.sources) && spec.sources.length > 0;
  let src: Source | undefined = !multi && isRecord(spec.source) ? (spec.source as Source) : undefined;
  if (multi) {
    const sources = spec.sources!;
    if (sources.length !== 1 || sources[0]?.ref) {
      return unsupported('multi-source', `spec.sources has ${sources.length} sources${multiSourceAdvice(ctx, sources)}`);
    }
    src = sources[0];
  }
  const srcKey: PathKey[] = multi ? ['spec', 'sources', 0] : ['spec', 'source'];
  if (!src) return unsupported('none', 'the Application has no spec.source');
  if (src.chart) {
    return unsupported('remote chart', `Helm chart ${src.chart}${src.targetRevision ? ` ${src.targetRevision}` : ''} from the chart repository ${src.repoURL ?? '(none)'} needs network access; vendor it into this repository and point spec.source.path at it`);
  }
  const elsewhere = otherCluster(spec.destination, ctx.clusterNames ?? [], ctx.clusterServer);
  if (elsewhere) return unsupported('another cluster', elsewhere);
  const syncOptions = new Set((spec.syncPolicy?.syncOptions ?? []).map(String));
  const unapplied = syncPolicyNotApplied(spec, syncOptions);
  if (unapplied) return unsupported('sync policy', unapplied);
  if (typeof src.repoURL !== 'string' || !src.repoURL) return unsupported('none', 'spec.source.repoURL is empty or not a URL');
  if (!isThisRepository(ctx, src.repoURL)) {
    const known = ctx.repoUrls.length
      ? `this repository is ${ctx.repoUrls.join(', ')}`
      : "this repository's URL is unknown (no origin remote, BITBUCKET_GIT_HTTP_ORIGIN unset)";
    return unsupported('another repository', `source repository ${src.repoURL} is not this repository (${known}); the pipe deploys only files of the repository it runs in`);
  }
  if (src.plugin) return unsupported('plugin', 'config management plugins (spec.source.plugin) are not supported; render the manifests into the repository instead');
  const jsonnetOptions = src.directory?.jsonnet;
  if (isRecord(jsonnetOptions) && Object.keys(jsonnetOptions).length) {
    return unsupported('jsonnet', 'jsonnet (spec.source.directory.jsonnet) is not supported; commit the rendered YAML instead');
  }

  const where = at(...srcKey, 'path');
  const path = repoPath(String(src.path ?? '.'), where);
  const kind = await ctx.files.kind(path, where);
  if (kind !== 'dir') {
    throw new InputError(`Application ${name}: spec.source.path "${src.path ?? '.'}" ${kind === 'file' ? 'is a file, not a directory' : 'does not exist in this repository'}`, {
      where,
      hint: 'fix spec.source.path (relative to the repository root), or commit the files it names',
    });
  }
  const explicit: SourceType | undefined = src.helm ? 'helm' : src.kustomize ? 'kustomize' : src.directory ? 'directory' : undefined;
  const detected = await detectArgoType(ctx.files, path);
  // an explicit helm or kustomize block is the tool Argo CD renders with, when the folder has its file
  const type = explicit && explicit !== 'directory' && !(await typeMismatch(ctx.files, path, explicit)) ? explicit : detected;
  if (explicit && explicit !== type) {
    return unsupported(explicit, `spec.source.${explicit} is set, but ${path || '.'} is a ${detected} source`);
  }

  const notes: string[] = [];
  // what Argo CD's build environment takes from the Application (the commit comes at render time)
  const vars = applicationVariables({
    name,
    namespace: spec.destination?.namespace ?? '',
    project: typeof spec.project === 'string' && spec.project ? spec.project : 'default',
    sourcePath: src.path ?? '',
    repoUrl: src.repoURL,
    targetRevision: src.targetRevision ?? '',
  });
  let directory: DirectoryOptions | undefined;
  let helm: HelmOptions | undefined;
  let kustomize: KustomizeOptions | undefined;
  if (type === 'directory') {
    directory = { recurse: src.directory?.recurse ?? false, include: src.directory?.include || undefined, exclude: src.directory?.exclude || undefined };
    const ksonnet = await ksonnetApp(ctx.files, path);
    if (ksonnet) return unsupported('ksonnet', `${ksonnet} is a ksonnet application, which neither Argo CD (since 2.1) nor the pipe renders; commit the rendered YAML instead`);
    const jsonnet = await jsonnetFiles(ctx.files, path, directory);
    if (jsonnet.length) {
      return unsupported('jsonnet', `${path || '.'} holds jsonnet (${jsonnet.slice(0, 3).join(', ')}${jsonnet.length > 3 ? ', ...' : ''}), which Argo CD evaluates and the pipe does not; commit the rendered YAML instead`);
    }
  } else if (type === 'helm') {
    const h = src.helm ?? {};
    // v3 is Argo CD's default and how the pipe's pinned helm renders; v2 (Tiller-era) is not
    if (h.version !== undefined && h.version !== 'v3') return unsupported('helm', `spec.source.helm.version ${String(h.version)} is not supported: the pipe renders charts as helm 3 does (Argo CD's default, v3)`);
    const extra = Object.keys(h).filter((k) => !HELM_KEYS.includes(k) && k !== 'version');
    if (extra.length) return unsupported('helm', `spec.source.helm.${extra.join(', ')} ${extra.length > 1 ? 'are' : 'is'} not supported by the pipe`);
    const mapped = await mapHelm(name, h, path, (...k) => at(...srcKey, 'helm', ...k), ctx.files, vars);
    if ('reason' in mapped) return unsupported('helm', mapped.reason);
    helm = mapped;
    const network = await chartNeedsNetwork(ctx.files, path);
    if (network) return unsupported('helm (remote dependencies)', network);
  } else {
    const k = src.kustomize ?? {};
    const extra = Object.keys(k).filter((key) => !KUSTOMIZE_KEYS.includes(key));
    if (extra.length) return unsupported('kustomize', `spec.source.kustomize.${extra.join(', ')} ${extra.length > 1 ? 'are' : 'is'} not supported by the pipe`);
    const mapped = await mapKustomize(name, k, path, (...key) => at(...srcKey, 'kustomize', ...key), ctx.files);
    if ('reason' in mapped) return unsupported('kustomize', mapped.reason);
    kustomize = mapped.options;
  }

  const env = buildEnvironmentOf(helm, kustomize, vars, notes);
  if (env && 'reason' in env) return unsupported(type, env.reason);

  const revision = src.targetRevision;
  if (revision && revision !== 'HEAD' && revision !== ctx.branch && revision !== `refs/heads/${ctx.branch}`) {
    notes.push(`targetRevision ${revision} is not honoured: the pipe deploys the commit being built`);
  }
  const options = syncOptions;
  const wave = obj.metadata?.annotations?.[SYNC_WAVE];
  // strconv.Atoi, which Argo CD reads the wave with, takes a sign: "+1" is wave 1
  if (wave !== undefined && !/^[-+]?\d+$/.test(String(wave).trim())) {
    throw new InputError(`Application ${name}: annotation ${SYNC_WAVE} is "${wave}", not a whole number`, { where: at('metadata', 'annotations', SYNC_WAVE), hint: 'use a whole number such as "-1" or "2"' });
  }
  const app: Omit<App, 'definitionDigest'> = {
    name,
    path,
    type,
    namespace: spec.destination?.namespace || 'default',
    createNamespace: options.has('CreateNamespace=true'),
    prune: Boolean(spec.syncPolicy?.automated?.prune) && !options.has('Prune=false'),
    allowEmpty: Boolean(spec.syncPolicy?.automated?.allowEmpty),
    wait: true,
    timeoutSeconds: ctx.timeoutSeconds ?? 300,
    serverSideApply: options.has('ServerSideApply=true'),
    pruneLast: options.has('PruneLast=true'),
    dependsOn: [],
    syncWave: wave === undefined ? 0 : Number(String(wave).trim()),
    watch: [],
    directory,
    helm,
    kustomize,
    origin,
    ...(env ? { buildEnvironment: env } : {}),
    ...(notes.length ? { notes: [...new Set(notes)] } : {}),
  };
  return { ...app, definitionDigest: definitionDigest(app) };
}

/**
 * What to do with a multi-source Application: where its values come from a `ref` source, how to
 * write it as one source (a ref source of this repository is this repository's root).
 */
function multiSourceAdvice(ctx: ArgoContext, sources: Source[]): string {
  const refs = sources.filter((x) => x?.ref);
  const single = '; the pipe renders single-source Applications';
  if (!refs.length) return `${single}: give each source an Application of its own`;
  const example = sources
    .flatMap((x) => (Array.isArray(x?.helm?.valueFiles) ? x.helm.valueFiles : []))
    .map(String)
    .find((f) => refs.some((r) => f.startsWith(`$${r.ref}/`)));
  const foreign = refs.filter((r) => typeof r.repoURL !== 'string' || !isThisRepository(ctx, r.repoURL));
  if (foreign.length) {
    const which = foreign.map((r) => `"${r.ref}" (${r.repoURL ?? 'no repoURL'})`).join(', ');
    return ` (values from one source for a chart in another)${single}: ref source ${which} is another repository; copy the values files into this repository and name them in one source's helm.valueFiles`;
  }
  const named = refs.map((r) => `"${r.ref}"`).join(', ');
  const rewrite = example ? ` (${example.replace(/^\$[^/]+\//, '/')} for ${example})` : '';
  return ` (values from one source for a chart in another)${single}: ref source ${named} is this repository, so write the Application as one source whose helm.valueFiles name the files from the repository root${rewrite}`;
}

/**
 * Why the destination is a cluster other than the one the pipe deploys to, or undefined: Argo CD
 * would deploy there, so deploying the app here would put it in the wrong cluster.
 */
function otherCluster(destination: { server?: string; name?: string } | undefined, names: string[], endpoint: string | undefined): string | undefined {
  const { server, name } = destination ?? {};
  const here = names.length ? ` (${names.map((n) => `"${n}"`).join(', ')})` : '';
  if (server && !IN_CLUSTER.includes(server) && !(endpoint && sameServer(server, endpoint))) {
    return `spec.destination.server ${server} is another cluster; the pipe deploys only to the cluster it runs for: point the destination at https://kubernetes.default.svc, name this cluster in destination.name${here}, or give this cluster's endpoint as CLUSTER_ENDPOINT${endpoint ? ` (now ${endpoint})` : ''}`;
  }
  if (name && name !== 'in-cluster' && !names.includes(name)) {
    return `spec.destination.name ${name} is another cluster; the pipe deploys only to the cluster it runs for, which destination.name may call in-cluster or by its ENVIRONMENT or CLUSTER_NAME${here}`;
  }
  return undefined;
}

/**
 * Why Argo CD would write the app's objects differently than the pipe does, or undefined: the
 * labels and annotations it puts on a namespace it creates, and fields it leaves alone because
 * ignoreDifferences names them (the pipe would overwrite them, e.g. the replicas an autoscaler set).
 */
function syncPolicyNotApplied(spec: NonNullable<Application['spec']>, options: Set<string>): string | undefined {
  const meta = spec.syncPolicy?.managedNamespaceMetadata;
  if (options.has('CreateNamespace=true') && isRecord(meta) && (hasEntries(meta.labels) || hasEntries(meta.annotations))) {
    return 'spec.syncPolicy.managedNamespaceMetadata is not applied by the pipe (it would create the namespace without those labels and annotations); declare the Namespace with them among the app\'s manifests instead';
  }
  if (options.has('RespectIgnoreDifferences=true') && Array.isArray(spec.ignoreDifferences) && spec.ignoreDifferences.length) {
    return 'syncOptions RespectIgnoreDifferences=true: the pipe would overwrite the fields spec.ignoreDifferences names, which Argo CD leaves as they are in the cluster; remove those fields from the manifests (or the option) to deploy it with the pipe';
  }
  return undefined;
}

const hasEntries = (v: unknown) => isRecord(v) && Object.keys(v).length > 0;

/** Two API server URLs name the same server: scheme and host in any case, the default port, a trailing slash. */
function sameServer(a: string, b: string): boolean {
  const norm = (u: string) => {
    try {
      const url = new URL(u);
      return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
    } catch {
      return u.replace(/\/+$/, '');
    }
  };
  return norm(a) === norm(b);
}

/** Whether a repoURL names this repository (normalized once per distinct spelling). */
function isThisRepository(ctx: ArgoContext, url: string): boolean {
  ctx.normalized ??= { mine: new Set(ctx.repoUrls.map(normalizeRepoUrl).filter((u): u is string => u !== undefined)), seen: new Map() };
  const { mine, seen } = ctx.normalized;
  let same = seen.get(url);
  if (same === undefined) {
    const n = normalizeRepoUrl(url);
    same = n !== undefined && mine.has(n);
    seen.set(url, same);
  }
  return same;
}

async function mapHelm(
  name: string,
  h: Record<string, unknown>,
  path: string,
  at: (...key: PathKey[]) => Location,
  files: RepoFiles,
  vars: Record<string, string>,
): Promise<HelmOptions | { reason: string }> {
  const valueFiles: string[] = [];
  const missingValueFiles: string[] = [];
  for (const [j, value] of (Array.isArray(h.valueFiles) ? h.valueFiles : []).entries()) {
    if (value === null || value === undefined) continue;
    const written = String(value);
    const where = at('valueFiles', j);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(written)) return { reason: `values file ${written} is a URL; fetching it needs network access` };
    const ref = /^\$([A-Za-z0-9_]+)\//.exec(written)?.[1];
    if (ref !== undefined && !(ref in vars)) return { reason: `values file ${written} comes from another source (multi-source ref)` };
    const substituted = substitutePath(written, vars, `values file ${written}`);
    if ('reason' in substituted) return substituted;
    const raw = substituted.path;
    const file = relativeTo(path, raw, where);
    if ((await files.kind(file, where)) === 'file') valueFiles.push(file);
    else if (h.ignoreMissingValueFiles) missingValueFiles.push(file);
    else {
      throw new InputError(`Application ${name}: helm values file "${raw}" (${file}) does not exist in this repository`, {
        where,
        hint: 'values files are relative to spec.source.path; fix the name, or set helm.ignoreMissingValueFiles: true',
      });
    }
  }
  let values: Record<string, unknown> | undefined;
  // valuesObject replaces values: Argo CD's ValuesYAML reads one or the other, never both
  if (isRecord(h.valuesObject)) values = h.valuesObject;
  else if (typeof h.values === 'string' && h.values.trim()) {
    const parsed = parseYaml(h.values, 'spec.source.helm.values');
    const problem = parsed.errors[0] ?? (isRecord(parsed.docs[0]?.value) ? undefined : new InputError('not a map of values'));
    if (problem) {
      throw new InputError(`Application ${name}: spec.source.helm.values is not valid: ${problem.message}`, { where: at('values'), hint: 'write the values as a YAML map' });
    }
    values = parsed.docs[0]!.value as Record<string, unknown>;
  } else if (isRecord(h.values)) values = h.values;
  const parameters = (Array.isArray(h.parameters) ? h.parameters : []).filter(isRecord).map((p) => ({
    name: String(p.name ?? ''),
    value: String(p.value ?? ''),
    ...(p.forceString === true ? { forceString: true } : {}),
  }));
  // a map in Argo CD (name -> path): the last entry of a name wins
  const fileParameters = new Map<string, string>();
  for (const [j, f] of (Array.isArray(h.fileParameters) ? h.fileParameters : []).entries()) {
    if (!isRecord(f)) continue;
    const written = String(f.path ?? '');
    const where = at('fileParameters', j, 'path');
    const field = `Application ${name}: spec.source.helm.fileParameters[${j}].path`;
    const substituted = substitutePath(written, vars, `file parameter ${String(f.name)} path ${written}`);
    if ('reason' in substituted) return substituted;
    const raw = substituted.path;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) return { reason: `file parameter ${String(f.name)} reads ${raw}, a URL; fetching it needs network access` };
    const p = raw.startsWith('/') ? raw.replace(/^\/+/, '') : posix.join(path || '.', raw);
    if (p === '..' || p.startsWith('../')) {
      throw new InputError(`${field} "${raw}" (relative to ${path || '.'}) is outside the repository`, {
        where,
        hint: 'name a file inside the repository: relative to spec.source.path, or from the repository root with a leading /',
      });
    }
    const file = repoPath(p, where);
    const kind = await files.kind(file, where);
    if (kind !== 'file') {
      throw new InputError(`${field} "${raw}" (${file || '.'}) ${kind === 'dir' ? 'is a folder, not a file' : 'does not exist in this repository'}`, {
        where,
        hint: 'Argo CD fails on it too (helm --set-file): name a file of the repository, relative to spec.source.path',
      });
    }
    fileParameters.delete(String(f.name));
    fileParameters.set(String(f.name), file);
  }
  return {
    releaseName: typeof h.releaseName === 'string' && h.releaseName ? h.releaseName : name,
    valueFiles,
    values: values && Object.keys(values).length ? values : undefined,
    parameters,
    ...(missingValueFiles.length ? { missingValueFiles } : {}),
    ...(typeof h.namespace === 'string' && h.namespace ? { namespace: h.namespace } : {}),
    ...(h.skipCrds === true ? { skipCrds: true } : {}),
    ...(fileParameters.size ? { fileParameters: [...fileParameters].map(([n, path]) => ({ name: n, path })) } : {}),
  };
}

/**
 * A path Argo CD substitutes its build environment into (values files, file parameters), with
 * the Application's variables substituted; or why the pipe cannot name the file while the root loads.
 */
function substitutePath(written: string, vars: Record<string, string>, what: string): { path: string } | { reason: string } {
  if (!written.includes('$')) return { path: written };
  for (const v of variablesIn(written)) {
    if ((REVISION_VARIABLES as readonly string[]).includes(v)) return { reason: `${what} uses $${v}, so it names another file at every commit; name the file` };
    if ((CLUSTER_VARIABLES as readonly string[]).includes(v)) return { reason: `${what} uses $${v}, which Argo CD fills from the target cluster and the pipe does not know while it reads the root; name the file` };
    if (!(v in vars)) return { reason: `${what} uses $${v}, which is not a variable of Argo CD's build environment (Argo CD reads it as empty); name the file` };
  }
  return { path: expand(written, (n) => vars[n] ?? '') };
}

/**
 * The build environment the render substitutes into the app's helm parameters and kustomize
 * options (only the variables they use), undefined when none has a "$", or why the pipe cannot.
 * A name Argo CD does not set is replaced by nothing, as Argo CD does, with a note.
 */
function buildEnvironmentOf(
  helm: HelmOptions | undefined,
  kustomize: KustomizeOptions | undefined,
  vars: Record<string, string>,
  notes: string[],
): App['buildEnvironment'] | { reason: string } | undefined {
  const texts = substitutedTexts(helm, kustomize).filter((t) => t.text.includes('$'));
  if (!texts.length) return undefined;
  const used: Record<string, string> = {};
  let usesRevision = false;
  for (const t of texts) {
    for (const v of variablesIn(t.text)) {
      if ((CLUSTER_VARIABLES as readonly string[]).includes(v)) {
        return { reason: `${t.field} uses $${v}, which Argo CD fills from the target cluster; the pipe does not substitute it: write the value out` };
      }
      if ((REVISION_VARIABLES as readonly string[]).includes(v)) usesRevision = true;
      else if (v in vars) used[v] = vars[v]!;
      else notes.push(`${t.field}: $${v} is not a variable of Argo CD's build environment, so it is replaced by nothing, as Argo CD does (write $$ for a "$")`);
    }
  }
  return { variables: used, usesRevision };
}

/** Argo CD's `kustomize edit set namespace` takes a DNS label (kustomize's check). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** strconv.Atoi, which Argo CD reads a replica count given as a string with. */
const WHOLE = /^[+-]?\d+$/;

async function mapKustomize(
  name: string,
  k: Record<string, unknown>,
  path: string,
  at: (...key: PathKey[]) => Location,
  files: RepoFiles,
): Promise<{ options: KustomizeOptions | undefined } | { reason: string }> {
  const field = (...key: PathKey[]) => `Application ${name}: spec.source.kustomize.${describePath(key)}`;
  const strings = (v: unknown) => (isRecord(v) && Object.keys(v).length ? Object.fromEntries(Object.entries(v).map(([a, b]) => [a, String(b)])) : undefined);
  const commonLabels = strings(k.commonLabels);
  const commonAnnotations = strings(k.commonAnnotations);
  // envsubst over values without a "$" is the identity: the option matters only with one
  const commonAnnotationsEnvsubst = k.commonAnnotationsEnvsubst === true && Object.values(commonAnnotations ?? {}).some((v) => v.includes('$')) ? true : undefined;
  const namespace = typeof k.namespace === 'string' && k.namespace ? k.namespace : undefined;
  if (namespace !== undefined && !NAMESPACE.test(namespace)) {
    throw new InputError(`${field('namespace')} "${namespace}" is not a valid namespace name`, {
      where: at('namespace'),
      hint: 'Argo CD fails on it too (kustomize edit set namespace): use lowercase letters, digits and "-", at most 63',
    });
  }
  const replicas: { name: string; count: number }[] = [];
  for (const [j, r] of (Array.isArray(k.replicas) ? k.replicas : []).entries()) {
    if (!isRecord(r)) continue;
    const count = typeof r.count === 'number' ? r.count : WHOLE.test(String(r.count)) ? Number(String(r.count)) : undefined;
    const replica = String(r.name ?? '');
    if (count === undefined || replica.includes('=')) {
      throw new InputError(`${field('replicas', j)}: ${count === undefined ? `count "${String(r.count)}" is not a whole number` : `name "${replica}" has a "="`}`, {
        where: at('replicas', j),
        hint: 'Argo CD fails on it too (kustomize edit set replicas <name>=<count>): give the name of a Deployment, StatefulSet ... and a whole number',
      });
    }
    replicas.push({ name: replica, count });
  }
  const components: string[] = [];
  for (const [j, c] of asStrings(k.components).entries()) {
    if (isRemote(c)) return { reason: `spec.source.kustomize.components: ${c} is a remote component; fetching it needs network access` };
    if (/[*?[]/.test(c)) return { reason: `spec.source.kustomize.components: ${c} is a glob, which kustomize expands on Argo CD's checkout; list the component folders instead` };
    const where = at('components', j);
    const p = posix.join(path || '.', c);
    if (c.startsWith('/') || p === '..' || p.startsWith('../')) {
      throw new InputError(`${field('components', j)} "${c}" (relative to ${path || '.'}) is outside the repository`, {
        where,
        hint: 'name a component folder inside the repository, relative to spec.source.path',
      });
    }
    const kind = await files.kind(repoPath(p, where), where);
    if (kind !== 'dir' && k.ignoreMissingComponents !== true) {
      throw new InputError(`${field('components', j)} "${c}" (${p}) ${kind === 'file' ? 'is a file, not a component folder' : 'does not exist in this repository'}`, {
        where,
        hint: 'Argo CD fails on it too: fix the path (relative to spec.source.path), or set kustomize.ignoreMissingComponents: true',
      });
    }
    components.push(c);
  }
  const patches = (Array.isArray(k.patches) ? k.patches : []).filter(isRecord).map(patchAsArgoWrites);
  const clashFails = [
    ...(commonLabels && k.forceCommonLabels !== true ? (['commonLabels'] as const) : []),
    ...(commonAnnotations && k.forceCommonAnnotations !== true ? (['commonAnnotations'] as const) : []),
  ];
  const out: KustomizeOptions = {
    namePrefix: typeof k.namePrefix === 'string' && k.namePrefix ? k.namePrefix : undefined,
    nameSuffix: typeof k.nameSuffix === 'string' && k.nameSuffix ? k.nameSuffix : undefined,
    images: Array.isArray(k.images) && k.images.length ? asStrings(k.images) : undefined,
    commonLabels,
    commonAnnotations,
    commonAnnotationsEnvsubst,
    namespace,
    replicas: replicas.length ? replicas : undefined,
    components: components.length ? components : undefined,
    ignoreMissingComponents: components.length && k.ignoreMissingComponents === true ? true : undefined,
    patches: patches.length ? patches : undefined,
    clashFails: clashFails.length ? clashFails : undefined,
  };
  return { options: Object.values(out).some((v) => v !== undefined) ? out : undefined };
}

/** A patch as Argo CD's typed KustomizePatch writes it: known fields only, empty ones left out (omitempty). */
function patchAsArgoWrites(p: Record<string, unknown>): Record<string, unknown> {
  const nonEmpty = (o: Record<string, unknown>, keys: string[]) => Object.fromEntries(keys.filter((key) => typeof o[key] === 'string' && o[key] !== '').map((key) => [key, o[key]]));
  return {
    ...nonEmpty(p, ['path', 'patch']),
    ...(isRecord(p.target) ? { target: nonEmpty(p.target, ['group', 'version', 'kind', 'name', 'namespace', 'labelSelector', 'annotationSelector']) } : {}),
    ...(isRecord(p.options) && Object.keys(p.options).length ? { options: p.options } : {}),
  };
}

/** A copy without null-valued keys (deeply; list items stay). */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isRecord(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, withoutNulls(x)]));
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const asStrings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => x !== null && x !== undefined).map(String) : []);
