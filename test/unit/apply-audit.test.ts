import { describe, expect, it } from 'vitest';
import { ANNOTATION, LABEL, labelValue, ownedBy, stamp, withoutAudit } from '../../src/apply/audit.js';
import type { K8sObject } from '../../src/render/model.js';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('labelValue', () => {
  it('keeps valid values as they are', () => {
    expect(labelValue('web')).toBe('web');
    expect(labelValue('42')).toBe('42');
    expect(labelValue('a'.repeat(63))).toBe('a'.repeat(63));
  });

  it('makes any string a valid label value, distinct for distinct inputs', () => {
    const inputs = ['{1a2b3c4d-0000-4000-8000-000000000001}', 'acme/platform-apps', 'Prod EU', 'x'.repeat(100), '---', 'é', 'a b', 'a_b'];
    const out = inputs.map(labelValue);
    for (const v of out) {
      expect(v.length).toBeLessThanOrEqual(63);
      expect(v).toMatch(LABEL_VALUE);
      expect(v).not.toBe('');
    }
    expect(new Set(out).size).toBe(inputs.length);
    expect(labelValue('acme/platform-apps')).toMatch(/^acme-platform-apps-[0-9a-f]{8}$/);
    expect(labelValue('x'.repeat(100))).toBe(labelValue('x'.repeat(100)));
  });
});

describe('stamp', () => {
  const rendered: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'web', labels: { team: 'a' }, annotations: { note: 'x' } } };
  const ctx = { app: 'web', environment: 'production', commit: 'a'.repeat(40), buildNumber: '42', repository: 'acme/platform-apps', triggerer: '{1a2b}' };

  it('adds labels (short values) and annotations (commit, repository, triggerer) without touching the rendered object', () => {
    const s = stamp(rendered, ctx);
    expect(s.metadata.labels).toEqual({ team: 'a', [LABEL.app]: 'web', [LABEL.environment]: 'production', [LABEL.buildNumber]: '42', [LABEL.managedBy]: 'app-of-apps-pipe' });
    expect(s.metadata.annotations).toMatchObject({
      note: 'x',
      [ANNOTATION.commit]: 'a'.repeat(40),
      [ANNOTATION.repository]: 'acme/platform-apps',
      [ANNOTATION.triggerer]: '{1a2b}',
      [ANNOTATION.buildNumber]: '42',
      [ANNOTATION.environment]: 'production',
    });
    for (const v of Object.values(s.metadata.labels!)) expect(v).toMatch(LABEL_VALUE);
    expect(rendered.metadata.labels).toEqual({ team: 'a' });
  });

  it('withoutAudit removes exactly the stamps', () => {
    const s = stamp(rendered, ctx);
    expect(withoutAudit(s)).toEqual(rendered);
    const bare = stamp({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, ctx);
    expect(withoutAudit(bare).metadata).toEqual({ name: 'x' });
  });

  it('ownedBy checks app, environment and the managed-by label', () => {
    const s = stamp(rendered, ctx);
    expect(ownedBy(s, 'web', 'production')).toBe(true);
    expect(ownedBy(s, 'api', 'production')).toBe(false);
    expect(ownedBy(s, 'web', 'staging')).toBe(false);
    expect(ownedBy(rendered, 'web', 'production')).toBe(false);
    const foreign = { metadata: { name: 'x', labels: { [LABEL.app]: 'web', [LABEL.environment]: 'production' } } };
    expect(ownedBy(foreign, 'web', 'production')).toBe(false);
  });
});
