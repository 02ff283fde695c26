import { posix } from 'node:path';

/**
 * One spelling per repository, so the repoURL an Argo CD Application names can be compared with
 * this clone's identities: https vs http vs ssh vs scp-like git@host:path, user info, ports,
 * a ".git" suffix, trailing slashes, "www.", the case of host and path (GitHub, Bitbucket and
 * GitLab treat repository paths case-insensitively), and Bitbucket Server's "/scm/" prefix for HTTP.
 * Returns undefined for something that is not a repository URL.
 */
export function normalizeRepoUrl(url: string): string | undefined {
  const s = url.trim();
  if (!s) return undefined;
  let host: string;
  let path: string;
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(s);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return undefined;
    }
    if (u.protocol === 'file:') return `file://${posix.normalize(decodeURIComponent(u.pathname)).replace(/\/+$/, '').replace(/\.git$/, '')}`;
    host = u.hostname;
    path = decodeURIComponent(u.pathname);
  } else if (scp && !s.startsWith('/')) {
    host = scp[1]!;
    path = scp[2]!;
  } else if (s.startsWith('/')) {
    return `file://${posix.normalize(s).replace(/\/+$/, '').replace(/\.git$/, '')}`;
  } else {
    return undefined;
  }
  const cleanPath = path
    .replace(/^\/+|\/+$/g, '')
    .replace(/\.git$/i, '')
    .replace(/^scm\//i, '')
    .toLowerCase();
  if (!cleanPath) return undefined;
  return `${host.toLowerCase().replace(/^www\./, '')}/${cleanPath}`;
}

/** True when two URLs name the same repository (see normalizeRepoUrl). */
export function sameRepository(a: string, b: string): boolean {
  const na = normalizeRepoUrl(a);
  return na !== undefined && na === normalizeRepoUrl(b);
}
