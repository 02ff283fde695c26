import pLimit from 'p-limit';
import type { AppOutcome } from './model.js';

export interface Scheduled {
  outcome: AppOutcome;
}

export interface ScheduleOptions<R extends Scheduled> {
  /** From the plan: every app's dependencies are in earlier layers. */
  layers: string[][];
  dependsOn: (app: string) => string[];
  /**
   * The sync wave the app is deployed in: inside a layer, lower waves finish before higher ones
   * start; once an app failed (or was skipped or cancelled), apps of higher waves do not start.
   */
  wave: (app: string) => number;
  concurrency: number;
  /** Once aborted, no app starts; apps not started are reported cancelled. */
  signal: AbortSignal;
  run: (app: string) => Promise<R>;
  skip: (app: string, cause: string) => R;
  cancel: (app: string) => R;
}

const STOPS_DEPENDENTS: AppOutcome[] = ['failed', 'skipped', 'cancelled'];

const ended = (app: string, outcome: AppOutcome) => `${app} ${outcome === 'skipped' ? 'was skipped' : outcome}`;

/**
 * Runs the plan's layers in order; inside a layer, apps run in parallel up to `concurrency`,
 * grouped by app sync wave. An app whose dependency failed (or was itself skipped or cancelled)
 * is skipped with the cause; independent apps of the same wave go on. As Argo CD halts a sync at
 * a failed wave, apps of higher waves are skipped once an app of a lower wave did not succeed.
 */
export async function runLayers<R extends Scheduled>(o: ScheduleOptions<R>): Promise<Map<string, R>> {
  const results = new Map<string, R>();
  const limit = pLimit(o.concurrency);
  // the lowest wave with an app that failed, was skipped or was cancelled
  let halted: { wave: number; app: string } | undefined;
  const settle = (app: string, r: R) => {
    results.set(app, r);
    const wave = o.wave(app);
    if (STOPS_DEPENDENTS.includes(r.outcome) && (!halted || wave < halted.wave)) halted = { wave, app };
  };
  for (const layer of o.layers) {
    const waves = [...new Set(layer.map(o.wave))].sort((a, b) => a - b);
    for (const wave of waves) {
      const apps = layer.filter((a) => o.wave(a) === wave);
      await Promise.all(
        apps.map((app) =>
          limit(async () => {
            const blocker = o.dependsOn(app).find((d) => STOPS_DEPENDENTS.includes(results.get(d)?.outcome as AppOutcome));
            if (blocker) {
              settle(app, o.skip(app, `dependency ${ended(blocker, results.get(blocker)!.outcome)}`));
            } else if (o.signal.aborted) {
              settle(app, o.cancel(app));
            } else if (halted && halted.wave < wave) {
              settle(app, o.skip(app, `wave ${halted.wave} app ${ended(halted.app, results.get(halted.app)!.outcome)}`));
            } else {
              settle(app, await o.run(app));
            }
          }),
        ),
      );
    }
  }
  return results;
}
