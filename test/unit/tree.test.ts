import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Git } from '../../src/util/git.js';
import { posix } from 'node:path';
import { join as joinRepo } from '../../src/root/source.js';
import { GitTree, repoPath, WorkTree } from '../../src/util/tree.js';
import { committedRepo } from '../support/repo.js';
import { InputError } from '../../src/util/errors.js';

const { repo, dir, head: rev } = committedRepo({ 'apps/a/one.yaml': 'one: 1\n', 'apps/a/two.yaml': 'two: ünïcode\n', 'apps/a/empty.yaml': '' });
afterAll(() => repo.cleanup());
writeFileSync(join(dir, 'apps/a/one.yaml'), 'one: changed\n');

describe('GitTree', () => {
  const tree = new GitTree(new Git(dir), rev);

  it('reads files as of the revision, not the work tree', async () => {
    expect(await tree.read('apps/a/one.yaml')).toBe('one: 1\n');
    expect(await tree.read('apps/a/missing.yaml')).toBeUndefined();
    expect(await tree.list('apps')).toEqual(['apps/a/empty.yaml', 'apps/a/one.yaml', 'apps/a/two.yaml']);
  });

  it('reads many files in one batch, byte-exact, with missing files and directories as undefined', async () => {
    const files = await tree.readMany(['apps/a/two.yaml', 'nope.yaml', 'apps/a/empty.yaml', 'apps/a', 'apps/a/one.yaml']);
    expect(Object.fromEntries(files)).toEqual({
      'apps/a/two.yaml': 'two: ünïcode\n',
      'nope.yaml': undefined,
      'apps/a/empty.yaml': '',
      'apps/a': undefined,
      'apps/a/one.yaml': 'one: 1\n',
    });
  });

  it('refuses a path that leaves the repository', async () => {
    await expect(tree.readMany(['../etc/passwd'])).rejects.toBeInstanceOf(InputError);
  });
});

describe('WorkTree', () => {
  it('refuses a symbolic link that leads outside the repository', async () => {
    symlinkSync('/etc', join(dir, 'escape'));
    const tree = new WorkTree(dir);
    await expect(tree.read('escape/hostname')).rejects.toThrow(/outside the repository through a symbolic link/);
    expect(await tree.read('apps/a/one.yaml')).toBe('one: changed\n');
  });
});

describe('repoPath', () => {
  // the normalization repoPath does for paths that are not normalized already
  const reference = (p: string) => {
    const norm = posix.normalize(p.replaceAll('\\', '/')).replace(/\/+$/, '');
    if (p.startsWith('/') || norm === '..' || norm.startsWith('../')) return 'outside';
    return norm === '.' ? '' : norm;
  };
  const outcome = (p: string) => {
    try {
      return repoPath(p);
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      return 'outside';
    }
  };

  it('gives what path normalization gives, for normalized paths (returned as they are) and others', () => {
    const cases = ['apps/a', 'a', '.hidden/x', 'a/.b', 'a/..b', '..c', 'a/b.', 'a b/c', '', '.', './a', 'a/', 'a//b', 'a/./b', 'a/../b',
      'a/b/../../c', '..', '../a', 'a/../..', '/etc', 'a\\b', 'a\\..\\..\\c', 'a/...', '.../a'];
    for (const p of cases) expect(outcome(p), p).toBe(reference(p));
    // and for every path of up to four segments drawn from the awkward ones
    const parts = ['a', '.', '..', '', '.x', '..y'];
    const paths = parts.flatMap((a) => parts.flatMap((b) => parts.flatMap((c) => parts.map((d) => [a, b, c, d].join('/')))));
    for (const p of [...paths, ...paths.map((p) => p.replace(/\/+$/, ''))]) expect(outcome(p), p).toBe(reference(p));
  });
});

describe('join (root/source)', () => {
  it('gives what posix.join gives, with "" for the repository root', () => {
    const reference = (...parts: string[]) => {
      const j = posix.join('.', ...parts);
      return j === '.' ? '' : j;
    };
    const parts = ['', 'a', 'b/c', '.', '..', './d', 'e/', 'f//g', 'Chart.yaml', '.x'];
    for (const a of parts) for (const b of parts) for (const c of parts) expect(joinRepo(a, b, c), `${a}|${b}|${c}`).toBe(reference(a, b, c));
  });
});
