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

describe('files a KUBE_CONFIG names', () => {
  const expectBadInput = (r: Awaited<ReturnType<typeof run>>) => {
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).not.toMatch(/internal error|This is a bug|ENOENT|    at /);
    expect(r.stdout).toContain('Nothing was applied.');
  };

  it('a token file that does not exist: bad input naming the user, the field and the path', async () => {
    const missing = join(tmp, 'no-such-dir', 'token');
    const r = await run({ KUBE_CONFIG: kubeConfig({ tokenFile: missing }) });
    expectBadInput(r);
    expect(r.stderr).toContain(`✖ KUBE_CONFIG: user "u1": tokenFile ${missing} does not exist in the pipe's container`);
    expect(r.stdout).toMatch(/What to do: put the token itself in the user's `token` field/);
  });

  it('a relative path: cannot work in a variable, so it says to embed the files', async () => {
    const r = await run({ KUBE_CONFIG: kubeConfig({ tokenFile: 'tokenfile.txt' }, { 'certificate-authority': 'ca.crt' }) });
    expectBadInput(r);
    expect(r.stderr).toContain('✖ 2 problems in the input');
    expect(r.stderr).toContain('KUBE_CONFIG: cluster "c1": certificate-authority "ca.crt" is a relative path, which cannot work in KUBE_CONFIG');
    expect(r.stderr).toContain('KUBE_CONFIG: user "u1": tokenFile "tokenfile.txt" is a relative path');
    expect(r.stderr).toContain('kubectl config view --raw --minify --flatten | base64 -w0');
  });

  it('client certificate and key files that do not exist, and key data that is not PEM (and is not printed)', async () => {
    const files = await run({ KUBE_CONFIG: kubeConfig({ 'client-certificate': '/nope/client.crt', 'client-key': '/nope/client.key' }) });
    expectBadInput(files);
    expect(files.stderr).toContain(`user "u1": client-certificate /nope/client.crt does not exist in the pipe's container`);
    expect(files.stderr).toContain(`user "u1": client-key /nope/client.key does not exist in the pipe's container`);

    const keyData = Buffer.from('kubeconfig-client-key-not-pem-0123456789').toString('base64');
    const data = await run({ KUBE_CONFIG: kubeConfig({ 'client-certificate-data': Buffer.from('not a cert').toString('base64'), 'client-key-data': keyData }) });
    expectBadInput(data);
    expect(data.stderr).toContain('user "u1": client-key-data is not a base64-encoded PEM key');
    expect(data.stderr).toContain('user "u1": client-certificate-data is not a base64-encoded PEM certificate');
    expect(data.all).not.toContain('kubeconfig-client-key-not-pem-0123456789');
    expect(data.all).not.toContain(keyData);

    const garbled = Buffer.from('-----BEGIN PRIVATE KEY-----\nkubeconfig-garbled-key-0123456789\n-----END PRIVATE KEY-----\n').toString('base64');
    const invalid = await run({ KUBE_CONFIG: kubeConfig({ 'client-certificate-data': garbled, 'client-key-data': garbled }) });
    expectBadInput(invalid);
    expect(invalid.stderr).toContain('✖ the TLS material of the kubeconfig (CA, client certificate or key) is not valid');
    expect(invalid.all).not.toContain('kubeconfig-garbled-key-0123456789');
  });

  it('an absolute token file that exists is used (the run goes on to the unreachable server)', async () => {
    const file = join(tmp, 'token');
    writeFileSync(file, 'kubeconfig-token-from-a-file-0123456789\n');
    const r = await run({ KUBE_CONFIG: kubeConfig({ tokenFile: file }, { 'insecure-skip-tls-verify': true }) });
    expect(r.exitCode, r.all).toBe(1);
    expect(r.stderr).toMatch(/✖ cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:1/);
    expect(r.all).not.toContain('kubeconfig-token-from-a-file-0123456789');
  });
});
