import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

/**
 * A generated GitOps monorepo for benchmarks: thousands of apps (plain YAML, kustomize overlays
 * on shared bases, helm charts with a local library chart and per-environment values files), a
 * native root manifest, and a long history, written with one `git fast-import` (seconds, not minutes).
 */
export interface MonorepoSpec {
  plain: number;
  kustomize: number;
  helm: number;
  /** Shared kustomize bases; the first is used by exactly `firstBaseUsers` apps, the rest share the others. */
  bases: number;
  firstBaseUsers: number;
  /** Commits after the initial one, each touching 1-3 files. */
  commits: number;
  /** Every n-th app depends on the app before it. */
  dependsEvery: number;
}

export const DEFAULT_SPEC: MonorepoSpec = { plain: 700, kustomize: 700, helm: 600, bases: 20, firstBaseUsers: 200, commits: 3000, dependsEvery: 10 };

/** The default repository's shape with `apps` apps: the same mix, a tenth of them on the first base. */
export function specWithApps(apps: number): MonorepoSpec {
  const plain = Math.round(apps * 0.35);
  const kustomize = Math.round(apps * 0.35);
  return { ...DEFAULT_SPEC, plain, kustomize, helm: apps - plain - kustomize, bases: Math.max(2, Math.round(apps / 100)), firstBaseUsers: Math.round(apps / 10) };
}

export interface Monorepo {
  dir: string;
  apps: number;
  files: number;
  commits: number;
  /** Branches whose last commit is a scenario: the file it changes and the apps that must change. */
  scenarios: { branch: string; file: string; expected: string[] }[];
}

const K = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n';
const pad = (i: number) => String(i).padStart(4, '0');

/** A deterministic generator (the same repository every run). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function deployment(name: string, image: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
        - name: main
          image: ${image}
          ports: [{ containerPort: 8080 }]
`;
}

function files(spec: MonorepoSpec): { files: Map<string, string>; root: string; baseOf: (i: number) => number } {
  const f = new Map<string, string>();
  const root: string[] = [
    'apiVersion: app-of-apps/v1',
    'kind: Root',
    'defaults: { namespace: apps, createNamespace: true }',
    'environments:',
    '  staging: {}',
    '  production: {}',
    'apps:',
  ];
  let n = 0;
  const depends = (name: string, prev: string | undefined) => {
    n++;
    if (prev && n % spec.dependsEvery === 0) root.push(`    dependsOn: [${prev}]`);
  };

  for (let b = 0; b < spec.bases; b++) {
    const dir = `libs/base-${pad(b)}`;
    f.set(`${dir}/kustomization.yaml`, `${K}resources:\n  - deployment.yaml\n  - service.yaml\n`);
    f.set(`${dir}/deployment.yaml`, deployment('web', `registry.example.com/base-${b}:1.0.0`));
    f.set(`${dir}/service.yaml`, 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 80, targetPort: 8080 }] }\n');
  }
  f.set('charts/common/Chart.yaml', 'apiVersion: v2\nname: common\nversion: 1.0.0\ntype: library\n');
  f.set('charts/common/templates/_labels.tpl', '{{- define "common.labels" -}}\napp.kubernetes.io/name: {{ .Chart.Name }}\n{{- end }}\n');

  let prev: string | undefined;
  for (let i = 0; i < spec.plain; i++) {
    const name = `plain-${pad(i)}`;
    f.set(`apps/${name}/configmap.yaml`, `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name} }\ndata: { revision: "0" }\n`);
    f.set(`apps/${name}/deployment.yaml`, deployment(name, `registry.example.com/${name}:1.0.0`));
    root.push(`  - name: ${name}`, `    path: apps/${name}`);
    depends(name, prev);
    prev = name;
  }
  const baseOf = (i: number) => (i < spec.firstBaseUsers ? 0 : 1 + (i % (spec.bases - 1)));
  for (let i = 0; i < spec.kustomize; i++) {
    const name = `kust-${pad(i)}`;
    const dir = `apps/${name}`;
    f.set(`${dir}/base/kustomization.yaml`, `${K}resources:\n  - ../../../libs/base-${pad(baseOf(i))}\n  - configmap.yaml\nnamePrefix: ${name}-\n`);
    f.set(`${dir}/base/configmap.yaml`, `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings }\ndata: { revision: "0" }\n`);
    for (const env of ['staging', 'production']) {
      f.set(`${dir}/overlays/${env}/kustomization.yaml`, `${K}resources:\n  - ../../base\npatches:\n  - path: replicas.yaml\n`);
      f.set(`${dir}/overlays/${env}/replicas.yaml`, `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec: { replicas: ${env === 'production' ? 3 : 1} }\n`);
    }
    root.push(`  - name: ${name}`, `    path: ${dir}/base`, `    overlays: { staging: ${dir}/overlays/staging, production: ${dir}/overlays/production }`);
    if (i % 50 === 0) root.push('    syncWave: 1');
    depends(name, prev);
    prev = name;
  }
  for (let i = 0; i < spec.helm; i++) {
    const name = `helm-${pad(i)}`;
    const dir = `apps/${name}`;
    f.set(`${dir}/Chart.yaml`, `apiVersion: v2\nname: ${name}\nversion: 1.0.0\ndependencies:\n  - name: common\n    version: 1.0.0\n    repository: file://../../charts/common\n`);
    f.set(`${dir}/values.yaml`, 'replicas: 1\nimage: registry.example.com/app:1.0.0\n');
    f.set(`${dir}/templates/deployment.yaml`, deployment('{{ .Release.Name }}', '{{ .Values.image }}'));
    for (const env of ['staging', 'production']) f.set(`envs/${env}/${name}.yaml`, `replicas: ${env === 'production' ? 3 : 1}\n`);
    root.push(
      `  - name: ${name}`,
      `    path: ${dir}`,
      '    environments:',
      `      staging: { helm: { valueFiles: [../../envs/staging/${name}.yaml] } }`,
      `      production: { helm: { valueFiles: [../../envs/production/${name}.yaml] } }`,
    );
    depends(name, prev);
    prev = name;
  }
  f.set('app-of-apps.yaml', `${root.join('\n')}\n`);
  return { files: f, root: f.get('app-of-apps.yaml')!, baseOf };
}

/** Writes the repository into `dir` (created); returns what the benchmark needs to know about it. */
export function generateMonorepo(dir: string, spec: MonorepoSpec = DEFAULT_SPEC): Monorepo {
  mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }).trim();
  git('init', '-q', '-b', 'main');
  const { files: all, baseOf } = files(spec);
  const rand = lcg(42);
  const chunks: string[] = [];
  const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
  let when = Date.UTC(2023, 0, 1) / 1000;
  const commit = (ref: string, message: string, changes: [string, string][], from?: string) => {
    when += 3600;
    chunks.push(`commit ${ref}\ncommitter Bench <bench@example.com> ${when} +0000\n${data(message)}`);
    if (from) chunks.push(`from ${from}\n`);
    for (const [path, text] of changes) chunks.push(`M 644 inline ${path}\n${data(text)}`);
  };
  commit('refs/heads/main', 'initial', [...all]);

  // history: edits to the files apps are made of (the root stays as it is)
  const editable = [...all.keys()].filter((p) => p !== 'app-of-apps.yaml');
  for (let c = 1; c <= spec.commits; c++) {
    const changes: [string, string][] = [];
    for (let k = 0, n = 1 + Math.floor(rand() * 3); k < n; k++) {
      const path = editable[Math.floor(rand() * editable.length)]!;
      changes.push([path, `${all.get(path)!}# revision ${c}\n`]);
    }
    commit('refs/heads/main', `change ${c}`, changes);
  }

  const one = `kust-${pad(Math.floor(spec.kustomize / 2))}`;
  const oneApp = `apps/${one}/overlays/production/replicas.yaml`;
  const shared = 'libs/base-0000/deployment.yaml';
  commit('refs/heads/one-app', 'one app', [[oneApp, `${all.get(oneApp)!}# scenario\n`]], 'refs/heads/main');
  commit('refs/heads/shared-base', 'shared base', [[shared, `${all.get(shared)!}# scenario\n`]], 'refs/heads/main');
  execFileSync('git', ['fast-import', '--quiet'], { cwd: dir, input: chunks.join(''), maxBuffer: 1 << 30 });

  const baseUsers = Array.from({ length: spec.kustomize }, (_, i) => i).filter((i) => baseOf(i) === 0);
  return {
    dir,
    apps: spec.plain + spec.kustomize + spec.helm,
    files: all.size,
    commits: spec.commits + 2,
    scenarios: [
      { branch: 'one-app', file: oneApp, expected: [one] },
      { branch: 'shared-base', file: shared, expected: baseUsers.map((i) => `kust-${pad(i)}`) },
    ],
  };
}

/** A clone like Bitbucket's (50 commits deep, one branch checked out). */
export function cloneLikeBitbucket(repo: string, branch: string, dest: string): void {
  execFileSync('git', ['clone', '-q', '--depth', '50', '--branch', branch, `file://${repo}`, dest], { stdio: 'pipe' });
}
