/**
 * Secret masking. A secret is registered the moment it exists (before anything could log it);
 * every line the pipe prints, and every error message it reports, goes through mask().
 */
const secrets = new Set<string>();
let pattern: RegExp | undefined;

const MIN_SECRET_LENGTH = 4;
export const MASK = '****';

const URL_USER_INFO = /([a-z][a-z0-9+.-]*:\/\/)([^/\s'"]*)@/gi;

/** Things that look like credentials even if nobody registered them. */
const SHAPES: RegExp[] = [
  /k8s-aws-v1\.[A-Za-z0-9_-]+/g, // EKS bearer tokens
  /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // JWTs (OIDC tokens)
  /(X-Amz-Signature=)[0-9a-f]{64}/gi,
  /(X-Amz-Security-Token=)[^&\s"']+/gi,
];

/** Values no secret has: masking them would hide names and flags everywhere. */
const NOT_SECRET = /^(true|false|yes|no|on|off|null|none|default)$/i;

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_SECRET_LENGTH || NOT_SECRET.test(value) || secrets.has(value)) return;
  secrets.add(value);
  // Secrets also travel URL-encoded (presigned URLs) and base64-encoded (kubeconfigs).
  const encoded = encodeURIComponent(value);
  if (encoded !== value) secrets.add(encoded);
  secrets.add(Buffer.from(value).toString('base64'));
  const sorted = [...secrets].sort((a, b) => b.length - a.length);
  pattern = new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
}

export function mask(text: string): string {
  let out = pattern ? text.replace(pattern, MASK) : text;
  // the user info of a URL (a token in a clone or kustomize URL) is no registered secret; git@ is a user name
  out = out.replace(URL_USER_INFO, (match, scheme: string, user: string) => (user === 'git' ? match : `${scheme}${MASK}@`));
  for (const shape of SHAPES) {
    out = out.replace(shape, (match, prefix?: string) => (typeof prefix === 'string' && match.startsWith(prefix) ? prefix + MASK : MASK));
  }
  return out;
}

/** For tests only: forget registered secrets. */
export function resetSecrets(): void {
  secrets.clear();
  pattern = undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Text (a tool's stderr, say) with the user info of every URL in it removed, up to the host: a
 * token in a clone URL is no registered secret, so mask() would not know it.
 */
export function redactUserInfo(text: string): string {
  // the user info ends at the last "@" before the host's path: a password may hold "@" itself
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s'"]*@/gi, '$1');
}
