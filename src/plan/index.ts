import pLimit from 'p-limit';
import type { BuildContext, Config } from '../config/index.js';
import type { Root } from '../root/model.js';
import type { Logger } from '../report/logger.js';
import { PipeError } from '../util/errors.js';
import type { Git } from '../util/git.js';
import { repoPath, WorkTree } from '../util/tree.js';
import { resolveBases, short, type Bases } from './base.js';
import { decide, selectApps, type BaseRoot } from './decide.js';
import { analyzeDependencies, gitManifestSearch, throughLinks, type ManifestSearch } from './dependencies.js';
import type { DeployedState, Plan } from './model.js';
import { dependencyGraph } from './order.js';
import { covers } from './paths.js';

/** git processes at a time for the per-base diffs and root loads. */
const GIT_CONCURRENCY = 4;

export interface PlanOptions {
  git: Git;
  /** The clone's work tree: the commit being deployed (HEAD). */
  workspace: string;
  /** The root manifest as loaded from the work tree. */
  root: Root;
  /** The root manifest at another commit where it exists (an error when it cannot be read). Called only when the root's files changed. */
  loadRootAt: (rev: string) => Promise<Root>;
  config: Pick<Config, 'apps' | 'force' | 'baseRevision' | 'environment'>;
  build: Pick<BuildContext, 'prDestinationBranch' | 'prDestinationCommit'>;
  /** What the ledger says is deployed; undefined when there is no ledger (plan mode). */
  deployed?: DeployedState;
  logger: Logger;
  /** How manifests are found by their text (default: `git grep` in the work tree, started here; see startManifestSearch). */
  search?: ManifestSearch;
  /** The base revision, when its resolution was started before the root loaded (startBaseResolution). */
  bases?: Promise<Bases>;
  /** Files of the work tree that differ from HEAD: rendered as they are, so changes of every base. */
  uncommitted?: Promise<string[]>;
}

/**
 * Which apps to deploy, why, and in which order. I/O at the edges (git, reading manifests), the
 * decision itself in decide.ts and order.ts. Input errors (APPS, dependsOn) come before any git answer is used.
 */
export async function buildPlan(o: PlanOptions): Promise<Plan> {
  const { git, root, config, logger } = o;
  const time = timer(logger);
  // the manifest search depends on nothing else: git runs it while the graph is built and the base resolved
  const search = o.search ?? startManifestSearch(git);
  const graph = dependencyGraph(root);
  const { selected } = selectApps(root, config.apps);
  const apps = selected ? root.apps.filter((a) => selected.has(a.name)) : root.apps;

  const bases = await (o.bases ?? resolveBases({ git, apps: apps.map((a) => a.name), baseRevision: config.baseRevision, build: o.build, deployed: o.deployed, logger }));
  const commits = [...new Set(apps.map((a) => bases.of(a.name)).flatMap((b) => (b.kind === 'commit' ? [b.commit] : [])))];
  time(`base: ${bases.source}${bases.base ? ` ${short(bases.base)}` : ''}, head ${short(bases.head)}`);

  // one diff per distinct base (with a ledger, apps deployed at different commits have different bases)
  const limit = pLimit(GIT_CONCURRENCY);
  const [diffs, dirty] = await Promise.all([
    Promise.all(commits.map((c) => limit(async () => [c, c === bases.head ? NO_CHANGES : await git.changes(c, bases.head)] as const))),
    o.uncommitted ?? [],
  ]);
  const uncommitted = new Set(dirty);
  // a changed file below a symbolic link's target has changed at the link's path too
  const anyChange = uncommitted.size > 0 || diffs.some(([, d]) => d.files.length);
  const links = anyChange ? await search.links() : [];
  // a submodule at either commit (one removed since the base too)
  const submodules = new Set([...(anyChange ? await search.submodules() : []), ...diffs.flatMap(([, d]) => d.submodules)]);
  const via = new Map<string, { file: string; link: string }>();
  const changed = new Map(
    diffs.map(([c, d]) => {
      const seen = throughLinks(uncommitted.size ? [...new Set([...d.files, ...uncommitted])] : d.files, links);
      for (const [path, v] of seen.via) via.set(path, v);
      return [c, seen.files] as const;
    }),
  );
  // a link added, removed or pointed elsewhere changes everything below it, at every path it is seen at
  const changedLinks = new Set(diffs.flatMap(([, d]) => d.links));
  for (const [path, v] of via) if (changedLinks.has(v.file)) changedLinks.add(path);
  const union = new Set([...changed.values()].flat());
  time(`git diff: ${union.size} changed paths (${via.size} through symbolic links) against ${commits.length} base commit(s)`);

  const analysis = await analyzeDependencies({
    apps,
    changed: union,
    submodules: [...union].filter((p) => submodules.has(p)),
    changedLinks: [...union].filter((p) => changedLinks.has(p)),
    links,
    tree: new WorkTree(o.workspace),
    search,
  });
  time(`dependencies: ${analysis.lines} manifest lines looked at`);

  // Root.file names the top of the repository "." (for messages); as a repository path it is ""
  const rootFile = repoPath(root.file);
  const rootPaths = [rootFile, ...analysis.reaches(rootFile)];
  const whole = (f: string) => submodules.has(f) || changedLinks.has(f);
  const baseRoots = new Map(
    await Promise.all(commits.map((c) => limit(async () => [c, await baseRootAt(c, changed.get(c)!, rootPaths, whole, o)] as const))),
  );
  time(`root at base: ${[...baseRoots.values()].filter((r) => r.kind !== 'same').length} loaded`);

  const decision = decide({
    root,
    base: bases.of,
    head: bases.head,
    changed,
    via,
    uncommitted,
    submodules,
    changedLinks,
    baseRoots,
    deps: analysis.deps,
    deployed: o.deployed,
    force: config.force,
    only: config.apps,
  });
  const deploy = new Set(decision.changes.filter((c) => c.status !== 'unchanged' && c.status !== 'skipped').map((c) => c.app.name));
  const rank = new Map(graph.order.map((n, i) => [n, i]));
  return {
    root,
    environment: config.environment ?? root.environment?.name,
    head: bases.head,
    baseSource: bases.source,
    base: bases.base,
    apps: decision.changes.sort((a, b) => rank.get(a.app.name)! - rank.get(b.app.name)!),
    layers: graph.layers(deploy),
    waves: Object.fromEntries([...deploy].map((name) => [name, graph.wave(name)])),
    removed: decision.removed,
    notes: [...bases.notes, ...graph.notes, ...decision.notes, ...analysis.notes],
  };
}

const NO_CHANGES = { files: [], links: [], submodules: [] };

/**
 * The root at a base commit: loaded only when one of the files it is read from changed since
 * (or a link or submodule above one of them: `whole` tells those paths).
 */
async function baseRootAt(commit: string, changed: readonly string[], rootPaths: string[], whole: (path: string) => boolean, o: PlanOptions): Promise<BaseRoot> {
  if (!changed.some((f) => rootPaths.some((p) => covers(p, f) || (whole(f) && covers(f, p))))) return { kind: 'same' };
  // a root added since the base: every app is new, which is no error (and no search for other roots)
  if (!(await o.git.exists(commit, rootPaths[0]!))) return { kind: 'absent' };
  try {
    const r = await o.loadRootAt(commit);
    return { kind: 'loaded', apps: new Map(r.apps.map((a) => [a.name, a.definitionDigest])), disabled: r.disabled };
  } catch (e) {
    if (!(e instanceof PipeError)) throw e;
    return { kind: 'failed', reason: `the root manifest at ${short(commit)} could not be read (${e.located})` };
  }
}

/**
 * The manifest search, started now: it needs no root, so a caller that starts it before loading the
 * root (CPU-bound) has git answer while the root loads; pass it to buildPlan as `search`.
 */
export function startManifestSearch(git: Git): ManifestSearch {
  return prefetched(gitManifestSearch(git));
}

/**
 * The base revision, started now, when it does not depend on the apps: without a ledger (plan
 * mode), or with BASE_REVISION. git then resolves it (and deepens a shallow clone if it must)
 * while the root loads; pass it to buildPlan as `bases`. Undefined when the ledger decides the
 * base of each app, which needs the root's apps. A failure surfaces in buildPlan, after the
 * root's own errors.
 */
export function startBaseResolution(o: Pick<PlanOptions, 'git' | 'config' | 'build' | 'logger'> & { ledger: boolean }): Promise<Bases> | undefined {
  if (o.ledger && !o.config.baseRevision) return undefined;
  const bases = resolveBases({ git: o.git, apps: [], baseRevision: o.config.baseRevision, build: o.build, logger: o.logger });
  bases.catch(() => undefined);
  return bases;
}

/** The search with its outward lines already asked for; a failure surfaces where they are used, if they are. */
function prefetched(search: ManifestSearch): ManifestSearch {
  const outward = search.outward();
  outward.catch(() => undefined);
  const links = search.links();
  links.catch(() => undefined);
  const chartHomes = search.chartHomes?.bind(search);
  return { outward: () => outward, all: () => search.all(), links: () => links, submodules: () => search.submodules(), ...(chartHomes ? { chartHomes } : {}) };
}

function timer(logger: Logger): (what: string) => void {
  let last = Date.now();
  return (what) => {
    const now = Date.now();
    logger.debug(`plan: ${what} (${now - last} ms)`);
    last = now;
  };
}
