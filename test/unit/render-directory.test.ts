import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { objectId, RenderError, renderApp, renderApps, type RenderedApp } from '../../src/render/index.js';
import type { App } from '../../src/root/model.js';
import { app, makeWorkspace, rejection, tools } from './render-support.js';

async function render(files: Record<string, string>, a: App): Promise<RenderedApp> {
  const ws = await makeWorkspace(files);
  return renderApp(a, { ...ws, ...tools });
}

const renderError = (files: Record<string, string>, a: App): Promise<RenderError> => rejection(render(files, a));

const cm = (name: string, extra = '') => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}`;
const plain = (over: Partial<App> = {}) => app({ name: 'web', path: 'apps/web', type: 'directory', namespace: 'web', ...over });

describe('directory apps', () => {
  it('says when an app renders Argo CD Applications: applied as objects, what they name is not deployed by the pipe', async () => {
    const application = (name: string) => `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: ${name}\nspec:\n  source: { repoURL: https://github.com/org/crds, path: gateway }\n`;
    const r = await render({ 'apps/web/crds.yaml': application('gateway-crds'), 'apps/web/cm.yaml': cm('one') }, plain());
    expect(r.objects.map(objectId).sort()).toEqual(['Application/web/gateway-crds', 'ConfigMap/web/one']);
    expect(r.warnings).toEqual([
      'renders Application gateway-crds: the pipe applies it as an object and does not deploy what it names (an Argo CD in the cluster would); to deploy that with the pipe, list it in the root manifest instead',
    ]);
  });

  it('reads multi-document YAML (empty documents, Lists), JSON, and ignores files that are not manifests', async () => {
    const r = await render(
      {
        'apps/web/all.yaml': `${cm('one')}---\n---\n# only a comment\n---\n${cm('two')}`,
        'apps/web/list.yml': 'apiVersion: v1\nkind: List\nitems:\n  - ' + cm('three').replaceAll('\n', '\n    ') + '\n  - ' + cm('four').replaceAll('\n', '\n    '),
        'apps/web/svc.json': JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } }),
        'apps/web/README.md': '# not yaml: [',
        'apps/web/settings.yaml': 'replicas: 3\nfeatures: [a, b]\n',
      },
      plain(),
    );
    expect(r.objects.map(objectId).sort()).toEqual(['ConfigMap/web/four', 'ConfigMap/web/one', 'ConfigMap/web/three', 'ConfigMap/web/two', 'Service/web/web']);
    expect(r.warnings).toEqual(['apps/web/settings.yaml skipped: it has no Kubernetes objects (no apiVersion, kind or metadata)']);
    expect(r.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('says so when the folder holds the root manifest itself (an app at the top of the repository)', async () => {
    const err = await renderError(
      { 'app-of-apps.yaml': 'apiVersion: app-of-apps/v1\nkind: Root\napps: []\n', 'cm.yaml': cm('top') },
      plain({ path: '' }),
    );
    expect(err.exitCode).toBe(2);
    expect(err.located).toBe('app-of-apps.yaml:1: app web: this is the root manifest, not a Kubernetes object: the app renders the folder that holds it');
    expect(err.hint).toMatch(/leave the root out of it \(directory: \{ exclude:/);
  });

  it('warns when the folder gives no manifest to read: an include matching nothing, a folder of other files', async () => {
    const files = { 'apps/web/cm.yaml': cm('one'), 'apps/web/README.md': '# docs', 'apps/docs/notes.txt': 'x' };
    const none = await render(files, plain({ directory: { recurse: false, include: '*.yml' } }));
    expect(none.objects).toEqual([]);
    expect(none.warnings).toEqual(['apps/web renders no objects: its include/exclude (include *.yml) leave no .yaml, .yml or .json file directly in the folder (recurse is off)']);
    const other = await render(files, plain({ path: 'apps/docs', directory: { recurse: true } }));
    expect(other.warnings).toEqual(['apps/docs renders no objects: it has no .yaml, .yml or .json file']);
    expect((await render(files, plain())).warnings).toBeUndefined();
  });

  it('says a name that YAML reads as a number or a boolean is not a string', async () => {
    const err = await renderError({ 'apps/web/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 1.5\n' }, plain());
    expect(err.located).toBe('apps/web/cm.yaml:1: app web: ConfigMap metadata.name is 1.5, not a string');
    expect(err.hint).toBe('quote the name (name: "y")');
  });

  it('reads subdirectories only with recurse', async () => {
    const files = { 'apps/web/top.yaml': cm('top'), 'apps/web/sub/deep/nested.yaml': cm('nested') };
    expect((await render(files, plain())).objects.map((o) => o.metadata.name)).toEqual(['top']);
    const r = await render(files, plain({ directory: { recurse: true } }));
    expect(r.objects.map((o) => o.metadata.name).sort()).toEqual(['nested', 'top']);
  });

  it('applies Argo CD include/exclude globs: brace lists, and * across directories', async () => {
    const files = {
      'apps/web/a.yaml': cm('a'),
      'apps/web/b.yaml': cm('b'),
      'apps/web/c.yml': cm('c'),
      'apps/web/sub/d.yaml': cm('d'),
      'apps/web/sub/e.json': JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'e' } }),
    };
    const names = async (directory: App['directory']) =>
      (await render(files, plain({ directory }))).objects.map((o) => o.metadata.name).sort();
    expect(await names({ recurse: true, include: '{a.yaml,sub/d.yaml}' })).toEqual(['a', 'd']);
    expect(await names({ recurse: true, include: '*.yaml' })).toEqual(['a', 'b', 'd']);
    expect(await names({ recurse: true, exclude: 'sub/*' })).toEqual(['a', 'b', 'c']);
    expect(await names({ recurse: true, include: '*.yaml', exclude: '{b.yaml,sub/*}' })).toEqual(['a']);
  });

  it('parses YAML like Kubernetes does (1.1: octal modes and yes/no booleans)', async () => {
    const r = await render({ 'apps/web/cm.yaml': cm('m', 'data:\n  when: 2024-01-02\nspec:\n  mode: 0644\n  on: yes\n') }, plain());
    expect(r.objects[0]).toMatchObject({ spec: { mode: 420, true: true }, data: { when: '2024-01-02' } });
  });

  it('names file and line of invalid YAML', async () => {
    const err = await renderError({ 'apps/web/ok.yaml': cm('ok'), 'apps/web/bad.yaml': `${cm('fine')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: [\n` }, plain());
    expect(err.exitCode).toBe(2);
    expect(err.app).toBe('web');
    expect(err.where?.file).toBe('apps/web/bad.yaml');
    expect(err.where?.line).toBe(9);
    expect(err.message).toMatch(/^app web: invalid YAML/);
    expect(err.hint).toBeTruthy();
  });

  it('rejects an object without kind, naming file and line', async () => {
    const err = await renderError({ 'apps/web/x.yaml': `${cm('a')}---\napiVersion: v1\nmetadata:\n  name: nokind\n` }, plain());
    expect(err.exitCode).toBe(2);
    expect(err.located).toBe('apps/web/x.yaml:6: app web: object has no kind');
  });

  it('lists every invalid object of an app at once', async () => {
    const err = await renderError(
      {
        'apps/web/x.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n---\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {version: 1.5}\n',
      },
      plain(),
    );
    expect(err.message).toBe('app web: 3 invalid objects');
    expect(err.details).toEqual([
      'apps/web/x.yaml:1: ConfigMap name "Bad_Name" is not a valid DNS subdomain (at most 253 of a-z, 0-9, "-", ".")',
      'apps/web/x.yaml:6: object has no apiVersion',
      'apps/web/x.yaml:9: Pod/p metadata.labels.version is a number, not a string',
    ]);
  });

  it('renders a hook that the server names (generateName); any other object needs a name', async () => {
    const hook = await render(
      { 'apps/web/hook.yaml': 'apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n  annotations:\n    argocd.argoproj.io/hook: PreSync\n' },
      plain(),
    );
    expect(hook.objects.map(objectId)).toEqual(['Job/web/migrate-*']);
    expect(hook.objects[0]!.metadata).toMatchObject({ generateName: 'migrate-', namespace: 'web' });
    expect(hook.objects[0]!.metadata.name).toBeUndefined();
    const err = await renderError({ 'apps/web/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: settings-\n' }, plain());
    expect(err.located).toBe('apps/web/cm.yaml:1: app web: ConfigMap settings-* uses metadata.generateName, which only hooks may use');
    expect(err.hint).toBe('give the object a fixed metadata.name (server-side apply needs one), or make it a hook (argocd.argoproj.io/hook)');
  });

  it('rejects a duplicate object, naming both origins', async () => {
    const err = await renderError({ 'apps/web/a.yaml': cm('same'), 'apps/web/b.yaml': `${cm('other')}---\n${cm('same')}` }, plain());
    expect(err.located).toBe('apps/web/b.yaml:6: app web: ConfigMap/web/same is defined twice: here and at apps/web/a.yaml:1');
  });

  it('puts namespaced objects into the app namespace and leaves cluster-scoped ones without one', async () => {
    const crd = (scope: string, kind: string) =>
      `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: ${kind.toLowerCase()}s.example.com\nspec:\n  group: example.com\n  scope: ${scope}\n  names: {kind: ${kind}, plural: ${kind.toLowerCase()}s}\n`;
    const r = await render(
      {
        'apps/web/objs.yaml': [
          cm('defaulted'),
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: explicit\n  namespace: other\n',
          'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: "system:reader"\n  namespace: ignored\n',
          'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n',
          crd('Cluster', 'Fleet'),
          crd('Namespaced', 'Widget'),
          'apiVersion: example.com/v1\nkind: Fleet\nmetadata:\n  name: f\n',
          'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n',
          'apiVersion: unknown.io/v1\nkind: Gadget\nmetadata:\n  name: g\n',
        ].join('---\n'),
      },
      plain(),
    );
    expect(r.objects.map(objectId)).toEqual([
      'ConfigMap/web/defaulted',
      'ConfigMap/other/explicit',
      'ClusterRole/system:reader',
      'Namespace/web',
      'CustomResourceDefinition/fleets.example.com',
      'CustomResourceDefinition/widgets.example.com',
      'Fleet/f',
      'Widget/web/w',
      'Gadget/web/g',
    ]);
  });

  it('computes a digest that is stable across runs and independent of file, document and key order', async () => {
    const a = await render({ 'apps/web/all.yaml': `${cm('one', 'data: {x: "1", y: "2"}\n')}---\n${cm('two')}` }, plain());
    const again = await render({ 'apps/web/all.yaml': `${cm('one', 'data: {x: "1", y: "2"}\n')}---\n${cm('two')}` }, plain());
    const reordered = await render(
      { 'apps/web/a.yaml': cm('two'), 'apps/web/z.yaml': 'metadata:\n  name: one\ndata: {y: "2", x: "1"}\nkind: ConfigMap\napiVersion: v1\n' },
      plain(),
    );
    const changed = await render({ 'apps/web/all.yaml': `${cm('one', 'data: {x: "1", y: "3"}\n')}---\n${cm('two')}` }, plain());
    const otherNamespace = await render({ 'apps/web/all.yaml': `${cm('one', 'data: {x: "1", y: "2"}\n')}---\n${cm('two')}` }, plain({ namespace: 'staging' }));
    expect(again.digest).toBe(a.digest);
    expect(reordered.digest).toBe(a.digest);
    expect(changed.digest).not.toBe(a.digest);
    expect(otherNamespace.digest).not.toBe(a.digest);
  });

  it('refuses jsonnet, YAML alias bombs, a missing path and links that leave the repository', async () => {
    const jsonnet = await renderError({ 'apps/web/a.yaml': cm('a'), 'apps/web/main.jsonnet': '{}' }, plain());
    expect(jsonnet.message).toMatch(/jsonnet files cannot be rendered by the pipe: main.jsonnet/);

    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(', ')}]`)];
    const alias = await renderError({ 'apps/web/a.yaml': `${cm('a')}${bomb.join('\n')}\n` }, plain());
    expect(alias.located).toMatch(/^apps\/web\/a.yaml:1: app web: YAML aliases expand too much/);

    const missing = await renderError({ 'apps/other/a.yaml': cm('a') }, plain());
    expect(missing.located).toBe('app-of-apps.yaml:3: app web: path apps/web is not a directory in the repository');

    const ws = await makeWorkspace({ 'apps/web/a.yaml': cm('a') });
    await symlink(join(ws.tmpDir), join(ws.workspace, 'apps/web/escape'));
    const escaped = await rejection(renderApp(plain({ directory: { recurse: true } }), { ...ws, ...tools }));
    expect(escaped.message).toMatch(/leads outside the repository through a symbolic link/);
  });

  it('renderApps returns every app with its own result or error', async () => {
    const ws = await makeWorkspace({
      'apps/good/a.yaml': cm('a'),
      'apps/bad1/a.yaml': 'kind: [',
      'apps/bad2/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n',
    });
    const apps = ['bad1', 'good', 'bad2'].map((n) => app({ name: n, path: `apps/${n}`, type: 'directory', namespace: n }));
    const results = await renderApps(apps, { ...ws, ...tools, concurrency: 2 });
    expect([...results.keys()]).toEqual(['bad1', 'good', 'bad2']);
    expect(results.get('good')).toMatchObject({ app: 'good', objects: [{ metadata: { name: 'a', namespace: 'good' } }] });
    expect((results.get('bad1') as RenderError).located).toMatch(/^apps\/bad1\/a.yaml:1:\d+: app bad1: invalid YAML/);
    expect((results.get('bad2') as RenderError).located).toBe('apps/bad2/a.yaml:1: app bad2: ConfigMap has no metadata.name');
  });

  it('gives every app a cancellation error when the run is aborted', async () => {
    const ws = await makeWorkspace({ 'apps/a/a.yaml': cm('a'), 'apps/b/kustomization.yaml': 'resources: []\n' });
    const controller = new AbortController();
    controller.abort();
    const apps = [app({ name: 'a', path: 'apps/a', type: 'directory' }), app({ name: 'b', path: 'apps/b', type: 'kustomize' })];
    const results = await renderApps(apps, { ...ws, ...tools, concurrency: 2, signal: controller.signal });
    for (const name of ['a', 'b']) {
      const r = results.get(name) as RenderError;
      expect(r.message).toBe(`app ${name}: render cancelled`);
      expect(r.exitCode).toBe(1);
    }
  });
});
