/**
 * renderApps on 100 mixed apps (40 directory, 30 kustomize on shared bases, 30 helm) versus the
 * naive baseline, a sequential loop of renderApp, in the same run on the same generated repo.
 * Usage: npx tsx bench/render.ts [rounds=3] [concurrency=4]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { renderApp, renderApps, type RenderedApp } from '../src/render/index.js';
import type { App, SourceType } from '../src/root/model.js';
import { toolPath } from '../src/util/tools.js';

const rounds = Number(process.argv[2] ?? 3);
const concurrency = Number(process.argv[3] ?? 4);

const deployment = (name: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  labels: {app: ${name}}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: ${name}}}\n  template:\n    metadata: {labels: {app: ${name}}}\n    spec:\n      containers:\n        - name: main\n          image: nginx:1.25\n          ports: [{containerPort: 8080}]\n          env: [{name: MODE, value: prod}, {name: LEVEL, value: info}]\n          resources: {requests: {cpu: 100m, memory: 64Mi}}\n`;
const service = (name: string) => `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  selector: {app: ${name}}\n  ports: [{port: 80, targetPort: 8080}]\n`;
const configMap = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  a: "1"\n  b: "2"\n  settings.json: '{"x": 1, "y": [1, 2, 3]}'\n`;

async function generate(root: string): Promise<App[]> {
  const files: Record<string, string> = {};
  const apps: App[] = [];
  const add = (name: string, path: string, type: SourceType, extra: Partial<App> = {}) =>
    apps.push({
      name, path, type, namespace: name, createNamespace: true, prune: false, wait: true, timeoutSeconds: 300, serverSideApply: false,
      pruneLast: false, dependsOn: [], syncWave: 0, watch: [], origin: { file: 'app-of-apps.yaml' }, definitionDigest: name, ...extra,
    });
  for (let b = 0; b < 5; b++) {
    files[`bases/svc-${b}/kustomization.yaml`] = 'resources: [deployment.yaml, service.yaml, config.yaml]\n';
    files[`bases/svc-${b}/deployment.yaml`] = deployment('svc');
    files[`bases/svc-${b}/service.yaml`] = service('svc');
    files[`bases/svc-${b}/config.yaml`] = configMap('svc-config');
  }
  for (let i = 0; i < 40; i++) {
    for (let f = 0; f < 6; f++) files[`apps/plain-${i}/part-${f}.yaml`] = [deployment(`d${f}`), service(`s${f}`), configMap(`c${f}`)].join('---\n');
    add(`plain-${i}`, `apps/plain-${i}`, 'directory');
  }
  for (let i = 0; i < 30; i++) {
    files[`apps/kust-${i}/kustomization.yaml`] = `resources: [../../bases/svc-${i % 5}]\nnamePrefix: k${i}-\npatches:\n  - path: patch.yaml\n`;
    files[`apps/kust-${i}/patch.yaml`] = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: svc}\nspec: {replicas: 3}\n';
    add(`kust-${i}`, `apps/kust-${i}`, 'kustomize');
  }
  for (let i = 0; i < 30; i++) {
    const c = `apps/chart-${i}`;
    files[`${c}/Chart.yaml`] = `apiVersion: v2\nname: chart-${i}\nversion: 1.0.0\n`;
    files[`${c}/values.yaml`] = 'replicas: 1\nimage: nginx:1.25\n';
    files[`${c}/values-prod.yaml`] = 'replicas: 3\n';
    files[`${c}/templates/deployment.yaml`] = deployment('{{ .Release.Name }}').replace('replicas: 2', 'replicas: {{ .Values.replicas }}');
    files[`${c}/templates/service.yaml`] = service('{{ .Release.Name }}');
    files[`${c}/templates/config.yaml`] = configMap('{{ .Release.Name }}-config');
    add(`chart-${i}`, c, 'helm', { helm: { releaseName: `rel-${i}`, valueFiles: [`${c}/values-prod.yaml`], values: { image: 'nginx:1.26' }, parameters: [] } });
  }
  for (const [p, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), content);
  }
  return apps;
}

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

const base = await mkdtemp(join(tmpdir(), 'bench-render-'));
try {
  const workspace = join(base, 'repo');
  const apps = await generate(workspace);
  const opts = { workspace, tmpDir: join(base, 'tmp'), kubectlBin: toolPath('kubectl'), helmBin: toolPath('helm') };
  await mkdir(opts.tmpDir);
  const naive = async () => {
    const out = new Map<string, RenderedApp>();
    for (const a of apps) out.set(a.name, await renderApp(a, opts));
    return out;
  };
  const parallel = () => renderApps(apps, { ...opts, concurrency });
  await parallel(); // warm the page cache and the binaries once
  const naiveMs: number[] = [];
  const parallelMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [n, seq] = await time(naive);
    const [p, par] = await time(parallel);
    naiveMs.push(n);
    parallelMs.push(p);
    for (const [name, res] of par) {
      if (!('digest' in res) || res.digest !== seq.get(name)?.digest) throw new Error(`results differ for ${name}`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const objects = [...(await parallel()).values()].reduce((n, r) => n + ('objects' in r ? r.objects.length : 0), 0);
  console.log(`render: ${apps.length} apps (40 directory, 30 kustomize, 30 helm), ${objects} objects, concurrency ${concurrency}, ${rounds} rounds`);
  console.log(`naive sequential renderApp loop: median ${median(naiveMs).toFixed(0)} ms (${naiveMs.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`renderApps:                      median ${median(parallelMs).toFixed(0)} ms (${parallelMs.map((x) => x.toFixed(0)).join(', ')})`);
  console.log(`speed-up: ${(median(naiveMs) / median(parallelMs)).toFixed(2)}x`);
} finally {
  await rm(base, { recursive: true, force: true });
}
