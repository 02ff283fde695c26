import { createHash } from 'node:crypto';

/** "production" -> "production"; "Prod EU" -> "prod-eu-1a2b3c4d"; none -> "default". */
export function environmentSlug(environment: string | undefined): string {
  if (!environment) return 'default';
  if (/^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$/.test(environment)) return environment;
  const hash = createHash('sha256').update(environment).digest('hex').slice(0, 8);
  const base = environment.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 30).replace(/-+$/, '');
  return base ? `${base}-${hash}` : hash;
}

/**
 * The deploy ledger: one ConfigMap per app and environment, labelled with the environment's slug
 * (what a run lists), named "app-of-apps-ledger-<environment>.<app>" (the dot cannot occur in a
 * slug, so no two environment/app pairs share a name).
 */
export const LEDGER_LABEL = 'app-of-apps.io/ledger';
export function ledgerName(environment: string | undefined, app: string): string {
  return `app-of-apps-ledger-${environmentSlug(environment)}.${ledgerAppPart(app)}`;
}

/** The ledger of an environment as earlier versions kept it: one ConfigMap, one data key per app. */
export const legacyLedgerName = (environment: string | undefined) => `app-of-apps-ledger-${environmentSlug(environment)}`;
export const isLegacyLedgerName = (name: string) => name.startsWith('app-of-apps-ledger-') && !name.includes('.');

/** The Lease that locks an environment. */
export const lockName = (environment: string | undefined) => `app-of-apps-lock-${environmentSlug(environment)}`;

/** App names are DNS labels (dots allowed) already; anything else is encoded, the entry keeps the real name. */
function ledgerAppPart(app: string): string {
  if (app.length <= 100 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(app)) return app;
  const hash = createHash('sha256').update(app).digest('hex').slice(0, 12);
  const base = app.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, 80).replace(/-+$/, '');
  return base ? `${base}-${hash}` : hash;
}
