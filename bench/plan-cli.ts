// The planning path of the pipe as one process, for the benchmark (bundled with the pipe's options):
// read the root with the real loader, then buildPlan against the parent commit.
//   node plan-cli.mjs <workspace> <environment> [--naive] [--debug] [--root-json FILE] [--write-root FILE]
// Prints {"deploy": [...], "layers": n, "removed": [...]} as JSON.
// --naive looks at every line of every kustomization and chart (no git grep pre-filter): the
// baseline for what the pre-filter saves. --root-json takes the root as JSON (written before by
// --write-root) instead of the loader, which is then not even loaded: the change plan alone.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPlan, startManifestSearch } from '../src/plan/index.js';
import { gitManifestSearch, type ManifestLine, type ManifestSearch } from '../src/plan/dependencies.js';
import { CHART_FILES, KUSTOMIZATION_FILES } from '../src/util/source-files.js';
import type { Root } from '../src/root/model.js';
import { createLogger } from '../src/report/logger.js';
import { Git } from '../src/util/git.js';
import { toolPath } from '../src/util/tools.js';
import { GitTree, WorkTree, type Tree } from '../src/util/tree.js';

// time since the process started: Node's start-up and compiling this bundle
const loaded = performance.now();
const [workspace = '.', environment, ...flags] = process.argv.slice(2);
const option = (name: string) => (flags.includes(name) ? flags[flags.indexOf(name) + 1] : undefined);
const rootJson = option('--root-json');
const writeRoot = option('--write-root');
const git = new Git(workspace);
const logger = createLogger({ debug: flags.includes('--debug'), out: (l) => process.stderr.write(`${l}\n`) });
const tmp = await mkdtemp(join(tmpdir(), 'plan-cli-'));
try {
  logger.debug(`start-up: ${loaded.toFixed(0)} ms`);
  const started = Date.now();
  // git greps the manifests while the root loads (startManifestSearch needs no root)
  const search = flags.includes('--naive') ? everyManifest(git) : startManifestSearch(git);
  const repoUrls = await git.remoteUrls();
  // imported only when used: with --root-json the loader's code (zod, YAML parsers) is never loaded
  const load = async (tree: Tree) => {
    const { loadRoot } = await import('../src/root/index.js');
    return loadRoot({ tree, path: 'app-of-apps.yaml', environment, repoUrls, helmBin: toolPath('helm'), tmpDir: tmp });
  };
  const root = rootJson ? (JSON.parse(await readFile(rootJson, 'utf8')) as Root) : await load(new WorkTree(workspace));
  if (writeRoot) await writeFile(writeRoot, JSON.stringify(root));
  logger.debug(`root: ${root.apps.length} apps read in ${Date.now() - started} ms`);
  const plan = await buildPlan({
    git,
    workspace,
    root,
    loadRootAt: (rev) => load(new GitTree(git, rev)),
    config: { apps: [], force: false, environment },
    build: {},
    logger,
    search,
  });
  const deploy = plan.layers.flat();
  process.stdout.write(`${JSON.stringify({ deploy, layers: plan.layers.length, removed: plan.removed })}\n`);
} finally {
  await rm(tmp, { recursive: true, force: true });
}

/** No pre-filter: every line of every kustomization and chart of the repository, read in this process. */
function everyManifest(git: Git): ManifestSearch {
  const all = () => git.listTracked([...KUSTOMIZATION_FILES, ...CHART_FILES].map((n) => `:(glob)**/${n}`));
  const outward = async (): Promise<ManifestLine[]> => {
    const names = await all();
    const texts = await Promise.all(names.map((f) => readFile(join(git.dir, f), 'utf8')));
    return names.flatMap((file, i) => texts[i]!.split('\n').map((text, n) => ({ file, line: n + 1, text })));
  };
  const { links, submodules } = gitManifestSearch(git);
  return { outward, all, links, submodules };
}
