import { mkdtemp } from 'node:fs/promises';
import { join as joinFs, posix } from 'node:path';
import { InputError, InputErrors, PipeError } from '../util/errors.js';
import { runTool, ToolError } from '../util/exec.js';
import { GitTree, WorkTree } from '../util/tree.js';
import type { RepoFiles } from './files.js';
import { join } from './source.js';
import { parseYaml, type YamlDoc } from './yaml.js';

export interface HelmRootResult {
  docs: YamlDoc[];
  /** Environments the chart has a values-<env>.yaml for. */
  environments: string[];
  /** The values file chosen for the environment, if any. */
  valuesFile?: string;
}

/**
 * Renders a root chart whose templates are Argo CD Applications (`helm template`), with
 * values-<ENVIRONMENT>.yaml on top of values.yaml when the chart has one. At a git revision
 * the chart is first written out of git into tmpDir, so base and head render the same way.
 */
export async function renderHelmRoot(
  files: RepoFiles,
  chartDir: string,
  opts: { environment?: string; helmBin: string; tmpDir: string },
): Promise<HelmRootResult> {
  const chartFiles = await files.filesIn(chartDir, true);
  const environments = chartFiles
    .map((f) => /^values-(.+)\.ya?ml$/.exec(posix.relative(chartDir || '.', f))?.[1])
    .filter((e): e is string => Boolean(e) && !e!.includes('/'));
  const valuesFile = opts.environment
    ? chartFiles.find((f) => [`values-${opts.environment}.yaml`, `values-${opts.environment}.yml`].includes(posix.relative(chartDir || '.', f)))
    : undefined;

  const dir = await chartOnDisk(files, chartDir, opts.tmpDir);
  const helmHome = await mkdtemp(joinFs(opts.tmpDir, 'helm-home-'));
  const release = releaseName(chartDir);
  const argv = ['template', release, dir];
  if (valuesFile) argv.push('--values', joinFs(dir, posix.relative(chartDir || '.', valuesFile)));
  let stdout: string;
  try {
    ({ stdout } = await runTool(opts.helmBin, argv, {
      env: { HELM_CACHE_HOME: joinFs(helmHome, 'cache'), HELM_CONFIG_HOME: joinFs(helmHome, 'config'), HELM_DATA_HOME: joinFs(helmHome, 'data') },
      timeoutMs: 120_000,
    }));
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    // the root chart renders as it is committed: its dependencies must be in charts/
    const unvendored = /missing in charts\/ directory/i.test(e.stderr);
    throw new InputError(`helm template of the root chart ${chartDir || '.'} failed: ${e.stderr.trim() || `exit ${e.exitCode}`}`, {
      where: { file: join(chartDir, 'Chart.yaml') },
      hint: unvendored
        ? `vendor the root chart's dependencies: run \`helm dependency build ${chartDir || '.'}\` and commit ${join(chartDir, 'charts')}/ (the root chart is rendered offline, as committed)`
        : `fix the chart so \`helm template ${release} ${chartDir || '.'}${valuesFile ? ` -f ${valuesFile}` : ''}\` succeeds`,
      cause: e,
    });
  }
  const rendered = `${join(chartDir, 'Chart.yaml')} (rendered)`;
  const { docs, errors } = parseYaml(stdout, rendered);
  if (errors.length) throw new InputErrors(errors);
  const chartName = await chartNameOf(files, chartDir);
  for (const doc of docs) {
    const source = /^\s*Source:\s*(\S+)/.exec(doc.comment ?? '')?.[1];
    // "# Source: <chart name>/templates/x.yaml" -> the template's path in the repository
    if (source) doc.file = join(chartDir, source.startsWith(`${chartName}/`) ? source.slice(chartName.length + 1) : source);
  }
  return { docs, environments: [...new Set(environments)].sort(), valuesFile };
}

/**
 * The chart's directory on disk: the work tree itself, or a copy written out of git (byte for
 * byte: a vendored dependency in charts/ is a .tgz).
 */
async function chartOnDisk(files: RepoFiles, chartDir: string, tmpDir: string): Promise<string> {
  const tree = files.tree;
  if (tree instanceof WorkTree) return tree.resolve(chartDir);
  if (!(tree instanceof GitTree)) throw new Error('the root chart is read from the work tree or from git');
  const dest = await mkdtemp(joinFs(tmpDir, 'root-chart-'));
  try {
    await tree.exportTo(dest, chartDir);
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    throw new PipeError(`the root chart ${chartDir || '.'} could not be written out of git at ${files.revisionName()}: ${e.lastLine}`, {
      hint: 'check that git can check out that revision in the clone (filters such as git-lfs need their tool in the image)',
      cause: e,
    });
  }
  return joinFs(dest, chartDir);
}

async function chartNameOf(files: RepoFiles, chartDir: string): Promise<string> {
  const text = (await files.read(join(chartDir, 'Chart.yaml'))) ?? '';
  const value = parseYaml(text, join(chartDir, 'Chart.yaml')).docs[0]?.value as { name?: unknown } | undefined;
  return typeof value?.name === 'string' ? value.name : posix.basename(chartDir);
}

/** The chart directory's name as a release name (helm wants a DNS label). */
function releaseName(chartDir: string): string {
  const name = (posix.basename(chartDir) || 'root').toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return (name || 'root').slice(0, 53);
}
