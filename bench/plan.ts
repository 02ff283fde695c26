// Change-plan benchmark (issue 2, "Performance"): on a generated monorepo of 2,000 apps with a
// few thousand commits, planning a commit that touches one app, and one that touches a shared base
// used by 200 apps, must cost at most 3x `node -e 0` plus `git diff --name-only BASE HEAD` on the
// same clone. Both are measured as processes, interleaved, in one run; medians are compared.
//   npm run bench:plan            (BENCH_REPS=15 by default)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { cloneLikeBitbucket, generateMonorepo } from './lib/monorepo.js';

const REPS = Number(process.env.BENCH_REPS ?? 15);
const LIMIT = 3;

const tmp = mkdtempSync(join(tmpdir(), 'bench-plan-'));
try {
  let t = performance.now();
  const repo = generateMonorepo(join(tmp, 'origin'));
  console.log(`generated ${repo.apps} apps, ${repo.files} files, ${repo.commits} commits in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  t = performance.now();
  const cli = join(tmp, 'cli', 'plan-cli.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, 'plan-cli.ts')],
    outdir: join(tmp, 'cli'),
    outExtension: { '.js': '.mjs' },
    // the root loader in a chunk of its own, loaded when the root is read
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    banner: { js: "import { createRequire as __pipeCreateRequire } from 'node:module'; const require = __pipeCreateRequire(import.meta.url);" },
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
  });
  console.log(`bundled the planning CLI in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const rows: string[] = [];
  let worst = 0;
  for (const s of repo.scenarios) {
    const ws = join(tmp, s.branch);
    cloneLikeBitbucket(repo.dir, s.branch, ws);
    const git = (...args: string[]) => run('git', ['-C', ws, ...args]);
    const base = git('rev-parse', 'HEAD~1').stdout.trim();

    // the plan must be right before its speed means anything
    const out = JSON.parse(run('node', [cli, ws, 'production']).stdout) as { deploy: string[] };
    const expected = [...s.expected].sort();
    if (JSON.stringify([...out.deploy].sort()) !== JSON.stringify(expected)) {
      throw new Error(`${s.branch}: planned ${out.deploy.length} apps (${out.deploy.slice(0, 5).join(', ')}...), expected ${expected.length}`);
    }
    const rootJson = join(tmp, `${s.branch}-root.json`);
    const detail = run('node', [cli, ws, 'production', '--debug', '--write-root', rootJson]).stderr.trim();

    const baseline: number[] = [];
    const plan: number[] = [];
    const planOnly: number[] = [];
    const naive: number[] = [];
    for (let i = 0; i < REPS + 2; i++) {
      const b = time('node', ['-e', '0']) + time('git', ['-C', ws, 'diff', '--name-only', base, 'HEAD']);
      const p = time('node', [cli, ws, 'production']);
      const q = time('node', [cli, ws, 'production', '--root-json', rootJson]);
      const n = time('node', [cli, ws, 'production', '--naive', '--root-json', rootJson]);
      // two warm-up rounds (page cache, git's object cache) are not counted
      if (i >= 2) {
        baseline.push(b);
        plan.push(p);
        planOnly.push(q);
        naive.push(n);
      }
    }

    const ratio = median(plan) / median(baseline);
    worst = Math.max(worst, ratio);
    console.log(`\n${s.branch} (${s.file} -> ${expected.length} app${expected.length === 1 ? '' : 's'}):`);
    console.log(`  baseline node -e 0 + git diff: median ${ms(median(baseline))} (min ${ms(Math.min(...baseline))})`);
    console.log(`  plan:                          median ${ms(median(plan))} (min ${ms(Math.min(...plan))})  ratio ${ratio.toFixed(2)}`);
    console.log(`  plan, root given as JSON:      median ${ms(median(planOnly))}  (${(median(planOnly) / median(baseline)).toFixed(2)}x the baseline)`);
    console.log(`  same, without the pre-filter:  median ${ms(median(naive))}  (${(median(naive) / median(baseline)).toFixed(2)}x the baseline)`);
    console.log(detail.replace(/^/gm, '    '));
    const onlyRatio = median(planOnly) / median(baseline);
    rows.push(
      `| ${s.branch} | ${expected.length} | ${ms(median(baseline))} | ${ms(median(plan))} | **${ratio.toFixed(2)}** | ${ms(median(planOnly))} (${onlyRatio.toFixed(2)}) | ${ms(median(naive))} |`,
    );
  }
  console.log(
    `\n| scenario | apps changed | node -e 0 + git diff | plan | ratio | plan, root as JSON (ratio) | same, no pre-filter |\n|---|---|---|---|---|---|---|\n${rows.join('\n')}`,
  );
  console.log(`\nworst ratio ${worst.toFixed(2)} (limit ${LIMIT}): ${worst <= LIMIT ? 'PASS' : 'FAIL'}`);
  process.exitCode = worst <= LIMIT ? 0 : 1;
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
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
