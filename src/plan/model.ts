import type { App, Root } from '../root/model.js';

/** Why an app is in (or out of) this deploy. */
export type ChangeStatus =
  | 'new' // never deployed to this environment
  | 'changed' // a file it depends on, or its root entry, changed since its deployed commit
  | 'forced' // FORCE=true, or named in APPS with FORCE
  | 'unknown-base' // its deployed commit is not in the clone even after deepening: compared by rendered digest
  | 'unchanged'
  | 'skipped'; // not selected by APPS

export interface AppChange {
  app: App;
  status: ChangeStatus;
  /** Human-readable reasons, e.g. "apps/api/deployment.yaml changed", "root entry changed". */
  reasons: string[];
  /** The commit this app's change was computed against (its deployed commit, or the run's base). */
  base?: string;
}

/** What was deployed before, per app (from the deploy ledger, or an injected source in tests). */
export interface DeployedApp {
  app: string;
  commit: string;
  /** sha256 of the rendered manifests that were applied. */
  digest?: string;
  deployedAt?: string;
  buildNumber?: string;
  triggerer?: string;
  /** A later deploy of the app that failed or was cancelled after changing objects: the cluster differs from `commit`. */
  failed?: { commit: string; at: string };
}

export interface DeployedState {
  /** The source of this state, for the plan output ("ledger of environment production (ConfigMaps -l ... in app-of-apps-pipe)"). */
  source: string;
  apps: Map<string, DeployedApp>;
}

export interface Plan {
  root: Root;
  environment?: string;
  /** The commit being deployed (full SHA). */
  head: string;
  /** How the base was chosen: "BASE_REVISION", "ledger", "pull request destination", "parent commit", "none". */
  baseSource: string;
  /** The run-wide base commit, when there is one (apps may have their own via the ledger). */
  base?: string;
  /** Every app of the environment, changed or not, in deploy order. */
  apps: AppChange[];
  /**
   * Deploy order: layers of app names; every app's dependencies are in earlier layers
   * (inside one layer apps may run in parallel). Contains only apps to deploy.
   */
  layers: string[][];
  /**
   * The sync wave each app of `layers` is deployed in: its own, or a dependency's higher one. A
   * failure in a wave stops the apps of higher waves (as Argo CD halts a sync).
   */
  waves: Record<string, number>;
  /** Apps that were deployed before but are no longer in the root manifest. */
  removed: string[];
  /** Notes for the user (deepened the clone, fell back to digests, ...). */
  notes: string[];
}

/** The changes the plan deploys (those in its layers), in the plan's order. */
export function changesToDeploy(plan: Plan): AppChange[] {
  const deploying = new Set(plan.layers.flat());
  return plan.apps.filter((c) => deploying.has(c.app.name));
}
