import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { InputError, type Location } from '../util/errors.js';
import { repoPath, WorkTree, type Tree } from '../util/tree.js';

/**
 * What the loader needs to know about the repository at one revision: does a path exist, is it a
 * file or a directory, which files are below it. On the work tree that is a stat per question;
 * at a git revision it is one `git ls-tree` for the whole revision (a process per question would
 * cost seconds on a root with thousands of apps).
 */
export class RepoFiles {
  private listing?: Promise<{ files: Set<string>; dirs: Set<string>; sorted: string[] }>;

  constructor(readonly tree: Tree) {}

  /** "file", "dir" or undefined (absent). A path leaving the repository is an InputError at `where`. */
  async kind(path: string, where?: Location): Promise<'file' | 'dir' | undefined> {
    const p = located(() => repoPath(path, where), where);
    if (this.tree instanceof WorkTree) {
      const tree = this.tree;
      const abs = await locatedAsync(() => tree.resolve(p, where), where);
      try {
        return (await stat(abs)).isDirectory() ? 'dir' : 'file';
      } catch {
        return undefined;
      }
    }
    if (p === '') return 'dir';
    const { files, dirs } = await this.index();
    return files.has(p) ? 'file' : dirs.has(p) ? 'dir' : undefined;
  }

  async isFile(path: string): Promise<boolean> {
    return (await this.kind(path)) === 'file';
  }

  /** Files below `dir` (repository-relative), all levels or only its own. */
  async filesIn(dir: string, recurse: boolean, where?: Location): Promise<string[]> {
    const d = located(() => repoPath(dir, where), where);
    let all: string[];
    if (this.tree instanceof WorkTree) {
      const tree = this.tree;
      all = await locatedAsync(() => tree.list(d), where);
    } else {
      const { sorted } = await this.index();
      all = d === '' ? sorted : sorted.filter((f) => f.startsWith(`${d}/`));
    }
    return recurse ? all : all.filter((f) => posix.dirname(f) === (d || '.'));
  }

  private index() {
    this.listing ??= this.tree.list('').then((sorted) => {
      const files = new Set(sorted);
      const dirs = new Set<string>();
      for (const f of sorted) {
        for (let d = posix.dirname(f); d !== '.' && !dirs.has(d); d = posix.dirname(d)) dirs.add(d);
      }
      return { files, dirs, sorted };
    });
    return this.listing;
  }
}

/** Re-throws a path error with the manifest location where the path was written. */
function relocate(e: unknown, where?: Location): never {
  if (e instanceof InputError && where && e.where?.line === undefined) {
    throw new InputError(e.message, { where, hint: e.hint, cause: e });
  }
  throw e;
}

function located<T>(fn: () => T, where?: Location): T {
  try {
    return fn();
  } catch (e) {
    relocate(e, where);
  }
}

async function locatedAsync<T>(fn: () => Promise<T>, where?: Location): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    relocate(e, where);
  }
}
