// The change plan against two oracles, over a random walk of commits on a repository with every
// kind of app (plain folders, kustomize with a shared base and a component, a Helm chart with a
// file:// library and values files outside it, a watch glob, a disabled app), each planned through
// the pipe's real entrypoint with BASE_REVISION set to a random earlier commit:
//  1. a dependency model written by hand for this repository from the rules in
//     docs/root-manifest.md ("What makes an app changed"): the plan must deploy exactly the apps
//     whose files, or whose root entry for the environment, differ between the two commits;
//  2. the real renderers (kubectl kustomize, helm template, the files themselves) run on both
//     commits, independently of the pipe: every app whose output differs must be deployed.
// Every edit is first made alone; then a seeded random walk: PLAN_ORACLE_SEED=<n> replays one,
// PLAN_ORACLE_STEPS=<n> makes it longer.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toolPath } from '../../src/util/tools.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { TestRepo } from '../support/repo.js';

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
  'apps/admin/kustomization.yaml': `${K}namePrefix: admin-\nresources:\n  - ../../bases/service\n`,
  'apps/api/Chart.yaml': 'apiVersion: v2\nname: api\nversion: 1.0.0\ndependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../../charts/lib\n',
  'apps/api/templates/cm.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\n  labels:\n    {{- include "lib.labels" . | nindent 4 }}\ndata:\n  level: {{ .Values.level | quote }}\n  replicas: {{ .Values.replicas | default 1 | quote }}\n',
  'charts/lib/Chart.yaml': 'apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n',
  'apps/off/cm.yaml': cm('off', 0),
};

/** The root entries the walk edits: admin's label (production), web's staging namespace (not production), api's parameter. */
interface RootState {
  adminLabel: number;
  webStagingNamespace: number;
  apiParameter: number;
}

const rootManifest = (s: RootState) => `apiVersion: app-of-apps/v1
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
`;

type AppName = 'plain' | 'deep' | 'worker' | 'web' | 'admin' | 'api';
const APPS: AppName[] = ['plain', 'deep', 'worker', 'web', 'admin', 'api'];

/**
 * The model, written from the rules, not from the pipe's code: for production, which files each
 * app depends on, and which root fields are its entry.
 */
const MODEL: Record<AppName, { files: (path: string) => boolean; root: (keyof RootState)[] }> = {
  // a directory app reads its own .yaml/.yml/.json files, not subfolders (no recurse)
  plain: { files: (p) => /^apps\/plain\/[^/]+\.(ya?ml|json)$/.test(p), root: [] },
  deep: { files: (p) => /^apps\/deep\/.+\.(ya?ml|json)$/.test(p) && !p.startsWith('apps/deep/skip/'), root: [] },
  worker: { files: (p) => /^apps\/worker\/[^/]+\.(ya?ml|json)$/.test(p) || p.startsWith('shared/'), root: [] },
  // kustomize: the overlay's folder, and every folder its references reach (a folder counts whole)
  web: {
    files: (p) => ['apps/web/overlays/production/', 'apps/web/base/', 'bases/service/', 'components/probes/'].some((d) => p.startsWith(d)),
    root: [], // its only root change is for staging
  },
  admin: { files: (p) => p.startsWith('apps/admin/') || p.startsWith('bases/service/'), root: ['adminLabel'] },
  // helm: the chart, its file:// dependencies, its values files for the environment
  api: { files: (p) => p.startsWith('apps/api/') || p.startsWith('charts/lib/') || p === 'values/production/api.yaml', root: ['apiParameter'] },
};

interface Snapshot {
  sha: string;
  files: Map<string, string>;
  root: RootState;
}

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

const repo = new TestRepo();
const worktrees = mkdtempSync(join(tmpdir(), 'plan-oracle-'));
afterAll(() => {
  repo.cleanup();
  rmSync(worktrees, { recursive: true, force: true });
});

const kubectl = toolPath('kubectl');
const helm = toolPath('helm');
const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: worktrees, HELM_CACHE_HOME: join(worktrees, '.helm'), HELM_CONFIG_HOME: join(worktrees, '.helm'), HELM_DATA_HOME: join(worktrees, '.helm') } });

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

/** What each app renders at a commit, by the real tools on a checkout of it (cached per commit). */
const renders = new Map<string, Record<AppName, string>>();
function renderAt(sha: string): Record<AppName, string> {
  const cached = renders.get(sha);
  if (cached) return cached;
  const dir = join(worktrees, sha.slice(0, 12));
  repo.git('worktree', 'add', '--detach', '-q', dir, sha);
  const folder = (app: string, keep: (rel: string) => boolean) =>
    filesBelow(join(dir, app))
      .filter(keep)
      .map((rel) => `# ${rel}\n${readFileSync(join(dir, app, rel), 'utf8')}`)
      .join('\n');
  // a throwaway checkout: helm may vendor the library into it, as `helm dependency build` does
  run(helm, ['dependency', 'build', '--skip-refresh', 'apps/api'], dir);
  const out: Record<AppName, string> = {
    plain: folder('apps/plain', (rel) => !rel.includes('/') && /\.(ya?ml|json)$/.test(rel)),
    deep: folder('apps/deep', (rel) => /\.(ya?ml|json)$/.test(rel) && !rel.startsWith('skip/')),
    // (its watch glob is a dependency, not something it renders: the model covers it)
    worker: folder('apps/worker', (rel) => !rel.includes('/') && /\.(ya?ml|json)$/.test(rel)),
    web: run(kubectl, ['kustomize', 'apps/web/overlays/production'], dir),
    admin: run(kubectl, ['kustomize', 'apps/admin'], dir),
    api: run(helm, ['template', 'api', 'apps/api', '-f', 'values/production/api.yaml'], dir),
  };
  renders.set(sha, out);
  return out;
}

describe('the change plan against a dependency model and the real renderers', () => {
  it(`deploys exactly the changed apps over a random walk of commits (seed ${SEED})`, async () => {
    const next = random(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
    let counter = 1;
    const files = new Map<string, string>(Object.entries(FIXED));
    for (const [path, make] of Object.entries(EDITABLE)) files.set(path, make(0));
    let root: RootState = { adminLabel: 0, webStagingNamespace: 0, apiParameter: 0 };
    files.set('app-of-apps.yaml', rootManifest(root));
    repo.write(Object.fromEntries(files));
    const history: Snapshot[] = [{ sha: repo.commit('initial'), files: new Map(files), root: { ...root } }];

    const log: string[] = [];
    // first every edit alone, each against its parent (so each rule is seen by itself), then a
    // random walk of one to three edits per commit against random earlier commits
    type Edit = { kind: 'edit'; path: string } | { kind: 'toggle'; path: string } | { kind: 'root'; field: keyof RootState };
    const ADDED = ['apps/plain/added.yaml', 'apps/deep/b/added.yaml', 'bases/service/added.yaml', 'apps/admin/added.txt', 'shared/added.txt', 'docs/added.md'];
    const FIELDS = ['adminLabel', 'webStagingNamespace', 'apiParameter'] as const;
    const singles: Edit[][] = [
      ...Object.keys(EDITABLE).map((path): Edit[] => [{ kind: 'edit', path }]),
      ...ADDED.flatMap((path): Edit[][] => [[{ kind: 'toggle', path }], [{ kind: 'toggle', path }]]),
      ...FIELDS.map((field): Edit[] => [{ kind: 'root', field }]),
    ];
    const randomEdit = (): Edit => {
      const roll = next();
      if (roll < 0.7) return { kind: 'edit', path: pick(Object.keys(EDITABLE)) };
      if (roll < 0.85) return { kind: 'toggle', path: pick(ADDED) };
      return { kind: 'root', field: pick(FIELDS) };
    };
    const walk = Array.from({ length: STEPS }, () => Array.from({ length: 1 + Math.floor(next() * 3) }, randomEdit));
    const steps = [...singles.map((edits) => ({ edits, random: false })), ...walk.map((edits) => ({ edits, random: true }))];

    for (const [step, { edits: planned, random: randomBase }] of steps.entries()) {
      const edits: string[] = [];
      for (const edit of planned) {
        if (edit.kind === 'edit') {
          files.set(edit.path, EDITABLE[edit.path]!(counter++));
          edits.push(`edit ${edit.path}`);
        } else if (edit.kind === 'toggle') {
          const path = edit.path;
          if (files.has(path)) {
            files.delete(path);
            if (history.at(-1)!.files.has(path)) repo.remove(path);
            edits.push(`remove ${path}`);
          } else {
            files.set(path, cm(`added-${counter}`, counter++));
            edits.push(`add ${path}`);
          }
        } else {
          root = { ...root, [edit.field]: counter++ };
          files.set('app-of-apps.yaml', rootManifest(root));
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
      const expected = APPS.filter((app) => changedFiles.some(MODEL[app].files) || MODEL[app].root.some((f) => base.root[f] !== head.root[f])).sort();

      const report = join(worktrees, `report-${step}.json`);
      const r = await runPipe(bitbucketEnv(repo.dir, head.sha, { MODE: 'plan', ENVIRONMENT: 'production', BASE_REVISION: base.sha, REPORT_FILE: report }));
      const context = `seed ${SEED}, step ${step} (${edits.join('; ')}), base ${base.sha.slice(0, 12)} -> ${head.sha.slice(0, 12)}, changed files: ${changedFiles.join(', ') || 'none'}\n${log.join('\n')}\n${r.all}`;
      expect(r.exitCode, context).toBe(0);
      const plan = JSON.parse(readFileSync(report, 'utf8')).plan as { apps: { name: string; deploy: boolean; reasons: string[] }[]; disabled: string[] };
      const deployed = plan.apps.filter((a) => a.deploy).map((a) => a.name).sort();
      expect(plan.disabled, context).toEqual(['off']);

      // oracle 1: the hand-written model, both ways (never less, never more)
      expect(deployed, context).toEqual(expected);
      // oracle 2: what the real tools render differs -> deployed (never less)
      const before = renderAt(base.sha);
      const after = renderAt(head.sha);
      const renderChanged = APPS.filter((app) => before[app] !== after[app]);
      for (const app of renderChanged) expect(deployed, `${app} renders differently\n${context}`).toContain(app);
      log.push(`step ${step}: ${edits.join('; ')} -> deployed [${deployed.join(', ')}], render changed [${renderChanged.join(', ')}]`);
    }
    // both oracles had something to say: every app was deployed by some step and kept by another
    const all = log.join('\n');
    for (const app of APPS) {
      expect(all, `no step deployed ${app}:\n${all}`).toMatch(new RegExp(`deployed \\[[^\\]]*\\b${app}\\b`));
      expect(all, `no step rendered ${app} differently:\n${all}`).toMatch(new RegExp(`render changed \\[[^\\]]*\\b${app}\\b`));
    }
    expect(all).toMatch(/-> deployed \[\]/);
  }, 600_000);
});
