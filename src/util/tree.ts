import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import { InputError, type Location } from './errors.js';
import type { Git } from './git.js';

/** Largest file the pipe reads as a manifest: a bigger one is almost certainly a mistake. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Read-only view of the repository at one revision: the work tree (the commit being deployed)
 * or a commit read through git (the base). Paths are repository-relative POSIX paths.
 */
export interface Tree {
  /** "worktree" or the commit SHA. */
  readonly revision: string;
  read(path: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
  /** Files below a directory (recursive), repository-relative. */
  list(dir: string): Promise<string[]>;
  /** Many files at once (one git process at a revision instead of one per file); missing files map to undefined. */
  readMany?(paths: string[]): Promise<Map<string, string | undefined>>;
}

/** Refuses a path whose real location (symbolic links followed) is outside the repository's. */
export function assertInside(rootReal: string, real: string, path: string, where?: Location): void {
  if (real === rootReal || real.startsWith(rootReal + sep)) return;
  throw new InputError(`path "${path}" leads outside the repository through a symbolic link (to ${real})`, {
    where,
    hint: 'replace the link with the files themselves; the pipe only reads files inside the repository',
  });
}

/** An absolute path as a repository path of `root` ("" for the root itself); undefined outside it. */
export function pathInRepo(root: string, path: string): string | undefined {
  const rel = relative(root, path);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

/** A normalized repository path: segments of anything but "/" and "\\", none of them "." or "..". */
const NORMALIZED = /^(?!\.\.?(?:\/|$))[^/\\]+(?:\/(?!\.\.?(?:\/|$))[^/\\]+)*$/;

/** Whether a path is a normalized, non-empty repository path (repoPath would return it as it is). */
export function isNormalized(p: string): boolean {
  return NORMALIZED.test(p);
}

/** Normalizes a repository-relative path; throws when it leaves the repository. */
export function repoPath(p: string, where?: { file?: string; line?: number }): string {
  // most paths are normalized already (thousands per root): returned as they are
  if (NORMALIZED.test(p)) return p;
  const norm = posix.normalize(p.replaceAll('\\', '/')).replace(/\/+$/, '');
  if (p.startsWith('/') || norm === '..' || norm.startsWith('../')) {
    throw new InputError(`path "${p}" is outside the repository`, {
      where,
      hint: 'use a path relative to the repository root that stays inside it',
    });
  }
  return norm === '.' ? '' : norm;
}

export class WorkTree implements Tree {
  readonly revision = 'worktree';
  private rootReal: Promise<string>;

  constructor(readonly root: string) {
    this.rootReal = realpath(root);
  }

  /** Absolute path on disk, refusing symlinks that escape the repository. */
  async resolve(path: string, where?: { file?: string; line?: number }): Promise<string> {
    const abs = join(this.root, repoPath(path, where));
    let real: string;
    try {
      real = await realpath(abs);
    } catch {
      return abs; // does not exist: callers decide whether that is an error
    }
    assertInside(await this.rootReal, real, path, where);
    return abs;
  }

  async read(path: string): Promise<string | undefined> {
    const abs = await this.resolve(path);
    let size: number;
    try {
      const s = await stat(abs);
      if (!s.isFile()) return undefined;
      size = s.size;
    } catch {
      return undefined;
    }
    if (size > MAX_FILE_BYTES) {
      throw new InputError(`${path} is ${size} bytes, over the ${MAX_FILE_BYTES}-byte limit for a manifest`, {
        where: { file: path },
        hint: 'split the file, or keep data that large out of the manifests',
      });
    }
    return readFile(abs, 'utf8');
  }

  async exists(path: string): Promise<boolean> {
    try {
      await lstat(await this.resolve(path));
      return true;
    } catch (e) {
      if (e instanceof InputError) throw e;
      return false;
    }
  }

  async list(dir: string): Promise<string[]> {
    const start = await this.resolve(dir);
    const out: string[] = [];
    const walk = async (abs: string) => {
      let entries;
      try {
        entries = await readdir(abs, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.name === '.git') continue;
        const child = join(abs, e.name);
        const rel = relative(this.root, child).split(sep).join('/');
        if (e.isSymbolicLink()) {
          const real = await this.resolve(rel);
          if ((await stat(real)).isDirectory()) await walk(real);
          else out.push(rel);
        } else if (e.isDirectory()) await walk(child);
        else if (e.isFile()) out.push(rel);
      }
    };
    await walk(start);
    return out.sort();
  }
}

export class GitTree implements Tree {
  constructor(
    private readonly git: Git,
    readonly revision: string,
  ) {}

  async read(path: string): Promise<string | undefined> {
    const text = await this.git.show(this.revision, repoPath(path));
    if (text !== undefined && Buffer.byteLength(text) > MAX_FILE_BYTES) {
      throw new InputError(`${path} at ${this.revision.slice(0, 12)} is over the ${MAX_FILE_BYTES}-byte limit for a manifest`, {
        where: { file: path },
      });
    }
    return text;
  }

  /** One `git cat-file --batch` for all paths. */
  async readMany(paths: string[]): Promise<Map<string, string | undefined>> {
    const result = new Map<string, string | undefined>();
    if (!paths.length) return result;
    const out = await this.git.catFileBatch(paths.map((p) => `${this.revision}:${repoPath(p)}`));
    let at = 0;
    for (const path of paths) {
      const eol = out.indexOf(10, at);
      const header = out.subarray(at, eol).toString();
      at = eol + 1;
      const [, type, sizeText] = header.split(' ');
      if (header.endsWith(' missing') || header.endsWith(' ambiguous') || sizeText === undefined) {
        result.set(path, undefined);
        continue;
      }
      const size = Number(sizeText);
      if (size > MAX_FILE_BYTES) {
        throw new InputError(`${path} at ${this.revision.slice(0, 12)} is over the ${MAX_FILE_BYTES}-byte limit for a manifest`, {
          where: { file: path },
        });
      }
      result.set(path, type === 'blob' ? out.subarray(at, at + size).toString('utf8') : undefined);
      at += size + 1;
    }
    return result;
  }

  /** Writes `dir` as of this revision below `dest` (at `dest/dir`), as git checks files out (no hooks run). */
  async exportTo(dest: string, dir: string): Promise<void> {
    await this.git.exportTree(this.revision, dest, [repoPath(dir) || '.']);
  }

  async exists(path: string): Promise<boolean> {
    const p = repoPath(path);
    if ((await this.git.show(this.revision, p)) !== undefined) return true;
    return (await this.git.listFiles(this.revision, p)).length > 0;
  }

  list(dir: string): Promise<string[]> {
    return this.git.listFiles(this.revision, repoPath(dir));
  }
}
