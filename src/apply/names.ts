import { createHash } from 'node:crypto';

/** "production" -> "production"; "Prod EU" -> "prod-eu-1a2b3c4d"; none -> "default". */
export function environmentSlug(environment: string | undefined): string {
  if (!environment) return 'default';
  if (/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/.test(environment)) return environment;
  const hash = createHash('sha256').update(environment).digest('hex').slice(0, 8);
  const base = environment.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 30).replace(/-+$/, '');
  return base ? `${base}-${hash}` : hash;
}

/** The deploy ledger ConfigMap of an environment. */
export const LEDGER_PREFIX = 'app-of-apps-ledger-';
export const ledgerName = (environment: string | undefined) => `${LEDGER_PREFIX}${environmentSlug(environment)}`;

/** The Lease that locks an environment. */
export const lockName = (environment: string | undefined) => `app-of-apps-lock-${environmentSlug(environment)}`;

/** ConfigMap keys allow [-._a-zA-Z0-9]; app names that do not fit are encoded (the entry keeps the real name). */
export function ledgerKey(app: string): string {
  if (/^[-._a-zA-Z0-9]{1,200}$/.test(app)) return app;
  const hash = createHash('sha256').update(app).digest('hex').slice(0, 12);
  return `${app.replace(/[^-._a-zA-Z0-9]+/g, '_').slice(0, 180)}.${hash}`;
}
