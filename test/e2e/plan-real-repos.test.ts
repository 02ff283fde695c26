// Plan mode on trimmed copies of public GitOps repositories, through the pipe's real entrypoint:
// shapes found there that the project's own fixtures do not have. Each fixture names the
// repository it comes from; only the files that show the behaviour are kept.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { scratchSpace, TestRepo } from '../support/repo.js';

const { scratch, repos } = scratchSpace('plan-real-');

interface PlannedApp {
  name: string;
  type: string;
  status: string;
}

/** Plans HEAD against HEAD~1 of a repository whose origin is `origin`; returns the run and the report's apps by name. */
async function plan(repo: TestRepo, origin: string, extra: Record<string, string> = {}) {
  const reportFile = join(scratch, `report-${repos.indexOf(repo)}-${Date.now()}.json`);
  const r = await runPipe(
    bitbucketEnv(repo.dir, repo.git('rev-parse', 'HEAD'), { MODE: 'plan', BITBUCKET_GIT_HTTP_ORIGIN: origin, REPORT_FILE: reportFile, ...extra }),
  );
  const report = r.exitCode === 0 ? JSON.parse(readFileSync(reportFile, 'utf8')) : undefined;
  const apps: Record<string, PlannedApp> = Object.fromEntries((report?.plan.apps ?? []).map((a: PlannedApp) => [a.name, a]));
  return { r, apps };
}

const application = (name: string, path: string, repoURL: string, source = '') =>
  `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: ${name}\n  namespace: argocd\nspec:\n  destination:\n    namespace: ${name}\n    server: https://kubernetes.default.svc\n  project: default\n  source:\n    path: ${path}\n    repoURL: ${repoURL}\n    targetRevision: HEAD\n${source}`;

describe('argoproj/argocd-example-apps', () => {
  const origin = 'https://github.com/argoproj/argocd-example-apps';
  // plugins/kustomized-helm: a Chart.yaml (its dependency the repository's helm-guestbook) and a
  // kustomization.yaml over the all.yaml a plugin writes (ignored by git)
  const guestbookChart = {
    'helm-guestbook/Chart.yaml': 'apiVersion: v2\nname: helm-guestbook\nversion: 0.1.1\n',
    'helm-guestbook/values.yaml': 'replicaCount: 1\n',
    'helm-guestbook/templates/deployment.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-helm-guestbook\nspec:\n  replicas: {{ .Values.replicaCount }}\n  selector: {matchLabels: {app: helm-guestbook}}\n  template:\n    metadata: {labels: {app: helm-guestbook}}\n    spec: {containers: [{name: helm-guestbook, image: "gcr.io/heptio-images/ks-guestbook-demo:0.1"}]}\n',
    'plugins/kustomized-helm/Chart.yaml':
      'apiVersion: v2\nname: kustomized-helm\nversion: 0.1.0\ndependencies:\n- name: helm-guestbook\n  version: 0.1.1\n  repository: file://../../helm-guestbook\n',
    'plugins/kustomized-helm/kustomization.yaml': 'namePrefix: kustomize-\n\nresources:\n- ./all.yaml\n\npatches:\n- path: overlays/guestbook-deployment.yaml\n',
    'plugins/kustomized-helm/overlays/guestbook-deployment.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kustomized-helm-helm-guestbook\nspec:\n  template:\n    spec:\n      containers:\n        - name: helm-guestbook\n          image: "gcr.io/heptio-images/ks-guestbook-demo:0.2"\n',
    'plugins/kustomized-helm/.gitignore': 'all.yaml\ncharts\n',
  };

  it('a folder with both a Chart.yaml and a kustomization is a kustomize source, as Argo CD detects it; an explicit helm block makes it helm', async () => {
    const repo = new TestRepo();
    repos.push(repo);
    repo.write({
      ...guestbookChart,
      'applications/kustomized-helm.yaml': application('kustomized-helm', 'plugins/kustomized-helm', `${origin}.git`),
      'applications/kustomized-helm-as-chart.yaml': application('kustomized-helm-as-chart', 'plugins/kustomized-helm', `${origin}.git`, '    helm:\n      releaseName: kustomized-helm\n'),
      'README.md': '# ArgoCD Example Apps\n',
    });
    repo.commit('base');
    repo.write({ 'README.md': '# ArgoCD Example Apps\n\nMore.\n' }).commit('README only');

    const { r, apps } = await plan(repo, origin, { ROOT_MANIFEST: 'applications' });
    expect(r.all).not.toContain('cannot be rendered');
    expect(r.exitCode).toBe(0);
    expect(apps['kustomized-helm']).toMatchObject({ type: 'kustomize', status: 'unchanged' });
    expect(apps['kustomized-helm-as-chart']).toMatchObject({ type: 'helm', status: 'unchanged' });
    expect(r.stdout).toMatch(/-\s+kustomized-helm\s+kustomize\s+unchanged/);
  });

  it('the kustomize render of such a folder fails on the file the plugin would have written, named', async () => {
    const repo = new TestRepo();
    repos.push(repo);
    repo.write({ ...guestbookChart, 'applications/kustomized-helm.yaml': application('kustomized-helm', 'plugins/kustomized-helm', origin) });
    repo.commit('base');
    repo.write({ 'plugins/kustomized-helm/overlays/guestbook-deployment.yaml': guestbookChart['plugins/kustomized-helm/overlays/guestbook-deployment.yaml'].replace('0.2', '0.3') }).commit('image 0.3');

    const { r } = await plan(repo, origin, { ROOT_MANIFEST: 'applications' });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toMatch(/1\s+kustomized-helm\s+kustomize\s+changed/);
    expect(r.all).toContain('all.yaml');
  });
});

describe('ConsciousML/argocd-app-of-apps-template', () => {
  const origin = 'https://github.com/ConsciousML/argocd-app-of-apps-template';
  // apps/: a chart rendering one Application per entry; an entry with extraValueFiles becomes two
  // sources, the chart and a `ref: values` source of this same repository for the values files
  const multiSource = (valuesRepo: string) =>
    `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: gateway-public\n  namespace: argocd\nspec:\n  destination:\n    namespace: gateway\n    server: https://kubernetes.default.svc\n  project: default\n  sources:\n    - path: "helm-gateway-api-gateway"\n      repoURL: ${origin}\n      targetRevision: main\n      helm:\n        valueFiles:\n          - $values/helm-gateway-api-gateway-class/values.yaml\n          - $values/helm-gateway-api-gateway/public-gateway-values.yaml\n    - repoURL: ${valuesRepo}\n      targetRevision: main\n      ref: values\n  syncPolicy:\n    syncOptions:\n      - CreateNamespace=false\n    automated:\n      prune: true\n      selfHeal: true\n`;
  const files = {
    'helm-gateway-api-gateway/Chart.yaml': 'apiVersion: v2\nname: gateway\nversion: 0.1.0\n',
    'helm-gateway-api-gateway/public-gateway-values.yaml': 'name: public\n',
    'helm-gateway-api-gateway/templates/gateway.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n',
    'helm-gateway-api-gateway-class/values.yaml': 'className: alb\n',
  };

  it('a multi-source Application whose values come from a ref source of this repository says how to write it as one source', async () => {
    const repo = new TestRepo();
    repos.push(repo);
    repo.write({ ...files, 'applications/gateway-public.yaml': multiSource(origin) }).commit('base');
    repo.write({ 'helm-gateway-api-gateway/public-gateway-values.yaml': 'name: public-gw\n' }).commit('rename');

    const { r } = await plan(repo, origin, { ROOT_MANIFEST: 'applications', BITBUCKET_BRANCH: 'main' });
    expect(r.exitCode).toBe(0);
    const line = r.all.split('\n').find((l) => l.includes('gateway-public cannot be rendered')) ?? '';
    expect(line).toContain('spec.sources has 2 sources');
    expect(line).toContain('ref source "values" is this repository');
    expect(line).toContain('/helm-gateway-api-gateway-class/values.yaml');
  });

  it('one whose ref source is another repository says to bring the values files into this one', async () => {
    const repo = new TestRepo();
    repos.push(repo);
    repo.write({ ...files, 'applications/gateway-public.yaml': multiSource('https://github.com/acme/values') }).commit('base');
    repo.write({ 'README.md': 'x\n' }).commit('readme');

    const { r } = await plan(repo, origin, { ROOT_MANIFEST: 'applications', BITBUCKET_BRANCH: 'main' });
    expect(r.exitCode).toBe(0);
    const line = r.all.split('\n').find((l) => l.includes('gateway-public cannot be rendered')) ?? '';
    expect(line).toContain('https://github.com/acme/values');
    expect(line).toContain('copy the values files into this repository');
  });
});

describe('infrasam/openshift-app-of-apps-kustomize', () => {
  const origin = 'https://github.com/infrasam/openshift-app-of-apps-kustomize';
  it('a root folder whose kustomization gathers the Application files is read as those files, and a change to one child plans that child', async () => {
    const repo = new TestRepo();
    repos.push(repo);
    repo.write({
      // cluster/base/kustomization.yaml lists the Applications for `oc apply -k`
      'cluster/base/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - vault.yaml\n  - cert-manager.yaml\n',
      'cluster/base/vault.yaml': application('vault', 'cluster/applications/vault', `${origin}.git`),
      'cluster/base/cert-manager.yaml': application('cert-manager', 'cluster/applications/cert-manager', `${origin}.git`),
      'cluster/applications/vault/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vault}\ndata: {mode: dev}\n',
      'cluster/applications/cert-manager/issuer.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: issuer}\ndata: {acme: staging}\n',
    });
    repo.commit('base');
    repo.write({ 'cluster/applications/vault/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vault}\ndata: {mode: ha}\n' }).commit('vault in ha mode');
    const { r, apps } = await plan(repo, origin, { ROOT_MANIFEST: 'cluster/base' });
    expect(r.exitCode, r.all).toBe(0);
    expect(Object.values(apps).map((a) => [a.name, a.type, a.status]).sort()).toEqual([
      ['cert-manager', 'directory', 'unchanged'],
      ['vault', 'directory', 'changed'],
    ]);
    expect(r.stdout).toContain('cluster/base/kustomization.yaml lists 2 file(s) of Applications: the pipe reads those, as kustomize would gather them');
  });
});
