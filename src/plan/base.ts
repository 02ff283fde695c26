import type { BuildContext } from '../config/index.js';
import type { Logger } from '../report/logger.js';
import { errorMessage, InputError } from '../util/errors.js';
import { ToolError } from '../util/exec.js';
import { redactUserInfo } from '../report/mask.js';
import type { Git } from '../util/git.js';
import type { DeployedState } from './model.js';

/** What one app is compared against. */
export type AppBase =
  | { kind: 'commit'; commit: string }
  /** The ledger has no entry for the app: it was never deployed to this environment. */
  | { kind: 'not-deployed' }
  /** The base commit is not in the clone even after fetching more history. */
  | { kind: 'unknown'; reason: string }
  /** There is nothing to compare with (the first commit of the repository). */
  | { kind: 'none'; reason: string };

export interface Bases {
  /** Full SHA of HEAD, the commit being deployed. */
  head: string;
  /** "BASE_REVISION", "ledger", "pull request destination", "parent commit" or "none". */
  source: string;
  /** The run-wide base commit, when every app shares one. */
  base?: string;
  /** Per app name. */
  of(app: string): AppBase;
  notes: string[];
}

export interface BaseOptions {
  git: Git;
  /** The apps being planned: only their deployed commits are looked for. */
  apps: readonly string[];
  baseRevision?: string;
  build: Pick<BuildContext, 'prDestinationBranch' | 'prDestinationCommit'>;
  deployed?: DeployedState;
  logger: Logger;
}

/** Commits deepened per attempt, growing: most bases are a few commits behind the 50 Bitbucket clones. */
const DEEPEN_STEPS = [100, 1000];
/** Commits fetched one by one before deepening instead (servers that refuse unadvertised commits fail fast). */
const MAX_SINGLE_FETCHES = 5;
/** Margin before the deploy time for --shallow-since: the deployed commit was made before it was deployed. */
const SHALLOW_SINCE_MARGIN_DAYS = 7;

/** Why HEAD does not resolve: a repository without a commit, or a damaged clone (asked only on this failure). */
async function unresolvedHead(git: Git): Promise<InputError> {
  const why = await git.run(['rev-parse', '--verify', 'HEAD^{commit}']).then(
    () => '',
    (e: unknown) => (e instanceof ToolError ? e.stderr : String(e)),
  );
  // a corrupt object says so; a missing one only shows as a HEAD that names a commit git cannot read
  const named = await git.run(['rev-parse', '--verify', '--quiet', 'HEAD']).then((out) => out.trim(), () => '');
  // git's last line is its conclusion ("fatal: loose object ... is corrupt")
  const damaged = why.split('\n').reverse().find((l) => /corrupt|bad object|unable to (unpack|read)|inflate|could not parse/i.test(l))?.replace(/^(fatal|error): /, '').trim();
  if (damaged || named) {
    return new InputError(`the clone is damaged: git cannot read the checked-out commit${named ? ` ${named}` : ''} (${damaged ?? 'its object is missing'})`, {
      hint: 'run the step again for a fresh clone (locally: clone again); `git fsck` lists the damaged objects',
    });
  }
  return new InputError('the workspace has no commit checked out (HEAD does not resolve)', { hint: 'run the pipe in a git clone of the repository' });
}

/**
 * Chooses the base revision: BASE_REVISION; else each app's deployed commit (the ledger); else,
 * in a pull-request pipeline, the destination branch; else the parent commit.
 */
export async function resolveBases(o: BaseOptions): Promise<Bases> {
  const { git } = o;
  // one process for HEAD and its parents: most runs need nothing else from git to choose the base
  const [head, ...parents] = (await git.commitAndParents('HEAD')) ?? [];
  if (!head) throw await unresolvedHead(git);
  const finder = new CommitFinder(git, o.logger);

  if (o.baseRevision) {
    const [found] = await finder.find([o.baseRevision]);
    if (!found) {
      throw new InputError(`"${o.baseRevision}" is not a commit of this repository${finder.searched()}`, {
        where: { variable: 'BASE_REVISION' },
        hint: 'set BASE_REVISION to a commit SHA, tag or branch that exists in the repository, or unset it',
      });
    }
    return shared(head, 'BASE_REVISION', { kind: 'commit', commit: found }, finder.notes);
  }

  if (o.deployed) return ledgerBases(head, o.deployed, o.apps, finder);

  const dest = o.build.prDestinationCommit ?? o.build.prDestinationBranch;
  if (dest) return pullRequestBase(head, parents, o.build, finder);

  let [parent] = parents;
  // a shallow clone hides the parents of its oldest commit; a clone of depth 1 hides HEAD's
  if (!parent && (await git.isShallow())) {
    const parentNow = async () => (await git.commitAndParents(head))?.[1];
    await finder.deepenUntil(async () => Boolean(await parentNow()));
    parent = await parentNow();
  }
  if (parent) return shared(head, 'parent commit', { kind: 'commit', commit: parent }, finder.notes);
  if (await git.isShallow()) {
    const reason = `the parent of ${short(head)} is not in the clone and more history could not be fetched`;
    return shared(head, 'parent commit', { kind: 'unknown', reason }, finder.notes);
  }
  return shared(head, 'none', { kind: 'none', reason: `${short(head)} is the first commit: there is no earlier commit to compare with` }, finder.notes);
}

function shared(head: string, source: string, base: AppBase, notes: string[]): Bases {
  return { head, source, base: base.kind === 'commit' ? base.commit : undefined, of: () => base, notes };
}

async function ledgerBases(head: string, deployed: DeployedState, apps: readonly string[], finder: CommitFinder): Promise<Bases> {
  const entries = apps.map((a) => deployed.apps.get(a)).filter((d) => d !== undefined);
  const wanted = [...new Set(entries.map((d) => d.commit))];
  // --shallow-since needs a date before every deployed commit: the earliest deploy time, less a margin
  const times = entries.map((d) => Date.parse(d.deployedAt ?? '')).filter((t) => !Number.isNaN(t));
  const since = times.length ? new Date(Math.min(...times) - SHALLOW_SINCE_MARGIN_DAYS * 86_400_000).toISOString() : undefined;
  const found = await finder.find(wanted, since);
  const byCommit = new Map(wanted.map((c, i) => [c, found[i]]));
  const commits = new Set(found.filter(Boolean));
  const of = (app: string): AppBase => {
    const d = deployed.apps.get(app);
    if (!d) return { kind: 'not-deployed' };
    const commit = byCommit.get(d.commit);
    if (commit) return { kind: 'commit', commit };
    return {
      kind: 'unknown',
      reason: `its deployed commit ${short(d.commit)} is not in the clone${withGuess(finder.searched(), '(force-pushed away?)')}: the rendered manifests will be compared with the deployed ones`,
    };
  };
  const base = commits.size === 1 ? [...commits][0] : undefined;
  return { head, source: 'ledger', base, of, notes: finder.notes };
}

/**
 * In a pull-request pipeline Bitbucket checks out the destination merged into the source, so HEAD
 * is a merge commit whose parents are the source and the destination tip. The base is the merge
 * base of the destination and HEAD: for that merge commit it is the destination tip itself, so the
 * plan shows exactly what merging the pull request changes on the destination; were HEAD the bare
 * source commit, it is the fork point, so the destination's own newer commits are not counted.
 */
async function pullRequestBase(head: string, parents: string[], build: BaseOptions['build'], finder: CommitFinder): Promise<Bases> {
  const source = 'pull request destination';
  let dest: string | undefined;
  if (build.prDestinationCommit) [dest] = await finder.find([build.prDestinationCommit]);
  if (!dest && build.prDestinationBranch) dest = await finder.branchTip(build.prDestinationBranch);
  if (!dest) {
    // the merge Bitbucket made: its second parent is the destination it merged in
    const merged = parents[1];
    if (merged) {
      finder.notes.push(`the pull request destination could not be fetched: compared with ${short(merged)}, the destination commit merged into HEAD`);
      dest = merged;
    }
  }
  if (!dest) {
    const what = build.prDestinationCommit ?? `the tip of ${build.prDestinationBranch}`;
    return shared(head, source, { kind: 'unknown', reason: `the pull request's destination (${what}) could not be found or fetched` }, finder.notes);
  }
  let base = await finder.git.mergeBase(dest, head);
  if (!base && (await finder.git.isShallow())) {
    await finder.deepenUntil(async () => Boolean(await finder.git.mergeBase(dest, head)));
    base = await finder.git.mergeBase(dest, head);
  }
  if (!base) {
    finder.notes.push(`${short(dest)} (pull request destination) and ${short(head)} have no common history in the clone: compared with the destination tip directly`);
    base = dest;
  }
  return shared(head, source, { kind: 'commit', commit: base }, finder.notes);
}

/**
 * Finds commits that may be missing from a shallow clone: resolves what is there (short SHAs
 * too), then fetches the commit itself, deepens in growing steps, fetches since a date, and
 * finally the whole history and every branch. Each fetch that finds nothing is noted.
 */
class CommitFinder {
  readonly notes: string[] = [];
  private canFetch?: boolean;
  private fetched = false;
  /** git's last line about the last fetch that failed, without user info in URLs (an https token). */
  private fetchFailure?: string;

  constructor(
    readonly git: Git,
    private readonly logger: Logger,
  ) {}

  /** Full SHAs in the order of `revs`; undefined where a revision could not be found. */
  async find(revs: string[], since?: string): Promise<(string | undefined)[]> {
    // one git process for all of them (a ledger can name hundreds of deployed commits)
    const found = await this.git.resolveMany(revs);
    const missing = () => revs.filter((_, i) => !found[i]);
    const retry = async () => {
      const gaps = revs.flatMap((_, i) => (found[i] ? [] : [i]));
      const again = await this.git.resolveMany(gaps.map((i) => revs[i]!));
      gaps.forEach((i, j) => (found[i] = again[j]));
      return missing().length === 0;
    };
    if (!missing().length) return found;
    // the commit alone is enough for a diff; one fetch each, so one lost commit does not fail the others
    for (const sha of missing().filter((r) => /^[0-9a-f]{40}$/i.test(r)).slice(0, MAX_SINGLE_FETCHES)) {
      if (await this.attempt(`fetch ${short(sha)}`, { refspecs: [sha], depth: 1 })) await retry();
    }
    if (!missing().length) return found;
    for (const name of missing().filter((r) => /^[\w./-]+$/.test(r) && !/^[0-9a-f]{4,40}$/i.test(r))) {
      const tip = await this.branchTip(name);
      found[revs.indexOf(name)] = tip;
    }
    if (!missing().length) return found;
    if (await this.deepenUntil(retry, since)) return found;
    // a commit on another branch (deployed from a release branch, say)
    if (await this.attempt('fetch every branch and tag', { refspecs: ['+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'] })) {
      await retry();
    }
    return found;
  }

  /** A branch's tip on origin (fetched fresh), else what the clone knows of it; a tag of that name otherwise. */
  async branchTip(name: string): Promise<string | undefined> {
    const tracking = `refs/remotes/origin/${name}`;
    if (await this.attempt(`fetch branch ${name}`, { refspecs: [`+refs/heads/${name}:${tracking}`] })) return this.git.resolve(tracking);
    const known = (await this.git.resolve(tracking)) ?? (await this.git.resolve(name));
    if (known) return known;
    if (await this.attempt(`fetch tag ${name}`, { refspecs: [`+refs/tags/${name}:refs/tags/${name}`] })) return this.git.resolve(`refs/tags/${name}`);
    return undefined;
  }

  /** How far the search went, for a message about a commit it did not find (", even after ..."). */
  searched(): string {
    if (this.canFetch === false) return ' (the clone has no "origin" remote to fetch more history from)';
    if (this.fetched) return ', even after fetching more of its history and its branches';
    return this.fetchFailure ? ` (fetching more history from origin failed: ${this.fetchFailure})` : '';
  }

  /** Deepens a shallow clone step by step until `done()`; true when done. */
  async deepenUntil(done: () => Promise<boolean>, since?: string): Promise<boolean> {
    if (!(await this.git.isShallow())) return false;
    for (const deepen of DEEPEN_STEPS) {
      if (!(await this.attempt(`deepen the clone by ${deepen} commits`, { deepen }))) return false;
      if (await done()) return true;
      if (!(await this.git.isShallow())) return false;
    }
    if (since && (await this.attempt(`fetch history since ${since.slice(0, 10)}`, { shallowSince: since })) && (await done())) return true;
    if (!(await this.git.isShallow())) return false;
    return (await this.attempt('fetch the full history', { unshallow: true })) && (await done());
  }

  private async attempt(what: string, fetch: Parameters<Git['fetch']>[0]): Promise<boolean> {
    if (this.canFetch === undefined) {
      this.canFetch = await this.git.hasRemote('origin');
      if (!this.canFetch) this.notes.push('the clone has no "origin" remote, so no more history could be fetched');
    }
    if (!this.canFetch) return false;
    const started = Date.now();
    try {
      await this.git.fetch(fetch);
      this.fetched = true;
      this.logger.debug(`git: ${what} (${Date.now() - started} ms)`);
      this.notes.push(`fetched more git history to find the base: ${what}`);
      return true;
    } catch (e) {
      const detail = e instanceof ToolError ? e.lastLine : redactUserInfo(errorMessage(e));
      this.fetchFailure = detail;
      this.logger.debug(`git: could not ${what}: ${detail}`);
      return false;
    }
  }
}

/** A parenthesis after what was searched, unless the search already ends with one. */
function withGuess(searched: string, guess: string): string {
  return searched.endsWith(')') ? searched : `${searched} ${guess}`;
}

export function short(sha: string): string {
  return /^[0-9a-f]{40}$/i.test(sha) ? sha.slice(0, 12) : sha;
}
