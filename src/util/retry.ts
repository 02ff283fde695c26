export interface RetryOptions {
  /** Shown in log lines and errors: what is being retried. */
  label: string;
  /** Total attempts, including the first. */
  attempts: number;
  /** Upper bound on the whole retry loop, in ms. */
  maxElapsedMs: number;
  /** No attempt is started with less than this left of maxElapsedMs (an attempt is given what is left). */
  minAttemptMs?: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Decides whether an error is transient. */
  retryable: (err: unknown) => boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** A cancelled run: no attempt after it, and the wait before the next one ends with its reason. */
  signal?: AbortSignal;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** Waits `ms`; with a signal, rejects with its reason as soon as it is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return new Promise((resolve) => setTimeout(resolve, ms));
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One retry helper: full-jitter exponential backoff, bounded in attempts and elapsed time. `fn`
 * gets the attempt number and the ms left of maxElapsedMs, to bound the attempt itself.
 */
export async function retry<T>(fn: (attempt: number, remainingMs: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const wait = o.sleep ?? ((ms: number) => sleep(ms, o.signal));
  const now = o.now ?? Date.now;
  const random = o.random ?? Math.random;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt, o.maxElapsedMs - (now() - started));
    } catch (err) {
      if (attempt >= o.attempts || o.signal?.aborted || !o.retryable(err)) throw err;
      const cap = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (attempt - 1));
      const delay = Math.round(random() * cap);
      if (now() - started + delay + (o.minAttemptMs ?? 0) > o.maxElapsedMs) throw err;
      o.onRetry?.(err, attempt, delay);
      await wait(delay);
    }
  }
}
