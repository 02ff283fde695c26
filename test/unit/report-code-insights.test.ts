import { describe, expect, it } from 'vitest';
import type { DeployResult } from '../../src/apply/model.js';
import { insightsReport, reportId } from '../../src/report/code-insights.js';
import { mask, registerSecret } from '../../src/report/mask.js';
import type { PlanReport } from '../../src/report/plan-report.js';
import { InputError, combineErrors } from '../../src/util/errors.js';

const plan = (apps: number, over: Partial<PlanReport> = {}): PlanReport => ({
  environment: 'production',
  root: { file: 'app-of-apps.yaml', format: 'native' },
  head: 'a'.repeat(40),
  base: 'b'.repeat(40),
  baseSource: 'ledger',
  apps: Array.from({ length: apps }, (_, i) => ({
    name: `app-${i}`,
    type: 'directory',
    path: `apps/app-${i}`,
    file: 'app-of-apps.yaml',
    line: 10 + 3 * i,
    namespace: 'default',
    status: 'changed',
    deploy: true,
    reasons: ['test'],
    dependsOn: [],
  })),
  layers: [],
  disabled: [],
  unsupported: [],
  removed: [],
  notes: [],
  ...over,
});

const deploy = (failed: number, ok: number): DeployResult => ({
  environment: 'production',
  commit: 'a'.repeat(40),
  apps: [
    ...Array.from({ length: failed }, (_, i) => ({ app: `app-${i}`, outcome: 'failed' as const, reason: `Deployment/default/app-${i}: rollout failed: ${'x'.repeat(600)}`, objects: [], counts: { created: 0, configured: 0, unchanged: 0, pruned: 0 }, durationMs: 1, error: { message: 'm', details: [], hint: 'fix the image' } })),
    ...Array.from({ length: ok }, (_, i) => ({ app: `app-${failed + i}`, outcome: 'deployed' as const, objects: [], counts: { created: 1, configured: 0, unchanged: 0, pruned: 0 }, durationMs: 1 })),
  ],
  removed: [],
  ok: failed === 0,
  cancelled: false,
  durationMs: 5,
});

describe('Code Insights report', () => {
  it("annotates each failed app on its root-manifest line, within Bitbucket's limits", () => {
    const built = insightsReport({ mode: 'deploy', environment: 'production', exitCode: 1, durationMs: 1234, plan: plan(1500), deploy: deploy(1200, 300) });
    expect(built.id).toBe('app-of-apps-pipe-deploy-production');
    const names = Array.from({ length: 76 }, (_, i) => `app-${i}`).join(', ');
    expect(built.report).toMatchObject({ result: 'FAILED', details: `Deploy: 300 deployed, 1200 failed.\nFailed: ${names} and 1124 more.\n1200 annotations: the 1000 most severe are attached.` });
    expect(built.report.data.length).toBeLessThanOrEqual(10);
    expect(built.report.data).toContainEqual({ title: 'Duration', type: 'DURATION', value: 1234 });
    expect(built.annotations).toHaveLength(1000);
    expect(built.annotations[7]).toMatchObject({ external_id: 'failed-app-7', path: 'app-of-apps.yaml', line: 31, severity: 'HIGH', details: 'What to do: fix the image' });
    expect(built.annotations[7]!.summary.length).toBe(450);
    expect(new Set(built.annotations.map((a) => a.external_id)).size).toBe(1000);
  });

  it('a failed run annotates each bad input on its file and line; one without a file is in the details only', () => {
    const err = combineErrors(
      [
        new InputError('unknown key "pth"', { where: { file: 'app-of-apps.yaml', line: 7 }, hint: 'did you mean path?' }),
        new InputError('expected a duration', { where: { variable: 'TIMEOUT' } }),
      ],
      '2 problems',
    );
    const built = insightsReport({ mode: 'plan', environment: 'staging', exitCode: 2, durationMs: 1, error: err });
    expect(built.report.result).toBe('FAILED');
    expect(built.report.details).toContain('app-of-apps.yaml:7: unknown key "pth"');
    expect(built.report.details).toContain('TIMEOUT: expected a duration');
    expect(built.annotations).toEqual([
      expect.objectContaining({ annotation_type: 'BUG', path: 'app-of-apps.yaml', line: 7, summary: 'unknown key "pth"', details: 'What to do: did you mean path?' }),
    ]);
  });

  it("a tool's long message is clipped before the line of what to do, which always stays in the annotation", () => {
    const helm = Array.from({ length: 60 }, (_, i) => `Error: template: web/templates/cm.yaml:${i + 1}: ${'y'.repeat(60)}`);
    const err = new InputError('helm template apps/web failed (exit 1)', { where: { file: 'apps/web/Chart.yaml' }, details: helm, hint: "fix the chart or its values; the lines above are helm's own message" });
    const built = insightsReport({ mode: 'plan', environment: 'staging', exitCode: 2, durationMs: 1, error: err });
    const details = built.annotations[0]!.details!;
    expect(details.length).toBeLessThanOrEqual(2000);
    expect(details.startsWith(helm[0]!)).toBe(true);
    expect(details.split('\n').slice(-2)).toEqual([expect.stringMatching(/…$/), "What to do: fix the chart or its values; the lines above are helm's own message"]);
  });

  it('masks secrets in every text it sends', () => {
    registerSecret('SECRET-in-a-message-0042');
    const built = insightsReport({
      mode: 'plan',
      environment: 'staging',
      exitCode: 2,
      durationMs: 1,
      error: new InputError('cannot fetch https://x:SECRET-in-a-message-0042@host/repo', { where: { file: 'a.yaml', line: 1 } }),
    });
    expect(JSON.stringify(built)).not.toContain('SECRET-in-a-message-0042');
    expect(mask('SECRET-in-a-message-0042')).not.toContain('SECRET');
  });

  it('report ids: one per mode and environment, valid in a URL', () => {
    expect(reportId('diff', 'production')).toBe('app-of-apps-pipe-diff-production');
    expect(reportId('diff', 'Prod EU/West')).toMatch(/^app-of-apps-pipe-diff-prod-eu-west-[0-9a-f]{8}$/);
    // names that differ only in punctuation or case are different environments, with different reports
    expect(new Set(['prod_eu', 'prod.eu', 'Prod-EU'].map((e) => reportId('deploy', e))).size).toBe(3);
    expect(reportId('plan', undefined)).toBe('app-of-apps-pipe-plan-default');
  });
});
