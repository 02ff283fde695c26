import type { App, DirectoryOptions } from '../root/model.js';
import type { Git } from '../util/git.js';
import { pathInRepo, type Tree } from '../util/tree.js';
import { readlink } from 'node:fs/promises';
import { CORE_SCHEMA, load as loadYaml } from 'js-yaml';
import { isAbsolute, join } from 'node:path';
import { ancestors, basename, covers } from './paths.js';
import { CHART_FILES, isRemote, KUSTOMIZATION_FILES } from '../util/source-files.js';

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

/** A tracked symbolic link and the repository path it leads to. */
export interface Link {
  path: string;
  target: string;
}

/** Finds manifest lines by their text, without reading every manifest in this process. */
export interface ManifestSearch {
  /** Lines of kustomizations and charts that may reference a path outside their folder ("..") or a remote resource. */
  outward(): Promise<ManifestLine[]>;
  /** Every kustomization and chart file. */
  all(): Promise<string[]>;
  /** The tracked symbolic links that lead to a path inside the repository (the renderers follow them). */
  links(): Promise<Link[]>;
  /** The submodules (gitlinks): a changed one stands for a change of everything below it. */
  submodules(): Promise<string[]>;
  /**
   * Lines of any YAML file that name a `chartHome`: a HelmChartInflationGenerator's own config
   * file (listed under a kustomization's `generators:`) names its chart folder there.
   */
  chartHomes?(): Promise<ManifestLine[]>;
}

const MANIFEST_SPECS = [...KUSTOMIZATION_FILES, ...CHART_FILES].map((n) => `:(glob)**/${n}`);
/** Fixed strings of a line that may leave its folder or name a remote resource (URL, scp-style git address, go-getter ref). */
const OUTWARD = ['..', '://', 'git@', '?ref='];

/** `git grep` and `git ls-files` over the tracked manifests of the work tree: one process each, no file read here. */
export function gitManifestSearch(git: Git): ManifestSearch {
  let special: ReturnType<Git['specialEntries']> | undefined;
  const entries = () => (special ??= git.specialEntries());
  return {
    // -p: git also prints the unindented line above each match (its YAML field), for the reasons
    outward: async () => parseGrep(await git.grepLines(OUTWARD, MANIFEST_SPECS, { withFunction: true })),
    all: () => git.listTracked(MANIFEST_SPECS),
    links: async () => {
      const found = await Promise.all(
        (await entries()).links.map(async (path) => {
          const target = await readlink(join(git.dir, path)).catch(() => undefined);
          const to = target === undefined ? undefined : isAbsolute(target) ? pathInRepo(git.dir, target) : resolveRef(dirOf(path), target);
          return to === undefined ? undefined : { path, target: to };
        }),
      );
      return found.filter((l): l is Link => l !== undefined);
    },
    submodules: async () => (await entries()).submodules,
    chartHomes: async () => parseGrep(await git.grepLines(['chartHome'], ['*.yaml', '*.yml'])),
  };
}

/** Folders whose Chart.yaml is looked for before the chartHome search is skipped; past it, the search runs. */
const MAX_CHART_LOOKUPS = 200;

/** Whether a changed path is a chart's Chart.yaml or lies in a chart's folder (a file system lookup per folder, few for a small change). */
async function chartChanged(changed: Iterable<string>, tree: Tree): Promise<boolean> {
  const dirs = new Set<string>();
  for (const f of changed) {
    if (basename(f) === 'Chart.yaml') return true;
    for (const d of ancestors(f)) dirs.add(d);
    if (dirs.size > MAX_CHART_LOOKUPS) return true;
  }
  const found = await Promise.all([...dirs].map((d) => tree.exists(d ? `${d}/Chart.yaml` : 'Chart.yaml').catch(() => true)));
  return found.includes(true);
}

/** Link hops followed from one changed file (a link to its own folder would lead on forever). */
const MAX_LINK_HOPS = 4;

/**
 * The changed files as the renderers see them: a file below a symbolic link's target has also
 * changed at the link's path (apps/web/charts/lib -> ../../../libs/lib: libs/lib/x is also
 * apps/web/charts/lib/x). Returns the files with those paths added, and for each added path the
 * real file and the link it was seen through (for the reasons).
 */
export function throughLinks(changed: readonly string[], links: readonly Link[]): { files: string[]; via: Map<string, { file: string; link: string; hops: number }> } {
  const via = new Map<string, { file: string; link: string; hops: number }>();
  if (!links.length) return { files: [...changed], via };
  // by target, so each file looks up its own folders instead of trying every link
  const byTarget = new Map<string, Link[]>();
  for (const l of links) byTarget.set(l.target, [...(byTarget.get(l.target) ?? []), l]);
  const out = new Set(changed);
  const work = [...changed];
  for (let f = work.pop(); f !== undefined; f = work.pop()) {
    const from = via.get(f);
    if ((from?.hops ?? 0) >= MAX_LINK_HOPS) continue;
    for (const l of ancestors(f).flatMap((a) => byTarget.get(a) ?? [])) {
      const seen = l.target === '' ? `${l.path}/${f}` : l.path + f.slice(l.target.length);
      if (out.has(seen)) continue;
      out.add(seen);
      via.set(seen, { file: from?.file ?? f, link: from?.link ?? l.path, hops: (from?.hops ?? 0) + 1 });
      work.push(seen);
    }
  }
  return { files: [...out], via };
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
  /** What the reference is, from the field it is listed under ("kustomize base"). */
  kind: string;
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
export async function analyzeDependencies(o: {
  apps: readonly App[];
  changed: Iterable<string>;
  /** Changed paths that are submodules: a reference to anything below one leads to it. */
  submodules?: readonly string[];
  /** Changed paths that are a symbolic link at the base or now (added, removed, pointed elsewhere): the same. */
  changedLinks?: readonly string[];
  /** The repository's symbolic links: each is a reference from its path to its target. */
  links?: readonly Link[];
  tree: Tree;
  search: ManifestSearch;
}): Promise<DependencyAnalysis> {
  const reached = new Set<string>();
  const changed = [...o.changed];
  for (const f of changed) for (const a of ancestors(f)) reached.add(a);
  // changed paths that stand for everything below them
  const wholes = [...(o.submodules ?? []), ...(o.changedLinks ?? [])];
  const graph = new ReferenceGraph(reached, wholes);
  /** A path the app reads directly, with the changed links and submodules above it (a values file below a link pointed elsewhere). */
  const withAbove = (p: { path: string; kind: string }) => [p, ...wholes.filter((w) => w !== p.path && covers(w, p.path)).map((path) => ({ path, kind: p.kind }))];
  // a link leads wherever its target leads (a base linked in, which itself uses ../common)
  for (const l of o.links ?? []) graph.add({ from: l.path, to: l.target, kind: 'symbolic link' });
  const notes = new Set<string>();
  let lines = 0;
  const take = (found: ManifestLine[], everyToken: boolean) => {
    lines += found.length;
    let file = '';
    let field = '';
    for (const l of found) {
      if (l.file !== file) [file, field] = [l.file, ''];
      const c = l.text.charCodeAt(0);
      // an unindented "key:" line opens a field (git grep -p prints them)
      if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) field = /^([A-Za-z][\w-]*)\s*:/.exec(l.text)?.[1] ?? field;
      if (everyToken || OUTWARD.some((w) => l.text.includes(w))) lineEdges(l, field, everyToken, notes, (e) => graph.add(e));
    }
  };

  if (reached.size) {
    take(await o.search.outward(), false);
    // a generator config's chartHome is relative to the kustomization that lists it under
    // generators: one of the config's folders, or one that lists such a folder (`../../gens/web`);
    // a reference from each (searched only when a chart changed)
    if (o.search.chartHomes && (wholes.length || (await chartChanged(changed, o.tree)))) {
      const found = await o.search.chartHomes();
      lines += found.length;
      for (const l of found) {
        if (KUSTOMIZATION_FILES.includes(basename(l.file))) continue;
        const value = /^\s*(?:-\s+)?chartHome\s*:\s*["']?([^"'\s#]+)/.exec(l.text)?.[1];
        if (!value?.includes('..')) continue;
        const folders = ancestors(dirOf(l.file));
        const users = new Set([...folders, ...folders.flatMap((d) => graph.referrersOf(d))]);
        for (const from of users) {
          const to = resolveRef(from, value);
          // (not the whole repository: a chart folder is never its top)
          if (to) graph.add({ from, to, kind: 'kustomize helm chart' });
        }
      }
    }
    let manifests: string[] | undefined;
    const readWhole = new Set<string>();
    for (let grown = graph.grown(); grown.length; grown = graph.grown()) {
      manifests ??= await o.search.all();
      const above = new Set(grown.flatMap((d) => ancestors(d).slice(1)).filter((d) => !readWhole.has(d)));
      for (const d of above) readWhole.add(d);
      const files = manifests.filter((f) => above.has(dirOf(f)));
      const texts = await Promise.all(files.map((f) => o.tree.read(f)));
      take(files.flatMap((file, i) => (texts[i] ?? '').split('\n').map((text, n) => ({ file, line: n + 1, text }))), true);
    }
  }

  const deps = new Map<string, AppDependencies>();
  for (const app of o.apps) {
    const values = [...(app.helm?.valueFiles ?? []), ...(app.helm?.missingValueFiles ?? [])].flatMap((path) => withAbove({ path, kind: 'values file' }));
    const files = (app.helm?.fileParameters ?? []).flatMap((f) => withAbove({ path: f.path, kind: 'helm file parameter' }));
    const refs = app.type === 'directory' ? [] : [...(graph.leads.get(app.path) ?? [])].map(([path, kind]) => ({ path, kind }));
    // components the app's options add (Argo CD's kustomize.components): the folder, and what it reaches
    const components = (app.kustomize?.components ?? []).flatMap((c) => {
      const dir = resolveRef(app.path, c);
      if (dir === undefined) return [];
      return [...withAbove({ path: dir, kind: 'kustomize component' }), ...[...(graph.leads.get(dir)?.keys() ?? [])].map((path) => ({ path, kind: 'kustomize component' }))];
    });
    deps.set(app.name, {
      folder: app.path,
      directory: app.type === 'directory' ? (app.directory ?? { recurse: false }) : undefined,
      paths: [...values, ...files, ...refs, ...components],
      watch: app.watch,
    });
  }
  return { deps, reaches: (dir) => [...(graph.leads.get(dir)?.keys() ?? [])], notes: [...notes].sort(), lines };
}

function dirOf(file: string): string {
  const i = file.lastIndexOf('/');
  return i < 0 ? '' : file.slice(0, i);
}

/**
 * References between folders, followed back from the changed paths as they are added: a folder
 * leads to a changed path when it references it, or references a folder that leads to it. What a
 * folder leads to is kept with the kind of its own reference on the way ("a component I use").
 */
class ReferenceGraph {
  /** Folder -> changed path it leads to -> kind of the folder's reference on the way. */
  readonly leads = new Map<string, Map<string, string>>();
  // a reference listed twice is followed twice: harmless, and cheaper than keeping a set of them
  private readonly referrers = new Map<string, Edge[]>();
  private fresh: string[] = [];

  constructor(
    private readonly reached: Set<string>,
    /** Changed submodules and links: a reference to anything below one leads to it. */
    private readonly wholes: readonly string[],
  ) {}

  add(e: Edge): void {
    if (e.from === e.to) return;
    const list = this.referrers.get(e.to);
    if (list) list.push(e);
    else this.referrers.set(e.to, [e]);
    const below = this.wholes.filter((s) => covers(s, e.to));
    const paths = [...(this.reached.has(e.to) ? [e.to] : []), ...below, ...(this.leads.get(e.to)?.keys() ?? [])];
    if (paths.length) this.spread(e.from, e.kind, paths);
  }

  /** The folders that reference `to` (so far). */
  referrersOf(to: string): string[] {
    return (this.referrers.get(to) ?? []).map((e) => e.from);
  }

  /** Folders that started to lead somewhere since the last call. */
  grown(): string[] {
    const out = this.fresh;
    this.fresh = [];
    return out;
  }

  private spread(dir: string, kind: string, paths: string[]): void {
    const work: [string, string, string[]][] = [[dir, kind, paths]];
    for (let item = work.pop(); item; item = work.pop()) {
      const [d, k, ps] = item;
      let mine = this.leads.get(d);
      if (!mine) {
        this.leads.set(d, (mine = new Map()));
        this.fresh.push(d);
      }
      const added = ps.filter((p) => !mine!.has(p));
      for (const p of added) mine.set(p, k);
      if (added.length) for (const e of this.referrers.get(d) ?? []) work.push([e.from, e.kind, added]);
    }
  }
}

/** Path-like tokens: runs of characters that YAML does not use around a plain or quoted path. */
const TOKEN = /[^\s"',[\]{}]+/g;
const UPWARD_TOKEN = /[^\s"',[\]{}]*\.\.[^\s"',[\]{}]*/g;
const REMOTE_HINT = /:\/\/|git@|\?ref=/;

/**
 * The path-like tokens of a manifest line, resolved against the manifest's folder. On a line git
 * grep found for "..", only tokens with ".." can matter (the others stay inside the folder).
 */
function lineEdges(l: ManifestLine, field: string, everyToken: boolean, notes: Set<string>, add: (e: Edge) => void): void {
  const hash = l.text.search(/(^|\s)#/);
  const text = hash < 0 ? l.text : l.text.slice(0, hash);
  if (REMOTE_HINT.test(text) && KUSTOMIZATION_FILES.includes(basename(l.file))) {
    for (const [token] of text.matchAll(TOKEN)) {
      if (isRemote(token)) notes.add(`${l.file} uses the remote resource ${token}, which is not watched for changes`);
    }
  }
  const from = dirOf(l.file);
  const kind = kindOf(field, l.file);
  const candidates = [...text.matchAll(everyToken ? TOKEN : UPWARD_TOKEN)].map((m) => m[0]);
  // a path with a space or a quote in it is one YAML scalar but several tokens: take the scalars too
  if (/["'\s]/.test(text.trim().replace(/^(- +)+/, '').replace(/^[\w.-]+:\s/, ''))) {
    for (const scalar of lineScalars(text)) if (everyToken || scalar.includes('..')) candidates.push(scalar);
  }
  for (let token of candidates) {
    if (token === '-' || token.endsWith(':') || isRemote(token)) continue;
    token = token.slice(token.indexOf('=') + 1);
    if (token.startsWith('file://')) token = token.slice('file://'.length);
    const to = resolveRef(from, token);
    if (to !== undefined) add({ from, to, kind });
  }
}

/**
 * The string values of one YAML line as a kustomization or Chart.yaml writes a reference (`- a b`,
 * `key: a b`, `- "a b"`, `'o''neil'`, `[ "a b", c ]`, `- {path: "a b"}`), read by js-yaml; a line
 * that is no YAML of its own (inside a block scalar, the start of a flow over several lines)
 * gives none, and its tokens still count.
 */
export function lineScalars(line: string): string[] {
  let value: unknown;
  try {
    value = loadYaml(line.trim(), { schema: CORE_SCHEMA });
  } catch {
    return [];
  }
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return out;
}

/** A reference relative to the manifest's folder as a repository path; undefined when it leaves the repository. */
function resolveRef(dir: string, ref: string): string | undefined {
  if (ref.startsWith('/')) return undefined;
  const parts = dir ? dir.split('/') : [];
  for (const seg of ref.split('/')) {
    if (seg === '..') {
      if (!parts.length) return undefined;
      parts.pop();
    } else if (seg !== '' && seg !== '.') parts.push(seg);
  }
  return parts.join('/');
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

function kindOf(field: string, file: string): string {
  return FIELD_KINDS[field] ?? (CHART_FILES.includes(basename(file)) ? 'chart dependency' : 'kustomize input');
}
