import { namedByServer, type K8sObject } from '../render/model.js';
import { withoutAudit } from './audit.js';
import type { KubeClient } from './client.js';
import { objectPath } from './discovery.js';
import { objectError } from './errors.js';
import type { ObjectAction } from './model.js';
import type { Target } from './prepare.js';

export interface ApplyOptions {
  fieldManager: string;
  force: boolean;
  signal?: AbortSignal;
  dryRun?: boolean;
}

export interface Applied {
  action: Extract<ObjectAction, 'created' | 'configured' | 'unchanged'>;
  /** The object before (undefined when it did not exist). */
  before?: K8sObject;
  /** The server's answer: the live object after the apply (or what it would be, in a dry run). */
  after: K8sObject;
}

/**
 * Server-side apply of one object (PATCH application/apply-patch+yaml with a named field manager).
 * The object is read first, so the result says what the server did: created, configured (its
 * content changed), or unchanged (only the audit stamps were refreshed, or nothing at all).
 */
export async function applyObject(client: KubeClient, t: Target, o: ApplyOptions, live?: Live): Promise<Applied> {
  const path = objectPath(t.info, t.object);
  const before = (live ?? (await readLive(client, t, o.signal))).object;
  let after: K8sObject;
  try {
    const res = await client.request<K8sObject>('PATCH', path, {
      body: t.object,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: o.fieldManager, force: o.force, dryRun: o.dryRun ? 'All' : undefined },
      signal: o.signal,
    });
    after = res.body;
  } catch (err) {
    throw objectError(t.id, o.dryRun ? 'server-side dry run' : 'server-side apply', err, { forceConflicts: o.force });
  }
  return { action: classify(before, after), before, after };
}

/**
 * Deletes a live object, only if it is still the one that was checked (its uid), with what it
 * owns going too (a Job's pods, a Deployment's ReplicaSets): background propagation.
 */
export async function deleteObject(client: KubeClient, path: string, checked: K8sObject, signal?: AbortSignal): Promise<void> {
  const uid = typeof checked.metadata.uid === 'string' ? checked.metadata.uid : undefined;
  await client.request('DELETE', path, {
    body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', ...(uid ? { preconditions: { uid } } : {}) },
    signal,
  });
}

/** The live object before an apply (read ahead for a whole wave, so the reads run in parallel). */
export interface Live {
  object?: K8sObject;
}

export async function readLive(client: KubeClient, t: Target, signal?: AbortSignal): Promise<Live> {
  // a hook the server names is created anew: no live object is it
  if (namedByServer(t.object)) return {};
  try {
    return { object: await client.get<K8sObject>(objectPath(t.info, t.object), { signal }) };
  } catch (err) {
    throw objectError(t.id, 'reading the live object', err);
  }
}

export function classify(before: K8sObject | undefined, after: K8sObject): Applied['action'] {
  if (!before) return 'created';
  if (before.metadata.resourceVersion === after.metadata.resourceVersion) return 'unchanged';
  return canonical(comparable(before)) === canonical(comparable(after)) ? 'unchanged' : 'configured';
}

const NOISY_METADATA = ['resourceVersion', 'managedFields', 'generation', 'creationTimestamp', 'uid', 'selfLink'];

/** What counts as the object's content: no status, no bookkeeping metadata, no audit stamps. */
export function comparable(o: K8sObject): Record<string, unknown> {
  const { status: _status, ...rest } = withoutAudit(o) as K8sObject & { status?: unknown };
  const metadata = Object.fromEntries(Object.entries(rest.metadata).filter(([k]) => !NOISY_METADATA.includes(k)));
  const annotations = metadata.annotations as Record<string, string> | undefined;
  // kubectl's client-side apply copy of the object changes with every client-side apply; it is not content.
  if (annotations?.['kubectl.kubernetes.io/last-applied-configuration'] !== undefined) {
    const { ['kubectl.kubernetes.io/last-applied-configuration']: _last, ...kept } = annotations;
    if (Object.keys(kept).length) metadata.annotations = kept;
    else delete metadata.annotations;
  }
  return { ...rest, metadata };
}

/** JSON with sorted keys, so two equal objects print the same. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}
