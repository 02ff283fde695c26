import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import pLimit from 'p-limit';
import { withBuildEnvironment } from '../root/build-environment.js';
import type { App } from '../root/model.js';
import { errorMessage, ExitCode, PipeError } from '../util/errors.js';
import { ToolError } from '../util/exec.js';
import { KUSTOMIZATION_FILES } from '../util/source-files.js';
import { WorkTree } from '../util/tree.js';
import { mask } from '../report/mask.js';
import { renderDirectory } from './directory.js';
import { renderHelm } from './helm.js';
import { renderKustomize } from './kustomize.js';
import { RenderError, type ClusterCapabilities, type RenderedApp } from './model.js';
import { digestObjects, finalizeObjects } from './objects.js';
import type { Sourced } from './parse.js';
import { Helm, Kustomize, writeKustomizeHelmCommand } from './tools.js';

export { RenderError, objectId, type ClusterCapabilities, type K8sObject, type RenderedApp } from './model.js';

export interface RenderOptions {
  /** The repository's work tree at the commit being deployed. */
  workspace: string;
  /** A private temp dir of the run; renders put their scratch files below it. */
  tmpDir: string;
  kubectlBin: string;
  helmBin: string;
  /** The target cluster's version and API versions for Helm charts; helm's defaults without (plan mode). */
  capabilities?: ClusterCapabilities;
  /** The commit being deployed: Argo CD's ARGOCD_APP_REVISION for apps that use it. */
  revision?: string;
  signal?: AbortSignal;
}

/** Directory apps parse in process; more of them at once only overlaps file reads. */
const DIRECTORY_CONCURRENCY = 16;

/** What all renders of one run share: the work tree, the tool wrappers, the helm command for kustomize. */
class Renderer {
  readonly tree: WorkTree;
  readonly helm: Helm;
  private kustomize?: Promise<Kustomize>;

  constructor(readonly opts: RenderOptions) {
    this.tree = new WorkTree(opts.workspace);
    this.helm = new Helm(opts.helmBin, join(opts.tmpDir, 'helm-home'));
  }

  private kustomizeTool(): Promise<Kustomize> {
    this.kustomize ??= writeKustomizeHelmCommand(join(this.opts.tmpDir, 'bin'), this.opts.helmBin).then(
      (helmCommand) => new Kustomize(this.opts.kubectlBin, helmCommand, this.opts.tmpDir),
    );
    return this.kustomize;
  }

  async render(given: App): Promise<RenderedApp> {
    const { signal, capabilities } = this.opts;
    try {
      signal?.throwIfAborted();
      // an imported Application's helm parameters and kustomize options, as Argo CD substitutes them
      const app = withBuildEnvironment(given, this.opts.revision);
      let sourced: Sourced[];
      let warnings: string[] = [];
      let renderedCharts = false;
      if (app.type === 'directory') {
        ({ objects: sourced, warnings } = await renderDirectory(this.tree, app, signal));
      } else {
        const tmp = await mkdtemp(join(this.opts.tmpDir, 'render-'));
        try {
          if (app.type === 'helm') {
            sourced = await renderHelm({ app, tree: this.tree, helm: this.helm, tmp, capabilities, signal });
            renderedCharts = true;
          } else {
            ({ objects: sourced, renderedCharts } = await renderKustomize({ app, tree: this.tree, kustomize: await this.kustomizeTool(), tmp, capabilities, signal }));
          }
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      }
      const objects = finalizeObjects(sourced, app.namespace);
      const nested = nestedArgoApps(objects);
      if (nested) warnings = [...warnings, nested];
      return { app: app.name, objects, digest: digestObjects(objects), ...(renderedCharts ? { renderedCharts } : {}), ...(warnings.length ? { warnings } : {}) };
    } catch (e) {
      throw toRenderError(given, e, signal, this.opts.workspace);
    }
  }
}

/** Renders one app to the objects it consists of (validated, namespaced, digested). Throws RenderError. */
export function renderApp(app: App, opts: RenderOptions): Promise<RenderedApp> {
  return new Renderer(opts).render(app);
}

/**
 * Renders every app before anything is applied, up to `concurrency` tool processes at once.
 * Each app gets its result or its own error: one failure never hides another's; the caller decides.
 */
export async function renderApps(apps: App[], opts: RenderOptions & { concurrency: number }): Promise<Map<string, RenderedApp | RenderError>> {
  const renderer = new Renderer(opts);
  const tools = pLimit(Math.max(1, opts.concurrency));
  const inProcess = pLimit(DIRECTORY_CONCURRENCY);
  const settle = (app: App) => renderer.render(app).catch((e: unknown) => (e instanceof RenderError ? e : toRenderError(app, e, undefined, opts.workspace)));
  // tool renders first: their processes run while directory apps are parsed here
  const pending = new Map<string, Promise<RenderedApp | RenderError>>();
  for (const app of apps) if (app.type !== 'directory') pending.set(app.name, tools(() => settle(app)));
  for (const app of apps) if (app.type === 'directory') pending.set(app.name, inProcess(() => settle(app)));
  const results = new Map<string, RenderedApp | RenderError>();
  for (const app of apps) results.set(app.name, await pending.get(app.name)!);
  return results;
}

function toRenderError(app: App, e: unknown, signal: AbortSignal | undefined, workspace: string): RenderError {
  if (e instanceof RenderError) return e;
  if (signal?.aborted) return new RenderError(app.name, 'render cancelled', { exitCode: ExitCode.deployFailed, cause: e });
  if (e instanceof PipeError) {
    return new RenderError(app.name, e.message, { exitCode: e.exitCode, where: e.where, hint: e.hint, details: e.details, cause: e });
  }
  if (e instanceof ToolError) {
    // a tool that ran and refused the input is bad input; one that crashed or hung is not
    const rejected = e.exitCode !== undefined && !e.timedOut;
    const verb = e.tool === 'helm' ? 'helm template' : 'kubectl kustomize';
    const why = e.timedOut ? `timed out after ${e.durationMs} ms` : e.exitCode === undefined ? 'could not be started' : `failed (exit ${e.exitCode})`;
    // a --set helm could not parse comes from the app's parameters in the root, not from the chart
    const badParameter = e.tool === 'helm' && /failed parsing --set/i.test(e.stderr);
    if (badParameter) {
      return new RenderError(app.name, `helm refused a parameter of app ${app.name}`, {
        exitCode: ExitCode.badInput,
        where: app.origin,
        details: mask(e.stderr).trim().split('\n').slice(-5),
        hint: 'fix the parameter names of the app (helm.parameters: a dotted key such as image.tag, list items as name[0])',
        cause: e,
      });
    }
    return new RenderError(app.name, `${verb} ${app.path || '.'} ${why}`, {
      exitCode: rejected ? ExitCode.badInput : ExitCode.deployFailed,
      where: toolErrorPlace(app, e, workspace),
      details: mask(e.stderr).trim().split('\n').slice(-20),
      hint: rejected
        ? `fix the ${app.type === 'helm' ? 'chart or its values' : 'kustomization'}; the lines above are ${e.tool}'s own message`
        : `check that ${e.tool} works on this machine`,
      cause: e,
    });
  }
  return new RenderError(app.name, `render failed: ${mask(errorMessage(e))}`, { exitCode: ExitCode.deployFailed, cause: e });
}

/**
 * An app that renders Argo CD Applications (an app of apps inside an app): the pipe applies them as
 * objects, and only an Argo CD in the cluster would deploy what they name; say so, and how to
 * have the pipe deploy it.
 */
function nestedArgoApps(objects: { apiVersion: string; kind: string; metadata: { name: string } }[]): string | undefined {
  const argo = objects.filter((o) => o.apiVersion.startsWith('argoproj.io/') && (o.kind === 'Application' || o.kind === 'ApplicationSet'));
  if (!argo.length) return undefined;
  const names = argo.slice(0, 3).map((o) => `${o.kind} ${o.metadata.name}`).join(', ') + (argo.length > 3 ? ` and ${argo.length - 3} more` : '');
  return `renders ${names}: the pipe applies ${argo.length === 1 ? 'it as an object' : 'them as objects'} and does not deploy what ${argo.length === 1 ? 'it names' : 'they name'} (an Argo CD in the cluster would); to deploy that with the pipe, list it in the root manifest instead`;
}

/**
 * The file a tool's failure is about (a Code Insights annotation needs a file, not a folder): the
 * template and line helm names ("execution error at (web/templates/cm.yaml:5:8)", the chart's name
 * first), else the chart's Chart.yaml or the kustomization; the app's folder when none is found.
 */
function toolErrorPlace(app: App, e: ToolError, workspace: string): { file: string; line?: number } {
  const dir = app.path || '.';
  const inApp = (file: string) => (existsSync(join(workspace, dir, file)) ? posix.join(dir, file) : undefined);
  if (e.tool === 'helm') {
    const at = /\(([^()\s:]+\/[^()\s:]+):(\d+)(?::\d+)?\)/.exec(e.stderr) ?? /parse error on ([^()\s:]+\/[^()\s:]+)/.exec(e.stderr);
    const template = at && inApp(at[1]!.split('/').slice(1).join('/'));
    if (template) return { file: template, ...(at[2] ? { line: Number(at[2]) } : {}) };
    return { file: inApp('Chart.yaml') ?? dir };
  }
  const kustomization = KUSTOMIZATION_FILES.map(inApp).find(Boolean);
  return { file: kustomization ?? dir };
}
