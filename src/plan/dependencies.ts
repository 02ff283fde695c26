import { posix } from 'node:path';
import type { App, DirectoryOptions } from '../root/model.js';
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
  /** The changed paths a folder with a kustomization or chart (the root chart, say) leads to through its references. */
  reaches(dir: string): string[];
  /** Remote kustomize resources (not watched for changes). */
  notes: string[];
  /** Manifest lines looked at (for the benchmark and DEBUG output). */
  lines: number;
}

/** A line of a kustomization or chart file. */
export interface ManifestLine {
  file: string;
  /** 1-based. */
  line: number;
  text: string;
}

/** Finds manifest lines by their text, without reading every manifest in this process. */
export interface ManifestSearch {
  /** Lines of kustomizations and charts that may reference a path outside their folder ("..") or a remote resource. */
  outward(): Promise<ManifestLine[]>;
  /** Every kustomization and chart file. */
  all(): Promise<string[]>;
}

export const KUSTOMIZATIONS = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
export const CHART_FILES = ['Chart.yaml', 'requirements.yaml'];
const MANIFEST_SPECS = [...KUSTOMIZATIONS, ...CHART_FILES].map((n) => `:(glob)**/${n}`);
/** Fixed strings of a line that may leave its folder or name a remote resource (URL, scp-style git address, go-getter ref). */
const OUTWARD = ['..', '://', 'git@', '?ref='];

/** `git grep` and `git ls-files` over the tracked manifests of the work tree: one process each, no file read here. */
export function gitManifestSearch(git: Git): ManifestSearch {
  return {
    outward: async () => parseGrep(await git.grepLines(OUTWARD, MANIFEST_SPECS)),
    all: () => git.listTracked(MANIFEST_SPECS),
  };
}

/** "file\0line\0text\n" per line, as `git grep -n -z` prints. */
function parseGrep(out: string): ManifestLine[] {
  const lines: ManifestLine[] = [];
  for (const row of out.split('\n')) {
    const a = row.indexOf('\0');
    const b = row.indexOf('\0', a + 1);
    if (a > 0 && b > a) lines.push({ file: row.slice(0, a), line: Number(row.slice(a + 1, b)), text: row.slice(b + 1) });
  }
  return lines;
}

/** A reference found in a manifest line: from the manifest's folder to a repository path. */
interface Edge {
  from: string;
  to: string;
  file: string;
  line: number;
}

/**
 * Which changed files each app depends on beyond its own folder, working back from the changed
 * files. A reference that stays inside its manifest's folder reaches a changed file only when
 * that folder holds the file, which the folder rule already covers; a reference that leaves it
 * has ".." in it. So one `git grep` for ".." finds every line that matters, each line is split
 * into path-like tokens resolved against its manifest's folder (a token that is not really a
 * reference can only add a dependency, never hide one), and the references are followed back
 * from the changed files in memory. The only other reads: a folder found to lead to a changed
 * file can be referenced from a manifest above it without "..", so those few manifests are read
 * whole. The cost follows the size of the change, not of the repository.
 */
export async function analyzeDependencies(o: { apps: readonly App[]; changed: Iterable<string>; tree: Tree; search: ManifestSearch }): Promise<DependencyAnalysis> {
  const reached = new Set<string>();
  for (const f of o.changed) for (const a of ancestors(f)) reached.add(a);
  const edges = new Map<string, Edge>();
  const notes = new Set<string>();
  const leads = new Map<string, Map<string, Edge>>();
  let lines = 0;
  const take = (found: ManifestLine[]) => {
    lines += found.length;
    for (const l of found) for (const e of lineEdges(l, notes)) edges.set(`${e.from}\0${e.to}`, e);
  };

  if (reached.size) {
    take(await o.search.outward());
    let manifests: string[] | undefined;
    const readWhole = new Set<string>();
    for (let grown = propagate(edges.values(), reached, leads); grown.length; grown = propagate(edges.values(), reached, leads)) {
      manifests ??= await o.search.all();
      const above = new Set(grown.flatMap((d) => ancestors(d).slice(1)).filter((d) => !readWhole.has(d)));
      const files = manifests.filter((f) => above.has(dirOf(f)));
      if (!files.length) break;
      for (const d of above) readWhole.add(d);
      const texts = await Promise.all(files.map((f) => o.tree.read(f)));
      take(files.flatMap((file, i) => (texts[i] ?? '').split('\n').map((text, n) => ({ file, line: n + 1, text }))));
    }
  }

  const kinds = new KindReader(o.tree);
  const deps = new Map<string, AppDependencies>();
  await Promise.all(
    o.apps.map(async (app) => {
      const values = (app.helm?.valueFiles ?? []).map((path) => ({ path, kind: 'values file' }));
      const external = app.type === 'directory' ? [] : [...(leads.get(app.path) ?? [])];
      const refs = await Promise.all(external.map(async ([path, e]) => ({ path, kind: await kinds.of(e) })));
      deps.set(app.name, {
        folder: app.path,
        directory: app.type === 'directory' ? (app.directory ?? { recurse: false }) : undefined,
        paths: [...values, ...refs],
        watch: app.watch,
      });
    }),
  );
  return { deps, reaches: (dir) => [...(leads.get(dir)?.keys() ?? [])], notes: [...notes].sort(), lines };
}

function dirOf(file: string): string {
  const d = posix.dirname(file);
  return d === '.' ? '' : d;
}

/**
 * Marks, until nothing changes, the folders with a reference to a changed path or to a folder
 * already marked; returns the folders marked for the first time. What a folder leads to is kept
 * with its own first reference on the way ("a component I use"), which names the reason.
 */
function propagate(edges: Iterable<Edge>, reached: Set<string>, leads: Map<string, Map<string, Edge>>): string[] {
  const list = [...edges];
  const grown: string[] = [];
  for (let changed = true; changed; ) {
    changed = false;
    for (const e of list) {
      if (e.to === e.from) continue;
      let mine = leads.get(e.from);
      const add = (path: string) => {
        if (mine?.has(path)) return;
        if (!mine) {
          mine = new Map();
          leads.set(e.from, mine);
          grown.push(e.from);
        }
        mine.set(path, e);
        changed = true;
      };
      if (reached.has(e.to)) add(e.to);
      for (const path of leads.get(e.to)?.keys() ?? []) add(path);
    }
  }
  return grown;
}

/** The path-like tokens of a manifest line, resolved against the manifest's folder. */
function lineEdges(l: ManifestLine, notes: Set<string>): Edge[] {
  const from = dirOf(l.file);
  const text = l.text.replace(/(^|\s)#.*$/, '');
  const out: Edge[] = [];
  for (let token of text.split(/[\s"',[\]{}]+/)) {
    if (!token || token === '-' || token.endsWith(':')) continue;
    if (isRemote(token)) {
      notes.add(`${l.file} uses the remote resource ${token}, which is not watched for changes`);
      continue;
    }
    token = token.slice(token.indexOf('=') + 1);
    if (token.startsWith('file://')) token = token.slice('file://'.length);
    const to = resolveRef(from, token);
    if (to !== undefined) out.push({ from, to, file: l.file, line: l.line });
  }
  return out;
}

/** A reference relative to the manifest's folder as a repository path; undefined when it leaves the repository. */
function resolveRef(dir: string, ref: string): string | undefined {
  if (!ref || ref.startsWith('/')) return undefined;
  const p = posix.normalize(posix.join(dir || '.', ref)).replace(/\/+$/, '');
  if (p === '..' || p.startsWith('../')) return undefined;
  return p === '.' ? '' : p;
}

function isRemote(ref: string): boolean {
  return (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref) && !ref.startsWith('file://')) || ref.startsWith('git@') || ref.includes('?ref=') || /^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\//i.test(ref);
}

/** What a reference is to the app, from the top-level field it is listed under. */
const FIELD_KINDS: Record<string, string> = {
  resources: 'kustomize base',
  bases: 'kustomize base',
  components: 'kustomize component',
  patches: 'kustomize patch',
  patchesStrategicMerge: 'kustomize patch',
  patchesJson6902: 'kustomize patch',
  configMapGenerator: 'generator input',
  secretGenerator: 'generator input',
  helmCharts: 'kustomize helm chart',
  helmGlobals: 'kustomize helm chart',
  helmChartInflationGenerator: 'kustomize helm chart',
  dependencies: 'chart dependency',
};

/** Reads the field a reference line belongs to (the nearest unindented key above it); one read per file. */
class KindReader {
  private texts = new Map<string, Promise<string[]>>();

  constructor(private readonly tree: Tree) {}

  async of(e: Edge): Promise<string> {
    let lines = this.texts.get(e.file);
    if (!lines) this.texts.set(e.file, (lines = this.tree.read(e.file).then((t) => (t ?? '').split('\n'))));
    const text = await lines;
    for (let i = Math.min(e.line, text.length) - 1; i >= 0; i--) {
      const key = /^([A-Za-z][\w-]*)\s*:/.exec(text[i]!)?.[1];
      if (key) return FIELD_KINDS[key] ?? (CHART_FILES.includes(basename(e.file)) ? 'chart dependency' : 'kustomize input');
    }
    return 'kustomize input';
  }
}
