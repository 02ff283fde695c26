// Deepening a shallow clone that belongs to another user (a pipe container runs as root on the
// step's clone) must leave nothing in .git that the owner cannot write to.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Git } from '../../src/util/git.js';

const top = mkdtempSync(join(tmpdir(), 'aoa-owner-'));
chmodSync(top, 0o755); // the clone's owner must be able to reach it
afterAll(() => rmSync(top, { recursive: true, force: true }));

function chownTree(path: string, uid: number, gid: number) {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

function ownersUnder(path: string, found = new Set<number>()): Set<number> {
  found.add(statSync(path).uid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) ownersUnder(join(path, e), found);
  return found;
}

it('fetches as the clone owner, so .git stays the owner\'s', async () => {
  const origin = join(top, 'origin');
  const git = (dir: string, ...a: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@e', ...a], { encoding: 'utf8' }).trim();
  execFileSync('git', ['init', '-q', origin]);
  for (let i = 0; i < 5; i++) {
    writeFileSync(join(origin, 'f.txt'), `version ${i}\n`);
    git(origin, 'add', '-A');
    git(origin, 'commit', '-qm', `c${i}`);
  }
  const clone = join(top, 'clone');
  execFileSync('git', ['clone', '-q', '--depth', '1', `file://${origin}`, clone]);
  // as root, give both repositories to another user, as Bitbucket's mounted clone is
  const root = process.getuid?.() === 0;
  const owner = root ? 1000 : process.getuid!();
  if (root) {
    chownTree(origin, 1000, 1000);
    chownTree(clone, 1000, 1000);
  }

  await new Git(clone).fetch({ deepen: 10 });

  expect(git(clone, '-c', `safe.directory=${clone}`, 'rev-list', '--count', 'HEAD')).toBe('5');
  expect([...ownersUnder(join(clone, '.git'))]).toEqual([owner]);
});
