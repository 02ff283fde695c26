/** Repository-relative POSIX paths; "" is the repository root. */

/** The path itself and every folder above it, up to the root (""). */
export function ancestors(path: string): string[] {
  const out = [path];
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) out.push(path.slice(0, i));
  if (path !== '') out.push('');
  return out;
}

/** True when `path` is `prefix` or lies below it. */
export function covers(prefix: string, path: string): boolean {
  return prefix === '' || path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47);
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
