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

  it('gives each attempt what is left of the time bound, and starts none with less than minAttemptMs left', async () => {
    let clock = 0;
    const given: number[] = [];
    const fail = async (_attempt: number, remainingMs: number) => {
      given.push(remainingMs);
      clock += 4_200; // each attempt takes 4.2 s
      throw transient;
    };
    const o = { ...opts, maxElapsedMs: 10_000, baseDelayMs: 500, maxDelayMs: 500, minAttemptMs: 1_000, now: () => clock, sleep: async (ms: number) => void (clock += ms) };
    await expect(retry(fail, o)).rejects.toBe(transient);
    // at 0 s: 10 s left; after 4.2 s and a 0.5 s delay: 5.3 s; a third would start at 9.4 s with 0.6 s left
    expect(given).toEqual([10_000, 5_300]);
  });
});
