// Plan mode through the pipe's real entrypoint, on the bundled examples made into git repositories,
// with the variables Bitbucket sets. No cluster, no credentials.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bitbucketEnv, runPipe } from '../support/pipe.js';

const dirs: string[] = [];
const exampleRepo = (name: string) => {
  const out = join(mkdtempSync(join(tmpdir(), 'aoa-e2e-')), name);
  dirs.push(out);
  execFileSync(process.execPath, ['scripts/example-repo.mjs', name, '--out', out]);
  return out;
};
const git = (dir: string, ...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).trim();

let native: string;
let head: string;
beforeAll(() => {
  native = exampleRepo('native');
  head = git(native, 'rev-parse', 'HEAD');
});
afterAll(() => dirs.forEach((d) => rmSync(join(d, '..'), { recursive: true, force: true })));

function reportOf(file: string) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

describe('plan mode on the native example', () => {
  it('plans exactly the apps changed by the last commit, with reasons, order and object counts', async () => {
    const reportFile = join(native, '..', 'staging.json');
    const r = await runPipe(bitbucketEnv(native, head, { MODE: 'plan', ENVIRONMENT: 'staging', REPORT_FILE: reportFile }));
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^web\s+kustomize\s+changed|1\s+web\s+kustomize\s+changed/m);
    expect(r.stdout).toContain('bases/web-service/deployment.yaml changed');
    expect(r.stdout).toMatch(/-\s+api\s+helm\s+unchanged/);
    expect(r.stdout).toContain('✔ Plan: 2 of 4 apps would be deployed');
    // two kustomizations without helmCharts: no chart was rendered, so no note about charts
    expect(r.stdout).not.toContain('plan mode has no cluster');
    // the plan in one line as soon as it is made, before the apps are rendered
    const parent = git(native, 'rev-parse', 'HEAD~1');
    const lines = r.stdout.split('\n');
    const planned = lines.findIndex((l) => l.startsWith('Planned in '));
    expect(lines[planned]).toMatch(new RegExp(`^Planned in \\d+\\.\\d s: 2 of 4 apps to deploy, compared with ${parent.slice(0, 12)} \\(parent commit\\); rendering them$`));
    expect(planned).toBeLessThan(lines.findIndex((l) => l.startsWith('ORDER ')));

    const report = reportOf(reportFile);
    expect(report).toMatchObject({ mode: 'plan', schemaVersion: 1, build: { commit: head, buildNumber: '42' } });
    expect(report.plan.head).toBe(head);
    expect(report.plan.base).toBe(git(native, 'rev-parse', 'HEAD~1'));
    expect(report.plan.baseSource).toBe('parent commit');
    const byName = Object.fromEntries(report.plan.apps.map((a: { name: string }) => [a.name, a]));
    expect(byName.web).toMatchObject({ status: 'changed', deploy: true, objects: { ConfigMap: 1, Deployment: 1, Service: 1 } });
    expect(byName.admin).toMatchObject({ status: 'changed', deploy: true });
    expect(byName.api).toMatchObject({ status: 'unchanged', deploy: false });
    expect(byName['platform-config']).toMatchObject({ status: 'unchanged', deploy: false });
    expect(byName.web.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('follows the environment: admin is disabled in production, overlays and values differ', async () => {
    const reportFile = join(native, '..', 'production.json');
    const base = git(native, 'rev-list', '--max-parents=0', 'HEAD');
    const r = await runPipe(
      bitbucketEnv(native, head, { MODE: 'plan', BITBUCKET_DEPLOYMENT_ENVIRONMENT: 'production', BASE_REVISION: base, REPORT_FILE: reportFile }),
    );
    expect(r.exitCode).toBe(0);
    const report = reportOf(reportFile);
    expect(report.plan.environment).toBe('production');
    expect(report.plan.baseSource).toBe('BASE_REVISION');
    // another letter case is the same environment, under its declared name (its ledger and lock)
    const upper = join(native, '..', 'upper.json');
    const again = await runPipe(bitbucketEnv(native, head, { MODE: 'plan', ENVIRONMENT: 'PRODUCTION', BASE_REVISION: base, REPORT_FILE: upper }));
    expect(again.exitCode, again.all).toBe(0);
    expect(reportOf(upper).plan.environment).toBe('production');
    expect(report.plan.disabled).toEqual(['admin']);
    const names = report.plan.apps.map((a: { name: string }) => a.name).sort();
    expect(names).toEqual(['api', 'platform-config', 'web']);
    // api changed (values) and web changed (shared base) since the first commit; api comes before web
    expect(report.plan.layers.flat()).toEqual(['api', 'web']);
    // api is a Helm chart, rendered without a cluster
    expect(report.plan.notes).toContain(
      "plan mode has no cluster: Helm charts (helm apps, kustomize helmCharts) were rendered for helm's built-in Kubernetes version and API versions (.Capabilities); deploy and diff render them for the cluster's",
    );
  });

  it('counts uncommitted files of the work tree as changes, and says so: it renders the files on disk', async () => {
    const copy = exampleRepo('native');
    const clean = await runPipe(bitbucketEnv(copy, head, { MODE: 'plan', ENVIRONMENT: 'staging', REPORT_FILE: join(copy, 'report.json') }));
    expect(clean.exitCode).toBe(0);
    expect(clean.all).not.toContain('the work tree differs');
    // the report of that run is in the clone, and so is Bitbucket's folder of pipes' files: neither counts
    mkdirSync(join(copy, '.bitbucket/pipelines/generated/pipeline/pipes/x'), { recursive: true });
    writeFileSync(join(copy, '.bitbucket/pipelines/generated/pipeline/pipes/x/state.json'), '{}');
    const again = await runPipe(bitbucketEnv(copy, head, { MODE: 'plan', ENVIRONMENT: 'staging', REPORT_FILE: join(copy, 'report.json') }));
    expect(again.all).not.toContain('the work tree differs');
    // a step before the pipe generated a manifest into an app's folder: the app is changed
    writeFileSync(join(copy, 'apps/platform-config/generated.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: generated }\n');
    const reportFile = join(copy, 'report.json');
    const r = await runPipe(bitbucketEnv(copy, head, { MODE: 'plan', ENVIRONMENT: 'staging', REPORT_FILE: reportFile }));
    expect(r.exitCode, r.all).toBe(0);
    const head12 = git(copy, 'rev-parse', 'HEAD').slice(0, 12);
    const note = `the work tree differs from ${head12} in 1 file(s) (apps/platform-config/generated.yaml): they count as changes, and the files are rendered as they are on disk`;
    expect(r.stderr).toContain(note);
    expect(reportOf(reportFile).plan.notes).toContain(note);
    expect(r.stdout).toMatch(/platform-config\s+directory\s+changed\s+ConfigMap 2, Role 1, ServiceAccount 1\s+apps\/platform-config\/generated\.yaml changed in the work tree \(not committed\)/);
    // nothing in git changed: the index was not rewritten (the pipe runs as root in the step user's clone)
    expect(git(copy, 'status', '--porcelain')).toBe('?? .bitbucket/\n?? apps/platform-config/generated.yaml\n?? report.json'.replace(/\\n/g, '\n'));
  });

  it('stops with what git said when it cannot tell whether the work tree differs (a broken index)', async () => {
    const copy = exampleRepo('native');
    writeFileSync(join(copy, '.git/index'), 'garbage');
    const r = await runPipe(bitbucketEnv(copy, head, { MODE: 'plan', ENVIRONMENT: 'staging' }));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('✖ cannot tell whether the work tree differs from the commit: git status failed: fatal: .git/index: index file smaller than expected');
    expect(r.stdout).toContain('What to do: check that the clone is intact');
    expect(r.all).not.toContain('internal error');
  });

  it('deepens a shallow clone to find the base', async () => {
    const shallow = join(native, '..', 'shallow');
    execFileSync('git', ['clone', '--quiet', '--depth', '1', `file://${native}`, shallow]);
    const firstCommit = git(native, 'rev-list', '--max-parents=0', 'HEAD');
    const r = await runPipe(bitbucketEnv(shallow, head, { MODE: 'plan', ENVIRONMENT: 'staging', BASE_REVISION: firstCommit.slice(0, 12) }));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/api\s+helm\s+changed/);
    expect(git(shallow, 'cat-file', '-t', firstCommit)).toBe('commit');
  });
});

describe('plan mode on the Argo CD example', () => {
  it('lists every child with its source type, or the reason it cannot be rendered', async () => {
    const argo = exampleRepo('argocd');
    const reportFile = join(argo, '..', 'argo.json');
    const r = await runPipe(
      bitbucketEnv(argo, git(argo, 'rev-parse', 'HEAD'), { MODE: 'plan', ROOT_MANIFEST: 'apps', FORCE: 'true', REPORT_FILE: reportFile }),
    );
    expect(r.exitCode).toBe(0);
    const report = reportOf(reportFile);
    expect(report.plan.root.format).toBe('argocd-helm');
    const types = Object.fromEntries(report.plan.apps.map((a: { name: string; type: string }) => [a.name, a.type]));
    expect(types).toMatchObject({ catalog: 'directory', checkout: 'kustomize', frontend: 'helm' });
    const unsupported = Object.fromEntries(report.plan.unsupported.map((u: { name: string; reason: string }) => [u.name, u.reason]));
    expect(unsupported.reports).toMatch(/jsonnet/i);
    expect(r.stderr).toMatch(/reports cannot be rendered: .*jsonnet/i);
  });
});

describe('plan mode on Argo CD Applications with tool options', () => {
  it('renders kustomize components and helm skipCrds / fileParameters as Argo CD does, and a change to their files changes the app', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'aoa-e2e-')), 'repo');
    dirs.push(dir);
    const app = (name: string, path: string, options: string) =>
      `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: ${name}, namespace: argocd}\nspec:\n  project: default\n  destination: {server: https://kubernetes.default.svc, namespace: shop}\n  source:\n    repoURL: git@bitbucket.org:acme/platform-apps.git\n    path: ${path}\n${options}`;
    const files: Record<string, string> = {
      'argo/web.yaml': app('web', 'apps/web', '    kustomize:\n      namespace: web\n      components: [../../components/extra]\n'),
      'argo/api.yaml': app('api', 'charts/api', "    helm:\n      skipCrds: true\n      fileParameters: [{name: settings, path: /shared/settings.txt}]\n"),
      'apps/web/kustomization.yaml': 'resources: [cm.yaml]\n',
      'apps/web/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n',
      'components/extra/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [secret.yaml]\n',
      'components/extra/secret.yaml': 'apiVersion: v1\nkind: Secret\nmetadata: {name: extra}\nstringData: {a: "1"}\n',
      'charts/api/Chart.yaml': 'apiVersion: v2\nname: api\nversion: 1.0.0\n',
      'charts/api/crds/widget.yaml':
        'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n',
      'charts/api/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api}\ndata:\n  settings: {{ .Values.settings | quote }}\n',
      'shared/settings.txt': 'level=info\n',
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const commit = (message: string) => {
      git(dir, 'add', '--all');
      execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '--quiet', '--no-gpg-sign', '-m', message]);
      return git(dir, 'rev-parse', 'HEAD');
    };
    git(dir, 'init', '--quiet', '--initial-branch=main');
    commit('apps');
    writeFileSync(join(dir, 'shared/settings.txt'), 'level=debug\n');
    writeFileSync(join(dir, 'components/extra/secret.yaml'), files['components/extra/secret.yaml']!.replace('"1"', '"2"'));
    const head = commit('settings and the extra component');

    const reportFile = join(dir, '..', 'options.json');
    const r = await runPipe(bitbucketEnv(dir, head, { MODE: 'plan', ROOT_MANIFEST: 'argo', REPORT_FILE: reportFile }));
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('helm file parameter shared/settings.txt changed');
    expect(r.stdout).toContain('kustomize component components/extra/secret.yaml changed');
    const report = reportOf(reportFile);
    expect(report.plan.unsupported).toEqual([]);
    const byName = Object.fromEntries(report.plan.apps.map((a: { name: string }) => [a.name, a]));
    // the component's Secret is rendered; the chart's CRD is not (skipCrds)
    expect(byName.web).toMatchObject({ status: 'changed', deploy: true, objects: { ConfigMap: 1, Secret: 1 } });
    expect(byName.api).toMatchObject({ status: 'changed', deploy: true, objects: { ConfigMap: 1 } });
  });
});
