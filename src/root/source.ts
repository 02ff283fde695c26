import { posix } from 'node:path';
import picomatch from 'picomatch';
import { InputError, InputErrors, type Location } from '../util/errors.js';
import { CHART_FILES, KUSTOMIZATION_FILES } from '../util/source-files.js';
import { isNormalized, repoPath } from '../util/tree.js';
import type { RepoFiles } from './files.js';
import type { DirectoryOptions, SourceType } from './model.js';
import { parseYaml } from './yaml.js';

/** Apps resolved at once: enough to overlap git processes at a base revision, few enough not to flood two cores. */
export const READ_CONCURRENCY = 8;



/** The native root's rule: Chart.yaml -> helm, a kustomization file -> kustomize, anything else -> directory. */
export async function detectType(files: RepoFiles, path: string): Promise<SourceType> {
  if (await files.isFile(join(path, 'Chart.yaml'))) return 'helm';
  return (await isKustomization(files, path)) ? 'kustomize' : 'directory';
}

/**
 * Argo CD's rule for an Application without an explicit tool: a kustomization file -> kustomize,
 * else Chart.yaml -> helm, else directory. A folder with both is a kustomization there: its repo
 * server walks the folder's files in name order, and the kustomization, after Chart.yaml,
 * replaces the type Chart.yaml set.
 */
export async function detectArgoType(files: RepoFiles, path: string): Promise<SourceType> {
  if (await isKustomization(files, path)) return 'kustomize';
  return (await files.isFile(join(path, 'Chart.yaml'))) ? 'helm' : 'directory';
}

async function isKustomization(files: RepoFiles, path: string): Promise<boolean> {
  for (const k of KUSTOMIZATION_FILES) if (await files.isFile(join(path, k))) return true;
  return false;
}

/** Why a source type does not fit the files at the path, or undefined when it does. */
export async function typeMismatch(files: RepoFiles, path: string, type: SourceType): Promise<string | undefined> {
  const where = path || '.';
  if (type === 'helm' && !(await files.isFile(join(path, 'Chart.yaml')))) return `type helm, but ${where} has no Chart.yaml`;
  if (type === 'kustomize' && !(await isKustomization(files, path))) return `type kustomize, but ${where} has no kustomization.yaml`;
  return undefined;
}

/** Jsonnet files a directory source would read (Argo CD renders them; the pipe cannot). */
export async function jsonnetFiles(files: RepoFiles, path: string, opts: DirectoryOptions): Promise<string[]> {
  const found = (await files.filesIn(path, opts.recurse)).filter((f) => /\.(jsonnet|libsonnet)$/.test(f));
  const rel = (f: string) => (path ? f.slice(path.length + 1) : f);
  // Argo CD's globs, as the render reads them (src/render/directory.ts): a * matches across folders
  const include = opts.include ? picomatch(opts.include, { bash: true, dot: true }) : () => true;
  const exclude = opts.exclude ? picomatch(opts.exclude, { bash: true, dot: true }) : () => false;
  return found.filter((f) => f.endsWith('.jsonnet') && include(rel(f)) && !exclude(rel(f)));
}

/** The ksonnet app file at a path (app.yaml of kind ksonnet.io/app), or undefined. */
export async function ksonnetApp(files: RepoFiles, path: string): Promise<string | undefined> {
  const file = join(path, 'app.yaml');
  const text = await files.readIfFile(file);
  if (text === undefined || !text.includes('ksonnet.io/app')) return undefined;
  const doc = parseYaml(text, file).docs[0]?.value as { kind?: unknown } | undefined;
  return doc?.kind === 'ksonnet.io/app' ? file : undefined;
}

interface ChartDependency {
  name?: string;
  repository?: string;
  version?: string;
}

/**
 * Why a chart cannot be rendered without network, or undefined: a dependency from a chart
 * repository (https://, oci://, @alias) that is not vendored in charts/. file:// dependencies
 * and vendored ones are rendered offline.
 */
export async function chartNeedsNetwork(files: RepoFiles, chartPath: string): Promise<string | undefined> {
  const deps: ChartDependency[] = [];
  for (const name of CHART_FILES) {
    const file = join(chartPath, name);
    const text = await files.readIfFile(file);
    if (text === undefined || !text.includes('dependencies') || !mayNameRemoteRepository(text)) continue;
    const { docs, errors } = parseYaml(text, file);
    if (errors.length) throw new InputErrors(errors);
    const list = (docs[0]?.value as { dependencies?: unknown } | undefined)?.dependencies;
    if (Array.isArray(list)) deps.push(...list.filter((d): d is ChartDependency => d !== null && typeof d === 'object'));
  }
  const remote = deps.filter((d) => d.repository && !d.repository.startsWith('file://'));
  if (!remote.length) return undefined;
  const vendored = await files.filesIn(join(chartPath, 'charts'), true);
  const missing = remote.filter(
    (d) => !vendored.some((f) => posix.basename(f).startsWith(`${d.name}-`) || f.startsWith(join(chartPath, 'charts', String(d.name)) + '/')),
  );
  if (!missing.length) return undefined;
  const list = missing.map((d) => `${d.name}${d.version ? ` ${d.version}` : ''} from ${d.repository}`).join(', ');
  return `chart dependency ${list} is not vendored in charts/ and fetching it needs network access (run \`helm dependency update\` and commit the charts/ archives, or use a file:// dependency)`;
}

/**
 * False only when every `repository` in the text is a file:// one, so the YAML parse of the
 * hundreds of charts that use local library charts is skipped; anything else (a URL, an alias,
 * an anchor, a quoted key) is parsed.
 */
function mayNameRemoteRepository(text: string): boolean {
  for (let i = text.indexOf('repository'); i >= 0; i = text.indexOf('repository', i + 10)) {
    if (!/^repository\s*:\s*["']?file:\/\//.test(text.slice(i, i + 40))) return true;
  }
  return false;
}

/**
 * A file named relative to a source path (helm valueFiles): relative to the path, or to the
 * repository root when it starts with "/" (as Argo CD reads valueFiles). Throws at `where` when it
 * leaves the repository.
 */
export function relativeTo(base: string, raw: string, where: Location): string {
  const p = raw.startsWith('/') ? raw.replace(/^\/+/, '') : posix.join(base || '.', raw);
  if (p === '..' || p.startsWith('../')) {
    throw new InputError(`"${raw}" (relative to ${base || '.'}) is outside the repository`, {
      where,
      hint: 'name a file inside the repository: relative to the path, or from the repository root with a leading /',
    });
  }
  return repoPath(p, where);
}

/** Joins repository-relative paths ('' is the repository root). */
export function join(...parts: string[]): string {
  // normalized parts (nearly always) need no normalizing once joined
  const kept = parts.filter((p) => p !== '');
  if (kept.every(isNormalized)) return kept.join('/');
  const joined = posix.join('.', ...parts);
  return joined === '.' ? '' : joined;
}
