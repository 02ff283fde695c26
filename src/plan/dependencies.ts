import { posix } from 'node:path';
import type { App, DirectoryOptions } from '../root/model.js';
import { parseYaml } from '../root/yaml.js';
import { InputErrors } from '../util/errors.js';
import type { Git } from '../util/git.js';
import type { Tree } from '../util/tree.js';
import { ancestors, basename } from './paths.js';

/** A repository path (file or folder: everything below it counts) an app reads, and what it is to the app. */
export interface DependencyPath {
  path: string;
  /** "values file", "kustomize base", "chart dependency" ... (used in the change reasons). */
  kind: string;
}

/** What an app's rendering reads from the repository. */
export interface AppDependencies {
  /** The app's own folder: any change below it counts (for a directory app, filtered by `directory`). */
  folder: string;
  directory?: DirectoryOptions;
  /**
   * Paths outside the folder: values files, and the kustomize/helm references that lead to one of
   * the changed files (the analysis works back from the changed files, so references that lead to
   * none of them are not listed: they cannot change the decision).
   */
  paths: DependencyPath[];
  /** Extra globs from the app's `watch`. */
  watch: string[];
}

export interface DependencyAnalysis {
  deps: Map<string, AppDependencies>;
  /** Referenced paths leading to changed files, for any folder with a kustomization or a chart (the root chart, say). */
  external(dir: string): DependencyPath[];
  /** Remote kustomize resources (not watched for changes). */
  notes: string[];
  /** Manifests read and parsed (for the benchmark and DEBUG output). */
  parsed: number;
}

/** Finds kustomization and chart files by their text, without reading each one in this process. */
export interface ManifestSearch {
  /** Manifests whose text contains one of the words. */
  containing(words: string[]): Promise<string[]>;
  /** Manifests with references no word can find: dot-only paths ("..", "../..") and remote resources. */
  special(): Promise<string[]>;
}

export const KUSTOMIZATIONS = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const CHART_FILES = ['Chart.yaml', 'requirements.yaml'];
/** Characters that can end a path in YAML: the end of the line, a space, a quote, a flow-collection bracket, a comment. */
const PATH_END = `/?([]"',}#[:space:]]|$)`;
/** Characters that can come before a path's last name: a separator, a space, a quote, a bracket, "key=" of a generator. */
const NAME_START = `(^|[[:space:]/"',:=[])`;
/** A reference made only of ".." segments: it names no folder a word search could find. */
const DOT_REF = `\\.\\.${PATH_END}`;
/** What a remote kustomize resource looks like: a URL, an scp-style git address, a go-getter ref, host/org/repo. */
const REMOTE_HINTS = ['://', 'git@', `\\?ref=`, `(-[[:space:]]+|[[,][[:space:]]*)["']?[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}/`];

/** Words per regular expression: git grep compiles each -e once, a few hundred alternatives stay fast. */
const WORDS_PER_PATTERN = 200;

/**
 * `git grep` over the tracked manifests of the work tree: one process per search, multi-threaded.
 * A word is only a hit as the last name of a path ("../../libs/base", not "../../libs/base/x"),
 * so a folder near the root ("apps", "libs") does not pull in every manifest.
 */
export function gitManifestSearch(git: Git): ManifestSearch {
  const spec = (names: string[]) => names.map((n) => `:(glob)**/${n}`);
  return {
    containing: (words) => {
      const patterns: string[] = [];
      for (let i = 0; i < words.length; i += WORDS_PER_PATTERN) {
        patterns.push(`${NAME_START}(${words.slice(i, i + WORDS_PER_PATTERN).map(escapeRegex).join('|')})${PATH_END}`);
      }
      return git.grepFiles(patterns, spec([...KUSTOMIZATIONS, ...CHART_FILES]), { extended: true });
    },
    special: async () =>
      (
        await Promise.all([
          git.grepFiles([DOT_REF, ...REMOTE_HINTS], spec(KUSTOMIZATIONS), { extended: true }),
          git.grepFiles([DOT_REF], spec(CHART_FILES), { extended: true }),
        ])
      ).flat(),
  };
}

function escapeRegex(word: string): string {
  return word.replace(/[.[\]()*+?{}|^$\\]/g, '\\$&');
}

interface Manifest {
  dir: string;
  refs: DependencyPath[];
}

/**
 * Which changed files each app depends on beyond its own folder, working back from the changed
 * files: a manifest (kustomization, Chart.yaml) can only reference a changed file through a path
 * whose last name is the name of that file or of one of its folders, or through a ".."-only path.
 * `git grep` finds the manifests containing those names; only they are parsed. A folder whose
 * manifest leads to a changed file is itself a new name to look for (a base of a base), until
 * nothing new turns up. The cost follows the size of the change, not of the repository.
 */
export async function analyzeDependencies(o: { apps: readonly App[]; changed: Iterable<string>; tree: Tree; search: ManifestSearch }): Promise<DependencyAnalysis> {
  const reached = new Set<string>();
  for (const f of o.changed) for (const a of ancestors(f)) reached.add(a);
  const manifests = new Map<string, Manifest>();
  const notes = new Set<string>();
  const leads = new Map<string, Map<string, string>>();

  const read = async (files: string[]) => {
    const fresh = [...new Set(files)].filter((f) => !manifests.has(f) && isManifest(f));
    const parsed = await Promise.all(fresh.map((f) => readManifest(o.tree, f, notes)));
    fresh.forEach((f, i) => manifests.set(f, parsed[i]!));
  };

  if (reached.size) {
    const searched = new Set<string>();
    let words = [...new Set([...reached].filter(Boolean).map(basename))];
    const [special, found] = await Promise.all([o.search.special(), o.search.containing(words)]);
    await read([...special, ...found]);
    for (;;) {
      for (const w of words) searched.add(w);
      const grown = propagate(manifests, reached, leads);
      words = [...new Set(grown.map(basename))].filter((w) => w && !searched.has(w));
      if (!words.length) break;
      await read(await o.search.containing(words));
    }
  }

  const external = (dir: string): DependencyPath[] => [...(leads.get(dir) ?? [])].map(([path, kind]) => ({ path, kind }));
  const deps = new Map<string, AppDependencies>();
  for (const app of o.apps) {
    const values = (app.helm?.valueFiles ?? []).map((path) => ({ path, kind: 'values file' }));
    deps.set(app.name, {
      folder: app.path,
      directory: app.type === 'directory' ? (app.directory ?? { recurse: false }) : undefined,
      paths: [...values, ...(app.type === 'directory' ? [] : external(app.path))],
      watch: app.watch,
    });
  }
  return { deps, external, notes: [...notes].sort(), parsed: manifests.size };
}

/**
 * Marks, until nothing changes, the folders whose manifest references a changed path or a folder
 * already marked; returns the folders marked for the first time.
 */
function propagate(manifests: Map<string, Manifest>, reached: Set<string>, leads: Map<string, Map<string, string>>): string[] {
  const grown: string[] = [];
  for (let changed = true; changed; ) {
    changed = false;
    for (const m of manifests.values()) {
      let mine = leads.get(m.dir);
      const add = (path: string, kind: string) => {
        if (!mine) {
          mine = new Map();
          leads.set(m.dir, mine);
          grown.push(m.dir);
        }
        if (mine.has(path)) return;
        mine.set(path, kind);
        changed = true;
      };
      for (const ref of m.refs) {
        if (reached.has(ref.path)) add(ref.path, ref.kind);
        // what the app sees: "sm.yaml of a component I use", whatever the component calls it
        if (ref.path !== m.dir) for (const path of leads.get(ref.path)?.keys() ?? []) add(path, ref.kind);
      }
    }
  }
  return grown;
}

function isManifest(file: string): boolean {
  const name = basename(file);
  return KUSTOMIZATIONS.includes(name) || CHART_FILES.includes(name);
}

async function readManifest(tree: Tree, file: string, notes: Set<string>): Promise<Manifest> {
  const dir = posix.dirname(file) === '.' ? '' : posix.dirname(file);
  const text = await tree.read(file);
  if (text === undefined) return { dir, refs: [] };
  const { docs, errors } = parseYaml(text, file);
  if (errors.length) throw new InputErrors(errors);
  const doc = docs[0]?.value;
  if (!isObject(doc)) return { dir, refs: [] };
  const refs = CHART_FILES.includes(basename(file)) ? chartRefs(doc, dir) : kustomizeRefs(doc, dir, (url) => notes.add(`${file} uses the remote resource ${url}, which is not watched for changes`));
  return { dir, refs };
}

/** Every path a kustomization reads, by field (kustomize v5, with the deprecated fields still accepted). */
function kustomizeRefs(k: Record<string, unknown>, dir: string, remote: (url: string) => void): DependencyPath[] {
  const out: DependencyPath[] = [];
  const add = (value: unknown, kind: string) => {
    // inline patches and transformer configs are YAML text, not paths
    if (typeof value !== 'string' || !value.trim() || value.includes('\n')) return;
    if (isRemote(value)) return remote(value);
    const path = resolveRef(dir, value.trim());
    if (path !== undefined) out.push({ path, kind });
  };
  const each = (value: unknown, kind: string, pick: (item: unknown) => unknown = (x) => x) => {
    if (Array.isArray(value)) for (const item of value) add(pick(item), kind);
  };
  const field = (name: string) => (item: unknown) => (isObject(item) ? item[name] : undefined);

  each(k.resources, 'kustomize base');
  each(k.bases, 'kustomize base');
  each(k.components, 'kustomize component');
  each(k.patchesStrategicMerge, 'kustomize patch');
  each(k.patches, 'kustomize patch', field('path'));
  each(k.patchesJson6902, 'kustomize patch', field('path'));
  for (const f of ['crds', 'configurations', 'transformers', 'generators', 'validators']) each(k[f], 'kustomize input');
  each(k.replacements, 'kustomize input', field('path'));
  if (isObject(k.openapi)) add(k.openapi.path, 'kustomize input');
  for (const gen of [k.configMapGenerator, k.secretGenerator]) {
    if (!Array.isArray(gen)) continue;
    for (const g of gen.filter(isObject)) {
      // "key=path" or "path"
      each(g.files, 'generator input', (f) => (typeof f === 'string' ? f.slice(f.indexOf('=') + 1) : f));
      each(g.envs, 'generator input');
      add(g.env, 'generator input');
    }
  }
  const charts = Array.isArray(k.helmCharts) ? k.helmCharts.filter(isObject) : [];
  for (const c of charts) {
    add(c.valuesFile, 'values file');
    each(c.additionalValuesFiles, 'values file');
  }
  if (charts.some((c) => !c.repo)) add(isObject(k.helmGlobals) && typeof k.helmGlobals.chartHome === 'string' ? k.helmGlobals.chartHome : 'charts', 'chart');
  for (const g of Array.isArray(k.helmChartInflationGenerator) ? k.helmChartInflationGenerator.filter(isObject) : []) {
    add(g.chartHome, 'chart');
    add(g.values, 'values file');
  }
  return out;
}

/** Local chart dependencies (`repository: file://../common`) of a Chart.yaml or requirements.yaml. */
function chartRefs(chart: Record<string, unknown>, dir: string): DependencyPath[] {
  const deps = Array.isArray(chart.dependencies) ? chart.dependencies.filter(isObject) : [];
  return deps.flatMap((d) => {
    const repo = typeof d.repository === 'string' ? d.repository.trim() : '';
    const path = repo.startsWith('file://') ? resolveRef(dir, repo.slice('file://'.length)) : undefined;
    return path === undefined ? [] : [{ path, kind: 'chart dependency' }];
  });
}

/** A reference relative to the manifest's folder as a repository path; undefined when it leaves the repository. */
function resolveRef(dir: string, ref: string): string | undefined {
  if (ref.startsWith('/')) return undefined;
  const p = posix.normalize(posix.join(dir || '.', ref)).replace(/\/+$/, '');
  if (p === '..' || p.startsWith('../')) return undefined;
  return p === '.' ? '' : p;
}

function isRemote(ref: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(ref) || ref.startsWith('git@') || ref.includes('?ref=') || /^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\//i.test(ref);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
