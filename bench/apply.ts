/**
 * The apply engine against naive kubectl pipelines, in one run on the test bed, same semantics on
 * both sides (objects applied server-side; with WAIT the pipe also checks health, which the
 * baselines do with `kubectl rollout status` or not at all, as noted):
 *
 *   A. 100 apps, all changed (first deploy), no dependencies: the pipe (the bundle the image
 *      runs) versus a sequential loop of `kubectl apply --server-side` per app; once with
 *      WAIT=false, once with WAIT=true against a loop that adds `kubectl rollout status`.
 *   B. 500 apps deployed, one commit changes one app: the pipe versus a naive pipeline that runs
 *      `kubectl apply --server-side` for every app (no rollout status: the baseline does less).
 *
 * Usage: npx tsx bench/apply.ts [appsA=100] [appsB=500] [concurrency=8]
 * With TESTBED_INFO=<testbed.json> it uses a running test bed (it needs room for 4 x appsA +
 * appsB pods: 110 per kwok node); otherwise it starts one with enough nodes.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { attachTestbed, startTestbed, type Testbed, type TestbedInfo } from '../test/support/testbed.js';
import { bitbucketEnv } from '../test/support/pipe.js';
import { toolPath } from '../src/util/tools.js';

const appsA = Number(process.argv[2] ?? 100);
const appsB = Number(process.argv[3] ?? 500);
const concurrency = Number(process.argv[4] ?? 8);
const run = Math.random().toString(16).slice(2, 8);
const kubectlBin = toolPath('kubectl');

const files = (name: string, ns: string, level = 'info') => ({
  [`apps/${name}/config.yaml`]: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\ndata:\n  level: ${level}\n  settings.json: '{"x": 1, "y": [1, 2, 3]}'\n`,
  [`apps/${name}/service.yaml`]: `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n  selector: {app: ${name}}\n  ports: [{port: 80, targetPort: 8080}]\n`,
  [`apps/${name}/deployment.yaml`]: `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: ${name}}}\n  template:\n    metadata: {labels: {app: ${name}}}\n    spec:\n      containers:\n        - name: main\n          image: registry.example/app:1\n          ports: [{containerPort: 8080}]\n`,
});

async function write(root: string, all: Record<string, string>): Promise<void> {
  for (const [p, content] of Object.entries(all)) {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), content);
  }
}

const git = (dir: string, ...args: string[]) => execa('git', ['-C', dir, '-c', 'user.email=b@example.com', '-c', 'user.name=bench', ...args]);

/** A repository of n directory apps, app i in namespace <prefix>-i; returns its directory. */
async function repo(base: string, prefix: string, n: number): Promise<{ dir: string; names: string[] }> {
  const dir = join(base, prefix);
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const all: Record<string, string> = {};
  const apps = names.map((name) => `  - name: ${name}\n    path: apps/${name}\n    namespace: ${name}`).join('\n');
  all['app-of-apps.yaml'] = `apiVersion: app-of-apps/v1\nkind: Root\ndefaults: {createNamespace: true, timeout: 300s}\nenvironments:\n  bench: {}\napps:\n${apps}\n`;
  for (const name of names) Object.assign(all, files(name, name));
  await write(dir, all);
  await git(dir, 'init', '-q', '-b', 'main');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '-m', 'apps');
  return { dir, names };
}

function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = Date.now();
  return fn().then((value) => ({ ms: Date.now() - t, value }));
}

async function main(): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'bench-apply-'));
  let bed: Testbed;
  if (process.env.TESTBED_INFO) bed = attachTestbed(JSON.parse(await readFile(process.env.TESTBED_INFO, 'utf8')) as TestbedInfo);
  else bed = await startTestbed({ nodes: Math.ceil((4 * appsA + appsB) / 100) + 1, log: (l) => console.error(l) });
  const kubeconfig = bed.adminKubeconfig;
  const kubectl = (args: string[], input?: string) => execa(kubectlBin, ['--kubeconfig', kubeconfig, ...args], { input, env: { HOME: base } });
  try {
    const dist = join(base, 'dist');
    await execa(process.execPath, ['scripts/bundle.mjs', dist]);
    const bundle = join(dist, 'main.js');
    const pipe = async (dir: string, build: number, vars: Record<string, string> = {}) => {
      const head = (await git(dir, 'rev-parse', 'HEAD')).stdout.trim();
      const env = bitbucketEnv(dir, head, {
        BITBUCKET_BUILD_NUMBER: String(build),
        ENVIRONMENT: 'bench',
        KUBE_CONFIG: Buffer.from(await readFile(kubeconfig)).toString('base64'),
        CONCURRENCY: String(concurrency),
        REPORT_FILE: join(base, `report-${build}.json`),
        KUBECTL_BIN: kubectlBin,
        HELM_BIN: toolPath('helm'),
        LEDGER_NAMESPACE: `bench-${run}`,
        ...vars,
      });
      const r = await execa(process.execPath, [bundle], { env: { PATH: process.env.PATH, HOME: base, ...env }, extendEnv: false, reject: false, all: true });
      if (r.exitCode !== 0) throw new Error(`pipe failed (${r.exitCode}):\n${r.all}`);
      return JSON.parse(await readFile(join(base, `report-${build}.json`), 'utf8')) as { result: { apps: { outcome: string }[] } };
    };
    const nsYaml = (name: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}}\n`;
    // Lets the controllers finish the pods of a phase (untimed) so the next phase starts on a quiet cluster.
    const settle = async (prefix: string) => {
      for (;;) {
        const list = JSON.parse((await kubectl(['get', 'deployments', '-A', '-o', 'json'])).stdout) as { items: { metadata: { namespace: string }; status?: { availableReplicas?: number } }[] };
        if (list.items.filter((d) => d.metadata.namespace.startsWith(prefix)).every((d) => d.status?.availableReplicas === 1)) return;
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    const baseline = async (dir: string, names: string[], rollout: boolean) => {
      for (const name of names) {
        await kubectl(['apply', '--server-side', '--field-manager=naive', '-f', '-'], nsYaml(name));
        await kubectl(['apply', '--server-side', '--field-manager=naive', '-f', join(dir, 'apps', name)]);
        if (rollout) await kubectl(['rollout', 'status', '-n', name, `deployment/${name}`, '--timeout=300s']);
      }
    };
    const load: number[] = [loadavg()[0]!];

    // A: 100 apps, all new, no dependencies; without and with WAIT (the baseline waits with rollout status).
    const rowsA: { wait: boolean; pipeMs: number; baseMs: number; deployed: number }[] = [];
    for (const wait of [false, true]) {
      const tag = `a${wait ? 'w' : 'n'}${run}`;
      const p = await repo(base, `${tag}p`, appsA);
      const k = await repo(base, `${tag}k`, appsA);
      const piped = await timed(() => pipe(p.dir, rowsA.length + 1, { WAIT: String(wait) }));
      await settle(tag);
      const naive = await timed(() => baseline(k.dir, k.names, wait));
      await settle(tag);
      rowsA.push({ wait, pipeMs: piped.ms, baseMs: naive.ms, deployed: piped.value.result.apps.filter((x) => x.outcome === 'deployed').length });
      load.push(loadavg()[0]!);
    }

    // B: 500 apps deployed, one commit changes one app's ConfigMap.
    const b = await repo(base, `b${run}`, appsB);
    const initial = await timed(() => pipe(b.dir, 10));
    await settle(`b${run}`);
    const changed = b.names[Math.floor(appsB / 2)]!;
    await write(b.dir, { [`apps/${changed}/config.yaml`]: files(changed, changed, 'debug')[`apps/${changed}/config.yaml`]! });
    await git(b.dir, 'commit', '-qam', `change ${changed}`);
    const bPipe = await timed(() => pipe(b.dir, 11));
    const deployedB = bPipe.value.result.apps.map((x) => `${x.outcome}`);
    const bBase = await timed(async () => {
      for (const name of b.names) await kubectl(['apply', '--server-side', '--field-manager=naive', '-f', join(b.dir, 'apps', name)]);
    });
    load.push(loadavg()[0]!);

    const s = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
    const ratio = (x: number, y: number) => `${(x / y).toFixed(1)}x`;
    console.log(JSON.stringify({ appsA, appsB, concurrency, rowsA, bInitialMs: initial.ms, bPipeMs: bPipe.ms, bBaselineMs: bBase.ms, deployedB, load }, null, 2));
    for (const r of rowsA) {
      const naive = r.wait ? 'loop of `kubectl apply --server-side` + `kubectl rollout status` per app' : 'loop of `kubectl apply --server-side` per app';
      console.log(`| ${appsA} apps, all changed, WAIT=${r.wait} | ${s(r.pipeMs)} | ${naive}: ${s(r.baseMs)} | ${ratio(r.baseMs, r.pipeMs)} |`);
    }
    console.log(`| 1 changed app of ${appsB}, WAIT=true | ${s(bPipe.ms)} | loop of \`kubectl apply --server-side\` per app: ${s(bBase.ms)} | ${ratio(bBase.ms, bPipe.ms)} |`);
  } finally {
    await bed.stop();
    await rm(base, { recursive: true, force: true });
  }
}

await main();
