import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, posix, relative, resolve, sep } from 'node:path';
import { isMap, isNode, isSeq, LineCounter, parseDocument } from 'yaml';
import type { App } from '../root/model.js';
import { InputError } from '../util/errors.js';
import { repoPath, type WorkTree } from '../util/tree.js';
import { isObject, parseManifests, type Sourced } from './parse.js';
import type { ClusterCapabilities } from './model.js';
import type { Helm } from './tools.js';

interface Dependency {
  name: string;
  repository: string;
  line?: number;
}

interface ChartInfo {
  name: string;
  dependencies: Dependency[];
}

/**
 * A helm app: `helm template` of the chart at the app's path, never touching the network or the
 * clone. Dependencies must be vendored in charts/ or be local (file://); local ones that are not
 * vendored are put into a copy of the chart in the temp dir, the way `helm dependency build`
 * would, but without writing into the repository.
 */
export async function renderHelm(a: { app: App; tree: WorkTree; helm: Helm; tmp: string; capabilities?: ClusterCapabilities; signal?: AbortSignal }): Promise<Sourced[]> {
  const { app, tree, tmp } = a;
  const chartDir = await tree.resolve(app.path);
  const chart = await readChart(chartDir, app.path);
  if (!chart) {
    throw new InputError(`${app.path || '.'} has no Chart.yaml`, { where: app.origin, hint: "point the app's path at a Helm chart directory" });
  }
  const copy = join(tmp, 'chart');
  // every dependency is checked before anything is copied
  const localDeps = await localDependencies(chartDir, app.path, chart, tree, [chartDir], []);
  const needsCopy = localDeps.length > 0;
  if (needsCopy) {
    await cp(chartDir, copy, { recursive: true });
    for (const d of localDeps) {
      await mkdir(join(copy, ...d.to.slice(0, -1)), { recursive: true });
      await cp(d.from, join(copy, ...d.to), { recursive: true });
    }
  }

  const valueFiles: string[] = [];
  for (const f of app.helm?.valueFiles ?? []) {
    if (!(await tree.exists(repoPath(f, app.origin)))) {
      throw new InputError(`values file ${f} does not exist`, {
        where: app.origin,
        hint: `add ${f} to the repository, or remove it from the app's valueFiles`,
      });
    }
    valueFiles.push(await tree.resolve(f));
  }
  if (app.helm?.values && Object.keys(app.helm.values).length) {
    const inline = join(tmp, 'inline-values.json');
    await writeFile(inline, JSON.stringify(app.helm.values), { mode: 0o600 });
    valueFiles.push(inline);
  }
  const fileParameters: { name: string; file: string }[] = [];
  for (const f of app.helm?.fileParameters ?? []) {
    if (!(await tree.exists(repoPath(f.path, app.origin)))) {
      throw new InputError(`file parameter ${f.name}: ${f.path} does not exist`, { where: app.origin, hint: `add ${f.path} to the repository, or remove the file parameter` });
    }
    fileParameters.push({ name: f.name, file: await tree.resolve(f.path) });
  }
  const out = await a.helm.template(
    {
      release: app.helm?.releaseName || app.name,
      chart: needsCopy ? copy : chartDir,
      // Argo CD's helm.namespace is the release's namespace only: objects that name none still go to the app's
      namespace: app.helm?.namespace || app.namespace,
      valueFiles,
      parameters: app.helm?.parameters ?? [],
      fileParameters,
      skipCrds: app.helm?.skipCrds,
      capabilities: a.capabilities,
    },
    a.signal,
  );
  const prefix = `${chart.name}/`;
  const sourceComments = (s: string) => (s.startsWith(prefix) ? posix.join(app.path, s.slice(prefix.length)) : posix.join(app.path, s));
  return parseManifests(out, app.path, { sourceComments }).objects;
}

/** A local (file://) dependency that is not vendored: its chart folder, and where it goes below the chart's copy. */
interface LocalDependency {
  from: string;
  /** Path segments below the copy: charts/<name>, charts/<name>/charts/<sub> ... */
  to: string[];
}

/**
 * Checks every dependency of a chart is available offline, and lists the local ones that are not
 * vendored (recursively, each before its own), the way `helm dependency build` would put them
 * into charts/. An empty list: the chart renders where it is.
 */
async function localDependencies(dir: string, repoDir: string, chart: ChartInfo, tree: WorkTree, chain: string[], at: string[]): Promise<LocalDependency[]> {
  const vendored = await vendoredCharts(join(dir, 'charts'));
  const found: LocalDependency[] = [];
  for (const dep of chart.dependencies) {
    if (vendored.has(dep.name)) continue;
    const where = { file: posix.join(repoDir, 'Chart.yaml'), line: dep.line };
    if (!dep.repository.startsWith('file://')) {
      throw new InputError(
        dep.repository
          ? `chart needs network dependency ${dep.name} from repo ${dep.repository}`
          : `chart dependency ${dep.name} has no repository and is not in charts/`,
        { where, hint: `vendor it with \`helm dependency build ${repoDir || '.'}\` and commit ${posix.join(repoDir, 'charts')}/ (the pipe renders without network)` },
      );
    }
    const depDir = resolve(dir, dep.repository.slice('file://'.length));
    const depRepoDir = relative(tree.root, depDir).split(sep).join('/');
    if (depRepoDir.startsWith('../') || depRepoDir === '..' || chain.includes(depDir)) {
      throw new InputError(`local dependency ${dep.name} (${dep.repository}) ${chain.includes(depDir) ? 'depends on itself' : 'is outside the repository'}`, {
        where,
        hint: 'point file:// dependencies at charts inside the repository',
      });
    }
    const depChart = await readChart(await tree.resolve(depRepoDir, where), depRepoDir);
    if (!depChart) {
      throw new InputError(`local dependency ${dep.name} (${dep.repository}): ${depRepoDir} has no Chart.yaml`, {
        where,
        hint: 'fix the file:// path of the dependency',
      });
    }
    const to = [...at, 'charts', dep.name];
    found.push({ from: depDir, to }, ...(await localDependencies(depDir, depRepoDir, depChart, tree, [...chain, depDir], to)));
  }
  return found;
}

/** Chart names present in charts/: unpacked directories and <name>-<version>.tgz archives. */
async function vendoredCharts(chartsDir: string): Promise<Set<string>> {
  const names = new Set<string>();
  const entries = await readdir(chartsDir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (e.isFile() || e.isSymbolicLink()) {
      const m = /^(.+?)-v?\d+\.\d+.*\.tgz$/.exec(e.name);
      if (m) names.add(m[1]!);
    }
    if (e.isDirectory() || e.isSymbolicLink()) {
      const info = await readChart(join(chartsDir, e.name), '').catch(() => undefined);
      if (info) names.add(info.name);
    }
  }
  return names;
}

/** Name and dependencies (Chart.yaml, or requirements.yaml of apiVersion v1 charts); undefined without Chart.yaml. */
async function readChart(dir: string, repoDir: string): Promise<ChartInfo | undefined> {
  const text = await readFile(join(dir, 'Chart.yaml'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const file = posix.join(repoDir, 'Chart.yaml');
  const meta = parseYaml(text, file);
  if (!isObject(meta.value) || typeof meta.value.name !== 'string') {
    throw new InputError('Chart.yaml has no name', { where: { file }, hint: 'add name: <chart name> to Chart.yaml' });
  }
  let deps = meta;
  let depsFile = file;
  if (!Array.isArray(meta.value.dependencies)) {
    const req = await readFile(join(dir, 'requirements.yaml'), 'utf8').catch(() => undefined);
    if (req !== undefined) {
      depsFile = posix.join(repoDir, 'requirements.yaml');
      deps = parseYaml(req, depsFile);
    }
  }
  const list = isObject(deps.value) && Array.isArray(deps.value.dependencies) ? (deps.value.dependencies as unknown[]) : [];
  const dependencies = list.map((d, i) => {
    if (!isObject(d) || typeof d.name !== 'string') {
      throw new InputError(`dependency ${i + 1} has no name`, { where: { file: depsFile, line: deps.line(i) }, hint: 'give every dependency a name' });
    }
    return { name: d.name, repository: typeof d.repository === 'string' ? d.repository : '', line: deps.line(i) };
  });
  return { name: meta.value.name, dependencies };
}

function parseYaml(text: string, file: string): { value: unknown; line: (dep: number) => number | undefined } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const err = doc.errors[0];
  if (err) {
    throw new InputError(`invalid YAML: ${err.message.split(' at line ')[0]}`, {
      where: { file, line: err.linePos?.[0].line, column: err.linePos?.[0].col },
      hint: 'fix the YAML syntax at that line',
    });
  }
  const deps = isMap(doc.contents) ? doc.contents.get('dependencies', true) : undefined;
  return {
    value: doc.toJS({ maxAliasCount: 100 }),
    line: (i) => {
      const node = isSeq(deps) ? deps.items[i] : undefined;
      const start = isNode(node) ? node.range?.[0] : undefined;
      return start === undefined ? undefined : lineCounter.linePos(start).line;
    },
  };
}
