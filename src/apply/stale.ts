import type { DeployedState } from '../plan/model.js';
import { Git } from '../util/git.js';
import { PipeError } from '../util/errors.js';
import type { LedgerEntry } from './ledger.js';

export interface Moved {
  outcome: 'unchanged' | 'failed';
  reason: string;
  hint?: string;
}

const who = (e: LedgerEntry) => `build ${e.buildNumber ?? '?'} (commit ${e.commit.slice(0, 12)})`;

/**
 * Apps another run deployed between this run's plan and its lock. The plan was made from the
 * ledger as it was then; deploying blindly could put an older commit over a newer one. An app
 * now at this run's commit is already done; one at an ancestor of it is deployed (this commit
 * contains that one); anything else fails, so nothing newer is overwritten.
 */
export async function movedSincePlan(opts: {
  planned: DeployedState | undefined;
  now: Map<string, LedgerEntry>;
  apps: string[];
  head: string;
  workspace: string;
}): Promise<Map<string, Moved>> {
  const moved = new Map<string, Moved>();
  if (!opts.planned) return moved;
  const git = new Git(opts.workspace);
  for (const app of opts.apps) {
    const before = opts.planned.apps.get(app);
    const now = opts.now.get(app);
    if (!now || (before?.commit === now.commit && before.deployedAt === now.deployedAt)) continue;
    if (now.commit === opts.head && !now.failed) {
      moved.set(app, { outcome: 'unchanged', reason: `already deployed at this commit by ${who(now)} while this run waited` });
      continue;
    }
    const base = await git.mergeBase(now.commit, opts.head).catch(() => undefined);
    if (base === now.commit) continue;
    moved.set(app, {
      outcome: 'failed',
      reason: `deployed by ${who(now)} while this run waited for the lock; this run's commit ${opts.head.slice(0, 12)} does not contain that commit, so it is not overwritten`,
      hint: 'run the pipeline again for the newest commit: it plans against what is deployed now',
    });
  }
  return moved;
}

/**
 * Apps this run does not deploy whose entries another run wrote between this run's plan and its
 * lock. The plan found them unchanged against the entries it read; against the new ones they may
 * not be (the other run deployed an older commit this one reverts, or its attempt did not finish),
 * and only a new plan can tell. So the run stops before anything is applied, and says to run again.
 * An app deployed meanwhile at this run's own commit is what this run would have deployed.
 */
export function checkUnplannedMoves(opts: {
  planned: DeployedState | undefined;
  now: Map<string, LedgerEntry>;
  deploying: ReadonlySet<string>;
  head: string;
  /** The apps this run is about (APPS); undefined: all. Another pipeline's deploy of other apps is not this run's concern. */
  scope?: ReadonlySet<string>;
  /** Apps this run's plan removes anyway: another run that removed them first agrees. */
  removed?: readonly string[];
}): void {
  if (!opts.planned) return;
  const inScope = (app: string) => !opts.deploying.has(app) && (!opts.scope || opts.scope.has(app));
  const moved: string[] = [];
  for (const [app, now] of opts.now) {
    if (!inScope(app)) continue;
    const before = opts.planned.apps.get(app);
    const sameDeploy = before?.commit === now.commit && before.deployedAt === now.deployedAt;
    const sameMark = before?.failed?.at === now.failed?.at;
    if (sameDeploy && sameMark) continue;
    // the same deploy without the mark the plan saw (removed by hand): the cluster is taken to be at the recorded deploy
    if (sameDeploy && !now.failed) continue;
    if (!sameDeploy && now.commit === opts.head && !now.failed) continue;
    moved.push(sameDeploy ? `a deploy attempt of app ${app} (commit ${now.failed!.commit.slice(0, 12)}) changed its objects and did not finish meanwhile` : `app ${app} was deployed by ${who(now)} meanwhile`);
  }
  // an entry another run removed (PRUNE_REMOVED_APPS at a commit without the app): its objects may be gone
  for (const app of opts.planned.apps.keys()) {
    if (inScope(app) && !opts.now.has(app) && !opts.removed?.includes(app)) moved.push(`app ${app} was removed from the ledger meanwhile (another run pruned it)`);
  }
  if (!moved.length) return;
  throw new PipeError(`the deployed apps changed since this run planned: ${moved.join('; ')}; nothing was applied`, {
    hint: 'another pipeline deployed to this environment while this one planned or waited for the lock: run this pipeline again, it plans against what is deployed now',
  });
}
