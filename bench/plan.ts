// Change-plan benchmark (issue 2, "Performance"): on a generated monorepo of 2,000 apps with a
// few thousand commits, planning a commit that touches one app, and one that touches a shared base
// used by 200 apps, must cost at most 3x `node -e 0` plus `git diff --name-only BASE HEAD` on the
// same clone. Both are measured as processes, interleaved, in one run; medians are compared.
// The pipe is measured as it ships: built and started as the image does (scripts/bundle.mjs
// --snapshot, entrypoint.sh), in plan mode, from its start to its "Planned in" line (the plan is
// made; rendering the apps it names comes next and is not planning).
//   npm run bench:plan            (BENCH_REPS=15 by default; BENCH_APPS=500 for a repository of that many apps, same mix)
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { pipeBuildOptions } from '../scripts/bundle-options.mjs';
import { cloneLikeBitbucket, DEFAULT_SPEC, generateMonorepo, specWithApps } from './lib/monorepo.js';

const REPS = Number(process.env.BENCH_REPS ?? 15);
const LIMIT = 3;
const ROOT = join(import.meta.dirname, '..');
// every measured process gets the same environment (a NODE_OPTIONS would turn the pipe's snapshot off)
const ENV = { ...process.env };
delete ENV.NODE_OPTIONS;

const tmp = mkdtempSync(join(tmpdir(), 'bench-plan-'));
try {
  let t = performance.now();
  const repo = generateMonorepo(join(tmp, 'origin'), process.env.BENCH_APPS ? specWithApps(Number(process.env.BENCH_APPS)) : DEFAULT_SPEC);
  console.log(`generated ${repo.apps} apps, ${repo.files} files, ${repo.commits} commits in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  t = performance.now();
  const cli = join(tmp, 'cli', 'plan-cli.mjs');
  await build({
    // built as the pipe is (scripts/bundle-options.mjs), but as ES modules split in chunks: the root
    // loader in a chunk of its own, loaded when the root is read (never with --root-json)
    ...pipeBuildOptions,
    entryPoints: [join(import.meta.dirname, 'plan-cli.ts')],
    outdir: join(tmp, 'cli'),
    outExtension: { '.js': '.mjs' },
    splitting: true,
    format: 'esm',
    banner: { js: "import { createRequire as __pipeCreateRequire } from 'node:module'; const require = __pipeCreateRequire(import.meta.url);" },
  });
  console.log(`bundled the planning CLI in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  const pipeDir = join(tmp, 'pipe');
  run('node', [join(ROOT, 'scripts/bundle.mjs'), pipeDir, '--snapshot']);
  console.log(`built the pipe as the image does (bundle, startup snapshot) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const rows: string[] = [];
  let worst = 0;
  for (const s of repo.scenarios) {
    const ws = join(tmp, s.branch);
    cloneLikeBitbucket(repo.dir, s.branch, ws);
    const git = (...args: string[]) => run('git', ['-C', ws, ...args]);
    const base = git('rev-parse', 'HEAD~1').stdout.trim();

    // the plan must be right before its speed means anything (one run: the plan on stdout, where its time went on stderr)
    const rootJson = join(tmp, `${s.branch}-root.json`);
    const checked = run('node', [cli, ws, 'production', '--debug', '--write-root', rootJson]);
    const out = JSON.parse(checked.stdout) as { deploy: string[] };
    const detail = checked.stderr.trim();
    const expected = [...s.expected].sort();
    if (JSON.stringify([...out.deploy].sort()) !== JSON.stringify(expected)) {
      throw new Error(`${s.branch}: planned ${out.deploy.length} apps (${out.deploy.slice(0, 5).join(', ')}...), expected ${expected.length}`);
    }
    // the pipe plans the same: its "Planned in" line names as many apps (the CLI checked which)
    const line = (await pipePlanned(pipeDir, ws, tmp)).line;
    if (!line.includes(`: ${expected.length} of ${repo.apps} apps to deploy`)) throw new Error(`${s.branch}: the pipe said "${line}", expected ${expected.length} of ${repo.apps} apps`);

    const baseline: number[] = [];
    const pipe: number[] = [];
    const plan: number[] = [];
    const planOnly: number[] = [];
    const naive: number[] = [];
    for (let i = 0; i < REPS + 2; i++) {
      const b = time('node', ['-e', '0']) + time('git', ['-C', ws, 'diff', '--name-only', base, 'HEAD']);
      const r = (await pipePlanned(pipeDir, ws, tmp)).ms;
      const p = time('node', [cli, ws, 'production']);
      const q = time('node', [cli, ws, 'production', '--root-json', rootJson]);
      const n = time('node', [cli, ws, 'production', '--naive', '--root-json', rootJson]);
      // two warm-up rounds (page cache, git's object cache) are not counted
      if (i >= 2) {
        baseline.push(b);
        pipe.push(r);
        plan.push(p);
        planOnly.push(q);
        naive.push(n);
      }
    }

    const ratio = median(pipe) / median(baseline);
    worst = Math.max(worst, ratio);
    const x = (xs: number[]) => `${(median(xs) / median(baseline)).toFixed(2)}x the baseline`;
    console.log(`\n${s.branch} (${s.file} -> ${expected.length} app${expected.length === 1 ? '' : 's'}):`);
    console.log(`  baseline node -e 0 + git diff: median ${ms(median(baseline))} (min ${ms(Math.min(...baseline))})`);
    console.log(`  the pipe, to "Planned in":     median ${ms(median(pipe))} (min ${ms(Math.min(...pipe))})  ratio ${ratio.toFixed(2)}`);
    console.log(`  planning CLI (loader + plan):  median ${ms(median(plan))} (min ${ms(Math.min(...plan))})  (${x(plan)})`);
    console.log(`  same, root given as JSON:      median ${ms(median(planOnly))}  (${x(planOnly)})`);
    console.log(`  same, without the pre-filter:  median ${ms(median(naive))}  (${x(naive)})`);
    console.log(`    pipe: ${line}`);
    console.log(detail.replace(/^/gm, '    '));
    const r = (xs: number[]) => (median(xs) / median(baseline)).toFixed(2);
    rows.push(
      `| ${s.branch} | ${expected.length} | ${ms(median(baseline))} | ${ms(median(pipe))} | **${ratio.toFixed(2)}** | ${ms(median(plan))} (${r(plan)}) | ${ms(median(planOnly))} (${r(planOnly)}) | ${ms(median(naive))} (${r(naive)}) |`,
    );
  }
  console.log(
    `\n| scenario | apps changed | node -e 0 + git diff | the pipe, to its plan | ratio | planning CLI (ratio) | CLI, root as JSON (ratio) | same, no pre-filter (ratio) |\n|---|---|---|---|---|---|---|---|\n${rows.join('\n')}`,
  );
  console.log(`\nworst ratio ${worst.toFixed(2)} (limit ${LIMIT}): ${worst <= LIMIT ? 'PASS' : 'FAIL'}`);
  process.exitCode = worst <= LIMIT ? 0 : 1;
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

/**
 * The pipe in plan mode, started as the image starts it, timed from spawn to its "Planned in" line;
 * then stopped (SIGKILL: what follows is rendering), its temp files removed with its TMPDIR.
 */
function pipePlanned(dir: string, workspace: string, tmp: string): Promise<{ ms: number; line: string }> {
  const tmpdir = join(tmp, 'pipe-tmp');
  mkdirSync(tmpdir, { recursive: true });
  const env = { ...ENV, TMPDIR: tmpdir, MODE: 'plan', ENVIRONMENT: 'production', BITBUCKET_CLONE_DIR: workspace, REPORT_FILE: join(tmp, 'pipe-report.json') };
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(join(dir, 'entrypoint.sh'), [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let found: { ms: number; line: string } | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('Planned in '));
      if (line && !found) {
        found = { ms: performance.now() - started, line };
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      rmSync(tmpdir, { recursive: true, force: true });
      if (found) resolve(found);
      else reject(new Error(`the pipe exited ${code} before planning:\n${out}${err}`));
    });
  });
}

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, env: ENV });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

function time(cmd: string, args: string[]): number {
  const started = performance.now();
  run(cmd, args);
  return performance.now() - started;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function ms(x: number): string {
  return `${x.toFixed(0)} ms`;
}
