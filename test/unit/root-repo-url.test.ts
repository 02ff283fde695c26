import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalizeRepoUrl, sameRepository } from '../../src/root/index.js';
import { mask, redactUserInfo, registerSecret } from '../../src/report/mask.js';
import { Git, withoutUserInfo } from '../../src/util/git.js';

describe('sameRepository', () => {
  const same: [string, string][] = [
    ['https://bitbucket.org/acme/gitops', 'https://bitbucket.org/acme/gitops.git'],
    ['https://bitbucket.org/acme/gitops.git', 'git@bitbucket.org:acme/gitops.git'],
    ['git@bitbucket.org:acme/gitops.git', 'ssh://git@bitbucket.org/acme/gitops.git'],
    ['ssh://git@bitbucket.org:22/acme/gitops', 'https://bitbucket.org/acme/gitops'],
    // Bitbucket Pipelines sets BITBUCKET_GIT_HTTP_ORIGIN with http:// and clones through a user
    ['http://bitbucket.org/acme/gitops', 'https://x-token-auth:secret@bitbucket.org/acme/gitops.git'],
    ['https://bitbucket.org/acme/gitops/', 'https://bitbucket.org/acme/gitops.git/'],
    ['https://GitHub.com/Argoproj/argocd-example-apps', 'https://github.com/argoproj/argocd-example-apps'],
    ['https://www.github.com/argoproj/argocd-example-apps', 'git@github.com:argoproj/argocd-example-apps'],
    ['  https://github.com/a/b.git\n', 'https://github.com/a/b'],
    ['https://gitlab.com/group/sub/project.git', 'git@gitlab.com:group/sub/project.git'],
    // Bitbucket Data Center: /scm/ over HTTP, a port over SSH
    ['https://git.example.com/scm/proj/repo.git', 'ssh://git@git.example.com:7999/proj/repo.git'],
    ['git+ssh://git@github.com/a/b.git', 'https://github.com/a/b'],
    ['file:///srv/git/repo.git', '/srv/git/repo'],
  ];
  it.each(same)('%s is %s', (a, b) => {
    expect(sameRepository(a, b)).toBe(true);
    expect(sameRepository(b, a)).toBe(true);
  });

  const different: [string, string][] = [
    ['https://bitbucket.org/acme/gitops', 'https://bitbucket.org/acme/gitops-config'],
    ['https://bitbucket.org/acme/gitops', 'https://github.com/acme/gitops'],
    ['https://bitbucket.org/acme/gitops', 'https://bitbucket.org/other/gitops'],
    ['git@github.com:a/b.git', 'git@github.com:a/b/c.git'],
    ['https://charts.example.com', 'https://charts.example.com/'],
    ['', ''],
    ['not a url', 'not a url'],
  ];
  it.each(different)('%s is not %s', (a, b) => {
    expect(sameRepository(a, b)).toBe(false);
  });

  it('normalizes to host/path', () => {
    expect(normalizeRepoUrl('git@Bitbucket.org:Acme/GitOps.git')).toBe('bitbucket.org/acme/gitops');
    expect(normalizeRepoUrl('https://user:pass@bitbucket.org/acme/gitops.git')).toBe('bitbucket.org/acme/gitops');
    expect(normalizeRepoUrl('https://bitbucket.org')).toBeUndefined();
    expect(normalizeRepoUrl('relative/path')).toBeUndefined();
  });
});

describe("the clone's remote URLs", () => {
  it('lose their user info (a token in an https clone URL), and still name the same repository', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aoa-remote-'));
    try {
      execFileSync('git', ['init', '-q', dir]);
      execFileSync('git', ['-C', dir, 'remote', 'add', 'origin', 'https://x-token-auth:secret-token-123456@bitbucket.org/acme/gitops.git']);
      execFileSync('git', ['-C', dir, 'remote', 'add', 'mirror', 'git@bitbucket.org:acme/gitops.git']);
      const urls = await new Git(dir).remoteUrls();
      expect(urls.sort()).toEqual(['git@bitbucket.org:acme/gitops.git', 'https://bitbucket.org/acme/gitops.git']);
      expect(sameRepository(urls[1]!, 'https://x-token-auth:secret-token-123456@bitbucket.org/acme/gitops.git')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('redactUserInfo removes the user info of every URL in a text, a password holding "@" included', () => {
    expect(redactUserInfo("fatal: unable to access 'https://x-token-auth:s3cr@t@bitbucket.org/acme/r.git/': Could not resolve host")).toBe(
      "fatal: unable to access 'https://bitbucket.org/acme/r.git/': Could not resolve host",
    );
    expect(redactUserInfo('ssh://git:pw@host/a and http://u@h/b, no url here')).toBe('ssh://host/a and http://h/b, no url here');
  });

  it('mask() hides the user info of every URL it prints (a token in a kustomize remote URL is no registered secret), git@ aside', () => {
    expect(mask('resources: https://x-token-auth:QATOKENabc123xyz@bitbucket.org/acme/infra//deploy?ref=v1 and ssh://git@bitbucket.org/acme/r.git')).toBe(
      'resources: https://****@bitbucket.org/acme/infra//deploy?ref=v1 and ssh://git@bitbucket.org/acme/r.git',
    );
    expect(mask('git fetch --depth=1 https://ghp_0123456789abcdef@github.com/acme/x v1')).toBe('git fetch --depth=1 https://****@github.com/acme/x v1');
  });

  it('words no secret has are never registered: masking "true" or "default" would hide names and break the JSON report', () => {
    for (const word of ['true', 'False', 'default', 'none']) registerSecret(word);
    expect(mask('namespace default, deploy true, none')).toBe('namespace default, deploy true, none');
  });

  it('withoutUserInfo leaves URLs without user info as they are', () => {
    for (const u of ['https://bitbucket.org/acme/gitops.git', 'git@bitbucket.org:acme/gitops.git', 'ssh://bitbucket.org/acme/gitops.git', 'file:///srv/repo']) {
      expect(withoutUserInfo(u)).toBe(u);
    }
    expect(withoutUserInfo('ssh://git@bitbucket.org/acme/gitops.git')).toBe('ssh://bitbucket.org/acme/gitops.git');
    expect(withoutUserInfo('https://ghp_0123456789abcdef@github.com/acme/x')).toBe('https://github.com/acme/x');
  });
});
