import { describe, expect, it } from 'vitest';
import { canonical, classify, comparable } from '../../src/apply/apply-object.js';
import { stamp } from '../../src/apply/audit.js';
import { maskSecrets, unifiedDiff } from '../../src/apply/diff-format.js';
import type { K8sObject } from '../../src/render/model.js';

const live = (extra: Record<string, unknown> = {}, md: Record<string, unknown> = {}): K8sObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name: 'cfg',
    namespace: 'web',
    uid: 'u1',
    resourceVersion: '10',
    creationTimestamp: '2025-01-01T00:00:00Z',
    managedFields: [{ manager: 'app-of-apps-pipe' }],
    ...md,
  },
  data: { a: '1' },
  ...extra,
});

describe('unifiedDiff', () => {
  it('is empty when only bookkeeping and audit stamps differ', () => {
    const before = stamp(live(), { app: 'web', commit: 'a'.repeat(40), buildNumber: '1' });
    const after = stamp(live({}, { resourceVersion: '11', managedFields: [] }), { app: 'web', commit: 'b'.repeat(40), buildNumber: '2' });
    expect(unifiedDiff('ConfigMap/web/cfg', before, after)).toBe('');
  });

  it('shows changed lines with live/desired headers, without noise', () => {
    const d = unifiedDiff('ConfigMap/web/cfg', live(), live({ data: { a: '2' }, status: { x: 1 } }));
    expect(d).toContain('--- live/ConfigMap/web/cfg');
    expect(d).toContain('+++ desired/ConfigMap/web/cfg');
    expect(d).toContain('-  a: "1"');
    expect(d).toContain('+  a: "2"');
    expect(d).not.toMatch(/resourceVersion|managedFields|uid|creationTimestamp|status/);
  });

  it('a new object is a diff from /dev/null', () => {
    const d = unifiedDiff('ConfigMap/web/cfg', undefined, live());
    expect(d).toContain('--- /dev/null');
    expect(d).toContain('+kind: ConfigMap');
  });

  it('never prints Secret values, but shows which keys change', () => {
    const secret = (data: Record<string, string>): K8sObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'web' }, data });
    const d = unifiedDiff('Secret/web/s', secret({ password: 'aHVudGVyMg==', user: 'YWRtaW4=' }), secret({ password: 'c2VjcmV0', user: 'YWRtaW4=' }));
    expect(d).not.toContain('aHVudGVyMg==');
    expect(d).not.toContain('c2VjcmV0');
    expect(d).not.toContain('YWRtaW4=');
    expect(d).toContain('-  password: "*** (before)"');
    expect(d).toContain('+  password: "*** (after)"');
    const [a] = maskSecrets({ kind: 'Secret', apiVersion: 'v1', stringData: { k: 'v' } }, undefined);
    expect(a).toEqual({ kind: 'Secret', apiVersion: 'v1', stringData: { k: '***' } });
  });
});

describe('classify', () => {
  it('created when there was nothing, unchanged when resourceVersion did not move', () => {
    expect(classify(undefined, live())).toBe('created');
    expect(classify(live(), live())).toBe('unchanged');
  });

  it('unchanged when only the audit stamps were refreshed; configured when content changed', () => {
    const before = stamp(live(), { app: 'web', commit: 'a'.repeat(40) });
    const restamped = stamp(live({}, { resourceVersion: '11' }), { app: 'web', commit: 'b'.repeat(40) });
    expect(classify(before, restamped)).toBe('unchanged');
    expect(classify(before, stamp(live({ data: { a: '2' } }, { resourceVersion: '11' }), { app: 'web', commit: 'b'.repeat(40) }))).toBe('configured');
  });

  it('canonical form ignores key order; comparable drops status and last-applied', () => {
    expect(canonical({ b: 1, a: { d: 1, c: 2 } })).toBe(canonical({ a: { c: 2, d: 1 }, b: 1 }));
    const c = comparable(live({ status: { phase: 'x' } }, { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } }));
    expect(c).not.toHaveProperty('status');
    expect(c.metadata).toEqual({ name: 'cfg', namespace: 'web' });
  });
});
