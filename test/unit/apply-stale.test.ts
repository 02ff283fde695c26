import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../src/apply/ledger.js';
import { checkUnplannedMoves } from '../../src/apply/stale.js';
import type { DeployedState } from '../../src/plan/model.js';

const HEAD = 'h'.repeat(40);
const entry = (app: string, o: Partial<LedgerEntry> = {}): LedgerEntry => ({ app, commit: 'a'.repeat(40), deployedAt: '2026-11-28T10:00:00.000Z', buildNumber: '7', objects: [], ...o });
const planned = (...entries: LedgerEntry[]): DeployedState => ({ source: 'ledger', apps: new Map(entries.map((e) => [e.app, e])) });
const now = (...entries: LedgerEntry[]) => new Map(entries.map((e) => [e.app, e]));
const check = (p: DeployedState, n: Map<string, LedgerEntry>, extra: { scope?: Set<string>; removed?: string[] } = {}) => () =>
  checkUnplannedMoves({ planned: p, now: n, deploying: new Set(['deploying']), head: HEAD, ...extra });

describe('a plan out of date under the lock', () => {
  const mark = { commit: 'b'.repeat(40), at: '2026-11-28T11:00:00.000Z' };

  it('an attempt marked when the run planned and taken back since is the recorded deploy again (no error)', () => {
    expect(check(planned(entry('api', { failed: mark })), now(entry('api')))).not.toThrow();
  });

  it('a mark written since, another deploy, or an entry removed since: stops naming each', () => {
    expect(check(planned(entry('api')), now(entry('api', { failed: mark })))).toThrow(/a deploy attempt of app api \(commit bbbbbbbbbbbb\) changed its objects and did not finish meanwhile/);
    expect(check(planned(entry('api')), now(entry('api', { commit: 'c'.repeat(40), deployedAt: '2026-11-28T12:00:00.000Z', buildNumber: '9' })))).toThrow(/app api was deployed by build 9 \(commit cccccccccccc\) meanwhile/);
    expect(check(planned(entry('api')), now())).toThrow(/app api was removed from the ledger meanwhile/);
  });

  it("leaves out apps outside APPS, apps the run deploys, apps its plan removes anyway, and a deploy of this run's commit", () => {
    const other = entry('web', { commit: 'c'.repeat(40), deployedAt: '2026-11-28T12:00:00.000Z' });
    expect(check(planned(entry('web')), now(other), { scope: new Set(['api']) })).not.toThrow();
    expect(check(planned(entry('deploying')), now(entry('deploying', { commit: 'c'.repeat(40) })))).not.toThrow();
    expect(check(planned(entry('gone')), now(), { removed: ['gone'] })).not.toThrow();
    expect(check(planned(entry('web')), now(entry('web', { commit: HEAD, deployedAt: '2026-11-28T12:00:00.000Z' })))).not.toThrow();
    // at this run's commit, but with a mark: the cluster is not at it
    expect(check(planned(entry('web')), now(entry('web', { commit: HEAD, deployedAt: '2026-11-28T12:00:00.000Z', failed: mark })))).toThrow(/app web was deployed by/);
  });
});
