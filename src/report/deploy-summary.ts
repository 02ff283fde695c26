import type { AppResult, DeployResult, DiffResult } from '../apply/model.js';
import { table } from './table.js';

/** "1.2s", "2m03s" */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

const RESULT_LABEL: Record<AppResult['outcome'], string> = {
  deployed: 'deployed',
  unchanged: 'unchanged',
  failed: 'FAILED',
  skipped: 'skipped',
  cancelled: 'cancelled',
};

/** The final summary table: one row per app, then apps removed from the root. */
export function summaryTable(result: DeployResult): string {
  const rows = result.apps.map((a) => [
    a.app,
    // "unchanged (digest)" qualifies the result; a longer reason (found deployed while this run waited) is a note
    a.outcome === 'unchanged' && a.reason?.startsWith('unchanged') ? a.reason : RESULT_LABEL[a.outcome],
    String(a.counts.created),
    String(a.counts.configured),
    String(a.counts.unchanged),
    String(a.counts.pruned),
    formatDuration(a.durationMs),
    a.outcome === 'skipped' || a.outcome === 'failed' || (a.outcome === 'unchanged' && !a.reason?.startsWith('unchanged')) ? (a.reason ?? '').split('\n')[0]!.slice(0, 120) : '',
  ]);
  for (const r of result.removed) {
    const pruned = r.objects.filter((o) => o.action === 'pruned').length;
    rows.push([r.app, `${r.disabled ? 'disabled' : 'removed'} (${r.outcome})`, '0', '0', '0', String(pruned), '', r.reason ?? '']);
  }
  return table(['APP', 'RESULT', 'CREATED', 'CONFIGURED', 'UNCHANGED', 'PRUNED', 'DURATION', 'NOTE'], rows);
}

/** "3 deployed, 1 failed, 2 skipped in 12.3s" */
export function summaryLine(result: DeployResult): string {
  const counts = new Map<string, number>();
  for (const a of result.apps) counts.set(a.outcome, (counts.get(a.outcome) ?? 0) + 1);
  const parts = (['deployed', 'unchanged', 'failed', 'skipped', 'cancelled'] as const).filter((k) => counts.get(k)).map((k) => `${counts.get(k)} ${k}`);
  const removed = result.removed.filter((r) => r.outcome === 'pruned').length;
  if (removed) parts.push(`${removed} removed app(s) pruned`);
  return `${parts.join(', ') || 'nothing to deploy'} in ${formatDuration(result.durationMs)}`;
}

/**
 * The last line of a successful deploy: the apps deployed and the removed (or disabled) apps
 * whose objects were pruned; "up to date" only when the run changed nothing.
 */
export function successLine(result: DeployResult, seconds: string): string {
  const done = result.apps.filter((a) => a.outcome === 'deployed').length;
  const pruned = result.removed.filter((r) => r.outcome === 'pruned').length;
  const took = `${seconds}s`;
  if (done) return `Deployed ${done} app(s) to ${result.environment} in ${took}${pruned ? `; pruned ${pruned} removed app(s)` : ''}`;
  if (pruned) return `Pruned ${pruned} removed app(s) in ${result.environment} in ${took}; every other app is up to date`;
  return `Nothing to deploy to ${result.environment}: every app is up to date`;
}

/** The diff mode summary: one row per app with its object changes. */
export function diffSummaryTable(result: DiffResult): string {
  const rows = result.apps.map((a) => {
    const n = (c: string) => String(a.objects.filter((o) => o.change === c).length);
    const state = a.error ? 'ERROR' : a.changed ? 'changes' : (a.reason ?? 'no changes');
    return [a.app, state, n('create'), n('update'), n('delete'), a.error ? a.error.message : ''];
  });
  return table(['APP', 'DIFF', 'CREATE', 'UPDATE', 'DELETE', 'NOTE'], rows);
}
