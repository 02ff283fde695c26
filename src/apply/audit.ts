import { createHash } from 'node:crypto';
import type { K8sObject } from '../render/model.js';

/**
 * Audit stamps on every applied object: who/what/when. Short, selectable values are labels
 * (valid label values: at most 63 characters of [A-Za-z0-9._-]); the commit, repository and
 * triggerer are annotations because they are long or carry characters labels refuse.
 */
export const PREFIX = 'app-of-apps.io/';
export const LABEL = {
  app: `${PREFIX}app`,
  environment: `${PREFIX}environment`,
  buildNumber: `${PREFIX}build-number`,
  managedBy: `${PREFIX}managed-by`,
} as const;
export const ANNOTATION = {
  app: `${PREFIX}app`,
  environment: `${PREFIX}environment`,
  commit: `${PREFIX}commit`,
  buildNumber: `${PREFIX}build-number`,
  repository: `${PREFIX}repository`,
  triggerer: `${PREFIX}triggerer`,
  /** Set to "false" on an object (in the manifest or live) to keep it when its app stops rendering it. */
  prune: `${PREFIX}prune`,
} as const;
export const MANAGED_BY = 'app-of-apps-pipe';

const AUDIT_LABELS: string[] = Object.values(LABEL);
const AUDIT_ANNOTATIONS: string[] = Object.values(ANNOTATION).filter((k) => k !== ANNOTATION.prune);

export interface AuditContext {
  app: string;
  environment?: string;
  commit: string;
  buildNumber?: string;
  /** workspace/slug */
  repository?: string;
  triggerer?: string;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A valid label value for any string: kept when valid, else sanitised and suffixed with a hash (stays unique). */
export function labelValue(value: string): string {
  if (value.length <= 63 && LABEL_VALUE.test(value)) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 8);
  const base = value
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 54)
    .replace(/[^A-Za-z0-9]+$/, '');
  return base ? `${base}-${hash}` : hash;
}

export function auditLabels(ctx: Pick<AuditContext, 'app' | 'environment' | 'buildNumber'>): Record<string, string> {
  const labels: Record<string, string> = { [LABEL.app]: labelValue(ctx.app), [LABEL.managedBy]: MANAGED_BY };
  if (ctx.environment) labels[LABEL.environment] = labelValue(ctx.environment);
  if (ctx.buildNumber) labels[LABEL.buildNumber] = labelValue(ctx.buildNumber);
  return labels;
}

export function auditAnnotations(ctx: AuditContext): Record<string, string> {
  const a: Record<string, string> = { [ANNOTATION.app]: ctx.app, [ANNOTATION.commit]: ctx.commit };
  if (ctx.environment) a[ANNOTATION.environment] = ctx.environment;
  if (ctx.buildNumber) a[ANNOTATION.buildNumber] = ctx.buildNumber;
  if (ctx.repository) a[ANNOTATION.repository] = ctx.repository;
  if (ctx.triggerer) a[ANNOTATION.triggerer] = ctx.triggerer;
  return a;
}

/** A copy of the object carrying the audit stamps (the rendered object is left alone). */
export function stamp(o: K8sObject, ctx: AuditContext): K8sObject {
  return {
    ...o,
    metadata: {
      ...o.metadata,
      labels: { ...o.metadata.labels, ...auditLabels(ctx) },
      annotations: { ...o.metadata.annotations, ...auditAnnotations(ctx) },
    },
  };
}

/** Does this live object belong to this app in this environment? (What prune checks before deleting.) */
export function ownedBy(live: Pick<K8sObject, 'metadata'>, app: string, environment: string | undefined): boolean {
  const labels = live.metadata.labels ?? {};
  if (labels[LABEL.app] !== labelValue(app) || labels[LABEL.managedBy] !== MANAGED_BY) return false;
  return environment === undefined ? labels[LABEL.environment] === undefined : labels[LABEL.environment] === labelValue(environment);
}

/** The object without the stamps, for comparisons that must not see every deploy as a change. */
export function withoutAudit<T extends { metadata?: Record<string, unknown> }>(o: T): T {
  const md = { ...(o.metadata ?? {}) } as Record<string, unknown>;
  for (const [field, keys] of [
    ['labels', AUDIT_LABELS],
    ['annotations', AUDIT_ANNOTATIONS],
  ] as const) {
    const map = md[field] as Record<string, string> | undefined;
    if (!map) continue;
    const kept = Object.fromEntries(Object.entries(map).filter(([k]) => !keys.includes(k)));
    if (Object.keys(kept).length) md[field] = kept;
    else delete md[field];
  }
  return { ...o, metadata: md };
}
