// `npm run bench [-- NAME ...]`: the benchmarks one after another (never in parallel: the machine
// has 2 cores and every benchmark compares with a baseline in the same run). Each prints its
// ratios; docs/benchmarks.md records them with the command that produced them.
import { spawnSync } from 'node:child_process';

const all: Record<string, string[]> = {
  plan: ['npx', 'tsx', 'bench/plan.ts'],
  root: ['npx', 'tsx', 'bench/root.ts'],
  render: ['npx', 'tsx', 'bench/render.ts'],
  identity: ['npx', 'tsx', 'bench/identity.ts'],
  apply: ['npx', 'tsx', 'bench/apply.ts'],
  container: ['bash', 'bench/container.sh'],
};

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(all).filter((n) => n !== 'container');
let failed = 0;
for (const name of names) {
  const cmd = all[name];
  if (!cmd) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(all).join(', ')}`);
    process.exit(2);
  }
  console.log(`\n== ${name}: ${cmd.join(' ')}`);
  const r = spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
