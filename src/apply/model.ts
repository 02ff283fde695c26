/**
 * What the apply engine returns: a per-object changeset and a per-app result, returned even on
 * partial failure, so the summary table and the JSON report are built from one structure.
 */

import type { HookPhase } from './hooks.js';

/**
 * How one object ended: the server's answer, not a guess (resourceVersion and content compared).
 * `deleted`: a hook removed by its delete policy; `skipped`: a hook that does not run on a deploy.
 */
export type ObjectAction = 'created' | 'configured' | 'unchanged' | 'pruned' | 'prune-skipped' | 'deleted' | 'skipped';

export interface ObjectResult {
  /** Kind/namespace/name (Kind/name when cluster-scoped). */
  id: string;
  action: ObjectAction;
  /** The phase, when the object is a resource hook (a hook run in two phases appears in each). */
  hook?: HookPhase;
  /** Why a prune was skipped ("opted out", "labelled for app web", ...), a hook's annotation or delete policy. */
  note?: string;
}

export type AppOutcome =
  | 'deployed' // applied (and healthy with WAIT), recorded in the ledger
  | 'unchanged' // nothing to apply: rendered digest equals the ledger's (shallow clone fallback)
  | 'failed'
  | 'skipped' // a dependency failed, was skipped or was cancelled
  | 'cancelled'; // the run was stopped (SIGTERM) before the app finished: nothing recorded

export interface ObjectCounts {
  created: number;
  configured: number;
  unchanged: number;
  pruned: number;
}

export interface AppError {
  message: string;
  details: string[];
  hint?: string;
}

export interface AppResult {
  app: string;
  outcome: AppOutcome;
  /** One line: "unchanged (digest)", "dependency database failed", the failure message. */
  reason?: string;
  objects: ObjectResult[];
  counts: ObjectCounts;
  durationMs: number;
  error?: AppError;
}

export interface RemovedAppResult {
  app: string;
  /** pruned: its objects were deleted and its ledger entry dropped; kept: PRUNE_REMOVED_APPS is off. */
  outcome: 'pruned' | 'kept' | 'failed';
  /** Still in the root, but disabled for the environment (otherwise gone from the root). */
  disabled?: true;
  objects: ObjectResult[];
  reason?: string;
  error?: AppError;
}

export interface DeployResult {
  environment?: string;
  commit: string;
  apps: AppResult[];
  removed: RemovedAppResult[];
  /** True when every app deployed or was unchanged (and no removed app failed to prune). */
  ok: boolean;
  cancelled: boolean;
  /** The run lost its environment lock (taken over, or not renewed in time): it stopped starting apps. */
  lockLost?: boolean;
  durationMs: number;
}

export type ObjectChange = 'create' | 'update' | 'delete' | 'none';

export interface ObjectDiff {
  id: string;
  change: ObjectChange;
  /** Unified diff of live vs. the server's dry-run result (empty when change is none). */
  diff: string;
  note?: string;
}

export interface AppDiff {
  app: string;
  changed: boolean;
  objects: ObjectDiff[];
  reason?: string;
  error?: AppError;
}

export interface DiffResult {
  environment?: string;
  commit: string;
  apps: AppDiff[];
  /** True when any app would change. */
  changed: boolean;
  /** False when some app could not be diffed. */
  ok: boolean;
  durationMs: number;
}

export function countObjects(objects: ObjectResult[]): ObjectCounts {
  const counts: ObjectCounts = { created: 0, configured: 0, unchanged: 0, pruned: 0 };
  for (const o of objects) if (o.action in counts) counts[o.action as keyof ObjectCounts]++;
  return counts;
}
