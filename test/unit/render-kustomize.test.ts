import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { objectId, RenderError, renderApp, renderApps } from '../../src/render/index.js';
import type { App } from '../../src/root/model.js';
import { imageOverride } from '../../src/render/kustomize.js';
import { app, makeWorkspace, rejection, tools } from './render-support.js';

const listAll = async (dir: string) => (await readdir(dir, { recursive: true })).sort();

const repo = {
  'bases/web/kustomization.yaml': 'resources: [deployment.yaml, config.yaml]\n',
  'bases/web/deployment.yaml': [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata: {name: web}',
    'spec:',
    '  selector: {matchLabels: {app: web}}',
    '  template:',
    '    metadata: {labels: {app: web}}',
    '    spec:',
    '      containers: [{name: web, image: nginx:1.25}]',
    '      volumes: [{name: cfg, configMap: {name: web-config}}]',
    '',
  ].join('\n'),
  'bases/web/config.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config}\ndata: {level: info}\n',
  'apps/web/base/kustomization.yaml': 'resources: [../../../bases/web]\n',
  'apps/web/overlays/prod/kustomization.yaml': 'resources: [../../base]\nnamespace: web-prod\npatches:\n  - path: replicas.yaml\n',
  'apps/web/overlays/prod/replicas.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n',
};

const kApp = (over: Partial<App> = {}) => app({ name: 'web', path: 'apps/web/base', type: 'kustomize', namespace: 'web', ...over });

describe('kustomize apps', () => {
  it('renders a base that lives outside the app directory, defaulting the namespace', async () => {
    const ws = await makeWorkspace(repo);
    const r = await renderApp(kApp(), { ...ws, ...tools });
    expect(r.objects.map(objectId)).toEqual(['ConfigMap/web/web-config', 'Deployment/web/web']);
    expect(r.renderedCharts).toBeUndefined();
  });

  it('renders an overlay (its own namespace and patches)', async () => {
    const ws = await makeWorkspace(repo);
    const r = await renderApp(kApp({ path: 'apps/web/overlays/prod' }), { ...ws, ...tools });
    expect(r.objects.map(objectId)).toEqual(['ConfigMap/web-prod/web-config', 'Deployment/web-prod/web']);
    expect(r.objects[1]!.spec).toMatchObject({ replicas: 3 });
  });

  it("applies the app's namePrefix, images and commonLabels without editing the clone", async () => {
    const ws = await makeWorkspace(repo);
    const before = await listAll(ws.workspace);
    const r = await renderApp(
      kApp({ kustomize: { namePrefix: 'blue-', nameSuffix: '-v2', images: ['nginx=registry.local/nginx:1.26'], commonLabels: { team: 'web' } } }),
      { ...ws, ...tools },
    );
    expect(r.objects.map(objectId)).toEqual(['ConfigMap/web/blue-web-config-v2', 'Deployment/web/blue-web-v2']);
    const deployment = r.objects[1] as unknown as { metadata: { labels: object }; spec: { selector: object; template: { spec: { containers: { image: string }[]; volumes: unknown[] } } } };
    expect(deployment.metadata.labels).toEqual({ team: 'web' });
    expect(deployment.spec.selector).toEqual({ matchLabels: { app: 'web', team: 'web' } });
    expect(deployment.spec.template.spec.containers[0]!.image).toBe('registry.local/nginx:1.26');
    expect(deployment.spec.template.spec.volumes).toEqual([{ name: 'cfg', configMap: { name: 'blue-web-config-v2' } }]);
    expect(await listAll(ws.workspace)).toEqual(before);
  });

  it("replaces the kustomization's own namePrefix, nameSuffix and image entry, as Argo CD's `kustomize edit set` does, instead of stacking on them", async () => {
    const ws = await makeWorkspace({
      ...repo,
      'apps/web/own/kustomization.yaml': [
        'resources: [../../../bases/web, extra.yaml]',
        'namePrefix: inner-',
        'nameSuffix: -old',
        'images:',
        '  - name: nginx',
        '    newName: registry.example.com/nginx',
        '    newTag: "1.0"',
        '  - name: busybox',
        '    newTag: "1.36"',
        'commonLabels: { team: old, tier: web }',
        '',
      ].join('\n'),
      'apps/web/own/extra.yaml': 'apiVersion: v1\nkind: Pod\nmetadata: {name: tool}\nspec:\n  containers: [{name: t, image: busybox}]\n',
    });
    const before = await listAll(ws.workspace);
    const r = await renderApp(
      kApp({ path: 'apps/web/own', kustomize: { namePrefix: 'outer-', nameSuffix: '-new', images: ['nginx=other.example.com/nginx:2.0'], commonLabels: { team: 'new' } } }),
      { ...ws, ...tools },
    );
    expect(r.objects.map(objectId)).toEqual(['ConfigMap/web/outer-web-config-new', 'Deployment/web/outer-web-new', 'Pod/web/outer-tool-new']);
    const deployment = r.objects[1] as unknown as { metadata: { labels: object }; spec: { template: { spec: { containers: { image: string }[]; volumes: unknown[] } } } };
    expect(deployment.spec.template.spec.containers[0]!.image).toBe('other.example.com/nginx:2.0');
    expect(deployment.spec.template.spec.volumes).toEqual([{ name: 'cfg', configMap: { name: 'outer-web-config-new' } }]);
    expect(deployment.metadata.labels).toEqual({ team: 'new', tier: 'web' });
    // an entry the application does not name stays
    expect((r.objects[2] as unknown as { spec: { containers: { image: string }[] } }).spec.containers[0]!.image).toBe('busybox:1.36');
    expect(await listAll(ws.workspace)).toEqual(before);
  });

  it('reads Argo CD image overrides', () => {
    expect(imageOverride('nginx:1.2')).toEqual({ name: 'nginx', newTag: '1.2' });
    expect(imageOverride('nginx=registry.local:5000/nginx:1.2')).toEqual({ name: 'nginx', newName: 'registry.local:5000/nginx', newTag: '1.2' });
    expect(imageOverride('app=app@sha256:abc')).toEqual({ name: 'app', digest: 'sha256:abc' });
    expect(imageOverride('registry.local:5000/app')).toEqual({ name: 'registry.local:5000/app' });
  });

  it('inflates helmCharts of a vendored chart with the pinned helm', async () => {
    const ws = await makeWorkspace({
      'apps/cache/kustomization.yaml': 'helmCharts:\n  - name: cache\n    releaseName: hot\n    valuesInline: {size: 7}\n',
      'apps/cache/charts/cache/Chart.yaml': 'apiVersion: v2\nname: cache\nversion: 1.0.0\n',
      'apps/cache/charts/cache/values.yaml': 'size: 1\n',
      'apps/cache/charts/cache/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cache\ndata:\n  size: "{{ .Values.size }}"\n',
    });
    const r = await renderApp(app({ name: 'cache', path: 'apps/cache', type: 'kustomize', namespace: 'cache' }), { ...ws, ...tools });
    expect(r.objects).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hot-cache', namespace: 'cache' }, data: { size: '7' } }]);
    // helm rendered a chart for it: plan mode says the chart saw helm's built-in cluster, not the target's
    expect(r.renderedCharts).toBe(true);
  });

  it('fails clearly, without downloading or writing anything, on a helmCharts chart from a network repository', async () => {
    const ws = await makeWorkspace({
      'apps/cache/kustomization.yaml': 'helmCharts:\n  - name: redis\n    repo: https://charts.example.invalid\n    version: 17.0.0\n    releaseName: hot\n',
    });
    const before = await listAll(ws.workspace);
    const err = await rejection(renderApp(app({ name: 'cache', path: 'apps/cache', type: 'kustomize' }), { ...ws, ...tools }));
    expect(err).toBeInstanceOf(RenderError);
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe('app cache: kustomize helmCharts needs network dependency redis 17.0.0 from repo https://charts.example.invalid');
    expect(err.hint).toBe(
      'vendor it with `helm pull --repo https://charts.example.invalid redis --version 17.0.0 --untar --untardir apps/cache/charts/redis-17.0.0` and commit apps/cache/charts/redis-17.0.0/ (the pipe renders without network)',
    );
    expect(await listAll(ws.workspace)).toEqual(before);
  });

  it('names a remote resource kustomize could not fetch, in the app or in a base it reaches, and says to vendor it', async () => {
    // .invalid never resolves: the fetch fails the same way with or without a network
    const ws = await makeWorkspace({
      ...repo,
      'apps/remote/kustomization.yaml': 'resources:\n  - config.yaml\n  - https://git.invalid/org/repo//base?ref=v1\n',
      'apps/remote/config.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n',
      'apps/ssh/kustomization.yaml': 'resources: [../../bases/shared]\nnamePrefix: ssh-\n',
      'bases/shared/kustomization.yaml': 'resources:\n  - git@git.invalid:org/repo.git//base\n',
    });
    const results = await renderApps(
      [app({ name: 'remote', path: 'apps/remote', type: 'kustomize' }), app({ name: 'ssh', path: 'apps/ssh', type: 'kustomize', kustomize: { namePrefix: 'x-' } })],
      { ...ws, ...tools, concurrency: 2 },
    );
    const remote = results.get('remote') as RenderError;
    expect(remote.exitCode).toBe(2);
    expect(remote.located).toBe(
      'apps/remote: app remote: the kustomization in apps/remote uses the remote resource https://git.invalid/org/repo//base?ref=v1, which needs network access, and kustomize could not fetch it',
    );
    expect(remote.hint).toMatch(/^vendor it: copy the files of https:\/\/git.invalid\/org\/repo\/\/base\?ref=v1 into the repository and list their path in resources .*never watches remote content for changes/);
    expect(remote.details[0]).toMatch(/^kustomize ran: \S*git fetch --depth=1 https:\/\/git.invalid\/org\/repo v1$/);
    expect(remote.details.slice(1).join('\n')).toMatch(/Could not resolve host: git.invalid/);
    // through a local base, and through the wrapper that carries the app's own options
    const ssh = results.get('ssh') as RenderError;
    expect(ssh.exitCode).toBe(2);
    expect(ssh.message).toBe('app ssh: the kustomization in bases/shared uses the remote resource git@git.invalid:org/repo.git//base, which needs network access, and kustomize could not fetch it');
  });

  it("reports kustomize's own message for a broken kustomization, and a missing kustomization", async () => {
    const ws = await makeWorkspace({ ...repo, 'apps/broken/kustomization.yaml': 'resources: [missing.yaml]\n', 'apps/none/a.yaml': 'x: 1\n' });
    const results = await renderApps(
      [app({ name: 'broken', path: 'apps/broken', type: 'kustomize' }), app({ name: 'none', path: 'apps/none', type: 'kustomize' }), kApp()],
      { ...ws, ...tools, concurrency: 2 },
    );
    const broken = results.get('broken') as RenderError;
    expect(broken.exitCode).toBe(2);
    expect(broken.message).toBe('app broken: kubectl kustomize apps/broken failed (exit 1)');
    expect(broken.details.join('\n')).toMatch(/missing.yaml/);
    expect((results.get('none') as RenderError).located).toBe('app-of-apps.yaml:3: app none: apps/none has no kustomization.yaml');
    expect(results.get('web')).toMatchObject({ app: 'web', objects: [{ kind: 'ConfigMap' }, { kind: 'Deployment' }] });
  });
});
