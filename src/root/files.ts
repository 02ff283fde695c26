import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join as joinFs, posix, sep } from 'node:path';
import { InputError, type Location } from '../util/errors.js';
import { assertInside, MAX_FILE_BYTES, repoPath, WorkTree, type Tree } from '../util/tree.js';

type Kind = 'file' | 'dir';
type Entry = Kind | 'link';

/**
 * What the loader needs to know about the repository at one revision: does a path exist, is it a
 * file or a directory, which files are in a directory. On the work tree: synchronous readdir per
 * directory, cached (the 2,000 apps under apps/ cost one readdir of apps/, not 2,000 stats and a
 * thread-pool round trip each); at a git revision: one `git ls-tree` of the whole revision (a
 * process per question would cost seconds).
 */
export class RepoFiles {
  private listing?: Promise<{ kinds: Map<string, Kind>; children: Map<string, Map<string, Entry>>; sorted: string[] }>;
  private readonly dirCache = new Map<string, Map<string, Entry>>();
  /** Links already followed: where they lead, once found to stay inside the repository. */
  private readonly links = new Map<string, Kind | undefined>();
  private rootReal?: string;
  /** Texts read ahead by prefetch. */
  private readonly texts = new Map<string, string | undefined>();

  constructor(readonly tree: Tree) {}

  /** "this commit" (the work tree) or "revision <sha>", for messages. */
  revisionName(): string {
    const r = this.tree.revision;
    return r === 'worktree' ? 'this commit' : `revision ${r.slice(0, 12)}`;
  }

  /** "file", "dir" or undefined (absent). A path leaving the repository is an InputError at `where`. */
  async kind(path: string, where?: Location): Promise<Kind | undefined> {
    const p = located(() => repoPath(path, where), where);
    if (this.tree instanceof WorkTree) return this.diskKind(this.tree, p, where);
    if (p === '') return 'dir';
    return (await this.index()).kinds.get(p);
  }

  /** Whether a normalized repository path is a file (or a link to one). */
  async isFile(p: string): Promise<boolean> {
    // one access() call, no Stats object: this runs a few times for every app
    if (this.tree instanceof WorkTree) {
      const abs = joinFs(this.tree.root, p);
      return existsSync(abs) && !existsSync(`${abs}${sep}.`); // "x/." exists only for a directory
    }
    return (await this.index()).kinds.get(p) === 'file';
  }

  /**
   * Reads many files ahead at a git revision, in one go when the Tree can (`readMany`, one
   * `git cat-file --batch` instead of a process per file); a no-op on the work tree.
   */
  async prefetch(paths: string[]): Promise<void> {
    const batch = this.batch();
    if (!batch) return;
    const { kinds } = await this.index();
    const wanted = [...new Set(paths)].filter((p) => kinds.get(p) === 'file' && !this.texts.has(p));
    if (!wanted.length) return;
    for (const [p, text] of await batch.call(this.tree, wanted)) this.texts.set(p, text);
  }

  /** Whether prefetch reads anything: callers skip building thousands of paths for nothing (the work tree). */
  get readsAhead(): boolean {
    return this.batch() !== undefined;
  }

  private batch(): ((paths: string[]) => Promise<Map<string, string | undefined>>) | undefined {
    const batch = (this.tree as Tree & { readMany?(paths: string[]): Promise<Map<string, string | undefined>> }).readMany;
    return this.tree instanceof WorkTree || !batch ? undefined : batch;
  }

  /** A file's text (undefined when absent); from the work tree without the thread pool. */
  async read(path: string): Promise<string | undefined> {
    if (!(this.tree instanceof WorkTree)) return this.texts.has(path) ? this.texts.get(path) : this.tree.read(path);
    const p = repoPath(path);
    if (this.diskKind(this.tree, p) !== 'file') return undefined;
    const bytes = readFileSync(joinFs(this.tree.root, p));
    if (bytes.length > MAX_FILE_BYTES) return this.tree.read(p); // the Tree owns the size rule and its message
    return bytes.toString('utf8');
  }

  /** A file's text, or undefined when there is no file at the path; on the work tree without asking twice. */
  async readIfFile(path: string): Promise<string | undefined> {
    if (this.tree instanceof WorkTree) return this.read(path); // read already looks the path up
    return (await this.isFile(path)) ? this.read(path) : undefined;
  }

  /** Files below `dir` (repository-relative), all levels or only its own. */
  async filesIn(dir: string, recurse: boolean, where?: Location): Promise<string[]> {
    const d = located(() => repoPath(dir, where), where);
    if (this.tree instanceof WorkTree) {
      const tree = this.tree;
      if (recurse) return locatedAsync(() => tree.list(d), where);
      if (this.diskKind(tree, d, where) !== 'dir') return [];
      const own = [...this.diskEntries(tree, d).keys()].filter((name) => this.diskKind(tree, d ? `${d}/${name}` : name, where) === 'file');
      return own.map((name) => (d ? `${d}/${name}` : name)).sort();
    }
    const { sorted, children } = await this.index();
    if (recurse) return d === '' ? sorted : sorted.filter((f) => f.startsWith(`${d}/`));
    return [...(children.get(d) ?? new Map<string, Entry>()).entries()]
      .filter(([, k]) => k === 'file')
      .map(([name]) => (d ? `${d}/${name}` : name))
      .sort();
  }

  /** Names of the directories directly in `dir` (normalized). */
  async dirsIn(dir: string): Promise<string[]> {
    const entries = this.tree instanceof WorkTree ? this.diskEntries(this.tree, dir) : ((await this.index()).children.get(dir) ?? new Map<string, Entry>());
    return [...entries.entries()].filter(([, k]) => k === 'dir').map(([name]) => (dir ? `${dir}/${name}` : name)).sort();
  }

  /**
   * The kind of a normalized path on disk, from its directory's listing (each directory listed
   * once). Only a symbolic link is resolved, to refuse one that leads out of the repository.
   */
  private diskKind(tree: WorkTree, p: string, where?: Location): Kind | undefined {
    if (p === '') return 'dir';
    const slash = p.lastIndexOf('/');
    const parent = slash < 0 ? '' : p.slice(0, slash);
    if (this.diskKind(tree, parent, where) !== 'dir') return undefined;
    const entry = this.diskEntries(tree, parent).get(p.slice(slash + 1));
    if (entry !== 'link') return entry;
    if (!this.links.has(p)) this.links.set(p, this.followLink(tree, p, where));
    return this.links.get(p);
  }

  private followLink(tree: WorkTree, p: string, where?: Location): Kind | undefined {
    let real: string;
    try {
      real = realpathSync.native(joinFs(tree.root, p));
    } catch {
      return undefined; // a dangling link
    }
    this.rootReal ??= realpathSync.native(tree.root);
    assertInside(this.rootReal, real, p, where);
    try {
      return statSync(real).isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  }

  /** A directory's entries (name -> kind), listed once; empty when it cannot be listed. */
  private diskEntries(tree: WorkTree, dir: string): Map<string, Entry> {
    let cached = this.dirCache.get(dir);
    if (!cached) {
      cached = new Map();
      try {
        for (const e of readdirSync(joinFs(tree.root, dir), { withFileTypes: true })) {
          if (e.name === '.git' && dir === '') continue;
          cached.set(e.name, e.isSymbolicLink() ? 'link' : e.isDirectory() ? 'dir' : 'file');
        }
      } catch {
        // not a directory (or unreadable): no entries
      }
      this.dirCache.set(dir, cached);
    }
    return cached;
  }

  private index() {
    this.listing ??= this.tree.list('').then((sorted) => {
      const kinds = new Map<string, Kind>();
      const children = new Map<string, Map<string, Entry>>();
      const add = (path: string, kind: Kind) => {
        const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
        let c = children.get(dir);
        if (!c) children.set(dir, (c = new Map()));
        c.set(posix.basename(path), kind);
        kinds.set(path, kind);
      };
      for (const f of sorted) {
        add(f, 'file');
        for (let d = posix.dirname(f); d !== '.' && !kinds.has(d); d = posix.dirname(d)) add(d, 'dir');
      }
      return { kinds, children, sorted };
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
