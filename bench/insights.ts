/**
 * What the Code Insights report adds to a run: the pipe as the image starts it (the bundle from
 * its startup snapshot), in plan mode on the bundled example, with the report off and on (sent to
 * a local stand-in for the pipeline's proxy), interleaved, medians of wall time from spawn to exit.
 * Usage: npx tsx bench/insights.ts [rounds=15]
 */
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBitbucketProxy } from '../test/support/bitbucket-proxy.js';

const rounds = Number(process.argv[2] ?? 15);
const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'aoa-bench-insights-'));
const dist = join(tmp, 'dist');
const repo = join(tmp, 'example');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main() {
  execFileSync(process.execPath, [join(root, 'scripts/bundle.mjs'), dist, '--snapshot'], { cwd: root, stdio: 'pipe' });
  execFileSync(process.execPath, [join(root, 'scripts/example-repo.mjs'), 'native', '--out', repo]);
  const head = execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  const proxy = await startBitbucketProxy();
  const env = (insights: boolean) => ({
    PATH: process.env.PATH!,
    HOME: tmp,
    MODE: 'plan',
    ENVIRONMENT: 'staging',
    BITBUCKET_CLONE_DIR: repo,
    BITBUCKET_COMMIT: head,
    BITBUCKET_REPO_FULL_NAME: 'acme/platform-apps',
    BITBUCKET_BUILD_NUMBER: '7',
    BITBUCKET_PIPELINE_UUID: '{5a1f0b8e-7c55-4d7f-8e7d-4f1e2b3c4d5e}',
    REPORT_FILE: join(tmp, 'report.json'),
    CODE_INSIGHTS: String(insights),
    CODE_INSIGHTS_PROXY: proxy.url,
  });
  // spawned asynchronously: the stand-in proxy answers from this process's event loop
  const time = async (insights: boolean) => {
    const started = process.hrtime.bigint();
    const r = await execa(join(dist, 'entrypoint.sh'), [], { env: env(insights), extendEnv: false, reject: false });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (r.exitCode !== 0) throw new Error(`the pipe failed (insights ${insights}): ${r.stderr}`);
    if (insights !== r.stdout.includes('Code Insights report')) throw new Error(`report ${insights ? 'not ' : ''}published: ${r.stdout}${r.stderr}`);
    return ms;
  };
  await time(false);
  await time(true); // warm the file cache
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < rounds; i++) {
    off.push(await time(false));
    on.push(await time(true));
  }
  await proxy.close();
  const [a, b] = [median(off), median(on)];
  console.log(`plan of the example, ${rounds} interleaved rounds, medians:`);
  console.log(`  CODE_INSIGHTS=false  ${a.toFixed(0)} ms`);
  console.log(`  CODE_INSIGHTS=true   ${b.toFixed(0)} ms  (+${(b - a).toFixed(0)} ms, ${(b / a).toFixed(2)}x)`);
}

main()
  .finally(() => rmSync(tmp, { recursive: true, force: true }))
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
