// A cancelled pipeline: SIGTERM to the pipe's real entrypoint in the middle of a deploy.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestbed } from '../support/cluster-global-setup.js';
import { bitbucketEnv } from '../support/pipe.js';
import { getJson, ledger, uid } from './helpers/engine.js';
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

describe('SIGTERM during a deploy', () => {
  it('stops waiting, starts nothing new, records only finished apps, releases the lock, exits 1', async () => {
    const proc = execa(process.execPath, ['--import', 'tsx', main], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        ...bitbucketEnv(repo.dir, repo.head(), { BITBUCKET_DEPLOYMENT_ENVIRONMENT: env, KUBE_CONFIG: Buffer.from(readFileSync(admin)).toString('base64') }),
      },
      extendEnv: false,
      reject: false,
      all: true,
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      proc.all!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (/^slow: started/m.test(output) && /^quick: deployed/m.test(output)) resolve();
      });
      proc.then((r) => reject(new Error(`pipe ended early: ${r.all}`)), reject);
    });
    await new Promise((r) => setTimeout(r, 1000));
    const signalled = Date.now();
    proc.kill('SIGTERM');
    const r = await proc;
    expect(Date.now() - signalled).toBeLessThan(15_000);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toContain('Received SIGTERM');
    expect(r.all).toMatch(/slow: cancelled after/);
    expect(r.all).toMatch(/^slow\s+cancelled/m);
    expect(r.all).toMatch(/^next\s+skipped/m);
    expect(Object.keys(await ledger(admin, env))).toEqual(['quick']);
    expect(await getJson(admin, ['configmap', '-n', `next-${id}`, 'next'])).toBeUndefined();
    expect(await getJson(admin, ['lease', '-n', 'app-of-apps-pipe', `app-of-apps-lock-${env}`])).toBeUndefined();
  });
});
