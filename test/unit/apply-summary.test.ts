import { describe, expect, it } from 'vitest';
import type { AppResult, DeployResult } from '../../src/apply/model.js';
import { countObjects } from '../../src/apply/model.js';
import { formatDuration, successLine, summaryLine, summaryTable } from '../../src/report/deploy-summary.js';
import { memoryLogger } from '../../src/report/logger.js';
import { printPlan, type PlanReport } from '../../src/report/plan-report.js';
import { table } from '../../src/report/table.js';

const app = (name: string, outcome: AppResult['outcome'], actions: AppResult['objects'][number]['action'][] = [], reason?: string): AppResult => {
  const objects = actions.map((action, i) => ({ id: `ConfigMap/ns/${name}-${i}`, action }));
  return { app: name, outcome, reason, objects, counts: countObjects(objects), durationMs: 1234 };
};

describe('deploy summary', () => {
  const result: DeployResult = {
    environment: 'production',
    commit: 'c'.repeat(40),
    apps: [
      app('database', 'failed', ['created'], 'Deployment/db/db: rollout failed: ProgressDeadlineExceeded'),
      app('api', 'skipped', [], 'dependency database failed'),
      app('web', 'deployed', ['created', 'configured', 'unchanged', 'unchanged', 'pruned', 'prune-skipped']),
      app('cache', 'unchanged', [], 'unchanged (digest)'),
    ],
    removed: [
      { app: 'legacy', outcome: 'pruned', objects: [{ id: 'ConfigMap/x/y', action: 'pruned' }] },
      { app: 'admin', outcome: 'kept', disabled: true, objects: [], reason: 'disabled for production; its objects stay (set PRUNE_REMOVED_APPS=true to delete them)' },
    ],
    ok: false,
    cancelled: false,
    durationMs: 75_000,
  };

  it('has one row per app with counts, result and the cause of failures and skips', () => {
    const lines = summaryTable(result).split('\n');
    expect(lines[0]).toMatch(/^APP\s+RESULT\s+CREATED\s+CONFIGURED\s+UNCHANGED\s+PRUNED\s+DURATION\s+NOTE$/);
    expect(lines[1]).toMatch(/^database\s+FAILED\s+1\s+0\s+0\s+0\s+1\.2s\s+Deployment\/db\/db: rollout failed/);
    expect(lines[2]).toMatch(/^api\s+skipped\s+0\s+0\s+0\s+0\s+1\.2s\s+dependency database failed$/);
    expect(lines[3]).toMatch(/^web\s+deployed\s+1\s+1\s+2\s+1\s+1\.2s$/);
    expect(lines[4]).toMatch(/^cache\s+unchanged \(digest\)/);
    expect(lines[5]).toMatch(/^legacy\s+removed \(pruned\)\s+0\s+0\s+0\s+1/);
    expect(lines[6]).toMatch(/^admin\s+disabled \(kept\)\s+0\s+0\s+0\s+0\s+disabled for production; its objects stay/);
  });

  it('an app found deployed while the run waited is unchanged, with the reason as its note', () => {
    const reason = 'already deployed at this commit by build 43 (commit 92fdef4f7010) while this run waited';
    const lines = summaryTable({ ...result, apps: [app('slow', 'unchanged', [], reason)], removed: [] }).split('\n');
    expect(lines[0]).toMatch(/^APP\s+RESULT\s+CREATED/);
    expect(lines[1]).toMatch(new RegExp(`^slow\\s+unchanged\\s+0\\s+0\\s+0\\s+0\\s+1\\.2s\\s+${reason.replace(/[()]/g, '\\$&')}$`));
  });

  it('the plan tells an app gone from the root from one disabled for the environment', () => {
    const report: PlanReport = {
      environment: 'production',
      root: { file: 'app-of-apps.yaml', format: 'native' },
      head: 'c'.repeat(40),
      base: 'b'.repeat(40),
      baseSource: 'ledger',
      apps: [],
      layers: [],
      disabled: ['admin'],
      unsupported: [],
      removed: ['admin', 'legacy'],
      notes: [],
    };
    const logger = memoryLogger(false);
    printPlan(report, logger);
    expect(logger.lines.filter((l) => l.includes('PRUNE_REMOVED_APPS'))).toEqual([
      expect.stringContaining('admin is disabled for production; its objects stay until PRUNE_REMOVED_APPS=true'),
      expect.stringContaining('legacy was removed from the root manifest; its objects stay until PRUNE_REMOVED_APPS=true'),
    ]);
  });

  it('one line totals and durations', () => {
    expect(summaryLine(result)).toBe('1 deployed, 1 unchanged, 1 failed, 1 skipped, 1 removed app(s) pruned in 1m15s');
    expect(formatDuration(950)).toBe('0.9s');
    expect(formatDuration(125_000)).toBe('2m05s');
  });

  it('the last line of a successful run says what it did: apps deployed and removed apps pruned', () => {
    const ok = (apps: AppResult[], removed: DeployResult['removed']): DeployResult => ({ ...result, apps, removed, ok: true });
    const legacy = { app: 'legacy', outcome: 'pruned' as const, objects: [{ id: 'ConfigMap/x/y', action: 'pruned' as const }] };
    const kept = { app: 'old', outcome: 'kept' as const, objects: [], reason: 'removed from the root; its objects stay' };
    expect(successLine(ok([], [legacy]), '2.0')).toBe('Pruned 1 removed app(s) in production in 2.0s; every other app is up to date');
    expect(successLine(ok([app('web', 'deployed')], [legacy, kept]), '2.0')).toBe('Deployed 1 app(s) to production in 2.0s; pruned 1 removed app(s)');
    expect(successLine(ok([app('web', 'deployed'), app('cache', 'unchanged')], []), '2.0')).toBe('Deployed 1 app(s) to production in 2.0s');
    expect(successLine(ok([app('cache', 'unchanged')], [kept]), '2.0')).toBe('Nothing to deploy to production: every app is up to date');
  });
});

describe('table', () => {
  it('keeps a row on one line when a cell holds a newline or a tab (a file name may)', () => {
    const out = table(['APP', 'WHY'], [['names', 'apps/names/new\nline.yaml changed'], ['tabs', 'a\tb\u0007']]);
    expect(out.split('\n')).toEqual(['APP    WHY', 'names  apps/names/new\\nline.yaml changed', 'tabs   a\\tb\\u0007']);
  });
});
