import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveBases, type BaseOptions } from '../../src/plan/base.js';
import type { DeployedState } from '../../src/plan/model.js';
import { memoryLogger } from '../../src/report/logger.js';
import { InputError } from '../../src/util/errors.js';
import { ToolError } from '../../src/util/exec.js';
import { Git } from '../../src/util/git.js';
import { TestRepo } from '../support/repo.js';

const repos: TestRepo[] = [];
const track = (r: TestRepo) => (repos.push(r), r);
afterAll(() => repos.forEach((r) => r.cleanup()));

function bases(repo: TestRepo, over: Partial<BaseOptions> = {}) {
  return resolveBases({ git: new Git(repo.dir), apps: ['recent', 'old', 'lost', 'new', 'api'], build: {}, logger: memoryLogger(), ...over });
}

/** origin: main with 8 commits c[0..7]. */
let origin: TestRepo;
let c: string[];
beforeAll(() => {
  origin = track(new TestRepo());
  c = Array.from({ length: 8 }, (_, i) => origin.write({ [`apps/a/f${i}.yaml`]: `n: ${i}\n` }).commit(`c${i}`, `2024-01-0${i + 1}T00:00:00Z`));
});

describe('resolveBases', () => {
  it('compares with the parent commit by default, and with nothing on the first commit', async () => {
    const b = await bases(origin);
    expect(b).toMatchObject({ head: c[7], source: 'parent commit', base: c[6] });
    expect(b.of('any')).toEqual({ kind: 'commit', commit: c[6] });

    const first = track(new TestRepo());
    const only = first.write({ 'a.yaml': 'x: 1\n' }).commit();
    const f = await bases(first);
    expect(f.source).toBe('none');
    expect(f.of('any')).toEqual({ kind: 'none', reason: `${only.slice(0, 12)} is the first commit: there is no earlier commit to compare with` });
  });

  it('deepens a clone of depth 1 to find the parent', async () => {
    const clone = track(origin.cloneShallow(1));
    const b = await bases(clone);
    expect(b.base).toBe(c[6]);
    expect(b.notes.join('\n')).toContain('deepen the clone by 100 commits');
  });

  it('resolves a short BASE_REVISION beyond the clone depth by deepening', async () => {
    const clone = track(origin.cloneShallow(2));
    expect(await new Git(clone.dir).resolve(c[1]!.slice(0, 12))).toBeUndefined();
    const b = await bases(clone, { baseRevision: c[1]!.slice(0, 12) });
    expect(b).toMatchObject({ source: 'BASE_REVISION', base: c[1] });
  });

  it('fails with the variable\'s name when BASE_REVISION is no commit even with the full history', async () => {
    const clone = track(origin.cloneShallow(2));
    const err = await bases(clone, { baseRevision: 'deadbeefdead' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).located).toBe('BASE_REVISION: "deadbeefdead" is not a commit of this repository, even after fetching more of its history and its branches');
    expect(await new Git(clone.dir).isShallow()).toBe(false);
  });

  it('says so when nothing could be fetched because the clone has no origin', async () => {
    // (origin itself is a repository without remotes)
    const err = await bases(origin, { baseRevision: 'deadbeefdead' }).catch((e: unknown) => e);
    expect((err as InputError).located).toBe('BASE_REVISION: "deadbeefdead" is not a commit of this repository (the clone has no "origin" remote to fetch more history from)');
  });

  it('resolves a branch name given as BASE_REVISION from origin', async () => {
    origin.git('branch', 'release', c[3]!);
    const clone = track(origin.cloneShallow(1));
    expect((await bases(clone, { baseRevision: 'release' })).base).toBe(c[3]);
  });

  it('takes each app\'s deployed commit from the ledger, fetching what the clone lacks', async () => {
    const clone = track(origin.cloneShallow(2));
    const gone = '0123456789abcdef0123456789abcdef01234567';
    const deployed: DeployedState = {
      source: 'test ledger',
      apps: new Map([
        ['recent', { app: 'recent', commit: c[6]!, deployedAt: '2024-01-07T01:00:00Z' }],
        ['old', { app: 'old', commit: c[2]!, deployedAt: '2024-01-03T01:00:00Z' }],
        ['lost', { app: 'lost', commit: gone, deployedAt: '2024-01-02T00:00:00Z' }],
      ]),
    };
    const b = await bases(clone, { deployed });
    expect(b.source).toBe('ledger');
    expect(b.base).toBeUndefined();
    expect(b.of('recent')).toEqual({ kind: 'commit', commit: c[6] });
    expect(b.of('old')).toEqual({ kind: 'commit', commit: c[2] });
    expect(b.of('new')).toEqual({ kind: 'not-deployed' });
    const lost = b.of('lost');
    expect(lost.kind).toBe('unknown');
    expect(lost.kind === 'unknown' && lost.reason).toContain('its deployed commit 0123456789ab is not in the clone');
    // the commit alone, then every way of fetching more was tried for the lost one
    expect(b.notes).toEqual([
      `fetched more git history to find the base: fetch ${c[2]!.slice(0, 12)}`,
      'fetched more git history to find the base: deepen the clone by 100 commits',
      'fetched more git history to find the base: fetch every branch and tag',
    ]);
  });

  it('looks only for the deployed commits of the apps being planned', async () => {
    const clone = track(origin.cloneShallow(2));
    const deployed: DeployedState = { source: 'test', apps: new Map([['removed-app', { app: 'removed-app', commit: 'ab'.repeat(20) }]]) };
    const b = await bases(clone, { deployed });
    expect(b.notes).toEqual([]);
    expect(await new Git(clone.dir).isShallow()).toBe(true);
  });

  it('plans everything with the reason when the clone has no origin to fetch from', async () => {
    const clone = track(origin.cloneShallow(1));
    clone.git('remote', 'remove', 'origin');
    const b = await bases(clone);
    expect(b.of('x')).toEqual({ kind: 'unknown', reason: `the parent of ${c[7]!.slice(0, 12)} is not in the clone and more history could not be fetched` });
    expect(b.notes).toEqual(['the clone has no "origin" remote, so no more history could be fetched']);
  });

  it('says that fetching failed, without the user info of the origin URL, when origin cannot be reached', async () => {
    const clone = track(origin.cloneShallow(1));
    clone.git('remote', 'set-url', 'origin', 'file://x-token-auth:s3cret-token@/nonexistent/repo.git');
    const err = await bases(clone, { baseRevision: c[2]!.slice(0, 12) }).catch((e: unknown) => e);
    const located = (err as InputError).located;
    expect(located).toMatch(/^BASE_REVISION: "[0-9a-f]{12}" is not a commit of this repository \(fetching more history from origin failed: .+\)$/);
    expect(located).not.toContain('s3cret-token');
  });
});

describe('the git wrapper', () => {
  it('fails with the command, exit code and stderr, and answers "unknown" where git does', async () => {
    const git = new Git(origin.dir);
    const err = (await git.run(['rev-parse', '--verify', 'no-such-ref']).catch((e: unknown) => e)) as ToolError;
    expect(err).toBeInstanceOf(ToolError);
    expect(err.exitCode).toBe(128);
    expect(err.message).toContain(`git -c safe.directory=${origin.dir} -C ${origin.dir} rev-parse --verify no-such-ref exited with 128`);
    expect(await git.resolve('no-such-ref')).toBeUndefined();
    expect(await git.commitAndParents('no-such-ref')).toBeUndefined();
    expect(await git.commitAndParents(c[1]!)).toEqual([c[1], c[0]]);
  });

  it('refuses a workspace without a commit', async () => {
    const empty = track(new TestRepo());
    const err = await bases(empty).catch((e: unknown) => e);
    expect((err as InputError).located).toBe('the workspace has no commit checked out (HEAD does not resolve)');
  });

  it('tells a damaged clone (the checked-out commit corrupt or missing) from one without a commit', async () => {
    const repo = track(new TestRepo());
    repo.write({ 'a.yaml': 'a: 1\n' });
    repo.commit('one');
    repo.write({ 'a.yaml': 'a: 2\n' });
    const head = repo.commit('two');
    const object = join(repo.dir, '.git', 'objects', head.slice(0, 2), head.slice(2));
    chmodSync(object, 0o644);
    writeFileSync(object, 'garbage');
    const corrupt = (await bases(repo).catch((e: unknown) => e)) as InputError;
    expect(corrupt.located).toMatch(new RegExp(`^the clone is damaged: git cannot read the checked-out commit ${head} \\(loose object ${head} .* is corrupt\\)$`));
    expect(corrupt.hint).toContain('git fsck');
    rmSync(object);
    const missing = (await bases(repo).catch((e: unknown) => e)) as InputError;
    expect(missing.located).toBe(`the clone is damaged: git cannot read the checked-out commit ${head} (its object is missing)`);
  });
});

describe('a long history', () => {
  let long: TestRepo;
  let h: string[];
  beforeAll(() => {
    long = track(new TestRepo());
    h = long.linearHistory(1200);
  });

  it('deepens in growing steps, then fetches the full history, to find an old short SHA', async () => {
    const clone = track(long.cloneShallow(1));
    const b = await bases(clone, { baseRevision: h[2]!.slice(0, 12) });
    expect(b.base).toBe(h[2]);
    expect(b.notes.map((n) => n.replace(/^.*: /, ''))).toEqual(['deepen the clone by 100 commits', 'deepen the clone by 1000 commits', 'fetch the full history']);
  });

  it('uses the deploy time before the full history, and plans by digest when the commit is gone', async () => {
    const clone = track(long.cloneShallow(1));
    const gone = 'feedfacefeedfacefeedfacefeedfacefeedface';
    const deployed: DeployedState = { source: 'test', apps: new Map([['api', { app: 'api', commit: gone, deployedAt: '2022-06-01T00:00:00Z' }]]) };
    const b = await bases(clone, { deployed });
    expect(b.of('api')).toMatchObject({ kind: 'unknown' });
    expect(b.notes.map((n) => n.replace(/^.*: /, ''))).toEqual([
      'deepen the clone by 100 commits',
      'deepen the clone by 1000 commits',
      'fetch history since 2022-05-25',
      'fetch the full history',
      'fetch every branch and tag',
    ]);
    expect(await new Git(clone.dir).isShallow()).toBe(false);
  });
});

describe('pull-request pipelines', () => {
  // main: m0 - m1 - m2 (after the branch point) ; feature: m0 - f1 - f2
  let pr: TestRepo;
  let m: string[];
  let f2: string;
  let merge: string;
  beforeAll(() => {
    pr = track(new TestRepo());
    m = [pr.write({ 'apps/a/x.yaml': 'a: 0\n' }).commit('m0')];
    pr.git('checkout', '-q', '-b', 'feature');
    pr.write({ 'apps/b/x.yaml': 'b: 1\n' }).commit('f1');
    f2 = pr.write({ 'apps/b/x.yaml': 'b: 2\n' }).commit('f2');
    pr.git('checkout', '-q', 'main');
    m.push(pr.write({ 'apps/a/x.yaml': 'a: 1\n' }).commit('m1'));
    m.push(pr.write({ 'apps/c/x.yaml': 'c: 1\n' }).commit('m2'));
  });

  /** What Bitbucket checks out: the source branch with the destination merged into it. */
  function bitbucketPrClone(): TestRepo {
    const clone = track(pr.cloneShallow(50, 'feature'));
    clone.git('fetch', '-q', 'origin', 'main');
    clone.git('merge', '-q', '--no-edit', 'FETCH_HEAD');
    merge = clone.git('rev-parse', 'HEAD');
    return clone;
  }

  it('uses the destination commit Bitbucket names (a short SHA): HEAD is the merge, so that commit itself', async () => {
    const clone = bitbucketPrClone();
    const b = await bases(clone, { build: { prDestinationBranch: 'main', prDestinationCommit: m[2]!.slice(0, 12) } });
    expect(b).toMatchObject({ source: 'pull request destination', head: merge, base: m[2] });
    // the diff is what the pull request brings: the feature's files only
    expect(await new Git(clone.dir).changedFiles(b.base!, b.head)).toEqual(['apps/b/x.yaml']);
  });

  it('fetches the destination branch when no commit is given, even if it moved on since the merge', async () => {
    const clone = bitbucketPrClone();
    const m3 = pr.write({ 'apps/d/x.yaml': 'd: 1\n' }).commit('m3 after the pipeline started');
    const b = await bases(clone, { build: { prDestinationBranch: 'main' } });
    expect(b.base).toBe(m[2]);
    expect(await new Git(clone.dir).resolve('refs/remotes/origin/main')).toBe(m3);
  });

  it('uses the fork point when HEAD is the bare source commit', async () => {
    const clone = track(pr.cloneShallow(50, 'feature'));
    expect(clone.git('rev-parse', 'HEAD')).toBe(f2);
    const b = await bases(clone, { build: { prDestinationBranch: 'main' } });
    expect(b.base).toBe(m[0]);
  });
});

describe('Git.resolveMany', () => {
  it('answers like resolve for each revision, in order, from one process', async () => {
    const git = new Git(origin.dir);
    const revs = [c[3]!, c[5]!.slice(0, 10), 'main', 'HEAD~2', 'no-such-branch', `${c[1]}:apps`, 'main\nHEAD', c[7]!];
    const one = await Promise.all(revs.map((r) => git.resolve(r).catch(() => undefined)));
    expect(await git.resolveMany(revs)).toEqual(one.map((r, i) => (revs[i]!.includes('\n') ? undefined : r)));
    expect(await git.resolveMany(revs)).toEqual([c[3], c[5], c[7], c[5], undefined, undefined, undefined, c[7]]);
  });
});
