// The change plan against two oracles, over a walk of commits on a repository with every kind of
// app (plain folders, kustomize with a shared base and a component, a Helm chart with a file://
// library and values files outside it, a watch glob, a disabled app), each commit planned through
// the pipe's real entrypoint with BASE_REVISION set to an earlier commit; once with a native root,
// once with an Argo CD root (a Helm chart rendering the Applications, as in argocd-example-apps):
//  1. a dependency model written by hand for this repository from the rules in README ("How the
//     pipe decides what to deploy") and docs/root-manifest.md: the plan must deploy exactly the
//     apps whose files, or whose root entry for the environment, differ between the two commits;
//  2. the real renderers (kubectl kustomize, helm template, the files themselves) run on both
//     commits, independently of the pipe: every app whose output differs must be deployed.
// Every edit is first made alone; then a seeded random walk: PLAN_ORACLE_SEED=<n> replays one,
// PLAN_ORACLE_STEPS=<n> makes it longer.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toolPath } from '../../src/util/tools.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { scratchSpace, TestRepo } from '../support/repo.js';

const SEED = Number(process.env.PLAN_ORACLE_SEED ?? 20261128);
const STEPS = Number(process.env.PLAN_ORACLE_STEPS ?? 10);

const K = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n';
const cm = (name: string, v: number) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${v}"\n`;

/** Files the walk edits, each a function of a counter (so every edit changes the text). */
const EDITABLE: Record<string, (n: number) => string> = {
  'apps/plain/cm.yaml': (n) => cm('plain', n),
  'apps/plain/notes.txt': (n) => `not a manifest ${n}\n`,
  'apps/plain/sub/extra.yaml': (n) => cm('plain-extra', n),
  'apps/deep/a/cm.yaml': (n) => cm('deep-a', n),
  'apps/deep/b/c/cm.json': (n) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'deep-c' }, data: { value: String(n) } }),
  'apps/deep/skip/cm.yaml': (n) => cm('deep-skipped', n),
  'apps/worker/cm.yaml': (n) => cm('worker', n),
  'shared/settings.txt': (n) => `setting=${n}\n`,
  'bases/service/deployment.yaml': (n) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: service\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: service}\n  template:\n    metadata:\n      labels: {app: service}\n    spec:\n      containers:\n        - name: app\n          image: nginx:1.${n}\n`,
  'bases/service/unused.yaml': (n) => cm('unused', n),
  // a base whose folder name has a space, and a file a plain app reads through a symbolic link
  'bases/extra base/cm.yaml': (n) => cm('extra', n),
  'shared/linked.yaml': (n) => cm('linked', n),
  'shared/dir/cm.yaml': (n) => cm('linked-dir', n),
  'components/probes/patch.yaml': (n) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: service\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          readinessProbe: {initialDelaySeconds: ${n}, tcpSocket: {port: 80}}\n`,
  'apps/web/base/service.yaml': (n) => `apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: ${8000 + n}}]\n  selector: {app: service}\n`,
  'apps/web/overlays/production/replicas.yaml': (n) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: service\nspec:\n  replicas: ${n + 2}\n`,
  'apps/web/overlays/production/web.properties': (n) => `level=${n}\n`,
  'apps/web/overlays/staging/replicas.yaml': (n) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: service\nspec:\n  replicas: ${n + 1}\n`,
  'apps/admin/README.md': (n) => `admin notes ${n}\n`,
  'apps/api/values.yaml': (n) => `level: "${n}"\n`,
  'charts/lib/templates/_labels.tpl': (n) => `{{- define "lib.labels" -}}\ntier: backend-${n}\n{{- end -}}\n`,
  'values/production/api.yaml': (n) => `replicas: ${n + 3}\n`,
  'values/staging/api.yaml': (n) => `replicas: ${n + 1}\n`,
  'docs/guide.md': (n) => `guide ${n}\n`,
};

/** Files that never change. */
const FIXED: Record<string, string> = {
  'bases/service/kustomization.yaml': `${K}resources: [deployment.yaml]\n`,
  'components/probes/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n  - path: patch.yaml\n',
  'apps/web/base/kustomization.yaml': `${K}resources:\n  - ../../../bases/service\n  - service.yaml\ncomponents:\n  - ../../../components/probes\n`,
  'apps/web/overlays/production/kustomization.yaml': `${K}resources:\n  - ../../base\npatches:\n  - path: replicas.yaml\nconfigMapGenerator:\n  - name: web-config\n    files: [web.properties]\n`,
  'apps/web/overlays/staging/kustomization.yaml': `${K}resources:\n  - ../../base\npatches:\n  - path: replicas.yaml\n`,
  'apps/admin/kustomization.yaml': `${K}namePrefix: admin-\nresources:\n  - ../../bases/service\n  - ../../bases/extra base\n`,
  'bases/extra base/kustomization.yaml': `${K}resources: [cm.yaml]\n`,
  'apps/api/Chart.yaml': 'apiVersion: v2\nname: api\nversion: 1.0.0\ndependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../../charts/lib\n',
  'apps/api/templates/cm.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\n  labels:\n    {{- include "lib.labels" . | nindent 4 }}\ndata:\n  level: {{ .Values.level | quote }}\n  replicas: {{ .Values.replicas | default 1 | quote }}\n  settings: {{ .Values.settings | default "" | quote }}\n',
  'charts/lib/Chart.yaml': 'apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n',
  'apps/off/cm.yaml': cm('off', 0),
};

type RootState = Record<string, number>;

interface Scenario {
  name: string;
  /** ROOT_MANIFEST, when not the default. */
  rootManifest?: string;
  apps: string[];
  disabled: string[];
  /** Child files: fixed, and editable as a function of a counter. */
  fixed: Record<string, string>;
  editable: Record<string, (n: number) => string>;
  /** Files the walk adds and removes. */
  added: string[];
  /** The root's files as a function of its editable fields. */
  rootFiles: (s: RootState) => Record<string, string>;
  rootFields: string[];
  /**
   * The model, written from the rules, not from the pipe's code: for production, which files each
   * app depends on, and which root fields are its entry.
   */
  model: Record<string, { files: (path: string) => boolean; root: string[] }>;
  /** Extra arguments of a child's render by hand (the flags its tool options give). */
  renderArgs?: Record<string, string[]>;
}

const directoryFile = (folder: string, recurse: boolean) => (p: string) =>
  p.startsWith(`${folder}/`) && /\.(ya?ml|json)$/.test(p) && (recurse || !p.slice(folder.length + 1).includes('/'));
const below = (...folders: string[]) => (p: string) => folders.some((f) => p.startsWith(`${f}/`));

/** Symbolic links in the repository (path -> target), made before the first commit. */
const LINKS: Record<string, string> = {
  // a file of a plain app, and a folder of a recursive one, each read through a link
  'apps/plain/linked.yaml': '../../shared/linked.yaml',
  'apps/deep/linked': '../../shared/dir',
};

// the children both roots share, and what each depends on (the worker and the disabled app are native-only)
const CHILD_MODEL = {
  // a directory app reads its own .yaml/.yml/.json files, not subfolders (no recurse)
  plain: (p: string) => directoryFile('apps/plain', false)(p) || p === 'shared/linked.yaml',
  deep: (p: string) => (directoryFile('apps/deep', true)(p) && !p.startsWith('apps/deep/skip/')) || directoryFile('shared/dir', true)(p),
  // kustomize: the overlay's folder, and every folder its references reach (a folder counts whole)
  web: below('apps/web/overlays/production', 'apps/web/base', 'bases/service', 'components/probes'),
  admin: below('apps/admin', 'bases/service', 'bases/extra base'),
  // helm: the chart, its file:// dependencies, its values files for the environment
  api: (p: string) => below('apps/api', 'charts/lib')(p) || p === 'values/production/api.yaml',
};

const native: Scenario = {
  name: 'a native root',
  apps: ['plain', 'deep', 'worker', 'web', 'admin', 'api'],
  disabled: ['off'],
  fixed: FIXED,
  editable: EDITABLE,
  added: ['apps/plain/added.yaml', 'apps/deep/b/added.yaml', 'bases/service/added.yaml', 'apps/admin/added.txt', 'shared/added.txt', 'docs/added.md'],
  rootFields: ['adminLabel', 'webStagingNamespace', 'apiParameter'],
  rootFiles: (s) => ({
    'app-of-apps.yaml': `apiVersion: app-of-apps/v1
kind: Root
defaults: { namespace: shop }
environments:
  staging: {}
  production: {}
apps:
  - name: plain
    path: apps/plain
  - name: deep
    path: apps/deep
    directory: { recurse: true, exclude: "skip/**" }
  - name: worker
    path: apps/worker
    watch: ["shared/**"]
  - name: web
    path: apps/web/base
    overlays: { staging: apps/web/overlays/staging, production: apps/web/overlays/production }
    environments:
      staging: { namespace: web-staging-${s.webStagingNamespace} }
  - name: admin
    path: apps/admin
    kustomize: { commonLabels: { revision: "${s.adminLabel}" } }
  - name: api
    path: apps/api
    helm: { parameters: [{ name: flag, value: "${s.apiParameter}" }] }
    environments:
      staging: { helm: { valueFiles: [../../values/staging/api.yaml] } }
      production: { helm: { valueFiles: [../../values/production/api.yaml] } }
  - name: off
    path: apps/off
    environments:
      production: { enabled: false }
`,
  }),
  model: {
    plain: { files: CHILD_MODEL.plain, root: [] },
    deep: { files: CHILD_MODEL.deep, root: [] },
    worker: { files: (p) => directoryFile('apps/worker', false)(p) || p.startsWith('shared/'), root: [] },
    web: { files: CHILD_MODEL.web, root: [] }, // its only root change is for staging
    admin: { files: CHILD_MODEL.admin, root: ['adminLabel'] },
    api: { files: CHILD_MODEL.api, root: ['apiParameter'] },
  },
};

const application = (name: string, path: string, source: string, namespace = name) => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ${name}
  namespace: argocd
  labels:
    {{- include "apps.labels" . | nindent 4 }}
spec:
  project: default
  source:
    repoURL: {{ .Values.repoURL }}
    targetRevision: HEAD
    path: ${path}
${source}  destination:
    server: https://kubernetes.default.svc
    namespace: ${namespace}
  syncPolicy:
    syncOptions: [CreateNamespace=true]
`;

const argocd: Scenario = {
  name: 'an Argo CD root: a Helm chart of Applications',
  rootManifest: 'argocd/apps',
  apps: ['plain', 'deep', 'web', 'admin', 'api'],
  disabled: [],
  fixed: Object.fromEntries(Object.entries(FIXED).filter(([p]) => !p.startsWith('apps/off/'))),
  // shared/settings.txt: the api Application reads it with helm.fileParameters
  editable: Object.fromEntries(Object.entries(EDITABLE).filter(([p]) => !p.startsWith('apps/worker/'))),
  added: ['apps/plain/added.yaml', 'apps/deep/b/added.yaml', 'bases/service/added.yaml', 'apps/admin/added.txt', 'docs/added.md'],
  // apiFlag: a value of one child; webTag: production values of one child; label: every
  // Application's labels (nothing deployed changes); stagingTag: the staging values file only;
  // plainNamespace: one child's template
  rootFields: ['apiFlag', 'webTag', 'label', 'stagingTag', 'plainNamespace'],
  rootFiles: (s) => ({
    'argocd/apps/Chart.yaml': 'apiVersion: v2\nname: apps\nversion: 0.1.0\n',
    'argocd/apps/values.yaml': `repoURL: https://bitbucket.org/acme/platform-apps.git\napiFlag: "${s.apiFlag}"\nlabel: "${s.label}"\nwebTag: "base"\n`,
    'argocd/apps/values-production.yaml': `webTag: "${s.webTag}"\n`,
    'argocd/apps/values-staging.yaml': `webTag: "staging-${s.stagingTag}"\n`,
    'argocd/apps/templates/_helpers.tpl': '{{- define "apps.labels" -}}\nteam: platform-{{ .Values.label }}\n{{- end -}}\n',
    'argocd/apps/templates/plain.yaml': application('plain', 'apps/plain', '', `plain-${s.plainNamespace}`),
    'argocd/apps/templates/deep.yaml': application('deep', 'apps/deep', '    directory: { recurse: true, exclude: "skip/*" }\n'),
    'argocd/apps/templates/web.yaml': application('web', 'apps/web/overlays/production', '    kustomize:\n      images: ["nginx:{{ .Values.webTag }}"]\n'),
    'argocd/apps/templates/admin.yaml': application('admin', 'apps/admin', ''),
    'argocd/apps/templates/api.yaml': application(
      'api',
      'apps/api',
      '    helm:\n      valueFiles: [../../values/production/api.yaml]\n      parameters: [{ name: flag, value: "{{ .Values.apiFlag }}" }]\n      fileParameters: [{ name: settings, path: /shared/settings.txt }]\n',
    ),
  }),
  model: {
    plain: { files: CHILD_MODEL.plain, root: ['plainNamespace'] },
    deep: { files: CHILD_MODEL.deep, root: [] },
    web: { files: CHILD_MODEL.web, root: ['webTag'] },
    admin: { files: CHILD_MODEL.admin, root: [] },
    // helm.fileParameters: the file it names is read by the chart's render
    api: { files: (p) => CHILD_MODEL.api(p) || p === 'shared/settings.txt', root: ['apiFlag'] },
  },
  renderArgs: { api: ['--set-file', 'settings=shared/settings.txt'] },
};

/** mulberry32: small, seeded, good enough to pick edits. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const { scratch, repos } = scratchSpace('plan-oracle-');

const kubectl = toolPath('kubectl');
const helm = toolPath('helm');
const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: scratch, HELM_CACHE_HOME: join(scratch, '.helm'), HELM_CONFIG_HOME: join(scratch, '.helm'), HELM_DATA_HOME: join(scratch, '.helm') } });

/** Every file below `dir` (relative to it), sorted; for the plain-folder oracle. */
function filesBelow(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(join(dir, rel)).isDirectory()) out.push(...filesBelow(dir, rel));
    else out.push(rel);
  }
  return out;
}

/** What each child renders at a commit, by the real tools on a checkout of it. */
function renderAt(repo: TestRepo, sha: string, apps: string[], extra: Record<string, string[]> = {}): Record<string, string> {
  const dir = join(scratch, sha.slice(0, 12));
  repo.git('worktree', 'add', '--detach', '-q', dir, sha);
  const folder = (app: string, keep: (rel: string) => boolean) =>
    filesBelow(join(dir, app))
      .filter(keep)
      .map((rel) => `# ${rel}\n${readFileSync(join(dir, app, rel), 'utf8')}`)
      .join('\n');
  // a throwaway checkout: helm may vendor the library into it, as `helm dependency build` does
  run(helm, ['dependency', 'build', '--skip-refresh', 'apps/api'], dir);
  const all: Record<string, () => string> = {
    plain: () => folder('apps/plain', (rel) => !rel.includes('/') && /\.(ya?ml|json)$/.test(rel)),
    deep: () => folder('apps/deep', (rel) => /\.(ya?ml|json)$/.test(rel) && !rel.startsWith('skip/')),
    // (its watch glob is a dependency, not something it renders: the model covers it)
    worker: () => folder('apps/worker', (rel) => !rel.includes('/') && /\.(ya?ml|json)$/.test(rel)),
    web: () => run(kubectl, ['kustomize', 'apps/web/overlays/production'], dir),
    admin: () => run(kubectl, ['kustomize', 'apps/admin'], dir),
    api: () => run(helm, ['template', 'api', 'apps/api', '-f', 'values/production/api.yaml', ...(extra.api ?? [])], dir),
  };
  return Object.fromEntries(apps.map((app) => [app, all[app]!()]));
}

interface Snapshot {
  sha: string;
  files: Map<string, string>;
  root: RootState;
}

type Edit = { kind: 'edit'; path: string } | { kind: 'toggle'; path: string } | { kind: 'root'; field: string };

async function walk(sc: Scenario): Promise<void> {
  const repo = new TestRepo();
  repos.push(repo);
  const next = random(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  let counter = 1;
  let root: RootState = Object.fromEntries(sc.rootFields.map((f) => [f, 0]));
  const files = new Map<string, string>(Object.entries(sc.fixed));
  for (const [path, make] of Object.entries(sc.editable)) files.set(path, make(0));
  for (const [path, text] of Object.entries(sc.rootFiles(root))) files.set(path, text);
  repo.write(Object.fromEntries(files));
  for (const [path, target] of Object.entries(LINKS)) symlinkSync(target, join(repo.dir, path));
  const history: Snapshot[] = [{ sha: repo.commit('initial'), files: new Map(files), root: { ...root } }];
  const renders = new Map<string, Record<string, string>>();
  const rendered = (sha: string) => renders.get(sha) ?? renders.set(sha, renderAt(repo, sha, sc.apps, sc.renderArgs)).get(sha)!;

  // first every edit alone, each against its parent (so each rule is seen by itself), then a
  // random walk of one to three edits per commit against random earlier commits
  const singles: Edit[][] = [
    ...Object.keys(sc.editable).map((path): Edit[] => [{ kind: 'edit', path }]),
    ...sc.added.flatMap((path): Edit[][] => [[{ kind: 'toggle', path }], [{ kind: 'toggle', path }]]),
    ...sc.rootFields.map((field): Edit[] => [{ kind: 'root', field }]),
  ];
  const randomEdit = (): Edit => {
    const roll = next();
    if (roll < 0.7) return { kind: 'edit', path: pick(Object.keys(sc.editable)) };
    if (roll < 0.85) return { kind: 'toggle', path: pick(sc.added) };
    return { kind: 'root', field: pick(sc.rootFields) };
  };
  const randomSteps = Array.from({ length: STEPS }, () => Array.from({ length: 1 + Math.floor(next() * 3) }, randomEdit));
  const steps = [...singles.map((edits) => ({ edits, randomBase: false })), ...randomSteps.map((edits) => ({ edits, randomBase: true }))];

  const log: string[] = [];
  for (const [step, { edits: planned, randomBase }] of steps.entries()) {
    const edits: string[] = [];
    for (const edit of planned) {
      if (edit.kind === 'edit') {
        files.set(edit.path, sc.editable[edit.path]!(counter++));
        edits.push(`edit ${edit.path}`);
      } else if (edit.kind === 'toggle') {
        if (files.has(edit.path)) {
          files.delete(edit.path);
          if (history.at(-1)!.files.has(edit.path)) repo.remove(edit.path);
          edits.push(`remove ${edit.path}`);
        } else {
          files.set(edit.path, cm(`added-${counter}`, counter++));
          edits.push(`add ${edit.path}`);
        }
      } else {
        root = { ...root, [edit.field]: counter++ };
        for (const [path, text] of Object.entries(sc.rootFiles(root))) files.set(path, text);
        edits.push(`root ${edit.field}`);
      }
    }
    repo.write(Object.fromEntries(files));
    const head: Snapshot = { sha: repo.commit(`step ${step}`), files: new Map(files), root: { ...root } };
    history.push(head);

    // the base: the parent; in the random walk sometimes further back
    const back = !randomBase || next() < 0.5 ? 1 : 2 + Math.floor(next() * Math.min(4, history.length - 2));
    const base = history[Math.max(0, history.length - 1 - back)]!;

    const changedFiles = [...new Set([...base.files.keys(), ...head.files.keys()])].filter((p) => base.files.get(p) !== head.files.get(p));
    const expected = sc.apps.filter((app) => changedFiles.some(sc.model[app]!.files) || sc.model[app]!.root.some((f) => base.root[f] !== head.root[f])).sort();

    const report = join(scratch, `report-${head.sha.slice(0, 12)}.json`);
    const env = { MODE: 'plan', ENVIRONMENT: 'production', BASE_REVISION: base.sha, REPORT_FILE: report, ...(sc.rootManifest ? { ROOT_MANIFEST: sc.rootManifest } : {}) };
    const r = await runPipe(bitbucketEnv(repo.dir, head.sha, env));
    const context = `seed ${SEED}, step ${step} (${edits.join('; ')}), base ${base.sha.slice(0, 12)} -> ${head.sha.slice(0, 12)}, changed files: ${changedFiles.join(', ') || 'none'}\n${log.join('\n')}\n${r.all}`;
    expect(r.exitCode, context).toBe(0);
    const plan = JSON.parse(readFileSync(report, 'utf8')).plan as { apps: { name: string; deploy: boolean }[]; disabled: string[]; unsupported: unknown[] };
    const deployed = plan.apps.filter((a) => a.deploy).map((a) => a.name).sort();
    expect(plan.apps.map((a) => a.name).sort(), context).toEqual([...sc.apps].sort());
    expect(plan.disabled, context).toEqual(sc.disabled);
    expect(plan.unsupported, context).toEqual([]);

    // oracle 1: the hand-written model, both ways (never less, never more)
    expect(deployed, context).toEqual(expected);
    // oracle 2: what the real tools render differs -> deployed (never less)
    const before = rendered(base.sha);
    const after = rendered(head.sha);
    const renderChanged = sc.apps.filter((app) => before[app] !== after[app]);
    for (const app of renderChanged) expect(deployed, `${app} renders differently\n${context}`).toContain(app);
    log.push(`step ${step}: ${edits.join('; ')} -> deployed [${deployed.join(', ')}], render changed [${renderChanged.join(', ')}]`);
  }
  // both oracles had something to say: every app was deployed by some step and rendered differently by
  // some step, and some step deployed nothing
  const all = log.join('\n');
  for (const app of sc.apps) {
    expect(all, `no step deployed ${app}:\n${all}`).toMatch(new RegExp(`deployed \\[[^\\]]*\\b${app}\\b`));
    expect(all, `no step rendered ${app} differently:\n${all}`).toMatch(new RegExp(`render changed \\[[^\\]]*\\b${app}\\b`));
  }
  expect(all).toMatch(/-> deployed \[\]/);
}

describe('the change plan against a dependency model and the real renderers', () => {
  for (const sc of [native, argocd]) {
    it(`deploys exactly the changed apps of ${sc.name}, over a walk of commits (seed ${SEED})`, () => walk(sc), 600_000);
  }
});
