/**
 * Loading the root manifest of a 2,000-app repository (a third each plain, kustomize, helm; two
 * environments) with loadRoot, versus the naive loader in the same run on the same files: the
 * `yaml` package's parseDocument (positions kept) and one awaited fs question per fact (does the
 * path exist, is there a Chart.yaml, a kustomization.yaml ...). Also a 2,000-Application Argo CD
 * directory. Interleaved rounds; medians and bests. Then, once each, the same root at a git
 * revision (the base of a change plan) through GitTree's one `git show` per file, and through a
 * Tree offering readMany (one `git cat-file --batch`).
 * Usage: npx tsx bench/root.ts [rounds=7]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { loadRoot } from '../src/root/index.js';
import { rootSchema } from '../src/root/schema.js';
import { Git } from '../src/util/git.js';
import { GitTree, WorkTree } from '../src/util/tree.js';
import { BatchGitTree } from '../test/fixtures/root/batch-tree.js';

const rounds = Number(process.argv[2] ?? 7);
const APPS = 2000;
const REPO = 'https://bitbucket.org/acme/monorepo.git';

function generate(dir: string): void {
  const write = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  let root = 'apiVersion: app-of-apps/v1\nkind: Root\ndefaults: { createNamespace: true }\nenvironments:\n  staging: {}\n  production: { defaults: { prune: true } }\napps:\n';
  for (let b = 0; b < 10; b++) write(`bases/b${b}/kustomization.yaml`, 'resources: [deploy.yaml]\n');
  for (let i = 0; i < APPS; i++) {
    const p = `apps/app-${i}`;
    const kind = i % 3;
    if (kind === 0) write(`${p}/deploy.yaml`, 'kind: ConfigMap\n');
    if (kind === 1) {
      write(`${p}/base/kustomization.yaml`, `resources: [../../../bases/b${i % 10}]\n`);
      write(`${p}/overlays/production/kustomization.yaml`, 'resources: [../../base]\n');
    }
    if (kind === 2) {
      write(`${p}/Chart.yaml`, `apiVersion: v2\nname: app-${i}\nversion: 1.0.0\n`);
      write(`${p}/values-production.yaml`, 'replicas: 3\n');
    }
    root += `  - name: app-${i}\n    path: ${p}${kind === 1 ? '/base' : ''}\n    namespace: team-${i % 40}\n`;
    if (i % 10) root += `    dependsOn: [app-${i - (i % 10)}]\n`;
    if (kind === 1) root += `    overlays: { production: ${p}/overlays/production }\n`;
    if (kind === 2) root += '    environments:\n      production:\n        helm: { valueFiles: [values-production.yaml] }\n';
    write(
      `argo/app-${i}.yaml`,
      `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: app-${i}\n  annotations: { argocd.argoproj.io/sync-wave: "${i % 3}" }\nspec:\n  source:\n    repoURL: ${REPO}\n    path: ${p}${kind === 1 ? '/overlays/production' : ''}\n    targetRevision: HEAD\n  destination: { namespace: team-${i % 40} }\n  syncPolicy: { syncOptions: [CreateNamespace=true] }\n`,
    );
  }
  write('app-of-apps.yaml', root);
}

/** The straightforward loader: positions from the `yaml` package, one awaited question per fact. */
async function naive(dir: string): Promise<number> {
  const doc = parseDocument(await readFile(join(dir, 'app-of-apps.yaml'), 'utf8'), { merge: true });
  const parsed = rootSchema.parse(doc.toJS());
  const exists = (p: string) => stat(join(dir, p)).then(() => true, () => false);
  let n = 0;
  for (const a of parsed.apps) {
    const path = a.overlays?.production ?? a.path;
    if (!(await exists(a.path))) throw new Error(a.path);
    if (await exists(join(path, 'Chart.yaml'))) n++;
    else if ((await exists(join(path, 'kustomization.yaml'))) || (await exists(join(path, 'kustomization.yml')))) n++;
    else n++;
  }
  return n;
}

const time = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const best = (xs: number[]) => Math.min(...xs);

const dir = mkdtempSync(join(tmpdir(), 'bench-root-'));
try {
  generate(dir);
  const tree = new WorkTree(dir);
  const opts = { tree, environment: 'production', repoUrls: [REPO], helmBin: 'helm', tmpDir: dir };
  const check = await loadRoot({ ...opts, path: 'app-of-apps.yaml' });
  const argoCheck = await loadRoot({ ...opts, path: 'argo' });
  if (check.apps.length !== APPS || argoCheck.apps.length !== APPS) throw new Error('the generated roots did not load completely');

  const results = { native: [] as number[], argo: [] as number[], naive: [] as number[], node: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    results.naive.push(await time(() => naive(dir)));
    results.native.push(await time(() => loadRoot({ ...opts, path: 'app-of-apps.yaml' })));
    results.argo.push(await time(() => loadRoot({ ...opts, path: 'argo' })));
    results.node.push(await time(async () => execFileSync('node', ['-e', '0'])));
  }
  execFileSync('git', ['-C', dir, 'init', '-q']);
  execFileSync('git', ['-C', dir, 'add', '-A']);
  execFileSync('git', ['-C', dir, '-c', 'user.name=b', '-c', 'user.email=b@example.com', 'commit', '-qm', 'bench']);
  const atRevision = {
    single: await time(() => loadRoot({ ...opts, tree: new GitTree(new Git(dir), 'HEAD'), path: 'app-of-apps.yaml' })),
    batch: await time(() => loadRoot({ ...opts, tree: new BatchGitTree(dir, 'HEAD'), path: 'app-of-apps.yaml' })),
  };

  const row = (name: string, xs: number[]) =>
    `| ${name} | ${median(xs).toFixed(0)} ms | ${best(xs).toFixed(0)} ms | ${(median(results.naive) / median(xs)).toFixed(1)}x |`;
  console.log(`${APPS} apps, ${rounds} interleaved rounds\n`);
  console.log('| | median | best | speed-up vs naive |\n|---|---|---|---|');
  console.log(row('naive: `yaml` parseDocument + zod + awaited fs per question (native root)', results.naive));
  console.log(row('loadRoot, native root (validated, resolved for production)', results.native));
  console.log(row('loadRoot, directory of 2,000 Argo CD Applications', results.argo));
  console.log(row('`node -e 0` (process start, for scale)', results.node));
  console.log('\n| native root at a git revision (once) | time |\n|---|---|');
  console.log(`| GitTree: one \`git show\` per Chart.yaml | ${atRevision.single.toFixed(0)} ms |`);
  console.log(`| Tree with readMany: one \`git cat-file --batch\` | ${atRevision.batch.toFixed(0)} ms |`);
} finally {
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  else console.log(dir);
}
