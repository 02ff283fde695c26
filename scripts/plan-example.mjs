#!/usr/bin/env node
// `npm run plan:example`: makes the bundled example into a git repository whose last commit
// changes one thing, then runs the pipe's real entrypoint on it in plan mode, as a pipeline step
// would (no cluster, no cloud account).
//   node scripts/plan-example.mjs [native|argocd] [ENVIRONMENT]
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name = 'native', environment = name === 'native' ? 'staging' : ''] = process.argv.slice(2);
const repo = execFileSync(process.execPath, [join(root, 'scripts', 'example-repo.mjs'), name], { encoding: 'utf8' }).trim();
const commit = execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();

console.log(`Example repository: ${repo} (HEAD ${commit.slice(0, 12)})\n`);
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  MODE: 'plan',
  ROOT_MANIFEST: name === 'native' ? 'app-of-apps.yaml' : 'apps',
  BITBUCKET_CLONE_DIR: repo,
  BITBUCKET_COMMIT: commit,
  BITBUCKET_BUILD_NUMBER: '1',
  BITBUCKET_REPO_FULL_NAME: `acme/example-${name}`,
  REPORT_FILE: join(repo, '..', `app-of-apps-example-${name}-report.json`),
  ...(environment ? { ENVIRONMENT: environment } : {}),
};
const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'main.ts')], { env, stdio: 'inherit', cwd: root });
if (r.status === 0) console.log(`\nJSON report: ${env.REPORT_FILE}`);
process.exit(r.status ?? 1);
