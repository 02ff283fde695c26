// Wires the stages; the only place that knows their order:
// config -> root manifest -> (cluster access + deployed state) -> change plan -> render -> apply -> report.
import { isTrue } from './config/booleans.js';
import { loadConfig, misspeltVariables, repositoryOf, withEnvironmentTarget, type Config } from './config/index.js';
import type { ClusterAccess } from './identity/index.js';
import { changesToDeploy, type DeployedState, type Plan } from './plan/model.js';
import type { ClusterFacts } from './apply/capabilities.js';
import type { ClusterCapabilities, RenderedApp, RenderError } from './render/model.js';
import type { planReport } from './report/plan-report.js';
import { createLogger, type Logger } from './report/logger.js';
import { reportFailure } from './report/failure.js';
import type { RunOutcome, RunRecord } from './report/code-insights.js';
import { checkReportFile } from './report/report-file.js';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { combineErrors, ExitCode, InputError, PipeError } from './util/errors.js';
import { registerCredentialVariables, ToolError } from './util/exec.js';
import { Git, withoutUserInfo } from './util/git.js';
import { PrivateDir } from './util/private-dir.js';
import { toolPath } from './util/tools.js';
import { GitTree, pathInRepo, WorkTree } from './util/tree.js';

// Stages are loaded when the run reaches them: plan mode never loads identity or apply (the AWS
// SDK), and the first log line does not wait for the modules of later stages.
const stages = {
  root: () => import('./root/index.js'),
  plan: () => import('./plan/index.js'),
  render: () => import('./render/index.js'),
  identity: () => import('./identity/index.js'),
  apply: () => import('./apply/index.js'),
  planReport: () => import('./report/plan-report.js'),
  jsonReport: () => import('./report/json-report.js'),
  deploySummary: () => import('./report/deploy-summary.js'),
};

export interface RunOptions {
  /** Aborted on SIGTERM/SIGINT (a cancelled pipeline). */
  signal?: AbortSignal;
  logger?: Logger;
}

export async function run(env: NodeJS.ProcessEnv, opts: RunOptions = {}): Promise<number> {
  // before the configuration, so its own errors are logged too (DEBUG is read as config reads it)
  const logger = opts.logger ?? createLogger({ debug: isTrue(env.DEBUG) });
  // secrets given as pipe variables are masked from the start, whatever later passes them on
  registerCredentialVariables(env);
  // rendered manifests and inline Helm values: removed at the end, and on exit (a second SIGTERM)
  const tmp = PrivateDir.create();
  const started = Date.now();
  let config: Config | undefined;
  // what the stages got to, for the Code Insights report (of a failed run too)
  const record: RunRecord = {};
  let exitCode: number;
  let error: unknown;
  try {
    // before the variables are checked: a misspelt one is most worth knowing when something is wrong
    for (const warning of misspeltVariables(env)) logger.warn(warning);
    config = loadConfig(env);
    checkReportFile(config.reportFile);
    exitCode = await runStages(config, env, logger, tmp.path, opts.signal ?? new AbortController().signal, record);
  } catch (err) {
    error = err;
    exitCode = reportFailure(err, logger);
  } finally {
    tmp.remove();
  }
  if (config?.codeInsights.enabled) {
    // a cancelled run has seconds before it is killed: a short try
    const timeoutMs = opts.signal?.aborted ? 5_000 : 20_000;
    // whatever happens there, the run's result stands
    await publishCodeInsights(config, { ...record, exitCode, error, durationMs: Date.now() - started }, logger, timeoutMs).catch((err: unknown) =>
      logger.warn(`the Code Insights report was not published (${err instanceof Error ? err.message : String(err)}); the run's result is unchanged`),
    );
  }
  return exitCode;
}

/** The run as a Bitbucket Code Insights report on the commit; a failure to publish is a warning, never the run's result. */
async function publishCodeInsights(config: Config, outcome: Omit<RunOutcome, 'mode' | 'environment' | 'pipelineUrl'>, logger: Logger, timeoutMs: number): Promise<void> {
  const { insightsReport, publishInsights } = await import('./report/code-insights.js');
  const given = config.build.commit!;
  // Bitbucket gives short SHAs on pull-request builds; the API wants the full one
  const full = /^[0-9a-f]{40}$/i.test(given);
  const commit = full ? given : await new Git(config.workspace).resolve(given).catch(() => undefined);
  if (!commit) {
    logger.warn(`the Code Insights report was not published: BITBUCKET_COMMIT ${given} is not a commit of the clone; the run's result is unchanged`);
    return;
  }
  const repository = config.build.repoFullName!;
  const built = insightsReport({
    ...outcome,
    mode: config.mode,
    environment: outcome.plan?.environment ?? config.environment,
    pipelineUrl: config.build.buildNumber ? `https://bitbucket.org/${repository}/pipelines/results/${config.build.buildNumber}` : undefined,
  });
  await publishInsights({ repository, commit, proxy: config.codeInsights.proxy }, built, logger, timeoutMs);
}

async function runStages(given: Config, env: NodeJS.ProcessEnv, logger: Logger, tmp: string, signal: AbortSignal, record: RunRecord): Promise<number> {
  let config = given;
  const started = Date.now();
  const kubectlBin = toolPath('kubectl', env);
  const helmBin = toolPath('helm', env);
  const git = new Git(config.workspace);
  logger.info(`app-of-apps-pipe: ${config.mode} ${config.rootManifest}${config.environment ? ` for ${config.environment}` : ''}`);

  // git searches the manifests, and resolves the base when it does not depend on the ledger, while
  // the root (CPU-bound) loads
  const { buildPlan, startManifestSearch, startBaseResolution } = await stages.plan();
  const search = startManifestSearch(git);
  const bases = startBaseResolution({ git, config, build: config.build, logger, ledger: config.mode !== 'plan' });
  // the first git answer, awaited before the root loads: a workspace that is no clone fails here
  const remotes = workspaceRemotes(git, config.workspace);
  remotes.catch(() => undefined); // (handled where it is awaited)
  // the pipe renders the files on disk: uncommitted ones (a script line before may have made them)
  // are changes too; the folder where Bitbucket keeps pipes' files and the report are not
  const uncommitted = git.workTreeChanges(pipeFilesIn(config)).catch((err: unknown) => {
    if (!(err instanceof ToolError)) throw err;
    throw new PipeError(`cannot tell whether the work tree differs from the commit: git status failed: ${err.lastLine}`, {
      hint: 'check that the clone is intact (git status in it), and that nothing else writes to it while the pipe runs',
      cause: err,
    });
  });
  uncommitted.catch(() => undefined); // (handled where it is awaited)
  const { loadRoot } = await stages.root();
  const repoUrls = [...(await remotes), config.build.gitHttpOrigin, config.build.gitSshOrigin]
    .filter((u): u is string => Boolean(u))
    .map(withoutUserInfo);
  const rootAt = (tree: WorkTree | GitTree) =>
    loadRoot({ tree, path: config.rootManifest, environment: config.environment, repoUrls, branch: config.build.branch, clusterName: config.identity.clusterName, clusterEndpoint: config.identity.clusterEndpoint, defaultTimeoutSeconds: config.timeoutSeconds, helmBin, tmpDir: tmp });
  const root = await rootAt(new WorkTree(config.workspace));
  // the environment's cluster and role in the root manifest serve where no pipe variable says otherwise
  config = withEnvironmentTarget(config, root.environment, root.file);

  // Deploy and diff compare with what the cluster says is deployed (the ledger); plan mode needs no cluster.
  let access: ClusterAccess | undefined;
  try {
    let deployed: DeployedState | undefined;
    if (config.mode !== 'plan') {
      const { establishAccess } = await stages.identity();
      access = await establishAccess(config, logger, { signal });
      logger.info(`Cluster: ${access.describe}`);
      const { readDeployedState } = await stages.apply();
      deployed = await readDeployedState(access, {
        environment: config.environment ?? 'default',
        ledgerNamespace: config.ledgerNamespace,
        repository: repositoryOf(config),
      });
    }

    const plan = await buildPlan({
      git,
      workspace: config.workspace,
      root,
      loadRootAt: (rev) => rootAt(new GitTree(git, rev)),
      config,
      build: config.build,
      deployed,
      logger,
      search,
      bases,
      uncommitted,
    });
    logger.info(plannedLine(plan, Date.now() - started));
    const dirty = await uncommitted;
    if (dirty.length) {
      const recorded = config.mode === 'deploy' ? `; the ledger records ${plan.head.slice(0, 12)}` : '';
      const note = `the work tree differs from ${plan.head.slice(0, 12)} in ${dirty.length} file(s) (${dirty.slice(0, 3).join(', ')}${dirty.length > 3 ? ', ...' : ''}): they count as changes, and the files are rendered as they are on disk${recorded}`;
      logger.warn(note);
      plan.notes.push(note);
    }

    const toDeploy = changesToDeploy(plan).map((c) => c.app);
    // Helm charts (helm apps, kustomize helmCharts) render for the target cluster, as helm install would
    const charts = toDeploy.some((a) => a.type !== 'directory');
    const cluster = access && charts ? await readClusterFacts(access, config, logger, signal) : undefined;
    const { rendered, errors } = await renderAll(toDeploy, config, { kubectlBin, helmBin, tmp, signal, capabilities: cluster?.capabilities, revision: plan.head });
    if (config.mode === 'plan' && [...rendered.values()].some((r) => r.renderedCharts)) {
      plan.notes.push("plan mode has no cluster: Helm charts (helm apps, kustomize helmCharts) were rendered for helm's built-in Kubernetes version and API versions (.Capabilities); deploy and diff render them for the cluster's");
    }
    const { planReport, printPlan } = await stages.planReport();
    const { writeReport } = await stages.jsonReport();
    const report = planReport(plan, rendered, errors);
    record.plan = report;
    for (const r of rendered.values()) for (const w of r.warnings ?? []) logger.warn(`${r.app}: ${w}`);

    if (config.mode === 'plan') {
      printPlan(report, logger);
      await writeReport(config, { mode: 'plan', plan: report, durationMs: Date.now() - started });
      if (errors.length) throw combineErrors(errors, `${errors.length} apps cannot be rendered`);
      logger.success(`Plan: ${toDeploy.length} of ${plan.apps.length} apps would be deployed`);
      return ExitCode.ok;
    }
    // Everything is rendered and validated before the first apply: a render error applies nothing.
    if (errors.length) {
      await writeReport(config, { mode: config.mode, plan: report, durationMs: Date.now() - started });
      throw combineErrors(errors, `${errors.length} apps cannot be rendered`);
    }
    return await applyStage(config, plan, deployed, rendered, report, { access: access!, served: cluster?.served }, logger, signal, started, record);
  } finally {
    await access?.dispose();
  }
}

/** The clone's remote URLs, once the workspace is found to be the top of a git work tree. */
async function workspaceRemotes(git: Git, workspace: string): Promise<string[]> {
  try {
    // a .git (folder, or file of a linked work tree) here is the top of a work tree: no need to ask
    const [urls, top] = await Promise.all([git.remoteUrls(), existsSync(join(workspace, '.git')) ? workspace : git.workTreeTop()]);
    const where = { variable: 'BITBUCKET_CLONE_DIR' };
    if (top === 'bare') {
      throw new InputError(`${workspace} is a bare git repository (it has no work tree)`, { where, hint: 'run the pipe in a clone with its files checked out (git clone without --bare)' });
    }
    if (realpathSync(top) !== realpathSync(workspace)) {
      throw new InputError(`${workspace} is inside the git work tree ${top}, not at its top`, {
        where,
        hint: `set BITBUCKET_CLONE_DIR to ${top}; ROOT_MANIFEST and every path of the root manifest are relative to it`,
      });
    }
    return urls;
  } catch (err) {
    throw workspaceError(err, workspace);
  }
}

/** Paths in the clone that are the pipe's own or Bitbucket's, not the repository's: left out of "uncommitted". */
function pipeFilesIn(config: Config): string[] {
  const report = pathInRepo(config.workspace, config.reportFile);
  return ['.bitbucket/pipelines/generated', ...(report ? [report] : [])];
}

/** A workspace git cannot read: missing, or not a clone. Any other git failure is reported as it is. */
function workspaceError(err: unknown, workspace: string): unknown {
  if (!(err instanceof ToolError)) return err;
  const where = { variable: 'BITBUCKET_CLONE_DIR' };
  if (!existsSync(workspace)) {
    return new InputError(`${workspace} does not exist`, { where, hint: 'run the pipe in a pipeline step (Bitbucket sets BITBUCKET_CLONE_DIR), or set it to a git clone of the repository' });
  }
  if (/not a git repository/i.test(err.stderr)) {
    return new InputError(`${workspace} is not a git repository`, {
      where,
      hint: 'the pipe compares commits to decide what to deploy: run it in a clone of the repository (a folder with .git), not an export of its files',
    });
  }
  return err;
}

/** The plan in one line, before the apps are rendered (which can take a while). */
function plannedLine(plan: Plan, ms: number): string {
  const count = plan.layers.reduce((n, layer) => n + layer.length, 0);
  const against = plan.base
    ? `${plan.base.slice(0, 12)} (${plan.baseSource})`
    : plan.baseSource === 'ledger'
      ? 'the commits deployed (ledger)'
      : plan.baseSource === 'none'
        ? 'nothing (first commit)'
        : `the ${plan.baseSource}`;
  return `Planned in ${(ms / 1000).toFixed(1)} s: ${count} of ${plan.apps.length} apps to deploy, compared with ${against}${count ? '; rendering them' : ''}`;
}

/** The cluster's version and API versions, for Helm's .Capabilities; the discovery behind them serves the apply too. */
async function readClusterFacts(access: ClusterAccess, config: Config, logger: Logger, signal: AbortSignal): Promise<ClusterFacts> {
  const { readCapabilities } = await stages.apply();
  const facts = await readCapabilities(access, { context: config.identity.kubeContext, signal });
  const { kubeVersion, apiVersions } = facts.capabilities;
  if (kubeVersion) logger.info(`Helm charts render for the cluster: Kubernetes ${kubeVersion}, ${apiVersions.length} API versions and kinds`);
  else logger.warn("the API server reports no version helm can read (GET /version): Helm charts render with helm's built-in Kubernetes version, and the cluster's API versions");
  return facts;
}

/** Renders every app to deploy; one app's error does not hide another's. */
async function renderAll(
  apps: import('./root/model.js').App[],
  config: Config,
  t: { kubectlBin: string; helmBin: string; tmp: string; signal: AbortSignal; capabilities?: ClusterCapabilities; revision: string },
): Promise<{ rendered: Map<string, RenderedApp>; errors: RenderError[] }> {
  const { RenderError, renderApps } = await stages.render();
  const results = await renderApps(apps, {
    workspace: config.workspace,
    tmpDir: t.tmp,
    kubectlBin: t.kubectlBin,
    helmBin: t.helmBin,
    capabilities: t.capabilities,
    revision: t.revision,
    concurrency: config.concurrency,
    signal: t.signal,
  });
  const rendered = new Map<string, RenderedApp>();
  const errors: RenderError[] = [];
  for (const [name, r] of results) {
    if (r instanceof RenderError) errors.push(r);
    else rendered.set(name, r);
  }
  return { rendered, errors };
}

/** Apps named in a last line before "and N more". */
const MAX_APPS_IN_LINE = 20;

/**
 * The commit deployed or compared, as the user knows it: on a pull-request build HEAD is the merge
 * Bitbucket made of the source commit (BITBUCKET_COMMIT) into the destination branch.
 */
function describeHead(head: string, build: Config['build']): string {
  const commit = build.commit;
  if (!commit || head.startsWith(commit) || !build.prDestinationBranch) return head.slice(0, 12);
  return `${head.slice(0, 12)} (${commit.slice(0, 12)} merged into ${build.prDestinationBranch}, as the pull request would merge it)`;
}

async function applyStage(
  config: Config,
  plan: Plan,
  deployed: DeployedState | undefined,
  rendered: Map<string, RenderedApp>,
  report: ReturnType<typeof planReport>,
  cluster: { access: ClusterAccess; served?: ClusterFacts['served'] },
  logger: Logger,
  signal: AbortSignal,
  started: number,
  record: RunRecord,
): Promise<number> {
  const apply = await stages.apply();
  const { writeReport, reportError } = await stages.jsonReport();
  const { successLine } = await stages.deploySummary();
  // a run stopped before it has per-app results (the lock held past LOCK_TIMEOUT, say) still writes its report
  const stopped = async (err: unknown): Promise<never> => {
    await writeReport(config, { mode: config.mode, plan: report, error: reportError(err), durationMs: Date.now() - started }).catch((e: unknown) => logger.warn((e as Error).message));
    throw err;
  };
  if (config.mode === 'diff') {
    const result = await apply.diff({ plan, rendered, ...cluster, config, logger, signal }).catch(stopped);
    record.diff = result;
    await writeReport(config, { mode: 'diff', plan: report, result, durationMs: Date.now() - started });
    const changed = result.apps.filter((a) => a.changed).map((a) => a.app);
    if (!result.ok) {
      logger.failure('Diff incomplete: some apps could not be compared (see above)');
      return ExitCode.deployFailed;
    }
    if (!result.changed) {
      logger.success(`No differences: the cluster matches ${describeHead(plan.head, config.build)}`);
      return ExitCode.ok;
    }
    const shown = changed.length > MAX_APPS_IN_LINE ? `${changed.slice(0, MAX_APPS_IN_LINE).join(', ')} and ${changed.length - MAX_APPS_IN_LINE} more (see above)` : changed.join(', ');
    const line = `${changed.length} app(s) would change: ${shown}`;
    if (config.failOnDiff) {
      logger.failure(`${line} (FAIL_ON_DIFF=true)`);
      return ExitCode.diffFound;
    }
    logger.success(line);
    return ExitCode.ok;
  }
  const result = await apply.deploy({ plan, deployed, rendered, ...cluster, config, logger, signal }).catch(stopped);
  record.deploy = result;
  await writeReport(config, { mode: 'deploy', plan: report, result, durationMs: Date.now() - started });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.ok) {
    logger.success(successLine(result, seconds));
    return ExitCode.ok;
  }
  const failed = result.apps.filter((a) => a.outcome === 'failed').map((a) => a.app);
  logger.failure(
    result.cancelled
      ? `Deploy to ${result.environment} cancelled after ${seconds}s`
      : result.lockLost
        ? `Deploy to ${result.environment} stopped after ${seconds}s: the environment lock was lost (see above)${failed.length ? `; failed: ${failed.join(', ')}` : ''}`
        : `Deploy to ${result.environment} failed: ${failed.join(', ') || 'see above'}`,
  );
  return ExitCode.deployFailed;
}
