import pLimit from 'p-limit';
import picomatch from 'picomatch';
import { parseDuration } from '../config/values.js';
import { InputError, InputErrors, type Location } from '../util/errors.js';
import { repoPath } from '../util/tree.js';
import { definitionDigest } from './digest.js';
import type { RepoFiles } from './files.js';
import { describePath, inOrder, schemaErrors } from './issues.js';
import { helmOptions, kustomizeOptions } from './options.js';
import type { App, Environment, Root, UnsupportedApp } from './model.js';
import { rootSchema, type AppEnvironment, type Behaviour, type NativeApp, type NativeRoot } from './schema.js';
import { CHART_FILES } from '../util/source-files.js';
import { chartNeedsNetwork, detectType, join, READ_CONCURRENCY, typeMismatch } from './source.js';
import { lazyLocation, type PathKey, type YamlDoc } from './yaml.js';

/** Built-in defaults, under the root's `defaults`, the environment's `defaults` and the app's own keys. */
const BUILT_IN = { namespace: 'default', createNamespace: false, prune: false, wait: true, timeout: 300, serverSideApply: true, pruneLast: false, allowEmpty: false };

export interface NativeDefaults {
  /** TIMEOUT: the health timeout of apps whose root sets none. */
  timeoutSeconds?: number;
}

/** Validates a native root (apiVersion app-of-apps/v1) and resolves its apps for one environment. */
export async function loadNative(doc: YamlDoc, files: RepoFiles, environment: string | undefined, defaults: NativeDefaults = {}): Promise<Root> {
  const builtIn = { ...BUILT_IN, timeout: defaults.timeoutSeconds ?? BUILT_IN.timeout };
  const parsed = rootSchema.safeParse(doc.value);
  if (!parsed.success) throw new InputErrors(inOrder(schemaErrors(parsed.error.issues, doc, rootSchema)));
  const root = parsed.data;
  const at = (...path: PathKey[]): Location => lazyLocation(doc.file, () => doc.lineOf(path));
  const errors: InputError[] = [];

  const declared = Object.keys(root.environments ?? {});
  const envName = selectEnvironment(declared, environment, doc);
  const notes: string[] = [];
  if (environment && !declared.length) notes.push(`${doc.file} declares no environments: ENVIRONMENT=${environment} is only a label`);

  checkNames(root, doc, errors);
  // at a git revision, every chart's Chart.yaml in one read instead of a git process per app
  if (files.readsAhead) {
    await files.prefetch(
      root.apps.flatMap((a) => [a.path, ...Object.values(a.overlays ?? {})]).flatMap((p) => CHART_FILES.map((f) => join(safePath(p), f))),
    );
  }
  const limit = pLimit(READ_CONCURRENCY);
  const results = await Promise.all(root.apps.map((a, i) => limit(() => resolveApp(a, i, root, envName, files, at, errors, builtIn))));
  const resolved: (App | UnsupportedApp | undefined)[] = [];
  const disabled: string[] = [];
  for (const [i, a] of root.apps.entries()) {
    for (const section of ['overlays', 'environments'] as const) {
      for (const env of Object.keys(a[section] ?? {})) {
        if (!declared.includes(env)) {
          errors.push(
            new InputError(`app ${a.name}: ${section}.${env} names an environment that ${doc.file} does not declare`, {
              where: { file: doc.file, line: doc.keyLineOf(['apps', i, section], env) },
              hint: declared.length ? `use one of: ${declared.join(', ')}` : 'declare it under environments: first',
            }),
          );
        }
      }
    }
    const app = results[i];
    if (app && envEnabled(a, envName)) resolved.push(app);
    else if (app) disabled.push(a.name);
  }
  if (errors.length) throw new InputErrors(inOrder(errors));

  const apps = resolved.filter((a): a is App => a !== undefined && 'definitionDigest' in a);
  const unsupported = resolved.filter((a): a is UnsupportedApp => a !== undefined && 'reason' in a);
  dropInactiveDependencies(apps, disabled, unsupported, envName);
  const envDecl = envName ? root.environments?.[envName] : undefined;
  const env: Environment | undefined = envName
    ? {
        name: envName,
        cluster: envDecl?.cluster,
        roleArn: envDecl?.roleArn,
        allowedNamespaces: envDecl?.allowedNamespaces,
        allowedClusterKinds: envDecl?.allowedClusterKinds,
      }
    : undefined;
  if (env) checkAllowedNamespaces(env, apps);
  return { format: 'native', file: doc.file, environment: env, environments: declared, apps, disabled, unsupported, notes };
}

/** The declared environment ENVIRONMENT names (exact, else the one that differs only in case). */
function selectEnvironment(declared: string[], wanted: string | undefined, doc: YamlDoc): string | undefined {
  if (!declared.length) return wanted;
  const line = () => doc.keyLineOf([], 'environments');
  if (!wanted) {
    throw new InputError(`${doc.file}:${line()} declares environments ${declared.join(', ')} but ENVIRONMENT is not set`, {
      where: { variable: 'ENVIRONMENT' },
      hint: `set ENVIRONMENT to one of ${declared.join(', ')}, or run the pipe in a Bitbucket deployment step`,
    });
  }
  const match = declared.find((d) => d === wanted) ?? single(declared.filter((d) => d.toLowerCase() === wanted.toLowerCase()));
  if (match) return match;
  throw new InputError(`environment "${wanted}" is not declared in ${doc.file}:${line()} (declared: ${declared.join(', ')})`, {
    where: { variable: 'ENVIRONMENT' },
    hint: `set ENVIRONMENT to one of ${declared.join(', ')}, or add "${wanted}" under environments: in ${doc.file}`,
  });
}

/** A path for reading ahead: one that leaves the repository is reported later, where it is resolved. */
function safePath(p: string): string {
  try {
    return repoPath(p);
  } catch {
    return '';
  }
}

const single = <T>(xs: T[]) => (xs.length === 1 ? xs[0] : undefined);

/** Duplicate names and dependsOn entries naming no app, each at its own line. */
function checkNames(root: NativeRoot, doc: YamlDoc, errors: InputError[]): void {
  const first = new Map<string, number>();
  for (const [i, a] of root.apps.entries()) {
    const seen = first.get(a.name);
    if (seen !== undefined) {
      errors.push(
        new InputError(`duplicate app name "${a.name}" (first declared at ${doc.file}:${doc.lineOf(['apps', seen, 'name'])})`, {
          where: { file: doc.file, line: doc.lineOf(['apps', i, 'name']) },
          hint: 'give every app a unique name',
        }),
      );
    } else first.set(a.name, i);
  }
  for (const [i, a] of root.apps.entries()) {
    for (const [j, dep] of (a.dependsOn ?? []).entries()) {
      if (!first.has(dep)) {
        errors.push(
          new InputError(`app ${a.name} depends on "${dep}", which is not an app in ${doc.file}`, {
            where: { file: doc.file, line: doc.lineOf(['apps', i, 'dependsOn', j]) },
            hint: `use one of: ${[...first.keys()].join(', ')}`,
          }),
        );
      }
    }
  }
}

function envEnabled(a: NativeApp, env: string | undefined): boolean {
  return (env ? a.environments?.[env]?.enabled : undefined) ?? a.enabled ?? true;
}

type At = (...path: PathKey[]) => Location;

async function resolveApp(
  a: NativeApp,
  i: number,
  root: NativeRoot,
  env: string | undefined,
  files: RepoFiles,
  at: At,
  errors: InputError[],
  builtIn: typeof BUILT_IN,
): Promise<App | UnsupportedApp | undefined> {
  const override: AppEnvironment = (env ? a.environments?.[env] : undefined) ?? {};
  const envDefaults: Behaviour = (env ? root.environments?.[env]?.defaults : undefined) ?? {};
  const pick = <K extends keyof Behaviour>(key: K) => override[key] ?? a[key] ?? envDefaults[key] ?? root.defaults?.[key] ?? builtIn[key];
  const appAt = at('apps', i);
  const origin = { file: appAt.file!, line: appAt.line };
  const overrideKey: PathKey[] = ['apps', i, 'environments', env ?? ''];
  try {
    // every declared path must exist, whichever environment is deployed
    const candidates: [string, PathKey[]][] = [[a.path, ['apps', i, 'path']]];
    for (const [e, p] of Object.entries(a.overlays ?? {})) candidates.push([p, ['apps', i, 'overlays', e]]);
    let missing = false;
    for (const [raw, key] of candidates) {
      const where = at(...key);
      const kind = await files.kind(repoPath(raw, where), where);
      if (kind !== 'dir') {
        missing = true;
        errors.push(
          new InputError(`app ${a.name}: ${describePath(key.slice(2))} "${raw}" ${kind === 'file' ? 'is a file, not a directory' : `does not exist at ${files.revisionName()}`}`, {
            where,
            hint: 'fix the path (relative to the repository root), or commit the files it names',
          }),
        );
      }
    }
    for (const [j, glob] of (a.watch ?? []).entries()) {
      if (glob.startsWith('/') || glob.split('/').includes('..')) {
        errors.push(new InputError(`app ${a.name}: watch glob "${glob}" leaves the repository`, { where: at('apps', i, 'watch', j), hint: 'write globs relative to the repository root' }));
      }
    }
    if (missing) return undefined;

    const overlay = env ? a.overlays?.[env] : undefined;
    const path = repoPath(overlay ?? a.path);
    const type = a.type ?? (await detectType(files, path));
    const mismatch = a.type ? await typeMismatch(files, path, a.type) : undefined;
    if (mismatch) errors.push(new InputError(`app ${a.name}: ${mismatch}`, { where: at('apps', i, 'type'), hint: 'remove type to detect it, or fix the path' }));
    for (const tool of ['helm', 'kustomize', 'directory'] as const) {
      if (tool !== type && (a[tool] || override[tool])) {
        const key = a[tool] ? ['apps', i, tool] : [...overrideKey, tool];
        errors.push(
          new InputError(`app ${a.name}: ${tool} options on an app of type ${type} (${path || '.'})`, {
            where: at(...key),
            hint: `remove the ${tool} options, or set type: ${tool} and point path at a ${tool} source`,
          }),
        );
      }
    }

    const helm = type === 'helm' ? await helmOptions(a, override, path, files, at, i, env, errors) : undefined;
    if (helm) {
      const reason = await chartNeedsNetwork(files, path);
      if (reason) return { name: a.name, reason, origin, source: 'helm (remote dependencies)' };
    }
    const app: Omit<App, 'definitionDigest'> = {
      name: a.name,
      path,
      type,
      namespace: pick('namespace'),
      createNamespace: pick('createNamespace'),
      prune: pick('prune'),
      wait: pick('wait'),
      timeoutSeconds: parseDuration(String(pick('timeout'))) ?? builtIn.timeout,
      serverSideApply: pick('serverSideApply'),
      pruneLast: pick('pruneLast'),
      allowEmpty: pick('allowEmpty'),
      dependsOn: a.dependsOn ?? [],
      syncWave: a.syncWave ?? 0,
      watch: a.watch ?? [],
      directory:
        type === 'directory'
          ? {
              recurse: override.directory?.recurse ?? a.directory?.recurse ?? false,
              include: override.directory?.include ?? a.directory?.include,
              exclude: override.directory?.exclude ?? a.directory?.exclude,
            }
          : undefined,
      helm,
      kustomize: type === 'kustomize' ? kustomizeOptions(a, override) : undefined,
      origin,
    };
    return { ...app, definitionDigest: definitionDigest(app) };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    errors.push(...(e instanceof InputErrors ? e.errors : [e]));
    return undefined;
  }
}

/** A dependency on an app that is disabled here (or cannot be rendered) orders nothing: drop it, say so. */
function dropInactiveDependencies(apps: App[], disabled: string[], unsupported: UnsupportedApp[], env: string | undefined): void {
  const inactive = new Map<string, string>([
    ...disabled.map((d): [string, string] => [d, `disabled${env ? ` in ${env}` : ''}`]),
    ...unsupported.map((u): [string, string] => [u.name, 'cannot be rendered']),
  ]);
  for (const app of apps) {
    const dropped = app.dependsOn.filter((d) => inactive.has(d));
    if (!dropped.length) continue;
    app.dependsOn = app.dependsOn.filter((d) => !inactive.has(d));
    app.notes = [...(app.notes ?? []), ...dropped.map((d) => `depends on ${d}, which is ${inactive.get(d)}: not waited for`)];
  }
}

/** An app may only deploy into the namespaces its environment allows (names or globs). */
function checkAllowedNamespaces(env: Environment, apps: App[]): void {
  if (!env.allowedNamespaces) return;
  const allowed = picomatch(env.allowedNamespaces);
  const errors = apps
    .filter((a) => !allowed(a.namespace))
    .map(
      (a) =>
        new InputError(`app ${a.name} deploys into namespace ${a.namespace}, which environment ${env.name} does not allow (allowed: ${env.allowedNamespaces!.join(', ')})`, {
          where: a.origin,
          hint: `set the app's namespace for ${env.name}, or add it to environments.${env.name}.allowedNamespaces`,
        }),
    );
  if (errors.length) throw new InputErrors(errors);
}
