// A cancelled run (SIGTERM) starts no new work; what is in flight, and what lets the run end
// cleanly (the ledger write of finished apps, the lock's release, the credentials these need),
// gets a grace period before it is cut.
import { setMaxListeners } from 'node:events';

/** How long in-flight work may go on after SIGTERM. */
export const CANCEL_GRACE_MS = 10_000;

/** A signal aborted `graceMs` after `signal` is (with its reason); `dispose` stops listening. */
export function afterGrace(signal: AbortSignal, graceMs = CANCEL_GRACE_MS): { hard: AbortSignal; dispose: () => void } {
  setMaxListeners(0, signal);
  const hard = new AbortController();
  setMaxListeners(0, hard.signal);
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    timer = setTimeout(() => hard.abort(signal.reason), graceMs);
    timer.unref();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return { hard: hard.signal, dispose: () => (clearTimeout(timer), signal.removeEventListener('abort', onAbort)) };
}
