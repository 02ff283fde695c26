import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { objectId, RenderError, renderApp } from '../../src/render/index.js';
import type { App } from '../../src/root/model.js';
import { runTool } from '../../src/util/exec.js';
import { helmKubeVersion } from '../../src/apply/capabilities.js';
import { app, makeWorkspace, rejection, tools } from './render-support.js';

async function listAll(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

const chartYaml = (name: string, deps = '') => `apiVersion: v2\nname: ${name}\nversion: 0.1.0\n${deps ? `dependencies:\n${deps}` : ''}`;

const webChart = {
  'apps/web/Chart.yaml': chartYaml('web'),
  'apps/web/values.yaml': 'a: chart\nb: chart\nc: chart\nd: chart\n',
  'apps/web/templates/cm.yaml': [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: {{ .Release.Name }}-settings',
    'data:',
    '  a: {{ .Values.a | quote }}',
    '  b: {{ .Values.b | quote }}',
    '  c: {{ .Values.c | quote }}',
    '  d: {{ .Values.d | quote }}',
    '  list: {{ .Values.list | quote }}',
    '  kind: {{ kindOf .Values.num | quote }}',
    '  ns: {{ .Release.Namespace }}',
    '',
  ].join('\n'),
  'apps/web/templates/widget.yaml': 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}\n',
  'apps/web/templates/tests/test-pod.yaml':
    'apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers: [{name: t, image: busybox}]\n',
  'apps/web/crds/widgets.yaml':
    'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets}\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n',
  'envs/prod/web-values.yaml': 'a: file\nb: file\nc: file\n',
};

const helmApp = (over: Partial<App> = {}) => app({ name: 'web', path: 'apps/web', type: 'helm', namespace: 'web-prod', ...over });

describe('helm apps', () => {
  it('renders with values files, inline values, parameters (in that order of precedence) and CRDs, without helm tests', async () => {
    const ws = await makeWorkspace(webChart);
    const r = await renderApp(
      helmApp({
        helm: {
          releaseName: 'site',
          valueFiles: ['envs/prod/web-values.yaml'],
          values: { b: 'inline', c: 'inline' },
          parameters: [
            { name: 'c', value: 'param' },
            { name: 'list', value: 'x,y' },
            { name: 'num', value: '0123', forceString: true },
          ],
        },
      }),
      { ...ws, ...tools },
    );
    expect(r.objects.map(objectId)).toEqual(['CustomResourceDefinition/widgets.example.com', 'ConfigMap/web-prod/site-settings', 'Widget/web-prod/site']);
    expect(r.objects[1]!.data).toEqual({ a: 'file', b: 'inline', c: 'param', d: 'chart', list: 'x,y', kind: 'string', ns: 'web-prod' });
  });

  it("never reads a release name as a flag, and blames a parameter helm cannot parse on the app's entry", async () => {
    const ws = await makeWorkspace(webChart);
    // a release name (from an Argo CD Application, unchecked) in front of the flags would be one: helm would run a program
    const flagLike = await rejection(renderApp(helmApp({ helm: { releaseName: '--post-renderer=/bin/false', valueFiles: [], parameters: [] } }), { ...ws, ...tools }));
    expect(flagLike.details.join('\n')).toMatch(/release name/i);
    expect(flagLike.details.join('\n')).not.toMatch(/invalid argument/i);
    const err = await rejection(renderApp(helmApp({ helm: { releaseName: 'site', valueFiles: [], parameters: [{ name: 'a,b', value: 'x' }] } }), { ...ws, ...tools }));
    expect(err.exitCode).toBe(2);
    expect(err.located).toBe('app-of-apps.yaml:3: app web: helm refused a parameter of app web');
    expect(err.details.join('\n')).toContain('failed parsing --set data');
    expect(err.hint).toMatch(/^fix the parameter names of the app/);
  });

  it("renders for the cluster's version and API versions: an EKS version string, thousands of CRD kinds, values that look like flags", async () => {
    const ws = await makeWorkspace({
      'apps/caps/Chart.yaml': chartYaml('caps'),
      'apps/caps/templates/cm.yaml': [
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata: { name: caps }',
        'data:',
        '  version: {{ .Capabilities.KubeVersion.Version | quote }}',
        '  minor: {{ .Capabilities.KubeVersion.Minor | quote }}',
        '  new: {{ semverCompare ">=1.31-0" .Capabilities.KubeVersion.Version | quote }}',
        '  widget: {{ .Capabilities.APIVersions.Has "example.com/v1/Widget" | quote }}',
        '  last: {{ .Capabilities.APIVersions.Has "crd2999.example.org/v1beta1/Kind2999" | quote }}',
        '  flag: {{ .Capabilities.APIVersions.Has "--post-renderer=x" | quote }}',
        '',
      ].join('\n'),
    });
    // about 300 KB of API versions: more than one argument may hold (128 KiB), so one flag each
    const crds = Array.from({ length: 3000 }, (_, i) => [`crd${i}.example.org/v1beta1`, `crd${i}.example.org/v1beta1/Kind${i}`]).flat();
    const capabilities = { kubeVersion: 'v1.30.4-eks-a737599', apiVersions: ['v1', 'v1/ConfigMap', 'example.com/v1', 'example.com/v1/Widget', '--post-renderer=x', ...crds] };
    const r = await renderApp(app({ name: 'caps', path: 'apps/caps', type: 'helm', namespace: 'caps' }), { ...ws, ...tools, capabilities });
    expect(r.objects[0]!.data).toEqual({ version: 'v1.30.4-eks-a737599', minor: '30', new: 'false', widget: 'true', last: 'true', flag: 'true' });
    const defaults = await renderApp(app({ name: 'caps', path: 'apps/caps', type: 'helm', namespace: 'caps' }), { ...ws, ...tools });
    expect(defaults.objects[0]!.data).toMatchObject({ new: 'true', widget: 'false', last: 'false' });
  });

  it('lookup finds nothing, also when rendering for a cluster: a value a chart keeps in a Secret is generated anew (as documented)', async () => {
    const ws = await makeWorkspace({
      'apps/db/Chart.yaml': chartYaml('db'),
      'apps/db/templates/secret.yaml': [
        '{{- $old := lookup "v1" "Secret" .Release.Namespace "db" }}',
        'apiVersion: v1',
        'kind: Secret',
        'metadata: { name: db }',
        'stringData:',
        '  password: {{ if $old }}{{ index $old.data "password" | b64dec }}{{ else }}generated{{ end }}',
        '',
      ].join('\n'),
    });
    const db = app({ name: 'db', path: 'apps/db', type: 'helm', namespace: 'db' });
    for (const capabilities of [undefined, { kubeVersion: 'v1.33.13', apiVersions: ['v1', 'v1/Secret'] }]) {
      const r = await renderApp(db, { ...ws, ...tools, capabilities });
      expect(r.objects[0]!.stringData).toEqual({ password: 'generated' });
    }
  });

  it("tells helm the server's gitVersion, as helm install would, or major.minor when that is no semver", () => {
    expect(helmKubeVersion({ gitVersion: 'v1.33.13', major: '1', minor: '33' })).toBe('v1.33.13');
    expect(helmKubeVersion({ gitVersion: 'v1.30.4-eks-a737599', major: '1', minor: '30+' })).toBe('v1.30.4-eks-a737599');
    expect(helmKubeVersion({ gitVersion: 'v1.30.4+k3s1', major: '1', minor: '30' })).toBe('v1.30.4+k3s1');
    expect(helmKubeVersion({ gitVersion: 'v1.28', major: '1', minor: '28+' })).toBe('v1.28.0');
    expect(helmKubeVersion({ gitVersion: 'unknown' })).toBeUndefined();
  });

  it('names the app and the file when a values file is missing', async () => {
    const ws = await makeWorkspace(webChart);
    const err = await rejection(renderApp(helmApp({ helm: { releaseName: 'site', valueFiles: ['envs/prod/missing.yaml'], parameters: [] } }), { ...ws, ...tools }));
    expect(err).toBeInstanceOf(RenderError);
    expect(err.exitCode).toBe(2);
    expect(err.located).toBe('app-of-apps.yaml:3: app web: values file envs/prod/missing.yaml does not exist');
    const outside = await rejection(renderApp(helmApp({ helm: { releaseName: 'site', valueFiles: ['../secrets.yaml'], parameters: [] } }), { ...ws, ...tools }));
    expect(outside.located).toBe('app-of-apps.yaml:3: app web: path "../secrets.yaml" is outside the repository');
  });

  it('fails clearly on a dependency that needs the network', async () => {
    const ws = await makeWorkspace({
      ...webChart,
      'apps/web/Chart.yaml': chartYaml('web', '  - name: redis\n    version: 17.0.0\n    repository: https://charts.bitnami.com/bitnami\n'),
    });
    const err = await rejection(renderApp(helmApp(), { ...ws, ...tools }));
    expect(err).toBeInstanceOf(RenderError);
    expect(err.exitCode).toBe(2);
    expect(err.located).toBe('apps/web/Chart.yaml:5: app web: chart needs network dependency redis from repo https://charts.bitnami.com/bitnami');
    expect(err.hint).toBe('vendor it with `helm dependency build apps/web` and commit apps/web/charts/ (the pipe renders without network)');
  });

  it('uses a remote dependency vendored as a .tgz in charts/ without network', async () => {
    const ws = await makeWorkspace({
      ...webChart,
      'apps/web/Chart.yaml': chartYaml('web', '  - name: redis\n    version: 17.0.0\n    repository: https://charts.bitnami.com/bitnami\n'),
      'vendor/redis/Chart.yaml': 'apiVersion: v2\nname: redis\nversion: 17.0.0\n',
      'vendor/redis/templates/svc.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-redis\nspec:\n  ports: [{port: 6379}]\n',
    });
    await runTool(tools.helmBin, ['package', join(ws.workspace, 'vendor/redis'), '-d', join(ws.workspace, 'apps/web/charts')], {
      env: { HELM_CACHE_HOME: join(ws.tmpDir, 'h'), HELM_CONFIG_HOME: join(ws.tmpDir, 'h'), HELM_DATA_HOME: join(ws.tmpDir, 'h') },
    });
    const r = await renderApp(helmApp(), { ...ws, ...tools });
    expect(r.objects.map(objectId)).toContain('Service/web-prod/web-redis');
  });

  it('vendors local file:// dependencies (and theirs) into a temp copy, leaving the clone untouched', async () => {
    const ws = await makeWorkspace({
      'apps/api/Chart.yaml': chartYaml('api', '  - name: common\n    version: ">=0.1.0"\n    repository: file://../../libs/common\n'),
      'apps/api/values.yaml': 'common:\n  greeting: from-api\n',
      'apps/api/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\n',
      'libs/common/Chart.yaml': chartYaml('common', '  - name: base\n    version: 0.1.0\n    repository: "file://../base"\n'),
      'libs/common/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-common\ndata:\n  greeting: {{ .Values.greeting }}\n',
      'libs/base/Chart.yaml': chartYaml('base'),
      'libs/base/templates/sa.yaml': 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}-base\n',
    });
    const before = await listAll(ws.workspace);
    const r = await renderApp(app({ name: 'api', path: 'apps/api', type: 'helm', namespace: 'api' }), { ...ws, ...tools });
    expect(r.objects.map(objectId).sort()).toEqual(['ConfigMap/api/api', 'ConfigMap/api/api-common', 'ServiceAccount/api/api-base']);
    expect(r.objects.find((o) => o.metadata.name === 'api-common')!.data).toEqual({ greeting: 'from-api' });
    expect(await listAll(ws.workspace)).toEqual(before);
    expect((await readdir(ws.tmpDir)).filter((n) => n.startsWith('render-'))).toEqual([]);
  });

  it('refuses a file:// dependency outside the repository', async () => {
    const ws = await makeWorkspace({
      'apps/api/Chart.yaml': chartYaml('api', '  - name: common\n    version: 0.1.0\n    repository: file://../../../outside\n'),
      'apps/api/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\n',
    });
    const err = await rejection(renderApp(app({ name: 'api', path: 'apps/api', type: 'helm' }), { ...ws, ...tools }));
    expect(err.located).toBe('apps/api/Chart.yaml:5: app api: local dependency common (file://../../../outside) is outside the repository');
  });

  it("reports helm's own message when a template fails", async () => {
    const ws = await makeWorkspace({ ...webChart, 'apps/web/templates/broken.yaml': 'value: {{ .Values.missing.key }}\n' });
    const err = await rejection(renderApp(helmApp(), { ...ws, ...tools }));
    expect(err).toBeInstanceOf(RenderError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('app web: helm template apps/web failed (exit 1)');
    expect(err.details.join('\n')).toMatch(/web\/templates\/broken.yaml:1:17[\s\S]*nil pointer evaluating interface \{\}.key/);
  });

  it('names the template when a chart renders an invalid object', async () => {
    const ws = await makeWorkspace({ ...webChart, 'apps/web/templates/nameless.yaml': 'apiVersion: v1\nkind: Secret\nmetadata:\n  labels: {a: b}\n' });
    const err = await rejection(renderApp(helmApp(), { ...ws, ...tools }));
    expect(err.located).toBe('apps/web/templates/nameless.yaml: app web: Secret has no metadata.name');
  });
});
