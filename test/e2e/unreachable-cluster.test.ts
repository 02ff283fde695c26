// A cluster that cannot be reached is a clear failure (exit 1, what to check), not an internal error,
// and the kubeconfig's credentials appear nowhere in the output.
import { afterAll, expect, it } from 'vitest';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { committedRepo } from '../support/repo.js';

const { repo, dir, head } = committedRepo({
  'app-of-apps.yaml': 'apiVersion: app-of-apps/v1\nkind: Root\napps:\n  - name: a\n    path: apps/a\n',
  'apps/a/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n',
});
afterAll(() => repo.cleanup());

it('names the server and what to check when the API server does not answer', async () => {
  const token = 'kubeconfig-static-token-0123456789abcdef';
  const kubeconfig = [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true } }]',
    `users: [{ name: u, user: { token: ${token} } }]`,
    'contexts: [{ name: x, context: { cluster: c, user: u } }]',
    'current-context: x',
  ].join('\n');
  const r = await runPipe(
    bitbucketEnv(dir, head, { MODE: 'deploy', KUBE_CONFIG: Buffer.from(kubeconfig).toString('base64'), DEBUG: 'true' }),
  );
  expect(r.exitCode, r.all).toBe(1);
  expect(r.stderr).toMatch(/✖ cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:1/);
  expect(r.stdout).toMatch(/What to do: check the cluster endpoint \(CLUSTER_NAME \/ CLUSTER_ENDPOINT, or the server in KUBE_CONFIG\)/);
  expect(r.all).not.toContain('internal error');
  expect(r.all).not.toContain(token);
});
