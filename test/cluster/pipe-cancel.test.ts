// A cancelled pipeline: SIGTERM to the pipe's real entrypoint in the middle of a deploy.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestbed } from '../support/cluster-global-setup.js';
import { bitbucketEnv } from '../support/pipe.js';
import { getJson, kubectl, ledger, uid } from './helpers/engine.js';
import { Repo, yamlConfigMap, yamlDeployment } from './helpers/repo.js';

const bed = useTestbed();
const admin = bed.adminKubeconfig;
const id = uid();
const env = `cancel-${id}`;
const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

const repo = new Repo({
  'app-of-apps.yaml': `apiVersion: app-of-apps/v1
kind: Root
defaults: {createNamespace: true, timeout: 120s}
environments:
  ${env}: {}
apps:
  - {name: quick, path: apps/quick, namespace: quick-${id}}
  - {name: slow, path: apps/slow, namespace: slow-${id}}
  - {name: next, path: apps/next, namespace: next-${id}, dependsOn: [slow]}
`,
  'apps/quick/cm.yaml': yamlConfigMap('quick', { a: '1' }),
  // Never schedulable: the rollout waits until the run is cancelled.
  'apps/slow/deploy.yaml': yamlDeployment('slow', { nodeSelector: 'no-such-node: "x"' }),
  'apps/next/cm.yaml': yamlConfigMap('next', { a: '1' }),
});
afterAll(() => repo.remove());

function startPipe() {
  return execa(process.execPath, ['--import', 'tsx', main], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      ...bitbucketEnv(repo.dir, repo.head(), { BITBUCKET_DEPLOYMENT_ENVIRONMENT: env, KUBE_CONFIG: Buffer.from(readFileSync(admin)).toString('base64') }),
    },
    extendEnv: false,
    reject: false,
    all: true,
  });
}

/** Starts the pipe, waits until `ready(output)` holds, then sends SIGTERM (or `signal`). */
async function cancelWhen(ready: (output: string) => boolean | Promise<boolean>, signal: NodeJS.Signals = 'SIGTERM') {
  const proc = startPipe();
  let output = '';
  await new Promise<void>((resolve, reject) => {
    let checking = false;
    proc.all!.on('data', async (chunk: Buffer) => {
      output += chunk.toString();
      if (checking) return;
      checking = true;
      try {
        if (await ready(output)) resolve();
      } finally {
        checking = false;
      }
    });
    proc.then((r) => reject(new Error(`pipe ended early: ${r.all}`)), reject);
  });
  const signalled = Date.now();
  proc.kill(signal);
  const r = await proc;
  return { ...r, afterSignalMs: Date.now() - signalled };
}

/** The live Deployment's node selector: set by the bad commit, gone once the revert is deployed. */
const liveSelector = async () =>
  ((await getJson(admin, ['deployment', '-n', `slow-${id}`, 'slow'])) as { spec?: { template?: { spec?: { nodeSelector?: Record<string, string> } } } } | undefined)?.spec?.template?.spec?.nodeSelector;

/** The revert pushed after an attempt that did not finish: git says nothing changed, the mark says the cluster differs. */
async function expectRevertDeployed(attempt: string) {
  repo.commit({ 'apps/slow/deploy.yaml': yamlDeployment('slow') });
  const revert = await startPipe();
  expect(revert.exitCode, revert.all).toBe(0);
  expect(revert.all).toMatch(new RegExp(`slow: started .*its last deploy attempt \\(${attempt.slice(0, 12)}, [^)]+\\) changed objects and did not finish`));
  expect(await liveSelector()).toBeUndefined();
  const after = (await ledger(admin, env)).slow!;
  expect(after.commit).toBe(repo.head());
  expect(after.failed).toBeUndefined();
}

describe('SIGTERM during a deploy', () => {
  it('stops waiting, starts nothing new, records only finished apps, releases the lock, exits 1', async () => {
    const r = await cancelWhen(async (out) => {
      if (!(/^slow: started/m.test(out) && /^quick: deployed/m.test(out))) return false;
      await new Promise((res) => setTimeout(res, 1000));
      return true;
    });
    expect(r.afterSignalMs).toBeLessThan(15_000);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toContain('Received SIGTERM');
    expect(r.all).toMatch(/slow: cancelled after/);
    expect(r.all).toMatch(/^slow\s+cancelled/m);
    expect(r.all).toMatch(/^next\s+skipped/m);
    // slow was never deployed: no entry and no mark (it is new at the next run anyway)
    expect(Object.keys(await ledger(admin, env))).toEqual(['quick']);
    expect(await getJson(admin, ['configmap', '-n', `next-${id}`, 'next'])).toBeUndefined();
    expect(await getJson(admin, ['lease', '-n', 'app-of-apps-pipe', `app-of-apps-lock-${env}`])).toBeUndefined();
  });

  it('a cancelled attempt that changed a deployed app marks its entry, so the revert pushed next is deployed', async () => {
    repo.commit({ 'apps/slow/deploy.yaml': yamlDeployment('slow') });
    const first = await startPipe();
    expect(first.exitCode, first.all).toBe(0);
    const deployed = (await ledger(admin, env)).slow!;
    expect(deployed.commit).toBe(repo.head());

    // a change that never becomes healthy, cancelled once it is live and its rollout waits
    repo.commit({ 'apps/slow/deploy.yaml': yamlDeployment('slow', { nodeSelector: 'no-such-node: "x"' }) });
    const attempt = repo.head();
    const r = await cancelWhen(async (out) => /^slow: started/m.test(out) && (await liveSelector()) !== undefined);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toMatch(/^slow\s+cancelled/m);
    expect((await ledger(admin, env)).slow).toEqual({ ...deployed, failed: { commit: attempt, at: expect.any(String) } });

    // the revert: git says nothing of slow changed since its recorded commit; the mark says the cluster differs
    await expectRevertDeployed(attempt);
  });

  it('a run killed outright (SIGKILL) after changing a deployed app leaves the mark too, so the revert pushed next is deployed', async () => {
    const deployed = (await ledger(admin, env)).slow!;
    expect(deployed.failed).toBeUndefined();
    repo.commit({ 'apps/slow/deploy.yaml': yamlDeployment('slow', { nodeSelector: 'no-such-node: "y"' }) });
    const attempt = repo.head();
    // no handler runs: whatever the ledger says now was written before the change went live
    const r = await cancelWhen(async (out) => /^slow: started/m.test(out) && (await liveSelector()) !== undefined, 'SIGKILL');
    expect(r.signal, r.all).toBe('SIGKILL');
    expect((await ledger(admin, env)).slow).toEqual({ ...deployed, failed: { commit: attempt, at: expect.any(String) } });
    // the killed run's lease is left behind (it expires after 60 s): removed here, as an operator may
    const lease = ['lease', '-n', 'app-of-apps-pipe', `app-of-apps-lock-${env}`];
    expect((await getJson(admin, lease))?.spec?.holderIdentity).toMatch(new RegExp(`^build 42, commit ${attempt.slice(0, 12)}`));
    await kubectl(admin, ['delete', ...lease]);

    await expectRevertDeployed(attempt);
  });
});
