import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childEnv, ToolError } from './exec.js';

interface RunOptions {
  okExitCodes?: number[];
  env?: Record<string, string>;
  /** Run as this user (root fetching into a clone owned by the step's user). */
  as?: { uid: number; gid: number };
  /** Written to git's standard input (closed at once when absent). */
  input?: string;
}

/** Largest output of one git command (a diff of a huge change, a grep of every manifest). */
const MAX_OUTPUT = 512 * 1024 * 1024;

/**
 * One wrapper for git: a method per verb, argv arrays, ToolError on failure.
 * Every call passes `-c safe.directory=<repo>` so a clone owned by another uid (a pipe's
 * mounted BITBUCKET_CLONE_DIR) works without weakening git for any other repository.
 * Git is started with node:child_process rather than the shared runTool: planning runs a
 * handful of short git commands on the critical path, and execa's per-process set-up costs
 * several times what git itself does there (measured in docs/benchmarks.md, change plan).
 */
export class Git {
  constructor(
    readonly dir: string,
    private readonly bin = 'git',
  ) {}

  async run(args: string[], opts: RunOptions = {}): Promise<string> {
    return (await this.exec(args, opts)).toString('utf8');
  }

  private exec(args: string[], opts: RunOptions): Promise<Buffer> {
    const argv = ['-c', `safe.directory=${this.dir}`, '-C', this.dir, ...args];
    const started = Date.now();
    const env = childEnv({ GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...opts.env });
    return new Promise((resolve, reject) => {
      const child = execFile(this.bin, argv, { env, encoding: 'buffer', maxBuffer: MAX_OUTPUT, ...opts.as }, (err, stdout, stderr) => {
        // a number is git's exit code; a string (ENOENT, ERR_CHILD_PROCESS_STDIO_MAXBUFFER) or none (a signal): no answer
        const code = err ? (typeof err.code === 'number' ? err.code : undefined) : 0;
        if (code === 0 || (code !== undefined && opts.okExitCodes?.includes(code))) return resolve(stdout);
        const why = stderr.toString('utf8');
        reject(new ToolError('git', argv, code, why.trim() ? why : (err?.message ?? ''), Date.now() - started));
      });
      // git may leave before reading its input (an error): the callback reports that, not the pipe
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input);
    });
  }

  /**
   * `git cat-file --batch` for many objects (`<rev>:<path>` each) in one process: its raw output,
   * a header line per object then its bytes (see GitTree.readMany).
   */
  catFileBatch(objects: string[]): Promise<Buffer> {
    return this.exec(['cat-file', '--batch'], { input: objects.map((o) => `${o}\n`).join('') });
  }

  /**
   * Full SHAs of many revisions in one process (`git cat-file --batch-check`), in their order;
   * undefined where a revision is no commit here (or is ambiguous).
   */
  async resolveMany(revs: string[]): Promise<(string | undefined)[]> {
    if (revs.length === 0) return [];
    // a name with a line break would shift every answer after it: those are no revisions
    const asked = revs.map((r) => (/[\r\n]/.test(r) ? '' : r));
    const out = (await this.exec(['cat-file', '--batch-check'], { input: asked.map((r) => `${r}^{commit}\n`).join('') })).toString('utf8');
    return out
      .split('\n')
      .slice(0, revs.length)
      .map((line, i) => (asked[i] && /^[0-9a-f]{40,64} commit /.test(line) ? line.slice(0, line.indexOf(' ')) : undefined));
  }

  /** Full SHA of a revision (short SHAs, branches, tags, HEAD~1 ...), or undefined if unknown here. */
  async resolve(rev: string): Promise<string | undefined> {
    try {
      return (await this.run(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`])).trim() || undefined;
    } catch (e) {
      if (e instanceof ToolError && e.exitCode === 1) return undefined;
      throw e;
    }
  }

  async isShallow(): Promise<boolean> {
    return (await this.run(['rev-parse', '--is-shallow-repository'])).trim() === 'true';
  }

  /** The full SHA of a commit followed by its parents' (none for a root commit or a shallow clone's oldest); undefined if unknown. */
  async commitAndParents(rev: string): Promise<string[] | undefined> {
    try {
      return (await this.run(['rev-list', '--parents', '-n', '1', rev, '--'])).trim().split(/\s+/);
    } catch (e) {
      if (e instanceof ToolError && e.exitCode === 128) return undefined;
      throw e;
    }
  }

  /**
   * Paths changed between two commits (renames reported as both old and new path), relative to
   * the work tree directory, so a workspace below the repository's top level still gets its own paths.
   */
  async changedFiles(base: string, head: string): Promise<string[]> {
    return (await this.changes(base, head)).files;
  }

  /**
   * The changed paths as changedFiles lists them, and those of them that are a symbolic link
   * (mode 120000) or a submodule (160000) at either commit: git lists such a path alone when it
   * is added, removed or pointed elsewhere, though everything below it changes with it.
   */
  async changes(base: string, head: string): Promise<{ files: string[]; links: string[]; submodules: string[] }> {
    // --raw -z: ":<old mode> <new mode> <old sha> <new sha> <status>\0<path>\0" per path
    const out = await this.run(['diff', '--raw', '--no-renames', '--no-abbrev', '--relative', '-z', base, head]);
    const files: string[] = [];
    const links: string[] = [];
    const submodules: string[] = [];
    const parts = out.split('\0');
    for (let i = 0; i + 1 < parts.length; i += 2) {
      const [oldMode, newMode] = parts[i]!.slice(1).split(' ');
      const path = parts[i + 1]!;
      if (!path) continue;
      files.push(path);
      if (oldMode === '120000' || newMode === '120000') links.push(path);
      if (oldMode === '160000' || newMode === '160000') submodules.push(path);
    }
    return { files, links, submodules };
  }

  /** The best common ancestor of two commits, or undefined (unrelated, or history cut by a shallow clone). */
  async mergeBase(a: string, b: string): Promise<string | undefined> {
    const out = await this.run(['merge-base', a, b], { okExitCodes: [1] });
    return out.trim() || undefined;
  }

  /**
   * Lines of tracked files (of the work tree) under `pathspecs` that match any of `patterns`
   * (fixed strings, or POSIX extended regular expressions with `extended`), as git prints them
   * with -n -z: "path\0line\0text\n" per line, paths relative to the work tree; "" when none match.
   * `withFunction` adds, before each match, the nearest line above it that starts a "function"
   * (by default an unindented line: a top-level YAML key).
   */
  async grepLines(patterns: string[], pathspecs: string[], opts: { extended?: boolean; withFunction?: boolean } = {}): Promise<string> {
    if (!patterns.length) return '';
    const args = ['grep', '-n', '-z', '-I', '--no-color', opts.extended ? '-E' : '-F'];
    if (opts.withFunction) args.push('--show-function');
    for (const p of patterns) args.push('-e', p);
    return this.run([...args, '--', ...pathspecs], { okExitCodes: [1] });
  }

  /** Tracked files (of the index) matching `pathspecs`, relative to the work tree. */
  async listTracked(pathspecs: string[]): Promise<string[]> {
    return (await this.run(['ls-files', '-z', '--', ...pathspecs])).split('\0').filter(Boolean);
  }

  /** The top of the work tree, or 'bare' for a repository without one. */
  async workTreeTop(): Promise<string> {
    try {
      return (await this.run(['rev-parse', '--show-toplevel'])).trim();
    } catch (err) {
      if (err instanceof ToolError && /must be run in a work tree/.test(err.stderr)) return 'bare';
      throw err;
    }
  }

  /**
   * Paths of the work tree that differ from HEAD: modified, added, deleted or untracked (not
   * ignored), but for `exclude` (paths or folders). Read-only: the index is not refreshed (the
   * pipe runs as root in a clone that belongs to the step's user).
   */
  async workTreeChanges(exclude: string[] = []): Promise<string[]> {
    const args = ['--no-optional-locks', 'status', '--porcelain=v1', '-z', '--untracked-files=all', '--no-renames', '--', '.'];
    for (const path of exclude) args.push(`:(exclude,literal)${path}`);
    const out = await this.run(args);
    return out.split('\0').filter(Boolean).map((entry) => entry.slice(3));
  }

  /** Tracked symbolic links (index entries of mode 120000) and submodules (gitlinks, 160000), relative to the work tree. */
  async specialEntries(): Promise<{ links: string[]; submodules: string[] }> {
    const out = await this.run(['ls-files', '-s', '-z']);
    const links: string[] = [];
    const submodules: string[] = [];
    for (const entry of out.split('\0')) {
      if (entry.startsWith('120000 ')) links.push(entry.slice(entry.indexOf('\t') + 1));
      else if (entry.startsWith('160000 ')) submodules.push(entry.slice(entry.indexOf('\t') + 1));
    }
    return { links, submodules };
  }

  /** A file's content at a revision, or undefined if it does not exist there. */
  async show(rev: string, path: string): Promise<string | undefined> {
    try {
      return await this.run(['show', `${rev}:${path}`]);
    } catch (e) {
      if (e instanceof ToolError && e.exitCode === 128) return undefined;
      throw e;
    }
  }

  /** Whether a file or folder exists at a revision. */
  async exists(rev: string, path: string): Promise<boolean> {
    const out = await this.run(['rev-parse', '--verify', '--quiet', `${rev}:${path}`], { okExitCodes: [1, 128] });
    return out.trim() !== '';
  }

  /** Files (recursively) under a directory at a revision, repository-relative. */
  async listFiles(rev: string, dir = ''): Promise<string[]> {
    const args = ['ls-tree', '-r', '-z', '--name-only', rev];
    if (dir) args.push('--', dir.endsWith('/') ? dir : `${dir}/`);
    return (await this.run(args)).split('\0').filter(Boolean);
  }

  /** Extracts `paths` as of `rev` into `dest` (an existing directory). */
  async exportTree(rev: string, dest: string, paths: string[] = []): Promise<void> {
    // a throwaway index, so the clone's own index and work tree are untouched
    const indexDir = await mkdtemp(join(tmpdir(), 'app-of-apps-index-'));
    try {
      // no hook of the repository runs (a post-checkout hook is the repository's code, run as root)
      await this.run(['-c', 'core.hooksPath=/dev/null', '--work-tree', dest, 'checkout', rev, '--', ...(paths.length ? paths : ['.'])], {
        env: { GIT_INDEX_FILE: join(indexDir, 'index') },
      });
    } finally {
      await rm(indexDir, { recursive: true, force: true });
    }
  }

  /** The remotes' URLs, without user info: a token in an https clone URL must not reach a message or report. */
  async remoteUrls(): Promise<string[]> {
    const out = await this.run(['remote', '-v'], { okExitCodes: [0] });
    return [...new Set(out.split('\n').map((l) => l.split(/\s+/)[1]).filter((u): u is string => Boolean(u)).map(withoutUserInfo))];
  }

  async hasRemote(name: string): Promise<boolean> {
    const out = await this.run(['remote']);
    return out.split('\n').includes(name);
  }

  /**
   * Fetches from a remote: `refspecs` (branches, a commit SHA), and/or more history of a shallow
   * clone (`deepen` more commits, everything `shallowSince` a date, or `unshallow`).
   */
  async fetch(opts: { remote?: string; refspecs?: string[]; depth?: number; deepen?: number; shallowSince?: string; unshallow?: boolean }): Promise<void> {
    const args = ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head'];
    if (opts.depth) args.push(`--depth=${opts.depth}`);
    if (opts.deepen) args.push(`--deepen=${opts.deepen}`);
    if (opts.shallowSince) args.push(`--shallow-since=${opts.shallowSince}`);
    if (opts.unshallow) args.push('--unshallow');
    await this.run([...args, opts.remote ?? 'origin', ...(opts.refspecs ?? [])], await this.asCloneOwner());
  }

  /**
   * A pipe container runs as root on a clone owned by the step's user: objects fetched as root
   * would leave root-owned folders in .git that later steps cannot write to, so fetch as the owner.
   */
  private async asCloneOwner(): Promise<{ as?: { uid: number; gid: number }; env?: Record<string, string> }> {
    if (process.getuid?.() !== 0) return {};
    const gitDir = (await this.run(['rev-parse', '--absolute-git-dir'])).trim();
    const { uid, gid } = await stat(gitDir);
    // the owner cannot read root's HOME; git needs none for a fetch
    return uid === 0 ? {} : { as: { uid, gid }, env: { HOME: tmpdir() } };
  }
}

/** `scheme://user:secret@host/path` -> `scheme://host/path`; anything else as it is. */
export function withoutUserInfo(url: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(url)) return url;
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1');
  }
}
