// The one retry helper: backoff bounded in attempts and time, and a cancelled run stops it.
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { retry } from '../../src/util/retry.js';

const transient = new Error('try again');
const opts = { label: 'call', attempts: 5, maxElapsedMs: 60_000, baseDelayMs: 10_000, maxDelayMs: 10_000, random: () => 1, retryable: () => true };

describe('retry', () => {
  it('retries until an attempt succeeds', async () => {
    let calls = 0;
    const waits: number[] = [];
    const out = await retry(async () => (++calls < 3 ? Promise.reject(transient) : 'ok'), { ...opts, sleep: async (ms) => void waits.push(ms) });
    expect([out, calls, waits]).toEqual(['ok', 3, [10_000, 10_000]]);
  });

  it('a cancelled run ends the wait at once with its reason, and makes no further attempt', async () => {
    const controller = new AbortController();
    let calls = 0;
    const started = Date.now();
    const pending = retry(async () => (calls++, Promise.reject(transient)), { ...opts, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('cancelled by SIGTERM')), 50);
    await expect(pending).rejects.toThrow('cancelled by SIGTERM');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(calls).toBe(1);
  });

  it('an aborted signal stops before waiting, and waits leave no listener behind', async () => {
    const controller = new AbortController();
    let calls = 0;
    const out = await retry(async () => (++calls < 4 ? Promise.reject(transient) : 'ok'), { ...opts, baseDelayMs: 1, maxDelayMs: 1, signal: controller.signal });
    expect(out).toBe('ok');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    await expect(retry(async () => (calls++, Promise.reject(transient)), { ...opts, signal: controller.signal })).rejects.toBe(transient);
    expect(calls).toBe(5);
  });
});
