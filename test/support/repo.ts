// A real git repository in a temp dir for tests: files written and committed synchronously, with
// a fixed author and no system or user git configuration.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: tmpdir(),
};

/** A real git repository in a temp dir, written and committed synchronously (fast, no shell). */
export class TestRepo {
  readonly dir: string;

  constructor(dir?: string) {
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'plan-repo-'));
    if (!dir) this.git('init', '-q', '-b', 'main');
  }

  git(...args: string[]): string {
    return execFileSync('git', ['-c', 'protocol.file.allow=always', ...args], { cwd: this.dir, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' }).trim();
  }

  write(files: Record<string, string>): this {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(this.dir, path)), { recursive: true });
      writeFileSync(join(this.dir, path), text);
    }
    return this;
  }

  remove(...paths: string[]): this {
    this.git('rm', '-q', '-r', ...paths);
    return this;
  }

  /** Commits everything; returns the full SHA. */
  commit(message = 'change', date?: string): string {
    this.git('add', '-A');
    execFileSync('git', ['commit', '-q', '--allow-empty', '-m', message], {
      cwd: this.dir,
      env: { ...process.env, ...GIT_ENV, ...(date ? { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } : {}) },
    });
    return this.git('rev-parse', 'HEAD');
  }

  /** `n` commits on main, one a day from 2020-01-01, through fast-import (a second for a thousand); returns their SHAs, oldest first. */
  linearHistory(n: number): string[] {
    const day = Date.UTC(2020, 0, 1) / 1000;
    let stream = '';
    const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
    for (let i = 0; i < n; i++) {
      stream += `commit refs/heads/main\ncommitter Test <test@example.com> ${day + i * 86400} +0000\n${data(`c${i}`)}`;
      stream += `M 644 inline history/n.txt\n${data(`${i}\n`)}`;
    }
    execFileSync('git', ['fast-import', '--quiet'], { cwd: this.dir, input: stream });
    this.git('reset', '-q', '--hard', 'main');
    return this.git('rev-list', '--reverse', 'main').split('\n');
  }

  /** A shallow clone over file:// (so fetch --deepen works against this repo). */
  cloneShallow(depth: number, branch = 'main'): TestRepo {
    const dest = mkdtempSync(join(tmpdir(), 'plan-clone-'));
    execFileSync('git', ['-c', 'protocol.file.allow=always', 'clone', '-q', '--depth', String(depth), '--branch', branch, `file://${this.dir}`, dest], {
      env: { ...process.env, ...GIT_ENV },
    });
    return new TestRepo(dest);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A repository holding `files`, committed: its directory and HEAD. */
export function committedRepo(files: Record<string, string>): { repo: TestRepo; dir: string; head: string } {
  const repo = new TestRepo().write(files);
  const head = repo.commit('initial');
  return { repo, dir: repo.dir, head };
}

/**
 * A scratch folder for a test file, and the list of repositories it makes: both removed once the
 * file's tests are done (call it at the top of the file).
 */
export function scratchSpace(prefix: string): { scratch: string; repos: TestRepo[] } {
  const scratch = mkdtempSync(join(tmpdir(), prefix));
  const repos: TestRepo[] = [];
  afterAll(() => {
    for (const r of repos) r.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });
  return { scratch, repos };
}
