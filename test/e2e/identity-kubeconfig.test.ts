// KUBE_CONFIG through the pipe's real entrypoint: a user's credential plugin that fails loudly
// prints no secret (the pipe's AWS keys it was given, its own args and env), and files the
// kubeconfig names that are not there are bad input naming the field, not an internal error.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { committedRepo } from '../support/repo.js';

const { repo, dir, head } = committedRepo({
  'app-of-apps.yaml': 'apiVersion: app-of-apps/v1\nkind: Root\napps:\n  - name: a\n    path: apps/a\n',
  'apps/a/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n',
});
const tmp = mkdtempSync(join(tmpdir(), 'identity-kubeconfig-'));
afterAll(() => {
  repo.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBexample\n-----END CERTIFICATE-----\n').toString('base64');

/** A base64 KUBE_CONFIG with one cluster and the given user. */
function kubeConfig(user: Record<string, unknown>, cluster: Record<string, unknown> = { 'certificate-authority-data': CA }): string {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c1', cluster: { server: 'https://127.0.0.1:1', ...cluster } }],
    users: [{ name: 'u1', user }],
    contexts: [{ name: 'ctx1', context: { cluster: 'c1', user: 'u1' } }],
    'current-context': 'ctx1',
  };
  return Buffer.from(stringify(doc)).toString('base64');
}

function script(name: string, body: string): string {
  const file = join(tmp, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

const run = (extra: Record<string, string>) => runPipe(bitbucketEnv(dir, head, { MODE: 'deploy', DEBUG: 'true', ...extra }));

describe("a KUBE_CONFIG credential plugin that fails", () => {
  it('prints none of the AWS keys the pipe handed it, though it printed its whole environment', async () => {
    const seen = join(tmp, 'plugin-env.txt');
    const plugin = script('envdump.sh', `env > ${seen}\necho "could not get token; environment was:" >&2\nenv | grep '^AWS_' >&2\nexit 255`);
    const keys = {
      AWS_ACCESS_KEY_ID: 'AKIAPIPEVARIABLE0001',
      AWS_SECRET_ACCESS_KEY: 'pipe/variable/secret/key/0123456789abcdef',
      AWS_SESSION_TOKEN: 'pipe-variable-session-token-0123456789abcdef',
    };
    const r = await run({ KUBE_CONFIG: kubeConfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: plugin, args: ['eks', 'get-token'] } }), ...keys });
    // the plugin did get them (a plugin such as `aws eks get-token` needs them) and printed them
    for (const value of Object.values(keys)) expect(readFileSync(seen, 'utf8')).toContain(value);
    expect(r.exitCode, r.all).toBe(1);
    expect(r.stderr).toMatch(/✖ the kubeconfig's credential plugin envdump\.sh failed: exited with 255 .*could not get token/s);
    expect(r.stderr).toContain('AWS_SECRET_ACCESS_KEY=****');
    for (const value of Object.values(keys)) expect(r.all).not.toContain(value);
  });

  it('prints neither the secrets in its args and env nor its argv', async () => {
    const plugin = script('failing.sh', 'echo "error: authentication failed for args $* with PLUGIN_SECRET=$PLUGIN_SECRET" >&2\nexit 1');
    const user = {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1beta1',
        command: plugin,
        args: ['get-token', '--client-secret', 'kc-secret-arg-0123456789', '--api-key=kc-secret-arg-abcdefghij'],
        env: [{ name: 'PLUGIN_SECRET', value: 'kc-secret-env-0123456789' }],
      },
    };
    const r = await run({ KUBE_CONFIG: kubeConfig(user) });
    expect(r.exitCode, r.all).toBe(1);
    expect(r.stderr).toMatch(/✖ the kubeconfig's credential plugin failing\.sh failed: exited with 1 .*authentication failed for args get-token --client-secret \*\*\*\* --api-key=\*\*\*\* with PLUGIN_SECRET=\*\*\*\*/s);
    for (const secret of ['kc-secret-arg-0123456789', 'kc-secret-arg-abcdefghij', 'kc-secret-env-0123456789']) expect(r.all).not.toContain(secret);
  });
});
