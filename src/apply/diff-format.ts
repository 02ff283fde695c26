import { createTwoFilesPatch } from 'diff';
import { stringify } from 'yaml';
import type { K8sObject } from '../render/model.js';
import { comparable } from './apply-object.js';

const MASKED = '***';

/**
 * Secret values never reach the log: each data/stringData value becomes "***", marked
 * "(before)"/"(after)" when it changes, so a diff still shows which keys change.
 */
export function maskSecrets(before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined): [typeof before, typeof after] {
  const isSecret = (o?: Record<string, unknown>) => o?.kind === 'Secret' && (o.apiVersion === 'v1' || o.apiVersion === undefined);
  if (!isSecret(before) && !isSecret(after)) return [before, after];
  const masked = (o: Record<string, unknown> | undefined, other: Record<string, unknown> | undefined, tag: string) => {
    if (!o) return o;
    const out = { ...o };
    for (const field of ['data', 'stringData']) {
      const values = o[field] as Record<string, string> | undefined;
      if (!values) continue;
      const theirs = (other?.[field] as Record<string, string> | undefined) ?? {};
      out[field] = Object.fromEntries(
        Object.entries(values).map(([k, v]) => [k, other && k in theirs && theirs[k] !== v ? `${MASKED} (${tag})` : MASKED]),
      );
    }
    return out;
  };
  return [masked(before, after, 'before'), masked(after, before, 'after')];
}

/** An object as the diff shows it: content only (see comparable), keys sorted, YAML. */
export function diffText(o: Record<string, unknown> | undefined): string {
  return o ? stringify(o, { sortMapEntries: true, lineWidth: 0 }) : '';
}

/**
 * A unified diff of the live object against what the apply would make of it (the server's dry
 * run). Either side may be missing (create, delete). Empty when they are equal.
 */
export function unifiedDiff(id: string, live: K8sObject | undefined, desired: K8sObject | undefined): string {
  const [a, b] = maskSecrets(live && comparable(live), desired && comparable(desired));
  const before = diffText(a);
  const after = diffText(b);
  if (before === after) return '';
  const patch = createTwoFilesPatch(live ? `live/${id}` : '/dev/null', desired ? `desired/${id}` : '/dev/null', before, after, undefined, undefined, { context: 3 });
  // Drop jsdiff's "====" separator line; keep the ---/+++ headers and the hunks.
  return patch
    .split('\n')
    .filter((line) => !/^={10,}$/.test(line))
    .join('\n')
    .trimEnd();
}
