import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface PipeRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout + stderr, for "appears nowhere" assertions. */
  all: string;
}

/** Variables Bitbucket sets in a pipeline step (a deployment step on main). */
export function bitbucketEnv(cloneDir: string, commit: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CI: 'true',
    BITBUCKET_CLONE_DIR: cloneDir,
    BITBUCKET_COMMIT: commit,
    BITBUCKET_BRANCH: 'main',
    BITBUCKET_BUILD_NUMBER: '42',
    BITBUCKET_WORKSPACE: 'acme',
    BITBUCKET_REPO_SLUG: 'platform-apps',
    BITBUCKET_REPO_FULL_NAME: 'acme/platform-apps',
    BITBUCKET_REPO_UUID: '{0b6c7c0e-53a4-4bd3-9b0c-2b7c1c1d8a10}',
    BITBUCKET_PIPELINE_UUID: '{5a1f0b8e-7c55-4d7f-8e7d-4f1e2b3c4d5e}',
    BITBUCKET_STEP_UUID: '{9e8d7c6b-5a49-4838-a727-161514131211}',
    BITBUCKET_STEP_TRIGGERER_UUID: '{1a2b3c4d-0000-4000-8000-000000000001}',
    BITBUCKET_GIT_HTTP_ORIGIN: 'http://bitbucket.org/acme/platform-apps',
    BITBUCKET_GIT_SSH_ORIGIN: 'git@bitbucket.org:acme/platform-apps.git',
    // Bitbucket's proxy is not here: the tests of the Code Insights report turn it on with a local one
    CODE_INSIGHTS: 'false',
    ...extra,
  };
}

/**
 * Runs the pipe's real entrypoint (src/main.ts) as a process with exactly the given environment
 * (plus PATH and HOME), the way the pipe container runs it.
 */
export async function runPipe(env: Record<string, string>, args: string[] = [], opts: { timeoutMs?: number } = {}): Promise<PipeRun> {
  const r = await execa(process.execPath, ['--import', 'tsx', main, ...args], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    extendEnv: false,
    reject: false,
    all: true,
    timeout: opts.timeoutMs ?? 120_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, all: r.all ?? '' };
}
