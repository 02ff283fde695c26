import { describe, expect, it } from 'vitest';
import { KubeApiError, type KubeClient } from '../../src/apply/client.js';
import { EnvironmentLock, leaseAge, microTime } from '../../src/apply/lock.js';
import { memoryLogger } from '../../src/report/logger.js';

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

/** An API server that grants the lease, then stops answering (a network partition of this runner). */
function partitioned() {
  let reachable = true;
  let hanging = false;
  let lease: any;
  const client = {
    async request(method: string, path: string, o: { body?: any; signal?: AbortSignal } = {}) {
      // a server that takes the request and never answers: only the caller's signal ends it
      if (hanging) {
        await new Promise((_, reject) => o.signal?.addEventListener('abort', () => reject(new KubeApiError(method, path, 0, { message: 'request timed out' })), { once: true }));
      }
      if (!reachable) throw new KubeApiError(method, path, 0, { message: 'connect ECONNREFUSED' });
      const date = new Date();
      if (method === 'GET' && path.includes('/leases/')) {
        if (!lease) throw new KubeApiError(method, path, 404, { reason: 'NotFound' });
        return { status: 200, body: lease, date };
      }
      if (method === 'GET') return { status: 200, body: {}, date };
      lease = { ...o.body, metadata: { ...o.body.metadata, resourceVersion: String(Date.now()) } };
      return { status: 200, body: lease, date };
    },
    async get(path: string) {
      return (await client.request('GET', path)).body;
    },
  };
  return {
    client: client as unknown as KubeClient,
    cut: () => (reachable = false),
    restore: () => (reachable = true),
    hang: () => (hanging = true),
    renewedAt: () => Date.parse(lease?.spec?.renewTime ?? ''),
  };
}

describe('environment lock: a run that cannot renew its lease', () => {
  it('stops once the lease may have expired, saying it could not renew it and why', async () => {
    const api = partitioned();
    const logger = memoryLogger(true);
    const lock = await EnvironmentLock.acquire(api.client, { namespace: 'app-of-apps-pipe', name: 'app-of-apps-lock-prod', holder: 'build 1', leaseDurationSeconds: 1, timeoutSeconds: 0, logger });
    try {
      api.cut();
      const lost = await new Promise<unknown>((resolve, reject) => {
        lock.lost.addEventListener('abort', () => resolve(lock.lost.reason), { once: true });
        setTimeout(() => reject(new Error(`not stopped: ${logger.lines.join('\n')}`)), 15_000).unref();
      });
      expect((lost as Error).message).toBe('the environment lock was lost');
      expect(logger.lines.join('\n')).toMatch(/could not renew the environment lock app-of-apps-pipe\/app-of-apps-lock-prod for \d+s \(.*ECONNREFUSED.*\): another run may take it now; no further app is started/);
    } finally {
      await lock.release();
    }
  }, 20_000);

  it('a server that never answers: stops before another run could take the lease (its expiry plus 2 s)', async () => {
    const api = partitioned();
    const logger = memoryLogger(true);
    const acquired = Date.now();
    const lock = await EnvironmentLock.acquire(api.client, { namespace: 'app-of-apps-pipe', name: 'app-of-apps-lock-prod', holder: 'build 1', leaseDurationSeconds: 6, timeoutSeconds: 0, logger });
    try {
      api.hang();
      await new Promise<void>((resolve, reject) => {
        lock.lost.addEventListener('abort', () => resolve(), { once: true });
        setTimeout(() => reject(new Error(`not stopped: ${logger.lines.join('\n')}`)), 15_000).unref();
      });
      expect(Date.now() - acquired).toBeLessThan(6_000 + 2_000);
      expect(logger.lines.join('\n')).toMatch(/could not renew the environment lock \S+ for \d+s \(.*request timed out\): another run may take it now/);
    } finally {
      await lock.release();
    }
  }, 20_000);

  it('a short outage: the renewal is tried again until it gets through, and the run goes on', async () => {
    const api = partitioned();
    const logger = memoryLogger(true);
    const lock = await EnvironmentLock.acquire(api.client, { namespace: 'app-of-apps-pipe', name: 'app-of-apps-lock-prod', holder: 'build 1', leaseDurationSeconds: 12, timeoutSeconds: 0, logger });
    try {
      const before = api.renewedAt();
      api.cut();
      // the first renewal (at 4 s) fails; the lease is surely held until 10 s: tried again every 2 s
      await new Promise((r) => setTimeout(r, 5_000));
      api.restore();
      await new Promise((r) => setTimeout(r, 3_000));
      expect(lock.lost.aborted, logger.lines.join('\n')).toBe(false);
      expect(api.renewedAt()).toBeGreaterThan(before);
      expect(logger.lines.join('\n')).toMatch(/could not renew the environment lock \(.*ECONNREFUSED.*\); trying again/);
    } finally {
      await lock.release();
    }
  }, 20_000);

  it('renews a lease whose renewal period is not a whole number of milliseconds (2 s: every 666.7 ms)', async () => {
    const api = partitioned();
    const logger = memoryLogger(true);
    const lock = await EnvironmentLock.acquire(api.client, { namespace: 'app-of-apps-pipe', name: 'app-of-apps-lock-prod', holder: 'build 1', leaseDurationSeconds: 2, timeoutSeconds: 0, logger });
    try {
      const first = api.renewedAt();
      await new Promise((r) => setTimeout(r, 2_500));
      expect(lock.lost.aborted, logger.lines.join('\n')).toBe(false);
      expect(api.renewedAt()).toBeGreaterThan(first);
      expect(logger.lines.filter((l) => l.startsWith('WARNING') || l.startsWith('ERROR'))).toEqual([]);
    } finally {
      await lock.release();
    }
  }, 10_000);
});

