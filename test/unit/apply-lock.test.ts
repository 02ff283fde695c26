import { describe, expect, it } from 'vitest';
import { leaseAge, microTime } from '../../src/apply/lock.js';

describe('environment lock: what a waiting run is told', () => {
  const now = Date.UTC(2025, 4, 1, 10, 0, 0);
  it('says when the holder last renewed the lease and when it expires if its run is gone', () => {
    expect(leaseAge({ holderIdentity: 'build 1', renewTime: microTime(now - 12_000), leaseDurationSeconds: 60 }, now)).toBe('last renewed 12s ago; if its run is gone, the lock expires in 48s');
    // a lease never renewed counts from its acquisition; an expired one expires in 0s
    expect(leaseAge({ holderIdentity: 'build 1', acquireTime: microTime(now - 90_000), leaseDurationSeconds: 60 }, now)).toBe('last renewed 90s ago; if its run is gone, the lock expires in 0s');
  });
  it('says nothing it cannot read', () => {
    expect(leaseAge({ holderIdentity: 'build 1' }, now)).toBe('');
  });
});
