import { InputError, InputErrors, type Location } from '../util/errors.js';
import { repoPath, type Tree } from '../util/tree.js';
import { loadArgoDocs } from './argocd-root.js';
import { RepoFiles } from './files.js';
import { renderHelmRoot } from './helm-root.js';
import type { Root } from './model.js';
import { loadNative } from './native.js';
import { API_VERSION } from './schema.js';
import { isRemote, KUSTOMIZATION_FILES } from '../util/source-files.js';
import { posix } from 'node:path';
import { join } from './source.js';
import { parseYaml, type YamlDoc } from './yaml.js';

export { sameRepository, normalizeRepoUrl } from './repo-url.js';

export interface LoadRootOptions {
  /** The repository at the revision to read (WorkTree: the commit being deployed; GitTree: the base). */
  tree: Tree;
  /** ROOT_MANIFEST: a native app-of-apps.yaml, a YAML file or directory of Argo CD Applications, or a Helm chart rendering them. */
  path: string;
  environment?: string;
  /** This repository's identities: origin remote, BITBUCKET_GIT_HTTP_ORIGIN, BITBUCKET_GIT_SSH_ORIGIN. */
  repoUrls: string[];
  /** The branch being built (BITBUCKET_BRANCH): an Argo CD targetRevision naming it is no note-worthy difference. */
  branch?: string;
  /** CLUSTER_NAME: an Argo CD destination.name naming it is the cluster being deployed to. */
  clusterName?: string;
  /** CLUSTER_ENDPOINT: an Argo CD destination.server naming it is the cluster being deployed to. */
  clusterEndpoint?: string;
  /** TIMEOUT: the health timeout of apps whose root sets none (default 300 s). */
  defaultTimeoutSeconds?: number;
  helmBin: string;
  tmpDir: string;
}

const ROOT_VAR: Location = { variable: 'ROOT_MANIFEST' };
const NATIVE_FILE = 'app-of-apps.yaml';

/**
 * Reads and validates the root manifest at one revision and resolves its apps for the environment.
 * Every problem is an InputError (exit 2) naming file:line; all problems of a file come together.
 */
export async function loadRoot(opts: LoadRootOptions): Promise<Root> {
  const files = new RepoFiles(opts.tree);
  const path = repoPath(opts.path, ROOT_VAR);
  const kind = await files.kind(path, ROOT_VAR);
  const at = opts.tree.revision === 'worktree' ? 'in the repository' : `at revision ${opts.tree.revision.slice(0, 12)}`;
  if (!kind) {
    const candidates = await likelyRoots(files);
    throw new InputError(`root manifest ${path || '.'} does not exist ${at}`, {
      where: ROOT_VAR,
      hint:
        `set ROOT_MANIFEST to ${NATIVE_FILE} (native root), a directory or YAML file of Argo CD Applications, or a Helm chart that renders them` +
        (candidates.length ? `; in this repository: ${candidates.map((c) => `ROOT_MANIFEST=${c}`).join(', ')}` : ''),
    });
  }
  const clusterNames = [opts.environment, opts.clusterName].filter((n): n is string => Boolean(n));
  const argo = { files, repoUrls: opts.repoUrls, branch: opts.branch, clusterNames, clusterServer: opts.clusterEndpoint, timeoutSeconds: opts.defaultTimeoutSeconds };

  if (kind === 'dir') {
    if (await files.isFile(join(path, NATIVE_FILE))) return loadRoot({ ...opts, path: join(path, NATIVE_FILE) });
    if (await files.isFile(join(path, 'Chart.yaml'))) {
      const { docs, environments, valuesFile } = await renderHelmRoot(files, path, opts);
      const result = await loadArgoDocs(docs, argo, 'argocd-helm', path);
      const envNote = opts.environment
        ? valuesFile
          ? `ENVIRONMENT=${opts.environment}: the root chart was rendered with ${valuesFile}`
          : `ENVIRONMENT=${opts.environment}: the root chart has no values-${opts.environment}.yaml, so it was rendered with its default values`
        : undefined;
      return root('argocd-helm', path, opts.environment, environments, result, envNote);
    }
    for (const k of KUSTOMIZATION_FILES) {
      const kustomization = join(path, k);
      if (!(await files.isFile(kustomization))) continue;
      // a kustomization that only gathers Application files (for kubectl apply -k): those files
      const listed = await listedApplicationFiles(files, path, kustomization);
      await files.prefetch(listed);
      const docs = (await Promise.all(listed.map((f) => readDocs(files, f)))).flat();
      const result = await loadArgoDocs(docs, argo, 'argocd-directory', path || '.');
      result.notes.push(`${kustomization} lists ${listed.length} file(s) of Applications: the pipe reads those, as kustomize would gather them`);
      return root('argocd-directory', path, opts.environment, [], result, labelNote(opts.environment));
    }
    const manifests = (await files.filesIn(path, false)).filter((f) => /\.(ya?ml|json)$/i.test(f));
    await files.prefetch(manifests);
    const docs = (await Promise.all(manifests.map((f) => readDocs(files, f)))).flat();
    const result = await loadArgoDocs(docs, argo, 'argocd-directory', path || '.');
    return root('argocd-directory', path, opts.environment, [], result, labelNote(opts.environment));
  }

  const docs = await readDocs(files, path);
  if (docs.every((d) => d.value === undefined || d.value === null)) {
    throw new InputError(`${path} is empty`, {
      where: { file: path, line: 1 },
      hint: `write the root manifest there (apiVersion: ${API_VERSION}, kind: Root, apps: ...; docs/root-manifest.md), or point ROOT_MANIFEST at the file or folder that holds it`,
    });
  }
  const native = docs.filter((d) => isNative(d.value));
  if (native.length) {
    if (docs.length > 1) {
      throw new InputError(`${path} holds ${docs.length} YAML documents; a native root (apiVersion ${API_VERSION}) is a single document`, {
        where: { file: path, line: docs[1]!.line },
        hint: 'keep only the Root document in this file',
      });
    }
    return loadNative(native[0]!, files, opts.environment, { timeoutSeconds: opts.defaultTimeoutSeconds });
  }
  const result = await loadArgoDocs(docs, argo, 'argocd-file', path);
  return root('argocd-file', path, opts.environment, [], result, labelNote(opts.environment));
}

/** Top-level files and folders that look like a root, for the hint when ROOT_MANIFEST names nothing. */
async function likelyRoots(files: RepoFiles): Promise<string[]> {
  const mentions = async (file: string, pattern: RegExp) => pattern.test((await files.read(file).catch(() => undefined)) ?? '');
  const manifests = (list: string[]) => list.filter((f) => /\.(ya?ml|json)$/i.test(f)).slice(0, 20);
  const application = /^kind:\s*["']?Application["']?\s*$/m;
  const found: string[] = [];
  for (const file of manifests(await files.filesIn('', false))) {
    if (await mentions(file, /^apiVersion:\s*["']?app-of-apps\//m)) found.push(file);
    else if (await mentions(file, application)) found.push(file);
  }
  for (const dir of await files.dirsIn('')) {
    if (dir.startsWith('.') || found.length >= 5) continue;
    const chart = await files.isFile(join(dir, 'Chart.yaml'));
    for (const file of manifests(await files.filesIn(chart ? join(dir, 'templates') : dir, false))) {
      if (await mentions(file, application)) {
        found.push(dir);
        break;
      }
    }
  }
  return found.slice(0, 5);
}

/** The only fields of a kustomization root the pipe reads: one that changes what it lists is refused. */
const GATHERING_FIELDS = ['apiVersion', 'kind', 'resources'];

/**
 * The files a kustomization root lists, when it only gathers files of Applications in its folder
 * (`resources: [guestbook.yaml, apps/api.yaml]`). A field that makes kustomize change them
 * (namePrefix, patches, ...) or a resource that is no file of the folder (a folder, a file
 * outside it, a URL) is an input error naming it: the pipe would read other Applications than
 * kustomize builds.
 */
async function listedApplicationFiles(files: RepoFiles, dir: string, kustomization: string): Promise<string[]> {
  const [doc] = await readDocs(files, kustomization);
  const value = doc?.value;
  const k = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  const at = (...key: (string | number)[]): Location => ({ file: kustomization, line: doc?.lineOf(key) ?? 1 });
  const other = k ? Object.keys(k).filter((key) => !GATHERING_FIELDS.includes(key)) : [];
  if (!k || other.length) {
    throw new InputError(`${kustomization}: the pipe reads a kustomization root only when it lists files of Applications; ${other.length ? `${other.join(', ')} would change them as kustomize builds them` : 'it is not a map'}`, {
      where: at(other[0] ?? 'resources'),
      hint: 'keep only resources: [<files of Applications in this folder>] in it, and write the changes into the Application files themselves; or point ROOT_MANIFEST at a Helm chart that renders the Applications',
    });
  }
  const listed: string[] = [];
  for (const [i, r] of (Array.isArray(k.resources) ? k.resources : []).entries()) {
    const where = at('resources', i);
    const raw = String(r);
    const file = isRemote(raw) || raw.startsWith('/') ? undefined : posix.normalize(posix.join(dir || '.', raw));
    const inside = file !== undefined && file !== '..' && !file.startsWith('../') && (dir === '' || file.startsWith(`${dir}/`));
    if (!inside || (await files.kind(file, where)) !== 'file') {
      throw new InputError(`${kustomization}: resources entry "${raw}" is not a file of ${dir || '.'}${inside ? ' (a folder, or missing)' : ''}`, {
        where,
        hint: 'list the files of Applications in this folder (a kustomization root is read as the files it gathers); for anything else, point ROOT_MANIFEST at a Helm chart that renders the Applications',
      });
    }
    listed.push(file!);
  }
  return listed;
}

async function readDocs(files: RepoFiles, file: string): Promise<YamlDoc[]> {
  const text = await files.read(file);
  if (text === undefined) throw new InputError(`${file} cannot be read`, { where: { file } });
  const { docs, errors } = parseYaml(text, file);
  if (errors.length) throw new InputErrors(errors);
  return docs;
}

function isNative(value: unknown): boolean {
  const v = value as { apiVersion?: unknown; kind?: unknown } | undefined;
  // kind Root without a group-qualified apiVersion (missing, misspelled): native, so the schema says what is wrong
  if (v?.kind === 'Root') return typeof v.apiVersion !== 'string' || !v.apiVersion.includes('.');
  return typeof v?.apiVersion === 'string' && v.apiVersion.startsWith('app-of-apps/');
}

function labelNote(environment?: string): string | undefined {
  return environment ? `ENVIRONMENT=${environment} is only a label: an Argo CD root has no environments` : undefined;
}

function root(
  format: Root['format'],
  file: string,
  environment: string | undefined,
  environments: string[],
  result: Awaited<ReturnType<typeof loadArgoDocs>>,
  envNote: string | undefined,
): Root {
  return {
    format,
    file: file || '.',
    environment: environment ? { name: environment } : undefined,
    environments,
    apps: result.apps,
    disabled: [],
    unsupported: result.unsupported,
    notes: [...(envNote ? [envNote] : []), ...result.notes],
  };
}
