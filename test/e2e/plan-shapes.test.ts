// The change plan on repository shapes the oracle's repository does not have: each case is a
// small repository with a base commit and one change, planned through the pipe's real entrypoint
// (MODE=plan, BASE_REVISION = the base), and checked two ways: the apps deployed are exactly the
// ones the case expects from the rules in README ("How the pipe decides what to deploy"), and
// every app whose output differs when the real renderers (kubectl kustomize, helm template, the
// files themselves) run on a checkout of each commit is among them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toolPath } from '../../src/util/tools.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { scratchSpace, TestRepo } from '../support/repo.js';

const K = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n';
const cm = (name: string, v: number) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${v}"\n`;
const chart = (name: string, more = '') => `apiVersion: v2\nname: ${name}\nversion: 0.1.0\n${more}`;
const root = (apps: string) => `apiVersion: app-of-apps/v1\nkind: Root\ndefaults: { namespace: shop }\nenvironments:\n  production: {}\napps:\n${apps}`;

const { scratch, repos } = scratchSpace('plan-shapes-');

const kubectl = toolPath('kubectl');
const helm = toolPath('helm');
const toolEnv = { PATH: process.env.PATH ?? '', HOME: scratch, HELM_CACHE_HOME: join(scratch, '.helm'), HELM_CONFIG_HOME: join(scratch, '.helm'), HELM_DATA_HOME: join(scratch, '.helm') };
/** A tool's output, or its error with the checkout's directory taken out (a render that fails is a render too). */
function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', env: toolEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return `error: ${String((e as { stderr?: string }).stderr ?? e).replaceAll(cwd, '<checkout>')}`;
  }
}

type Render = (checkout: string) => string;
const kustomize = (path: string): Render => (dir) => run(kubectl, ['kustomize', path], dir);
/** helm template after `helm dependency build` of the file:// dependencies (in the throwaway checkout). */
const helmTemplate = (path: string, ...args: string[]): Render => (dir) => {
  if (readFileSync(join(dir, path, 'Chart.yaml'), 'utf8').includes('file://')) run(helm, ['dependency', 'build', '--skip-refresh', path], dir);
  return run(helm, ['template', 'app', path, ...args], dir);
};
/** A plain folder's .yaml/.yml/.json files, in subfolders too with `recurse`, read through links as the pipe reads them. */
const folder = (path: string, recurse = false): Render => (dir) => {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, path, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(join(dir, path, r)).isDirectory()) {
        if (recurse) walk(r);
      } else if (/\.(ya?ml|json)$/.test(name)) out.push(`# ${r}\n${readFileSync(join(dir, path, r), 'utf8')}`);
    }
  };
  try {
    walk('');
  } catch (e) {
    return `error: ${String(e).replaceAll(dir, '<checkout>')}`;
  }
  return out.join('\n');
};

/** Points `path` (a link, a folder or nothing) at `target`. */
function link(repo: TestRepo, path: string, target: string): void {
  rmSync(join(repo.dir, path), { recursive: true, force: true });
  mkdirSync(dirname(join(repo.dir, path)), { recursive: true });
  symlinkSync(target, join(repo.dir, path));
}

interface Shape {
  name: string;
  files: Record<string, string>;
  links?: Record<string, string>;
  /** More to do before the base commit (add a submodule). */
  setup?: (repo: TestRepo) => void;
  change: (repo: TestRepo) => void;
  /** How each app of the root renders, by hand. */
  render: Record<string, Render>;
  /** The apps the rules deploy for the change. */
  deploy: string[];
}

async function check(shape: Shape): Promise<void> {
  const repo = new TestRepo();
  repos.push(repo);
  repo.write(shape.files);
  for (const [path, target] of Object.entries(shape.links ?? {})) link(repo, path, target);
  shape.setup?.(repo);
  const base = repo.commit('base');
  shape.change(repo);
  const head = repo.commit('change');

  const report = join(scratch, `${head}.json`);
  const r = await runPipe(bitbucketEnv(repo.dir, head, { MODE: 'plan', ENVIRONMENT: 'production', BASE_REVISION: base, REPORT_FILE: report }));
  const plan = JSON.parse(readFileSync(report, 'utf8')).plan as { apps: { name: string; deploy: boolean }[] };
  const deployed = plan.apps.filter((a) => a.deploy).map((a) => a.name).sort();

  const renderAt = (sha: string) => {
    const dir = join(scratch, sha);
    repo.git('worktree', 'add', '--detach', '-q', dir, sha);
    if (shape.setup) repo.git('-C', dir, 'submodule', 'update', '-q', '--init');
    return Object.fromEntries(Object.entries(shape.render).map(([app, render]) => [app, render(dir)]));
  };
  const [before, after] = [renderAt(base), renderAt(head)];
  const renderChanged = Object.keys(shape.render).filter((app) => before[app] !== after[app]);
  const context = `${shape.name}: deployed [${deployed.join(', ')}], render changed [${renderChanged.join(', ')}]\n${r.all}`;
  for (const app of renderChanged) expect(deployed, `${app} renders differently\n${context}`).toContain(app);
  expect(deployed, context).toEqual([...shape.deploy].sort());
}

const versions = {
  'shared/v1/svc/kustomization.yaml': `${K}resources: [cm.yaml]\n`,
  'shared/v1/svc/cm.yaml': cm('svc', 1),
  'shared/v2/svc/kustomization.yaml': `${K}resources: [cm.yaml]\n`,
  'shared/v2/svc/cm.yaml': cm('svc', 2),
};
const valueTemplate = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\ndata:\n  v: "{{ .Values.v }}"\n';

// A symbolic link that is added, removed or pointed elsewhere changes every path below it, as a
// submodule moved to another commit does: the plan must see a change there even though git lists
// only the link itself.
const linkShapes: Shape[] = [
  {
    name: 'a kustomize base below a link that now points to another version',
    files: { ...versions, 'app-of-apps.yaml': root('  - name: web\n    path: apps/web\n  - name: other\n    path: apps/other\n'), 'apps/web/kustomization.yaml': `${K}resources: [../../shared/current/svc]\n`, 'apps/other/cm.yaml': cm('other', 1) },
    links: { 'shared/current': 'v1' },
    change: (repo) => link(repo, 'shared/current', 'v2'),
    render: { web: kustomize('apps/web'), other: folder('apps/other') },
    deploy: ['web'],
  },
  {
    name: 'a kustomize base below a link that is removed (the render fails now)',
    files: { ...versions, 'app-of-apps.yaml': root('  - name: web\n    path: apps/web\n'), 'apps/web/kustomization.yaml': `${K}resources: [../../shared/current/svc]\n` },
    links: { 'shared/current': 'v1' },
    change: (repo) => repo.remove('shared/current'),
    render: { web: kustomize('apps/web') },
    deploy: ['web'],
  },
  {
    name: 'a recursive directory app with a linked folder that now points elsewhere',
    files: { 'app-of-apps.yaml': root('  - name: deep\n    path: apps/deep\n    directory: { recurse: true }\n  - name: flat\n    path: apps/flat\n'), 'apps/deep/cm.yaml': cm('deep', 1), 'apps/flat/cm.yaml': cm('flat', 1), 'shared/one/x.yaml': cm('one', 1), 'shared/two/x.yaml': cm('two', 1) },
    // a plain folder without recurse does not read its subfolders, linked or not
    links: { 'apps/deep/linked': '../../shared/one', 'apps/flat/linked': '../../shared/one' },
    change: (repo) => {
      link(repo, 'apps/deep/linked', '../../shared/two');
      link(repo, 'apps/flat/linked', '../../shared/two');
    },
    render: { deep: folder('apps/deep', true), flat: folder('apps/flat') },
    deploy: ['deep'],
  },
  {
    name: 'a recursive directory app that gains a linked folder',
    files: { 'app-of-apps.yaml': root('  - name: deep\n    path: apps/deep\n    directory: { recurse: true }\n'), 'apps/deep/cm.yaml': cm('deep', 1), 'shared/one/x.yaml': cm('one', 1) },
    change: (repo) => link(repo, 'apps/deep/linked', '../../shared/one'),
    render: { deep: folder('apps/deep', true) },
    deploy: ['deep'],
  },
  {
    name: "a directory app whose own path is a link that now points elsewhere",
    files: { 'app-of-apps.yaml': root('  - name: plain\n    path: apps/plain\n'), 'shared/one/x.yaml': cm('one', 1), 'shared/two/x.yaml': cm('two', 1) },
    links: { 'apps/plain': '../shared/one' },
    change: (repo) => link(repo, 'apps/plain', '../shared/two'),
    render: { plain: folder('apps/plain') },
    deploy: ['plain'],
  },
  {
    name: 'an overlay inside a linked folder that now points elsewhere',
    files: {
      'app-of-apps.yaml': root('  - name: web\n    path: apps/web/envs/production\n'),
      'envs-v1/production/kustomization.yaml': `${K}resources: [cm.yaml]\n`,
      'envs-v1/production/cm.yaml': cm('web', 1),
      'envs-v2/production/kustomization.yaml': `${K}resources: [cm.yaml]\n`,
      'envs-v2/production/cm.yaml': cm('web', 2),
    },
    links: { 'apps/web/envs': '../../envs-v1' },
    change: (repo) => link(repo, 'apps/web/envs', '../../envs-v2'),
    render: { web: kustomize('apps/web/envs/production') },
    deploy: ['web'],
  },
  {
    name: 'a helm values file below a link that now points elsewhere',
    files: {
      'app-of-apps.yaml': root('  - name: api\n    path: apps/api\n    helm: { valueFiles: [../../envs/current/api.yaml] }\n'),
      'apps/api/Chart.yaml': chart('api'),
      'apps/api/templates/cm.yaml': valueTemplate,
      'envs/prod-v1/api.yaml': 'v: 1\n',
      'envs/prod-v2/api.yaml': 'v: 2\n',
    },
    links: { 'envs/current': 'prod-v1' },
    change: (repo) => link(repo, 'envs/current', 'prod-v2'),
    render: { api: helmTemplate('apps/api', '-f', 'envs/current/api.yaml') },
    deploy: ['api'],
  },
  {
    name: 'a file:// chart dependency below a link that now points elsewhere, reached through another link',
    files: {
      'app-of-apps.yaml': root('  - name: api\n    path: apps/api\n'),
      'apps/api/Chart.yaml': chart('api', 'dependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../../libs/lib\n'),
      'apps/api/templates/cm.yaml': cm('api', 1),
      'charts/lib-v1/lib/Chart.yaml': chart('lib'),
      'charts/lib-v1/lib/templates/cm.yaml': cm('lib', 1),
      'charts/lib-v2/lib/Chart.yaml': chart('lib'),
      'charts/lib-v2/lib/templates/cm.yaml': cm('lib', 2),
    },
    // libs -> charts/current -> lib-v1: only the second link changes
    links: { 'charts/current': 'lib-v1', libs: 'charts/current' },
    change: (repo) => link(repo, 'charts/current', 'lib-v2'),
    render: { api: helmTemplate('apps/api') },
    deploy: ['api'],
  },
];

/** A repository to add as a submodule: `files` at its first commit, `next` at its second; returns its directory and commits. */
function upstream(files: Record<string, string>, next: Record<string, string>): { dir: string; first: string; second: string } {
  const repo = new TestRepo();
  repos.push(repo);
  const first = repo.write(files).commit('first');
  const second = repo.write(next).commit('second');
  return { dir: repo.dir, first, second };
}
const submodule = (repo: TestRepo, path: string, from: { dir: string; first: string }) => {
  repo.git('submodule', 'add', '-q', `file://${from.dir}`, path);
  repo.git('-C', path, 'checkout', '-q', from.first);
};

const vendored = upstream({ 'prod/api.yaml': 'v: 1\n', 'svc/kustomization.yaml': `${K}resources: [cm.yaml]\n`, 'svc/cm.yaml': cm('svc', 1) }, { 'prod/api.yaml': 'v: 2\n', 'svc/cm.yaml': cm('svc', 2) });
// the same for submodules: git lists the submodule's path alone when it moves or goes
const submoduleShapes: Shape[] = [
  {
    name: 'a helm values file inside a submodule that moved to another commit',
    files: { 'app-of-apps.yaml': root('  - name: api\n    path: apps/api\n    helm: { valueFiles: [../../vendor/envs/prod/api.yaml] }\n'), 'apps/api/Chart.yaml': chart('api'), 'apps/api/templates/cm.yaml': valueTemplate },
    change: (repo) => repo.git('-C', 'vendor/envs', 'checkout', '-q', vendored.second),
    render: { api: helmTemplate('apps/api', '-f', 'vendor/envs/prod/api.yaml') },
    deploy: ['api'],
  },
  {
    name: 'a kustomize base inside a submodule that is removed (the render fails now)',
    files: { 'app-of-apps.yaml': root('  - name: web\n    path: apps/web\n'), 'apps/web/kustomization.yaml': `${K}resources: [../../vendor/envs/svc]\n` },
    change: (repo) => repo.git('rm', '-q', 'vendor/envs'),
    render: { web: kustomize('apps/web') },
    deploy: ['web'],
  },
];

// kustomize's HelmChartInflationGenerator, configured in a YAML file of its own that a kustomization
// lists under generators: its chartHome may name a chart folder outside the kustomization
// (helm reads the chart, not kustomize's loader), relative to that kustomization
const generator = (chartHome: string) =>
  `apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata:\n  name: web\nname: web\nreleaseName: web\nchartHome: ${chartHome}\nvaluesFile: values.yaml\n`;
const webChart = (v: number) => ({
  'charts/web/Chart.yaml': chart('web'),
  'charts/web/values.yaml': 'a: 0\n',
  'charts/web/templates/cm.yaml': cm('web', v),
});
const generatorShapes: Shape[] = [
  {
    name: "a generator config in a subfolder of the app's kustomization",
    files: {
      'app-of-apps.yaml': root('  - name: web\n    path: apps/web\n  - name: other\n    path: apps/other\n'),
      'apps/web/kustomization.yaml': `${K}generators: [gen/helm.yaml]\n`,
      'apps/web/gen/helm.yaml': generator('../../charts'),
      'apps/web/values.yaml': 'a: 1\n',
      'apps/other/kustomization.yaml': `${K}resources: [cm.yaml]\n`,
      'apps/other/cm.yaml': cm('other', 1),
      ...webChart(1),
    },
    change: (repo) => repo.write({ 'charts/web/templates/cm.yaml': cm('web', 2) }),
    render: { web: kustomize('apps/web'), other: kustomize('apps/other') },
    deploy: ['web'],
  },
  {
    name: 'a folder of generator configs outside the app, at another depth than the app',
    files: {
      'app-of-apps.yaml': root('  - name: web\n    path: apps/team/web\n'),
      'apps/team/web/kustomization.yaml': `${K}generators: [../../../generators/web]\n`,
      'apps/team/web/values.yaml': 'a: 1\n',
      'generators/web/kustomization.yaml': `${K}resources: [helm.yaml]\n`,
      // relative to apps/team/web, the kustomization that uses it
      'generators/web/helm.yaml': generator('../../../charts'),
      ...webChart(1),
    },
    change: (repo) => repo.write({ 'charts/web/templates/cm.yaml': cm('web', 2) }),
    render: { web: kustomize('apps/team/web') },
    deploy: ['web'],
  },
];

describe('the change plan on repository shapes, against the real renderers', () => {
  for (const shape of generatorShapes) it(`kustomize generators: ${shape.name}`, () => check(shape));
  for (const shape of linkShapes) it(`symbolic links: ${shape.name}`, () => check(shape));
  for (const shape of submoduleShapes) it(`submodules: ${shape.name}`, () => check({ ...shape, setup: (repo) => submodule(repo, 'vendor/envs', vendored) }));
});
