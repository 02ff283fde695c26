import { describe, expect, it } from 'vitest';
import { itemId, itemKey, inventoryRef, parseInventoryRef } from '../../src/apply/inventory.js';
import { ENTRY_KEY, decodeLedger, deployedState, encodeEntry, fromOtherRepository, splitByRepository, type LedgerEntry } from '../../src/apply/ledger.js';
import { leaseFree, microTime } from '../../src/apply/lock.js';
import { environmentSlug, ledgerName, lockName } from '../../src/apply/names.js';

const entry = (app: string, extra: Partial<LedgerEntry> = {}): LedgerEntry => ({
  app,
  commit: 'c'.repeat(40),
  digest: 'sha256:abc',
  deployedAt: '2025-01-01T00:00:00.000Z',
  buildNumber: '7',
  objects: ['apps/v1 Deployment web/api', 'v1 Namespace web'],
  ...extra,
});

describe('ledger encoding', () => {
  it('round-trips entries through ConfigMaps, one per app, named validly and apart per environment', () => {
    const apps = ['web', 'api.v2', 'a'.repeat(63)];
    const cms = apps.map((a) => ({ metadata: { name: ledgerName('production', a) }, data: { [ENTRY_KEY]: encodeEntry(entry(a)) } }));
    for (const cm of cms) {
      expect(cm.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
      expect(cm.metadata.name.length).toBeLessThanOrEqual(253);
    }
    const { entries, problems } = decodeLedger(cms);
    expect(problems).toEqual([]);
    expect([...entries.keys()].sort()).toEqual([...apps].sort());
    expect(entries.get('api.v2')).toEqual(entry('api.v2'));
    // "prod" + "eu-web" and "prod-eu" + "web" are two ConfigMaps
    expect(ledgerName('prod', 'eu-web')).not.toBe(ledgerName('prod-eu', 'web'));
    expect(ledgerName('production', 'web')).toBe('app-of-apps-ledger-production.web');
    // names no root accepts still make a valid, distinct name
    for (const odd of ['Web', 'a..b', 'team/api']) expect(ledgerName('x', odd)).toMatch(/^app-of-apps-ledger-x\.[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(ledgerName('x', 'Web')).not.toBe(ledgerName('x', 'web'));
  });

  it('reports broken entries, naming the ConfigMap, instead of failing the run (those apps count as never deployed)', () => {
    const cm = (name: string, data: Record<string, string>) => ({ metadata: { name }, data });
    const { entries, problems } = decodeLedger([cm('l.good', { [ENTRY_KEY]: encodeEntry(entry('good')) }), cm('l.bad', { [ENTRY_KEY]: '{not json' }), cm('l.partial', { [ENTRY_KEY]: JSON.stringify({ app: 'p' }) }), cm('l.empty', {})]);
    expect([...entries.keys()]).toEqual(['good']);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('l.bad');
    expect(problems[1]).toContain('l.partial');
    expect(problems[2]).toContain('l.empty');
  });

  it("tells another repository's entries by UUID when both have one, else by full name; unknown is this repository", () => {
    const here = { uuid: '{AAAA}', fullName: 'acme/platform-apps' };
    expect(fromOtherRepository({ repositoryUuid: '{aaaa}', repository: 'acme/old-name' }, here)).toBe(false); // renamed: same UUID
    expect(fromOtherRepository({ repositoryUuid: '{bbbb}', repository: 'acme/platform-apps' }, here)).toBe(true);
    expect(fromOtherRepository({ repository: 'Acme/Platform-Apps' }, here)).toBe(false);
    expect(fromOtherRepository({ repository: 'acme/payments-apps' }, here)).toBe(true);
    expect(fromOtherRepository({ repository: 'acme/payments-apps' }, { uuid: '{AAAA}' })).toBe(false);
    expect(fromOtherRepository({}, here)).toBe(false);
    expect(fromOtherRepository({ repository: 'acme/payments-apps', repositoryUuid: '{bbbb}' }, undefined)).toBe(false);
    const split = splitByRepository(new Map([['web', entry('web', { repository: 'acme/platform-apps' })], ['pay', entry('pay', { repository: 'acme/payments-apps' })]]), here);
    expect([[...split.entries.keys()], [...split.foreign.keys()]]).toEqual([['web'], ['pay']]);
  });

  it('gives the plan its DeployedState', () => {
    const state = deployedState({ source: 'ledger ConfigMap ns/x', entries: new Map([['web', entry('web')]]), foreign: new Map(), problems: [] });
    expect(state.source).toBe('ledger ConfigMap ns/x');
    expect(state.apps.get('web')).toEqual({ app: 'web', commit: 'c'.repeat(40), digest: 'sha256:abc', deployedAt: '2025-01-01T00:00:00.000Z', buildNumber: '7', triggerer: undefined });
    expect(decodeLedger([]).entries.size).toBe(0);
  });

  it('names per environment are valid object names', () => {
    expect(lockName(undefined)).toBe('app-of-apps-lock-default');
    const slug = environmentSlug('Prod EU/West');
    expect(slug).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(slug).not.toBe(environmentSlug('prod-eu-west'));
  });
});

describe('inventory refs', () => {
  it('round-trip namespaced and cluster-scoped objects', () => {
    const ref = inventoryRef({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'web' } });
    expect(ref).toBe('apps/v1 Deployment web/api');
    expect(parseInventoryRef(ref)).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'web', name: 'api' });
    expect(parseInventoryRef('v1 Namespace web')).toEqual({ apiVersion: 'v1', kind: 'Namespace', namespace: undefined, name: 'web' });
    expect(parseInventoryRef('garbage')).toBeUndefined();
    expect(itemId(parseInventoryRef(ref)!)).toBe('Deployment/web/api');
  });

  it('keys ignore the version (an object applied as v1beta1 and later v1 is one object)', () => {
    expect(itemKey(parseInventoryRef('autoscaling/v1 HorizontalPodAutoscaler a/b')!)).toBe(itemKey(parseInventoryRef('autoscaling/v2 HorizontalPodAutoscaler a/b')!));
    expect(itemKey(parseInventoryRef('v1 Service a/b')!)).not.toBe(itemKey(parseInventoryRef('serving.knative.dev/v1 Service a/b')!));
  });
});

describe('lease helpers', () => {
  it('MicroTime has six fractional digits', () => {
    expect(microTime(Date.UTC(2025, 0, 2, 3, 4, 5, 678))).toBe('2025-01-02T03:04:05.678000Z');
  });

  it('a lease is free when unheld or not renewed within its duration (plus margin)', () => {
    const now = Date.UTC(2025, 0, 1, 12, 0, 0);
    const renewed = (agoMs: number) => microTime(now - agoMs);
    expect(leaseFree({}, now)).toBe(true);
    expect(leaseFree({ holderIdentity: 'build 1', renewTime: renewed(10_000), leaseDurationSeconds: 30 }, now)).toBe(false);
    expect(leaseFree({ holderIdentity: 'build 1', renewTime: renewed(31_000), leaseDurationSeconds: 30 }, now)).toBe(false);
    expect(leaseFree({ holderIdentity: 'build 1', renewTime: renewed(33_000), leaseDurationSeconds: 30 }, now)).toBe(true);
    expect(leaseFree({ holderIdentity: 'build 1', acquireTime: renewed(60_000), leaseDurationSeconds: 30 }, now)).toBe(true);
  });
});
