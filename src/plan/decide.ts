import picomatch from 'picomatch';
import type { App, Root } from '../root/model.js';
import { InputError } from '../util/errors.js';
import type { AppBase } from './base.js';
import { short } from './base.js';
import type { AppDependencies } from './dependencies.js';
import type { AppChange, ChangeStatus, DeployedState } from './model.js';
import { ancestors, covers } from './paths.js';
import { CHART_FILES, KUSTOMIZATION_FILES } from '../util/source-files.js';

/** The root manifest as it was at a base commit. */
export type BaseRoot =
  /** No file the root is read from changed between the base and HEAD: every entry is as at HEAD. */
  | { kind: 'same' }
  | { kind: 'loaded'; apps: ReadonlyMap<string, string>; disabled: readonly string[] }
  /** The root manifest did not exist at the base. */
  | { kind: 'absent' }
  | { kind: 'failed'; reason: string };

export interface DecideInput {
  root: Pick<Root, 'apps' | 'disabled' | 'unsupported' | 'environment'>;
  base: (app: string) => AppBase;
  /** The commit being deployed (an app that renders it changes whenever its base is another commit). */
  head?: string;
  /** Changed files per base commit (with the paths they are seen at through symbolic links). */
  changed: ReadonlyMap<string, readonly string[]>;
  /** For a path seen through a symbolic link: the file that changed, and the link. */
  via?: ReadonlyMap<string, { file: string; link: string }>;
  /** Changed files that are changes of the work tree, not of a commit. */
  uncommitted?: ReadonlySet<string>;
  /** Submodules (gitlinks) of the repository: a changed one changes every file below it. */
  submodules?: ReadonlySet<string>;
  /** Changed paths that are a symbolic link at the base or now: one added, removed or pointed elsewhere changes every path below it. */
  changedLinks?: ReadonlySet<string>;
  baseRoots: ReadonlyMap<string, BaseRoot>;
  deps: ReadonlyMap<string, AppDependencies>;
  deployed?: DeployedState;
  force: boolean;
  /** APPS: restrict to these apps (empty = all). */
  only: readonly string[];
}

export interface Decision {
  changes: AppChange[];
  removed: string[];
  notes: string[];
}

/** File reasons listed per app before "and N more". */
const MAX_FILE_REASONS = 5;
/** Files whose presence makes a folder a kustomization or a chart. */
const TYPE_FILES = new Set([...KUSTOMIZATION_FILES, ...CHART_FILES]);
/** Files a directory app renders (.jsonnet too: the render stage refuses it with a reason). */
const DIRECTORY_FILE = /\.(ya?ml|json|jsonnet)$/;

/**
 * Decides, without I/O, what each app's status is and why. A dependent of a changed app is not
 * changed by that alone: the pipe deploys exactly what changed, and the order (order.ts) still
 * puts a deployed app after the deployed apps it depends on.
 */
export function decide(input: DecideInput): Decision {
  const { selected, notes } = selectApps(input.root, input.only);
  const hits = fileHits(input);
  const changes = input.root.apps.map((app): AppChange => {
    if (selected && !selected.has(app.name)) return { app, status: 'skipped', reasons: ['not selected by APPS'] };
    const base = input.base(app.name);
    const { status, reasons } = statusOf(app, base, input, hits.get(app.name));
    const commit = base.kind === 'commit' ? base.commit : undefined;
    if (input.force) return { app, status: 'forced', reasons: ['forced (FORCE=true)', ...reasons], base: commit };
    return { app, status, reasons, base: commit };
  });
  return { changes, removed: removedApps(input, notes), notes };
}

/** APPS as a set (undefined = every app); a name the root does not know is an input error. */
export function selectApps(root: DecideInput['root'], only: readonly string[]): { selected?: Set<string>; notes: string[] } {
  const notes: string[] = [];
  if (!only.length) return { notes };
  const { apps, disabled, unsupported } = root;
  const names = new Set(apps.map((a) => a.name));
  const unknown = only.filter((n) => !names.has(n) && !disabled.includes(n) && !unsupported.some((u) => u.name === n));
  if (unknown.length) {
    const known = [...names].sort();
    const list = known.length > 30 ? `${known.slice(0, 30).join(', ')} and ${known.length - 30} more` : known.join(', ');
    throw new InputError(`${unknown.map((n) => `"${n}"`).join(', ')} ${unknown.length === 1 ? 'is not an app' : 'are not apps'} of the root manifest`, {
      where: { variable: 'APPS' },
      hint: `name apps of the root manifest, separated by commas; known apps${root.environment ? ` for ${root.environment.name}` : ''}: ${list || '(none)'}`,
    });
  }
  const env = root.environment ? ` for environment ${root.environment.name}` : '';
  for (const n of only) {
    if (disabled.includes(n)) notes.push(`APPS names ${n}, which is disabled${env}: it is not deployed`);
    const u = unsupported.find((x) => x.name === n);
    if (u) notes.push(`APPS names ${n}, which the pipe cannot render (${u.reason}): it is not deployed`);
  }
  return { selected: new Set(only), notes };
}

function statusOf(app: App, base: AppBase, input: DecideInput, files: string[] | undefined): { status: ChangeStatus; reasons: string[] } {
  switch (base.kind) {
    case 'not-deployed':
      return { status: 'new', reasons: ['not deployed before'] };
    case 'unknown':
      return { status: 'unknown-base', reasons: [base.reason] };
    case 'none':
      return { status: 'changed', reasons: [base.reason] };
  }
  const at = short(base.commit);
  const baseRoot = input.baseRoots.get(base.commit) ?? { kind: 'same' };
  const reasons: string[] = [];
  if (baseRoot.kind === 'absent') return { status: 'new', reasons: [`new app: the root manifest did not exist at ${at}`] };
  if (baseRoot.kind === 'failed') reasons.push(`root entry compared as changed: ${baseRoot.reason}`);
  if (baseRoot.kind === 'loaded') {
    const digest = baseRoot.apps.get(app.name);
    if (digest === undefined) {
      const env = input.root.environment ? ` for ${input.root.environment.name}` : '';
      const why = baseRoot.disabled.includes(app.name) ? `enabled${env} since ${at}` : `not in the root manifest at ${at}`;
      if (!input.deployed) return { status: 'new', reasons: [`new app (${why})`] };
      reasons.push(`root entry changed (${why})`);
    } else if (digest !== app.definitionDigest) reasons.push('root entry changed');
  }
  const failed = input.deployed?.apps.get(app.name)?.failed;
  if (failed) reasons.push(`its last deploy attempt (${short(failed.commit)}, ${failed.at}) changed objects and did not finish: the cluster is not what ${at} rendered`);
  if (app.buildEnvironment?.usesRevision && input.head && input.head !== base.commit) {
    reasons.push(`its render uses the commit (Argo CD's $ARGOCD_APP_REVISION): ${short(input.head)} now, ${at} before`);
  }
  reasons.push(...(files ?? []));
  return { status: reasons.length ? 'changed' : 'unchanged', reasons };
}

/**
 * The file reasons of every app, per its base's changed files. Folders and paths are looked up
 * by the changed file's folders (a map, not a scan of every app); watch globs are tried per file.
 */
function fileHits(input: DecideInput): Map<string, string[]> {
  const byPath = new Map<string, { app: string; kind?: string; dep: AppDependencies }[]>();
  const entry = (path: string, v: { app: string; kind?: string; dep: AppDependencies }) => {
    const list = byPath.get(path);
    if (list) list.push(v);
    else byPath.set(path, [v]);
  };
  const globs: { app: string; glob: string; match: (p: string) => boolean }[] = [];
  const directoryFilter = new Map<string, (rel: string) => boolean>();
  for (const [app, dep] of input.deps) {
    entry(dep.folder, { app, dep });
    for (const p of dep.paths) entry(p.path, { app, kind: p.kind, dep });
    for (const glob of dep.watch) globs.push({ app, glob, match: picomatch(glob, { dot: true }) });
    if (dep.directory) directoryFilter.set(app, directoryMatcher(dep.folder, dep.directory));
  }

  const found = new Map<string, { reasons: string[]; more: number; files: Set<string> }>();
  /** One reason per app and real file: a file seen at its own path and through a link counts once. */
  const hit = (app: string, file: string, reason: string) => {
    let r = found.get(app);
    if (!r) found.set(app, (r = { reasons: [], more: 0, files: new Set() }));
    const real = input.via?.get(file)?.file ?? file;
    if (r.files.has(real)) return;
    r.files.add(real);
    if (r.reasons.length < MAX_FILE_REASONS) r.reasons.push(reason);
    else r.more++;
  };
  const named = (file: string) => {
    const v = input.via?.get(file);
    const real = v?.file ?? file;
    const how = input.uncommitted?.has(real) ? ' in the work tree (not committed)' : '';
    return v ? `${real} changed${how} (seen through the symbolic link ${v.link})` : `${file} changed${how}`;
  };
  for (const [commit, files] of input.changed) {
    const basedHere = (app: string) => {
      const b = input.base(app);
      return b.kind === 'commit' && b.commit === commit;
    };
    for (const file of files) {
      const seen = new Set<string>();
      for (const path of ancestors(file)) {
        for (const { app, kind, dep } of byPath.get(path) ?? []) {
          if (seen.has(app) || !basedHere(app)) continue;
          if (kind === undefined && path === dep.folder) {
            const rendered = directoryFilter.get(app)?.(file) ?? true;
            // a kustomization or chart file added or deleted there changes how the folder is rendered
            const decidesType = !rendered && isTypeFile(dep.folder, file);
            // a submodule bump or a link pointed elsewhere changes the files below it: the folder's own when it is the folder, any with recurse
            const below = file === dep.folder || dep.directory?.recurse === true;
            const submodule = !rendered && input.submodules?.has(file) === true && below;
            const linked = !rendered && !submodule && input.changedLinks?.has(file) === true && below;
            if (!rendered && !decidesType && !submodule && !linked) continue;
            seen.add(app);
            const why = decidesType
              ? `${file} changed (it decides whether the folder is a kustomization or a chart)`
              : submodule
                ? `submodule ${file} changed`
                : linked
                  ? `symbolic link ${file} changed (everything below it with it)`
                  : named(file);
            hit(app, file, why);
          } else if (kind !== undefined && !covers(dep.folder, file)) {
            seen.add(app);
            hit(app, file, `${kind} ${named(file)}`);
          }
        }
      }
      // a submodule that moved to another commit, or a link pointed elsewhere, changes the folders below it, apps' own too
      const whole = input.submodules?.has(file) ? 'submodule' : input.changedLinks?.has(file) ? 'symbolic link' : undefined;
      if (whole) {
        for (const [app, dep] of input.deps) {
          if (!seen.has(app) && basedHere(app) && dep.folder !== file && covers(file, dep.folder)) {
            seen.add(app);
            hit(app, file, `${whole} ${file} changed (the app's folder is ${whole === 'submodule' ? 'inside' : 'below'} it)`);
          }
        }
      }
      for (const g of globs) {
        if (!seen.has(g.app) && basedHere(g.app) && g.match(file)) {
          seen.add(g.app);
          hit(g.app, file, `watched path ${named(file)} (watch: ${g.glob})`);
        }
      }
    }
  }
  return new Map(
    [...found].map(([app, r]) => [app, r.more ? [...r.reasons, `and ${r.more} more changed file${r.more === 1 ? '' : 's'}`] : r.reasons]),
  );
}

/**
 * The files a directory app renders: .yaml/.yml/.json, directly in its folder unless `recurse`,
 * filtered by include/exclude with the render stage's (Argo CD's) glob semantics.
 */
function directoryMatcher(folder: string, d: NonNullable<AppDependencies['directory']>): (file: string) => boolean {
  const glob = (g: string | undefined) => (g ? picomatch(g, { bash: true, dot: true }) : undefined);
  const include = glob(d.include);
  const exclude = glob(d.exclude);
  return (file) => {
    const rel = folder ? file.slice(folder.length + 1) : file;
    if (!d.recurse && rel.includes('/')) return false;
    if (!DIRECTORY_FILE.test(rel)) return false;
    return !exclude?.(rel) && (!include || include(rel));
  };
}

/** A kustomization or chart file directly in the folder: what type detection looks at. */
function isTypeFile(folder: string, file: string): boolean {
  const rel = folder ? file.slice(folder.length + 1) : file;
  return TYPE_FILES.has(rel);
}

/** Apps deployed before (ledger), or in the base's root manifest, that are not apps at HEAD any more. */
function removedApps(input: DecideInput, notes: string[]): string[] {
  const now = new Set(input.root.apps.map((a) => a.name));
  const before = new Set<string>();
  if (input.deployed) for (const name of input.deployed.apps.keys()) before.add(name);
  else for (const r of input.baseRoots.values()) if (r.kind === 'loaded') for (const name of r.apps.keys()) before.add(name);
  const removed = [...before].filter((n) => !now.has(n)).sort();
  const env = input.root.environment ? ` for environment ${input.root.environment.name}` : '';
  for (const n of removed) {
    if (input.root.disabled.includes(n)) notes.push(`${n} is disabled${env}: its deployed objects are handled as a removed app's (kept, or pruned with PRUNE_REMOVED_APPS)`);
  }
  return removed;
}
