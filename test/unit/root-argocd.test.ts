import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toolPath } from '../../src/util/tools.js';
import { withBuildEnvironment } from '../../src/root/build-environment.js';
import type { App, Root } from '../../src/root/model.js';
import { argocdExampleApps, ARGOCD_EXAMPLE_REPO } from '../fixtures/root/argocd-example-apps.js';
import { BatchGitTree } from '../fixtures/root/batch-tree.js';
import { commitAll, git, inputErrors, load, loadAt, makeRepo, writeFiles } from '../fixtures/root/repo.js';

const REPO = 'https://bitbucket.org/acme/gitops.git';
const repoUrls = ['git@bitbucket.org:acme/gitops.git'];

function application(name: string, source: string, spec = '', metadata = ''): string {
  return `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ${name}
  namespace: argocd
${metadata}spec:
  project: default
${source}${spec}`;
}
const src = (path: string, more = '', repoURL = REPO) => `  source:\n    repoURL: ${repoURL}\n    targetRevision: HEAD\n    path: ${path}\n${more}`;

const CHILDREN = {
  'plain/a.yaml': 'kind: ConfigMap\n',
  'plain/sub/b.yaml': 'kind: ConfigMap\n',
  'chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 1.0.0\n',
  'chart/values-live.yaml': 'replicas: 2\n',
  'shared/values.yaml': 'tier: gold\n',
  'kust/kustomization.yaml': 'resources: []\n',
  'mixed/deploy.yaml': 'kind: ConfigMap\n',
  'mixed/extra.jsonnet': '{}\n',
};
const byName = (root: Root) => Object.fromEntries(root.apps.map((a) => [a.name, a])) as Record<string, App>;

describe('Argo CD directory of Applications', () => {
  it('maps source, tool options, destination, sync options and the sync wave', async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'argo/plain.yaml': application(
        'plain',
        src('plain', '    directory:\n      recurse: true\n      include: "{a.yaml,sub/*.yaml}"\n      exclude: "*.txt"\n      jsonnet: {}\n'),
        '  destination:\n    server: https://kubernetes.default.svc\n    namespace: team\n  syncPolicy:\n    automated:\n      prune: true\n      selfHeal: true\n    syncOptions:\n    - CreateNamespace=true\n    - ServerSideApply=true\n    - PruneLast=true\n',
        '  annotations:\n    argocd.argoproj.io/sync-wave: "-2"\n',
      ),
      'argo/chart.yml': application(
        'chart',
        src(
          'chart',
          `    helm:
      releaseName: rel
      valueFiles: [values-live.yaml, /shared/values.yaml, missing.yaml]
      ignoreMissingValueFiles: true
      values: |
        image: { tag: "1", pullPolicy: IfNotPresent }
      valuesObject:
        image: { tag: "2" }
      parameters:
      - name: a.b
        value: "1"
      - name: c
        value: "true"
        forceString: true
`,
        ),
        '  destination:\n    name: in-cluster\n    namespace: charts\n  syncPolicy:\n    automated:\n      prune: true\n    syncOptions: [Prune=false]\n',
      ),
      'argo/kust.json': JSON.stringify({
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Application',
        metadata: { name: 'kust' },
        spec: {
          // with spec.sources given, Argo CD ignores spec.source
          source: { repoURL: REPO, path: 'plain' },
          sources: [{ repoURL: 'https://BITBUCKET.org/acme/gitops/', path: 'kust', targetRevision: 'v1.2.0', kustomize: { namePrefix: 'p-', images: ['web=web:2'], commonLabels: { team: 'a' } } }],
          // another cluster's destination is not deployed here (see below); in-cluster by name is
          destination: { name: 'in-cluster' },
        },
      }),
      'argo/README.md': 'not read',
      'argo/nested/ignored.yaml': application('ignored', src('plain')),
    });
    const root = await load(dir, 'argo', { repoUrls });
    expect(root).toMatchObject({ format: 'argocd-directory', file: 'argo', environments: [], disabled: [], unsupported: [], notes: [] });
    const apps = byName(root);
    expect(Object.keys(apps).sort()).toEqual(['chart', 'kust', 'plain']);
    expect(apps.plain).toMatchObject({
      type: 'directory',
      path: 'plain',
      namespace: 'team',
      createNamespace: true,
      serverSideApply: true,
      pruneLast: true,
      prune: true,
      syncWave: -2,
      directory: { recurse: true, include: '{a.yaml,sub/*.yaml}', exclude: '*.txt' },
      origin: { file: 'argo/plain.yaml', line: 1 },
    });
    expect(apps.plain!.notes).toBeUndefined();
    expect(apps.chart).toMatchObject({
      type: 'helm',
      namespace: 'charts',
      prune: false,
      createNamespace: false,
      serverSideApply: false,
      syncWave: 0,
      helm: {
        releaseName: 'rel',
        valueFiles: ['chart/values-live.yaml', 'shared/values.yaml'],
        // valuesObject replaces values (Argo CD's ValuesYAML reads one or the other, never both)
        values: { image: { tag: '2' } },
        parameters: [
          { name: 'a.b', value: '1' },
          { name: 'c', value: 'true', forceString: true },
        ],
        // ignoreMissingValueFiles: not rendered, still a dependency
        missingValueFiles: ['chart/missing.yaml'],
      },
    });
    expect(apps.chart!.helm!.values).toEqual({ image: { tag: '2' } });
    expect(apps.kust).toMatchObject({
      type: 'kustomize',
      namespace: 'default',
      kustomize: { namePrefix: 'p-', images: ['web=web:2'], commonLabels: { team: 'a' } },
      notes: ['targetRevision v1.2.0 is not honoured: the pipe deploys the commit being built'],
    });
  });

  it('renders helm.valuesObject instead of helm.values when both are given, as Argo CD does, and values alone when alone', async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'argo/apps.yaml': [
        application('both', src('chart', '    helm:\n      values: |\n        a: 1\n        keep: { x: 1 }\n      valuesObject:\n        b: 2\n')),
        application('text-only', src('chart', '    helm:\n      values: |\n        a: 1\n')),
        application('object-only', src('chart', '    helm:\n      valuesObject: { b: 2 }\n')),
      ].join('---\n'),
    });
    const apps = byName(await load(dir, 'argo/apps.yaml', { repoUrls }));
    expect(apps.both!.helm!.values).toEqual({ b: 2 });
    expect(apps['text-only']!.helm!.values).toEqual({ a: 1 });
    expect(apps['object-only']!.helm!.values).toEqual({ b: 2 });
  });

  it('does not deploy an Application whose destination is another cluster into this one: it is listed with the reason', async () => {
    const dest = (d: string) => `  destination:\n${d}    namespace: team\n`;
    const dir = makeRepo({
      ...CHILDREN,
      'argo/apps.yaml': [
        application('by-server', src('plain'), dest('    server: https://prod.example.com:6443\n')),
        application('by-name', src('plain'), dest('    name: prod-eu\n')),
        application('local-server', src('plain'), dest('    server: https://kubernetes.default.svc\n')),
        application('local-name', src('plain'), dest('    name: in-cluster\n')),
        application('this-env', src('plain'), dest('    name: staging\n')),
        application('this-cluster', src('plain'), dest('    name: staging-eks\n')),
      ].join('---\n'),
    });
    const root = await load(dir, 'argo/apps.yaml', { repoUrls, environment: 'staging', clusterName: 'staging-eks' });
    expect(root.apps.map((a) => [a.name, a.notes])).toEqual([
      ['local-server', undefined],
      ['local-name', undefined],
      ['this-env', undefined],
      ['this-cluster', undefined],
    ]);
    expect(root.unsupported.map((u) => [u.name, u.source, u.reason, u.origin.line])).toEqual([
      [
        'by-server',
        'another cluster',
        'spec.destination.server https://prod.example.com:6443 is another cluster; the pipe deploys only to the cluster it runs for: point the destination at https://kubernetes.default.svc, name this cluster in destination.name ("staging", "staging-eks"), or give this cluster\'s endpoint as CLUSTER_ENDPOINT',
        1,
      ],
      [
        'by-name',
        'another cluster',
        'spec.destination.name prod-eu is another cluster; the pipe deploys only to the cluster it runs for, which destination.name may call in-cluster or by its ENVIRONMENT or CLUSTER_NAME ("staging", "staging-eks")',
        16,
      ],
    ]);

    // the cluster's endpoint (CLUSTER_ENDPOINT) names it too, however the URL is spelled
    const endpoint = 'https://ABC123.gr7.eu-west-1.eks.amazonaws.com';
    const eks = makeRepo({
      ...CHILDREN,
      'argo/apps.yaml': [
        application('same', src('plain'), dest('    server: https://abc123.gr7.eu-west-1.eks.amazonaws.com:443/\n')),
        application('other', src('plain'), dest('    server: https://xyz.gr7.eu-west-1.eks.amazonaws.com\n')),
      ].join('---\n'),
    });
    const byEndpoint = await load(eks, 'argo/apps.yaml', { repoUrls, environment: 'staging', clusterEndpoint: endpoint });
    expect(byEndpoint.apps.map((a) => a.name)).toEqual(['same']);
    expect(byEndpoint.unsupported.map((u) => u.reason)).toEqual([
      `spec.destination.server https://xyz.gr7.eu-west-1.eks.amazonaws.com is another cluster; the pipe deploys only to the cluster it runs for: point the destination at https://kubernetes.default.svc, name this cluster in destination.name ("staging"), or give this cluster's endpoint as CLUSTER_ENDPOINT (now ${endpoint})`,
    ]);
  });

  it('lists an Application Argo CD would write differently (namespace metadata, respected ignoreDifferences) instead of deploying it otherwise', async () => {
    const policy = (p: string, more = '') => `  syncPolicy:\n${p}${more}`;
    const dir = makeRepo({
      ...CHILDREN,
      'argo/apps.yaml': [
        application('ns-meta', src('plain'), policy('    managedNamespaceMetadata:\n      labels: { istio-injection: enabled }\n    syncOptions: [CreateNamespace=true]\n')),
        application('ns-meta-unused', src('plain'), policy('    managedNamespaceMetadata:\n      labels: { istio-injection: enabled }\n')),
        application('respect', src('plain'), policy('    syncOptions: [RespectIgnoreDifferences=true]\n', '  ignoreDifferences:\n  - group: apps\n    kind: Deployment\n    jsonPointers: [/spec/replicas]\n')),
        application('ignore-only', src('plain'), '  ignoreDifferences:\n  - kind: ConfigMap\n    jsonPointers: [/data]\n'),
      ].join('---\n'),
    });
    const root = await load(dir, 'argo/apps.yaml', { repoUrls });
    expect(root.apps.map((a) => a.name)).toEqual(['ns-meta-unused', 'ignore-only']);
    expect(root.unsupported.map((u) => [u.name, u.source, u.reason])).toEqual([
      [
        'ns-meta',
        'sync policy',
        "spec.syncPolicy.managedNamespaceMetadata is not applied by the pipe (it would create the namespace without those labels and annotations); declare the Namespace with them among the app's manifests instead",
      ],
      [
        'respect',
        'sync policy',
        'syncOptions RespectIgnoreDifferences=true: the pipe would overwrite the fields spec.ignoreDifferences names, which Argo CD leaves as they are in the cluster; remove those fields from the manifests (or the option) to deploy it with the pipe',
      ],
    ]);
  });

  it("reads jsonnet a recursive directory source excludes with Argo CD's globs (a * matches across folders) as excluded", async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'deep/a.yaml': 'kind: ConfigMap\n',
      'deep/lib/x.jsonnet': '{}\n',
      'argo/apps.yaml': [
        application('excluded', src('deep', '    directory:\n      recurse: true\n      exclude: "*.jsonnet"\n')),
        application('included', src('deep', '    directory:\n      recurse: true\n      include: "*.jsonnet"\n')),
      ].join('---\n'),
    });
    const root = await load(dir, 'argo/apps.yaml', { repoUrls });
    expect(root.apps.map((a) => a.name)).toEqual(['excluded']);
    expect(root.unsupported.map((u) => [u.name, u.source])).toEqual([['included', 'jsonnet']]);
  });

  it('lists a ksonnet app (app.yaml of kind ksonnet.io/app, as in argocd-example-apps) as unsupported, not as a directory that fails to render', async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'ksonnet-guestbook/app.yaml': 'apiVersion: 0.3.0\nkind: ksonnet.io/app\nname: ksonnet-guestbook\nversion: 0.0.1\n',
      'ksonnet-guestbook/components/guestbook-ui.jsonnet': '{}\n',
      'argo/apps.yaml': application('ksonnet-guestbook', src('ksonnet-guestbook')),
    });
    const root = await load(dir, 'argo/apps.yaml', { repoUrls });
    expect(root.apps).toEqual([]);
    expect(root.unsupported.map((u) => [u.name, u.source, u.reason])).toEqual([
      ['ksonnet-guestbook', 'ksonnet', 'ksonnet-guestbook/app.yaml is a ksonnet application, which neither Argo CD (since 2.1) nor the pipe renders; commit the rendered YAML instead'],
    ]);
  });

  it("reads helm.version v3 (Argo CD's default) as no option, and any other version as unsupported", async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'argo/apps.yaml': [application('v3', src('chart', '    helm:\n      version: v3\n')), application('v2', src('chart', '    helm:\n      version: v2\n'))].join('---\n'),
    });
    const root = await load(dir, 'argo/apps.yaml', { repoUrls });
    expect(root.apps.map((a) => a.name)).toEqual(['v3']);
    expect(root.unsupported.map((u) => [u.name, u.reason])).toEqual([['v2', "spec.source.helm.version v2 is not supported: the pipe renders charts as helm 3 does (Argo CD's default, v3)"]]);
  });

  it("substitutes Argo CD's build environment where Argo CD does: paths when the root loads, helm parameters and kustomize options at render with the commit", async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'chart/values-web.yaml': 'tier: web\n',
      'chart/files/web.txt': 'hello\n',
      'argo/apps.yaml': [
        application(
          'web',
          src(
            'chart',
            `    helm:
      valueFiles: [values-$ARGOCD_APP_NAME.yaml]
      fileParameters: [{ name: motd, path: "files/\${ARGOCD_APP_NAME}.txt" }]
      parameters:
      - { name: app, value: $ARGOCD_APP_NAME }
      - { name: where, value: "\${ARGOCD_APP_NAMESPACE}/$ARGOCD_APP_PROJECT_NAME/$ARGOCD_APP_SOURCE_PATH@$ARGOCD_APP_SOURCE_TARGET_REVISION" }
      - { name: tag, value: $ARGOCD_APP_REVISION_SHORT, forceString: true }
      - { name: password, value: pa$$word }
      - { name: odd, value: "a$HOME-b$" }
`,
          ),
          '  destination:\n    namespace: shop\n',
        ),
        application(
          'kust',
          src('kust', '    kustomize:\n      images: ["web=registry.example/web:$ARGOCD_APP_REVISION_SHORT_8"]\n      commonLabels: { app: $ARGOCD_APP_NAME }\n      commonAnnotations: { literal: $ARGOCD_APP_NAME, rev: $ARGOCD_APP_REVISION }\n      commonAnnotationsEnvsubst: true\n'),
        ),
        application('literal', src('kust', '    kustomize:\n      commonAnnotations: { literal: $ARGOCD_APP_NAME }\n')),
      ].join('---\n'),
    });
    const root = await load(dir, 'argo/apps.yaml', { repoUrls });
    expect(root.unsupported).toEqual([]);
    const { web, kust, literal } = byName(root);
    // paths: substituted while the root loads, so the change plan and the checks see the real file
    expect(web!.helm!.valueFiles).toEqual(['chart/values-web.yaml']);
    expect(web!.helm!.fileParameters).toEqual([{ name: 'motd', path: 'chart/files/web.txt' }]);
    expect(web!.buildEnvironment).toEqual({
      variables: { ARGOCD_APP_NAME: 'web', ARGOCD_APP_NAMESPACE: 'shop', ARGOCD_APP_PROJECT_NAME: 'default', ARGOCD_APP_SOURCE_PATH: 'chart', ARGOCD_APP_SOURCE_TARGET_REVISION: 'HEAD' },
      usesRevision: true,
    });
    expect(web!.notes).toEqual(['helm parameter odd: $HOME is not a variable of Argo CD\'s build environment, so it is replaced by nothing, as Argo CD does (write $$ for a "$")']);
    const sha = 'f913b6cbf58aa5ae5ca1f8a2b149477aebcbd9d8';
    expect(withBuildEnvironment(web!, sha).helm!.parameters).toEqual([
      { name: 'app', value: 'web' },
      { name: 'where', value: 'shop/default/chart@HEAD' },
      { name: 'tag', value: 'f913b6c', forceString: true },
      { name: 'password', value: 'pa$word' },
      { name: 'odd', value: 'a-b$' },
    ]);
    expect(kust!.buildEnvironment).toEqual({ variables: { ARGOCD_APP_NAME: 'kust' }, usesRevision: true });
    const k = withBuildEnvironment(kust!, sha).kustomize!;
    expect([k.images, k.commonLabels, k.commonAnnotations]).toEqual([['web=registry.example/web:f913b6cb'], { app: 'kust' }, { literal: 'kust', rev: sha }]);
    // without commonAnnotationsEnvsubst, annotations are written as they are
    expect(literal!.buildEnvironment).toBeUndefined();
    expect(withBuildEnvironment(literal!, sha).kustomize!.commonAnnotations).toEqual({ literal: '$ARGOCD_APP_NAME' });
  });

  it('reads a sync wave with a sign ("+1", as Argo CD reads it with strconv.Atoi), and refuses one that is not a whole number at its line', async () => {
    const wave = (name: string, value: string) => application(name, src('plain'), '', `  annotations:\n    argocd.argoproj.io/sync-wave: "${value}"\n`);
    const dir = makeRepo({ ...CHILDREN, 'argo/apps.yaml': [wave('later', '+1'), wave('earlier', '-1')].join('---\n'), 'bad/apps.yaml': wave('odd', '1.5') });
    const root = await load(dir, 'argo/apps.yaml', { repoUrls });
    expect(root.apps.map((a) => [a.name, a.syncWave])).toEqual([['later', 1], ['earlier', -1]]);
    const { located } = await inputErrors(load(dir, 'bad/apps.yaml', { repoUrls }));
    expect(located).toEqual(['bad/apps.yaml:7: Application odd: annotation argocd.argoproj.io/sync-wave is "1.5", not a whole number']);
  });

  it('reads a kustomization root that gathers files of Applications (for kubectl apply -k) as those files, and refuses one kustomize would change', async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'cluster/base/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - plain.yaml\n  - ./more/chart.yaml\n',
      'cluster/base/plain.yaml': application('plain', src('plain')),
      'cluster/base/more/chart.yaml': application('chart', src('chart')),
      // not listed: kustomize would not gather it, nor does the pipe
      'cluster/base/draft.yaml': application('draft', src('kust')),
      'prefixed/kustomization.yaml': 'resources: [a.yaml]\nnamePrefix: staging-\n',
      'prefixed/a.yaml': application('a', src('plain')),
      'outside/kustomization.yaml': 'resources:\n  - a.yaml\n  - ../cluster/base/plain.yaml\n',
      'outside/a.yaml': application('a', src('plain')),
      'folder/kustomization.yaml': 'resources:\n  - nested\n',
      'folder/nested/kustomization.yaml': 'resources: []\n',
    });
    const root = await load(dir, 'cluster/base', { repoUrls });
    expect(root.format).toBe('argocd-directory');
    expect(root.apps.map((a) => [a.name, a.origin.file])).toEqual([
      ['plain', 'cluster/base/plain.yaml'],
      ['chart', 'cluster/base/more/chart.yaml'],
    ]);
    expect(root.notes).toContain('cluster/base/kustomization.yaml lists 2 file(s) of Applications: the pipe reads those, as kustomize would gather them');
    expect((await inputErrors(load(dir, 'prefixed', { repoUrls }))).located).toEqual([
      'prefixed/kustomization.yaml:2: prefixed/kustomization.yaml: the pipe reads a kustomization root only when it lists files of Applications; namePrefix would change them as kustomize builds them',
    ]);
    expect((await inputErrors(load(dir, 'outside', { repoUrls }))).located).toEqual([
      'outside/kustomization.yaml:3: outside/kustomization.yaml: resources entry "../cluster/base/plain.yaml" is not a file of outside',
    ]);
    expect((await inputErrors(load(dir, 'folder', { repoUrls }))).located).toEqual([
      'folder/kustomization.yaml:2: folder/kustomization.yaml: resources entry "nested" is not a file of folder (a folder, or missing)',
    ]);
  });

  it('reads the Applications of any list kind (an ApplicationList as kubectl get writes it), never dropping them', async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'argo/list.yaml': `apiVersion: argoproj.io/v1alpha1\nkind: ApplicationList\nitems:\n- apiVersion: argoproj.io/v1alpha1\n  kind: Application\n  metadata: { name: listed }\n  spec:\n    source: { repoURL: ${REPO}, path: plain }\n`,
    });
    const root = await load(dir, 'argo', { repoUrls });
    expect(root.apps.map((a) => [a.name, a.path, a.origin])).toEqual([['listed', 'plain', { file: 'argo/list.yaml', line: 4 }]]);
    expect(root.notes).toEqual([]);
  });

  it('lists every child it cannot render with the reason, never dropping one', async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'argo/apps.yaml': [
        application('other-repo', src('plain', '', 'https://github.com/someone/else.git')),
        application('remote-chart', '  source:\n    repoURL: https://charts.example.com\n    chart: redis\n    targetRevision: 1.2.3\n'),
        application('plugin', src('plain', '    plugin:\n      name: sops\n')),
        application('jsonnet-option', src('plain', '    directory:\n      jsonnet:\n        tlas: [{ name: a, value: b }]\n')),
        application('jsonnet-files', src('mixed')),
        application('multi', `  sources:\n  - repoURL: ${REPO}\n    path: chart\n  - repoURL: ${REPO}\n    ref: values\n`),
        application('two-paths', `  sources:\n  - repoURL: ${REPO}\n    path: plain\n  - repoURL: ${REPO}\n    path: kust\n`),
        // Argo CD ignores spec.source when spec.sources is given
        application('both-multi', `${src('plain')}  sources:\n  - repoURL: ${REPO}\n    path: plain\n  - repoURL: ${REPO}\n    path: kust\n`),
        application('kube-version', src('chart', '    helm:\n      kubeVersion: "1.29"\n')),
        application('without-selector', src('kust', '    kustomize:\n      commonLabels: { a: b }\n      labelWithoutSelector: true\n')),
        application('envsubst-kube', src('kust', '    kustomize:\n      commonAnnotations: { kube: $KUBE_VERSION }\n      commonAnnotationsEnvsubst: true\n')),
        application('remote-component', src('kust', '    kustomize:\n      components: [https://github.com/org/repo//c?ref=v1]\n')),
        application('values-revision', src('chart', '    helm:\n      valueFiles: [values-$ARGOCD_APP_REVISION_SHORT.yaml]\n')),
        application('values-unknown', src('chart', '    helm:\n      valueFiles: ["values-${STAGE}.yaml"]\n')),
        application('helm-on-plain', src('plain', '    helm:\n      releaseName: x\n')),
        application('url-values', src('chart', '    helm:\n      valueFiles: [https://example.com/v.yaml]\n')),
        application('no-source', ''),
        'apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: fleet\nspec: {}\n',
        application('fine', src('mixed', '    directory:\n      exclude: "*.jsonnet"\n')),
      ].join('---\n'),
    });
    const root = await load(dir, 'argo/apps.yaml', { repoUrls });
    expect(root.format).toBe('argocd-file');
    expect(root.apps.map((a) => a.name)).toEqual(['fine']);
    const reasons = Object.fromEntries(root.unsupported.map((u) => [u.name, [u.source, u.reason, u.origin.line]]));
    expect(Object.keys(reasons).sort()).toEqual(
      [
        'both-multi',
        'envsubst-kube',
        'fleet',
        'helm-on-plain',
        'jsonnet-files',
        'jsonnet-option',
        'kube-version',
        'multi',
        'no-source',
        'other-repo',
        'plugin',
        'remote-chart',
        'remote-component',
        'two-paths',
        'url-values',
        'values-revision',
        'values-unknown',
        'without-selector',
      ].sort(),
    );
    expect(reasons['other-repo']).toEqual([
      'another repository',
      `source repository https://github.com/someone/else.git is not this repository (this repository is ${repoUrls[0]}); the pipe deploys only files of the repository it runs in`,
      1,
    ]);
    expect(reasons['remote-chart']![1]).toBe(
      'Helm chart redis 1.2.3 from the chart repository https://charts.example.com needs network access; vendor it into this repository and point spec.source.path at it',
    );
    expect(reasons.plugin![0]).toBe('plugin');
    expect(reasons['jsonnet-option']![0]).toBe('jsonnet');
    expect(reasons['jsonnet-files']![1]).toContain('mixed holds jsonnet (mixed/extra.jsonnet)');
    expect(reasons.multi![1]).toBe(
      'spec.sources has 2 sources (values from one source for a chart in another); the pipe renders single-source Applications: ref source "values" is this repository, so write the Application as one source whose helm.valueFiles name the files from the repository root',
    );
    expect(reasons['two-paths']![1]).toBe('spec.sources has 2 sources; the pipe renders single-source Applications: give each source an Application of its own');
    expect(reasons['both-multi']![1]).toBe('spec.sources has 2 sources; the pipe renders single-source Applications: give each source an Application of its own');
    expect(reasons['kube-version']![1]).toBe('spec.source.helm.kubeVersion is not supported by the pipe');
    expect(reasons['without-selector']![1]).toBe('spec.source.kustomize.labelWithoutSelector is not supported by the pipe');
    expect(reasons['envsubst-kube']![1]).toBe('kustomize commonAnnotations kube uses $KUBE_VERSION, which Argo CD fills from the target cluster; the pipe does not substitute it: write the value out');
    expect(reasons['remote-component']![1]).toBe('spec.source.kustomize.components: https://github.com/org/repo//c?ref=v1 is a remote component; fetching it needs network access');
    expect(reasons['helm-on-plain']![1]).toBe('spec.source.helm is set, but plain is a directory source');
    expect(reasons['values-revision']![1]).toBe('values file values-$ARGOCD_APP_REVISION_SHORT.yaml uses $ARGOCD_APP_REVISION_SHORT, so it names another file at every commit; name the file');
    expect(reasons['values-unknown']![1]).toBe(
      "values file values-${STAGE}.yaml uses $STAGE, which is not a variable of Argo CD's build environment (Argo CD reads it as empty); name the file",
    );
    expect(reasons['url-values']![1]).toContain('is a URL; fetching it needs network access');
    expect(reasons['no-source']![1]).toBe('the Application has no spec.source');
    expect(reasons.fleet![0]).toBe('ApplicationSet');
  });

  it('refuses a field of the wrong type at its line, as Kubernetes would, instead of reading it as unset', async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'argo/apps.yaml': [
        application('odd-types', '  source:\n    repoURL: 42\n    path: [plain]\n', '  syncPolicy: { syncOptions: CreateNamespace=true }\n'),
        application('helm-types', src('chart', '    helm:\n      valueFiles: values-live.yaml\n      parameters: { a: b }\n      values: 42\n')),
        application('bad-namespace', src('plain'), '  destination:\n    namespace: Bad_NS\n'),
        'apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: 123\nspec:\n' + src('plain'),
      ].join('---\n'),
    });
    const { located, errors } = await inputErrors(load(dir, 'argo/apps.yaml', { repoUrls }));
    expect(located).toEqual([
      'argo/apps.yaml:9: Application odd-types: spec.source.repoURL: Invalid input: expected string, received number',
      'argo/apps.yaml:10: Application odd-types: spec.source.path: Invalid input: expected string, received array',
      'argo/apps.yaml:11: Application odd-types: spec.syncPolicy.syncOptions: Invalid input: expected array, received string',
      'argo/apps.yaml:25: Application helm-types: spec.source.helm.valueFiles: Invalid input: expected array, received string',
      'argo/apps.yaml:26: Application helm-types: spec.source.helm.parameters: Invalid input: expected array, received object',
      'argo/apps.yaml:27: Application helm-types: spec.source.helm.values: expected YAML text or a map of values',
      'argo/apps.yaml:41: Application bad-namespace: spec.destination.namespace: expected a Kubernetes namespace name (lowercase letters, digits and "-")',
      'argo/apps.yaml:46: Application: metadata.name: Invalid input: expected string, received number',
    ]);
    expect(errors[0]!.hint).toContain("Argo CD could not sync this Application either");
  });

  it('reads a null field as unset (a template whose list came out empty) and an empty namespace as the default', async () => {
    const dir = makeRepo({
      ...CHILDREN,
      'argo/apps.yaml': [
        application('empty-list', src('chart', '    helm:\n      valueFiles:\n      parameters: ~\n'), '  destination:\n    namespace: ""\n  syncPolicy: ~\n'),
      ].join('---\n'),
    });
    const root = await load(dir, 'argo/apps.yaml', { repoUrls });
    expect(root.apps.map((a) => [a.name, a.type, a.namespace, a.helm?.valueFiles, a.helm?.parameters])).toEqual([['empty-list', 'helm', 'default', [], []]]);
  });

  it('reads the Applications of a List (kind: List, as kubectl writes several objects), each at its line', async () => {
    const indent = (t: string) => t.replace(/^/gm, '    ').replace(/^ {4}/, '  - ');
    const dir = makeRepo({
      ...CHILDREN,
      'argo/list.yaml': `apiVersion: v1\nkind: List\nitems:\n${indent(application('in-list', src('plain')))}\n${indent(application('bad-in-list', src('plain'), '  destination: { namespace: Bad }\n'))}`,
      'argo/single.yaml': application('single', src('kust')),
    });
    const { located } = await inputErrors(load(dir, 'argo', { repoUrls }));
    expect(located).toEqual(['argo/list.yaml:27: Application bad-in-list: spec.destination.namespace: expected a Kubernetes namespace name (lowercase letters, digits and "-")']);
    writeFiles(dir, { 'argo/list.yaml': `apiVersion: v1\nkind: List\nitems:\n${indent(application('in-list', src('plain')))}` });
    const root = await load(dir, 'argo', { repoUrls });
    expect(root.apps.map((a) => [a.name, a.path, a.origin])).toEqual([
      ['in-list', 'plain', { file: 'argo/list.yaml', line: 4 }],
      ['single', 'kust', { file: 'argo/single.yaml', line: 1 }],
    ]);
  });

  it('at a git revision reads the Application files and the charts in batches', async () => {
    const dir = makeRepo({ ...CHILDREN, 'argo/a.yaml': application('a', src('chart')), 'argo/b.yaml': application('b', src('plain')) });
    const sha = commitAll(dir);
    const tree = new BatchGitTree(dir, sha);
    const root = await load(dir, 'argo', { repoUrls, tree });
    expect(root).toEqual(await load(dir, 'argo', { repoUrls }));
    expect(root.apps.map((a) => a.type)).toEqual(['helm', 'directory']);
    expect(tree.batches).toBe(2);
    expect(tree.singleReads).toEqual([]);
  });

  it("says so when this repository's URL is unknown", async () => {
    const dir = makeRepo({ ...CHILDREN, 'a.yaml': application('a', src('plain')) });
    const root = await load(dir, 'a.yaml', { repoUrls: [], environment: 'prod' });
    expect(root.unsupported[0]!.reason).toContain("this repository's URL is unknown (no origin remote, BITBUCKET_GIT_HTTP_ORIGIN unset)");
    expect(root.environment).toEqual({ name: 'prod' });
    expect(root.notes).toEqual(['ENVIRONMENT=prod is only a label: an Argo CD root has no environments']);
  });
});

describe('Argo CD Helm-chart root (argocd-example-apps layout)', () => {
  const example = () => makeRepo(argocdExampleApps());

  it('lists every child with its source type or the reason it cannot be rendered', async () => {
    const root = await load(example(), 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO] });
    expect(root.format).toBe('argocd-helm');
    expect(root.apps.map((a) => [a.name, a.type, a.path, a.namespace])).toEqual([
      ['guestbook', 'directory', 'guestbook', 'guestbook'],
      ['helm-guestbook', 'helm', 'helm-guestbook', 'helm-guestbook'],
      ['helm-hooks', 'directory', 'helm-hooks', 'helm-hooks'],
      ['kustomize-guestbook', 'kustomize', 'kustomize-guestbook', 'argocd'],
      ['sync-waves', 'directory', 'sync-waves', 'sync-waves'],
    ]);
    expect(root.unsupported.map((u) => [u.name, u.source])).toEqual([
      ['helm-dependency', 'helm (remote dependencies)'],
      ['jsonnet-guestbook', 'jsonnet'],
    ]);
    expect(root.unsupported[0]!.reason).toContain('wordpress 9.0.3 from https://charts.helm.sh/stable is not vendored');
    const apps = byName(root);
    // the origin is the template that rendered the Application (chart "applications" lives in apps/)
    expect(apps['helm-guestbook']!.origin).toEqual({ file: 'apps/templates/helm-guestbook.yaml' });
    expect(apps['helm-guestbook']!.helm).toEqual({ releaseName: 'helm-guestbook', valueFiles: ['helm-guestbook/values-production.yaml'], values: undefined, parameters: [] });
    expect(apps['kustomize-guestbook']!.prune).toBe(true);
    // namespaces the root creates in wave -1 are created for the children deploying into them
    expect(apps.guestbook!.createNamespace).toBe(true);
    expect(apps.guestbook!.notes).toEqual(['namespace guestbook is created because the root declares it (apps/templates/namespaces.yaml)']);
    expect(apps['kustomize-guestbook']!.createNamespace).toBe(false);
    expect(root.notes).toEqual([]);
  });

  it('without ROOT_MANIFEST pointing at it, the error suggests the chart', async () => {
    const { located, errors } = await inputErrors(load(example(), 'app-of-apps.yaml', { repoUrls: [ARGOCD_EXAMPLE_REPO] }));
    expect(located).toEqual(['ROOT_MANIFEST: root manifest app-of-apps.yaml does not exist in the repository']);
    expect(errors[0]!.hint).toMatch(/; in this repository: ROOT_MANIFEST=apps$/);
  });

  it('treats ssh, scp-like and https spellings of the repository as this repository', async () => {
    for (const url of ['git@github.com:argoproj/argocd-example-apps.git', 'ssh://git@github.com/Argoproj/argocd-example-apps', 'https://github.com/argoproj/argocd-example-apps/']) {
      const root = await load(example(), 'apps', { repoUrls: [url] });
      expect(root.apps).toHaveLength(5);
    }
    const fork = await load(example(), 'apps', { repoUrls: ['https://github.com/me/argocd-example-apps.git'] });
    expect(fork.apps).toHaveLength(0);
    expect(fork.unsupported.filter((u) => u.source === 'another repository')).toHaveLength(7);
  });

  it('renders the root the same at a git revision as in the work tree', async () => {
    const dir = example();
    const sha = commitAll(dir);
    const work = await load(dir, 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO] });
    const atCommit = await loadAt(dir, sha, 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO] });
    expect(atCommit).toEqual(work);
  });

  it('renders a root chart with a vendored dependency (a .tgz in charts/) the same at a git revision', async () => {
    // what `helm dependency build` leaves: the dependency packaged into the root chart's charts/
    const lib = makeRepo({
      'lib/Chart.yaml': 'apiVersion: v2\nname: labels\nversion: 0.1.0\ntype: library\n',
      'lib/templates/_labels.tpl': '{{- define "labels.team" -}}\nteam: platform\n{{- end -}}\n',
    });
    const dir = example();
    mkdirSync(join(dir, 'apps/charts'), { recursive: true });
    execFileSync(toolPath('helm'), ['package', join(lib, 'lib'), '--destination', join(dir, 'apps/charts')], { env: { PATH: process.env.PATH ?? '', HOME: lib } });
    const files = argocdExampleApps();
    writeFiles(dir, {
      'apps/Chart.yaml': `${files['apps/Chart.yaml']!.trimEnd()}\ndependencies:\n  - name: labels\n    version: 0.1.0\n    repository: file://../lib\n`,
      'apps/templates/helm-guestbook.yaml': files['apps/templates/helm-guestbook.yaml']!.replace(/^metadata:\n/m, 'metadata:\n  labels:\n    {{- include "labels.team" . | nindent 4 }}\n'),
    });
    const sha = commitAll(dir);
    // a repository hook (git lfs install leaves one) is the repository's code: it must not run
    writeFileSync(join(dir, '.git/hooks/post-checkout'), '#!/bin/sh\necho hook ran >&2\nexit 1\n', { mode: 0o755 });
    const work = await load(dir, 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO] });
    expect(work.apps).toHaveLength(5);
    expect(await loadAt(dir, sha, 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO] })).toEqual(work);
  });

  it('a root chart dependency that is not vendored is an input error saying how to vendor it', async () => {
    const files = argocdExampleApps();
    const dir = makeRepo({
      ...files,
      'lib/Chart.yaml': 'apiVersion: v2\nname: labels\nversion: 0.1.0\ntype: library\n',
      'apps/Chart.yaml': `${files['apps/Chart.yaml']!.trimEnd()}\ndependencies:\n  - name: labels\n    version: 0.1.0\n    repository: file://../lib\n`,
    });
    const { located, errors } = await inputErrors(load(dir, 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO] }));
    expect(located[0]).toMatch(/^apps\/Chart\.yaml: helm template of the root chart apps failed: .*missing in charts\/ directory: labels/);
    expect(errors[0]!.hint).toBe("vendor the root chart's dependencies: run `helm dependency build apps` and commit apps/charts/ (the root chart is rendered offline, as committed)");
  });

  it('a change to the root changes the digest of only the children whose rendered Application differs', async () => {
    const dir = example();
    const base = commitAll(dir);
    writeFiles(dir, {
      'apps/templates/helm-guestbook.yaml': argocdExampleApps()['apps/templates/helm-guestbook.yaml']!.replace('values-production.yaml', 'values.yaml'),
      // a value every child reads but that changes nothing the pipe deploys
      'apps/values.yaml': argocdExampleApps()['apps/values.yaml']!.replace('https://kubernetes.default.svc', 'https://kubernetes.default.svc/'),
    });
    git(dir, 'commit', '--quiet', '--no-gpg-sign', '-am', 'edit root');
    const before = byName(await loadAt(dir, base, 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO] }));
    const after = byName(await loadAt(dir, 'HEAD', 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO] }));
    const changed = Object.keys(after).filter((n) => after[n]!.definitionDigest !== before[n]!.definitionDigest);
    expect(changed).toEqual(['helm-guestbook']);
  });

  it('renders the root chart with values-<ENVIRONMENT>.yaml when the chart has one', async () => {
    const dir = makeRepo({
      ...argocdExampleApps(),
      'apps/values-staging.yaml': 'spec:\n  source:\n    targetRevision: staging\n',
    });
    const staging = await load(dir, 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO], environment: 'staging' });
    expect(staging.environments).toEqual(['staging']);
    expect(staging.notes).toEqual(['ENVIRONMENT=staging: the root chart was rendered with apps/values-staging.yaml']);
    expect(staging.apps[0]!.notes).toContain('targetRevision staging is not honoured: the pipe deploys the commit being built');
    const onBranch = await load(dir, 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO], environment: 'staging', branch: 'staging' });
    expect(onBranch.apps[0]!.notes).not.toContain('targetRevision staging is not honoured: the pipe deploys the commit being built');
    const prod = await load(dir, 'apps', { repoUrls: [ARGOCD_EXAMPLE_REPO], environment: 'prod' });
    expect(prod.notes).toEqual(['ENVIRONMENT=prod: the root chart has no values-prod.yaml, so it was rendered with its default values']);
    expect(prod.apps[0]!.notes).toEqual(['namespace guestbook is created because the root declares it (apps/templates/namespaces.yaml)']);
  });
});
