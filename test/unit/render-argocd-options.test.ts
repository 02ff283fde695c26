// Argo CD Application options through the real loader and renderers, each compared with what
// `kubectl kustomize` / `helm template` give for the same source edited by hand the way Argo CD
// edits its checkout (kustomize edit set / add, patches appended, helm flags).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { objectId, renderApp } from '../../src/render/index.js';
import type { K8sObject } from '../../src/render/model.js';
import type { App } from '../../src/root/model.js';
import { inputErrors, load, makeRepo, tempDir, writeFiles } from '../fixtures/root/repo.js';
import { rejection, tools } from './render-support.js';

const REPO = 'https://bitbucket.org/acme/gitops.git';
const repoUrls = [REPO];
const DEST = 'team';

const application = (name: string, path: string, options: string) =>
  [
    'apiVersion: argoproj.io/v1alpha1',
    'kind: Application',
    `metadata: {name: ${name}, namespace: argocd}`,
    'spec:',
    '  project: default',
    `  destination: {server: https://kubernetes.default.svc, namespace: ${DEST}}`,
    '  source:',
    `    repoURL: ${REPO}`,
    `    path: ${path}`,
    options,
    '',
  ].join('\n');

const deployment = [
  'apiVersion: apps/v1',
  'kind: Deployment',
  'metadata: {name: web, labels: {app: web}}',
  'spec:',
  '  replicas: 1',
  '  selector: {matchLabels: {app: web}}',
  '  template:',
  '    metadata: {labels: {app: web}}',
  '    spec:',
  '      containers: [{name: web, image: nginx:1.25}]',
  '',
].join('\n');

const KUSTOMIZE_REPO = {
  'bases/web/kustomization.yaml': 'resources: [deployment.yaml, config.yaml]\n',
  'bases/web/deployment.yaml': deployment,
  'bases/web/config.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config}\ndata: {level: info}\n',
  'components/probes/kustomization.yaml': [
    'apiVersion: kustomize.config.k8s.io/v1alpha1',
    'kind: Component',
    'patches:',
    '  - target: {kind: Deployment}',
    '    patch: |-',
    '      - op: add',
    '        path: /spec/template/spec/containers/0/readinessProbe',
    '        value: {tcpSocket: {port: 80}}',
    '',
  ].join('\n'),
  'apps/web/kustomization.yaml': [
    'resources: [../../bases/web]',
    'commonLabels: {team: own}',
    'commonAnnotations: {owner: own}',
    'replicas: [{name: web, count: 2}]',
    'patches:',
    '  - target: {kind: ConfigMap}',
    '    patch: |-',
    '      - op: add',
    '        path: /data/own',
    '        value: "yes"',
    '',
  ].join('\n'),
};

const WEB_OPTIONS = [
  '    kustomize:',
  '      namespace: shop',
  '      commonAnnotations: {owner: app, note: "a:b", quoted: \'"q"\'}',
  '      forceCommonAnnotations: true',
  '      commonAnnotationsEnvsubst: true',
  '      replicas: [{name: web, count: "3"}]',
  '      components: [../../components/probes, ../../components/probes]',
  '      patches:',
  '        - target: {kind: Deployment, name: web}',
  '          patch: |-',
  '            - op: add',
  '              path: /metadata/labels/patched',
  '              value: "true"',
].join('\n');

/** apps/web as Argo CD leaves it after its edits, at the same depth so the relative paths hold. */
const WEB_BY_HAND = [
  'resources: [../../bases/web]',
  'commonLabels: {team: own}',
  'commonAnnotations: {owner: app, note: "a:b", quoted: q}',
  'replicas: [{name: web, count: 3}]',
  'namespace: shop',
  'patches:',
  '  - target: {kind: ConfigMap}',
  '    patch: |-',
  '      - op: add',
  '        path: /data/own',
  '        value: "yes"',
  '  - target: {kind: Deployment, name: web}',
  '    patch: |-',
  '      - op: add',
  '        path: /metadata/labels/patched',
  '        value: "true"',
  'components: [../../components/probes]',
  '',
].join('\n');

async function loaded(files: Record<string, string>): Promise<{ dir: string; apps: Record<string, App> }> {
  const dir = makeRepo(files);
  const root = await load(dir, 'argo', { repoUrls });
  expect(root.unsupported).toEqual([]);
  return { dir, apps: Object.fromEntries(root.apps.map((a) => [a.name, a])) };
}

const rendered = async (dir: string, app: App) => sorted((await renderApp(app, { workspace: dir, tmpDir: tempDir('render-tmp-'), ...tools })).objects);

/** A tool's output as the objects the pipe deploys: namespaced objects that name none go to the destination. */
function objectsOf(out: string): K8sObject[] {
  const objects = parseAllDocuments(out)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
  for (const o of objects) if (o.kind !== 'CustomResourceDefinition') o.metadata.namespace ??= DEST;
  return sorted(objects);
}
const sorted = (objects: K8sObject[]) => [...objects].sort((a, b) => objectId(a).localeCompare(objectId(b)));

const kustomize = (dir: string) => objectsOf(execFileSync(tools.kubectlBin, ['kustomize', dir], { encoding: 'utf8' }));
const helmTemplate = (...args: string[]) => objectsOf(execFileSync(tools.helmBin, ['template', ...args], { encoding: 'utf8', env: { ...process.env, HELM_CONFIG_HOME: tempDir('helm-') } }));

describe('Argo CD kustomize options', () => {
  it('namespace, commonAnnotations, replicas, components and patches render as kustomize renders the kustomization Argo CD edits', async () => {
    const { dir, apps } = await loaded({ ...KUSTOMIZE_REPO, 'argo/web.yaml': application('web', 'apps/web', WEB_OPTIONS) });
    expect(apps.web!.kustomize).toMatchObject({ namespace: 'shop', replicas: [{ name: 'web', count: 3 }], components: ['../../components/probes', '../../components/probes'] });
    writeFiles(dir, { 'apps/by-hand/kustomization.yaml': WEB_BY_HAND });
    const mine = await rendered(dir, apps.web!);
    expect(mine).toEqual(kustomize(`${dir}/apps/by-hand`));
    // the options took effect (the comparison is not between two renders that ignore them)
    const web = mine.find((o) => o.kind === 'Deployment') as unknown as { metadata: Record<string, Record<string, string>>; spec: { replicas: number; template: { spec: { containers: Record<string, unknown>[] } } } };
    expect(web.metadata.namespace).toBe('shop');
    expect(web.metadata.annotations).toEqual({ owner: 'app', note: 'a:b', quoted: 'q' });
    expect(web.metadata.labels!.patched).toBe('true');
    expect(web.spec.replicas).toBe(3);
    expect(web.spec.template.spec.containers[0]!.readinessProbe).toEqual({ tcpSocket: { port: 80 } });
  });

  it('a commonLabels or commonAnnotations key the kustomization already sets is an error of the app without force, as Argo CD fails on it', async () => {
    const { dir, apps } = await loaded({
      ...KUSTOMIZE_REPO,
      'argo/labels.yaml': application('labels', 'apps/web', '    kustomize:\n      commonLabels: {team: app, tier: web}\n'),
      'argo/annotations.yaml': application('annotations', 'apps/web', '    kustomize:\n      commonAnnotations: {owner: app}\n'),
      'argo/forced.yaml': application('forced', 'apps/web', '    kustomize:\n      commonLabels: {team: app}\n      forceCommonLabels: true\n'),
    });
    const labels = await rejection(renderApp(apps.labels!, { workspace: dir, tmpDir: tempDir('render-tmp-'), ...tools }));
    expect(labels.exitCode).toBe(2);
    expect(labels.message).toBe('app labels: Application labels: spec.source.kustomize.commonLabels sets "team", which apps/web/kustomization.yaml already sets in commonLabels');
    expect(labels.hint).toMatch(/set forceCommonLabels: true/);
    const annotations = await rejection(renderApp(apps.annotations!, { workspace: dir, tmpDir: tempDir('render-tmp-'), ...tools }));
    expect(annotations.message).toContain('spec.source.kustomize.commonAnnotations sets "owner"');
    // with force, the Application's value replaces the kustomization's, as `edit add label --force`
    writeFiles(dir, { 'apps/by-hand/kustomization.yaml': KUSTOMIZE_REPO['apps/web/kustomization.yaml'].replace('team: own', 'team: app') });
    expect(await rendered(dir, apps.forced!)).toEqual(kustomize(`${dir}/apps/by-hand`));
  });

  it('ignoreMissingComponents leaves a missing component out; without it the Application is bad input naming the field', async () => {
    const options = '    kustomize:\n      components: [../../components/probes, ../../components/gone]\n';
    const { dir, apps } = await loaded({ ...KUSTOMIZE_REPO, 'argo/web.yaml': application('web', 'apps/web', `${options}      ignoreMissingComponents: true\n`) });
    writeFiles(dir, { 'apps/by-hand/kustomization.yaml': `${KUSTOMIZE_REPO['apps/web/kustomization.yaml']}components: [../../components/probes]\n` });
    expect(await rendered(dir, apps.web!)).toEqual(kustomize(`${dir}/apps/by-hand`));

    const strict = makeRepo({ ...KUSTOMIZE_REPO, 'argo/web.yaml': application('web', 'apps/web', options), 'argo/out.yaml': application('out', 'apps/web', '    kustomize:\n      components: [../../../elsewhere]\n') });
    const { located } = await inputErrors(load(strict, 'argo', { repoUrls }));
    expect(located).toEqual([
      'argo/out.yaml:11: Application out: spec.source.kustomize.components[0] "../../../elsewhere" (relative to apps/web) is outside the repository',
      'argo/web.yaml:11: Application web: spec.source.kustomize.components[1] "../../components/gone" (components/gone) does not exist in this repository',
    ]);
  });

  it('replicas with a count that is not a whole number is bad input naming the Application and field', async () => {
    const dir = makeRepo({ ...KUSTOMIZE_REPO, 'argo/web.yaml': application('web', 'apps/web', '    kustomize:\n      replicas: [{name: web, count: three}]\n') });
    const { located } = await inputErrors(load(dir, 'argo', { repoUrls }));
    expect(located).toEqual(['argo/web.yaml:11: Application web: spec.source.kustomize.replicas[0]: count "three" is not a whole number']);
  });
});

const CHART = {
  'charts/api/Chart.yaml': 'apiVersion: v2\nname: api\nversion: 1.0.0\n',
  'charts/api/crds/widget.yaml': [
    'apiVersion: apiextensions.k8s.io/v1',
    'kind: CustomResourceDefinition',
    'metadata: {name: widgets.example.com}',
    'spec:',
    '  group: example.com',
    '  names: {kind: Widget, plural: widgets}',
    '  scope: Namespaced',
    '  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]',
    '',
  ].join('\n'),
  'charts/api/templates/cm.yaml': [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata: {name: {{ .Release.Name }}-config}',
    'data:',
    '  releaseNamespace: {{ .Release.Namespace | quote }}',
    '  settings: {{ .Values.settings | quote }}',
    '',
  ].join('\n'),
  'charts/api/values.yaml': 'settings: none\n',
  'shared/settings, main.txt': 'level=debug\nowner=a,b\n',
};

describe('Argo CD helm options', () => {
  it('skipCrds, namespace and fileParameters render as helm template renders with the flags Argo CD passes', async () => {
    const options = "    helm:\n      skipCrds: true\n      namespace: release-ns\n      fileParameters: [{name: settings, path: '/shared/settings, main.txt'}]\n";
    const { dir, apps } = await loaded({ ...CHART, 'argo/api.yaml': application('api', 'charts/api', options) });
    expect(apps.api!.helm).toMatchObject({ skipCrds: true, namespace: 'release-ns', fileParameters: [{ name: 'settings', path: 'shared/settings, main.txt' }] });
    const mine = await rendered(dir, apps.api!);
    // Argo CD: no --include-crds, --namespace of helm.namespace, --set-file with the comma escaped
    expect(mine).toEqual(helmTemplate('api', `${dir}/charts/api`, '--namespace', 'release-ns', '--set-file', `settings=${dir}/shared/settings\\, main.txt`));
    expect(mine).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'api-config', namespace: DEST }, data: { releaseNamespace: 'release-ns', settings: 'level=debug\nowner=a,b\n' } },
    ]);
  });

  it('renders the CRDs without skipCrds', async () => {
    const { dir, apps } = await loaded({ ...CHART, 'argo/api.yaml': application('api', 'charts/api', '    helm:\n      releaseName: api\n') });
    const mine = await rendered(dir, apps.api!);
    expect(mine).toEqual(helmTemplate('api', `${dir}/charts/api`, '--namespace', DEST, '--include-crds'));
    expect(mine.map((o) => o.kind)).toEqual(['ConfigMap', 'CustomResourceDefinition']);
  });

  it('a fileParameters path outside the repository, or missing, is bad input naming the Application and field', async () => {
    const dir = makeRepo({
      ...CHART,
      'argo/out.yaml': application('out', 'charts/api', '    helm:\n      fileParameters: [{name: a, path: ../../../etc/passwd}]\n'),
      'argo/gone.yaml': application('gone', 'charts/api', '    helm:\n      fileParameters: [{name: a, path: values.yaml}, {name: b, path: gone.txt}]\n'),
    });
    const { located } = await inputErrors(load(dir, 'argo', { repoUrls }));
    expect(located).toEqual([
      'argo/gone.yaml:11: Application gone: spec.source.helm.fileParameters[1].path "gone.txt" (charts/api/gone.txt) does not exist in this repository',
      'argo/out.yaml:11: Application out: spec.source.helm.fileParameters[0].path "../../../etc/passwd" (relative to charts/api) is outside the repository',
    ]);
  });
});
