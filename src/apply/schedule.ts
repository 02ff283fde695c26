import pLimit from 'p-limit';
import type { AppOutcome } from './model.js';

export interface Scheduled {
  outcome: AppOutcome;
}

export interface ScheduleOptions<R extends Scheduled> {
  /** From the plan: every app's dependencies are in earlier layers. */
  layers: string[][];
  dependsOn: (app: string) => string[];
  /** The app's own sync wave: inside a layer, lower waves finish before higher ones start. */
  wave: (app: string) => number;
  concurrency: number;
  /** Once aborted, no app starts; apps not started are reported cancelled. */
  signal: AbortSignal;
  run: (app: string) => Promise<R>;
  skip: (app: string, cause: string) => R;
  cancel: (app: string) => R;
}

const STOPS_DEPENDENTS: AppOutcome[] = ['failed', 'skipped', 'cancelled'];

/**
 * Runs the plan's layers in order; inside a layer, apps run in parallel up to `concurrency`,
 * grouped by app sync wave. An app whose dependency failed (or was itself skipped or cancelled)
 * is skipped with the cause; independent apps go on.
 */
export async function runLayers<R extends Scheduled>(o: ScheduleOptions<R>): Promise<Map<string, R>> {
  const results = new Map<string, R>();
  const limit = pLimit(o.concurrency);
  for (const layer of o.layers) {
    const waves = [...new Set(layer.map(o.wave))].sort((a, b) => a - b);
    for (const wave of waves) {
      const apps = layer.filter((a) => o.wave(a) === wave);
      await Promise.all(
        apps.map((app) =>
          limit(async () => {
            const blocker = o.dependsOn(app).find((d) => STOPS_DEPENDENTS.includes(results.get(d)?.outcome as AppOutcome));
            if (blocker) {
              const r = results.get(blocker)!;
              results.set(app, o.skip(app, `dependency ${blocker} ${r.outcome === 'skipped' ? 'was skipped' : r.outcome}`));
            } else if (o.signal.aborted) {
              results.set(app, o.cancel(app));
            } else {
              results.set(app, await o.run(app));
            }
          }),
        ),
      );
    }
  }
  return results;
}
