// How the engine authenticates and what it says when it cannot reach or is refused by the cluster.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { deploy, readDeployedState } from '../../src/apply/index.js';
import { connect } from '../../src/apply/connection.js';
import { PipeError } from '../../src/util/errors.js';
import { useTestbed } from '../support/cluster-global-setup.js';
import { accessFor, app, config, configMap, getJson, logger, plan, rendered, uid } from './helpers/engine.js';

const bed = useTestbed();
const dir = mkdtempSync(join(tmpdir(), 'apply-conn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Kubeconfig {
  clusters: { cluster: { server: string } }[];
  users: { name: string; user: Record<string, unknown> }[];
}

/** The admin kubeconfig with its user replaced (and optionally its server). */
function kubeconfigWith(user: Record<string, unknown>, server?: string): string {
  const kc = parse(readFileSync(bed.adminKubeconfig, 'utf8')) as Kubeconfig;
  kc.users[0]!.user = user;
  if (server) kc.clusters[0]!.cluster.server = server;
  const file = join(dir, `${uid()}.yaml`);
  writeFileSync(file, stringify(kc), { mode: 0o600 });
  return file;
}

const adminUser = (parse(readFileSync(bed.adminKubeconfig, 'utf8')) as Kubeconfig).users[0]!.user as Record<string, string>;
const pem = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

/** A credential plugin (as kubectl runs them) that records what it was given and prints an ExecCredential. */
function execUser(status: Record<string, string>, record: string): Record<string, unknown> {
  const script = `require('fs').writeFileSync(${JSON.stringify(record)}, process.env.KUBERNETES_EXEC_INFO || '');` + `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: ${JSON.stringify(status)} }))`;
  return { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: process.execPath, args: ['-e', script], env: [{ name: 'PLUGIN_MODE', value: 'test' }] } };
}

describe('authentication', () => {
  it('an exec credential plugin that returns a client certificate: called like kubectl calls it, and the deploy works', async () => {
    const record = join(dir, 'exec-info.json');
    const file = kubeconfigWith(execUser({ clientCertificateData: pem(adminUser['client-certificate-data']!), clientKeyData: pem(adminUser['client-key-data']!) }, record));
    const env = `exec-${uid()}`;
    const ns = `exec-${uid()}`;
    const result = await deploy({ plan: plan({ environment: env, apps: [app('one', { namespace: ns })] }), rendered: new Map([['one', rendered('one', [configMap('one', undefined)])]]), access: accessFor(file), config: config(file), logger: logger(), signal: new AbortController().signal });
    expect(result.ok).toBe(true);
    expect(await getJson(bed.adminKubeconfig, ['configmap', '-n', ns, 'one'])).toBeDefined();
    expect(JSON.parse(readFileSync(record, 'utf8'))).toMatchObject({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1beta1', spec: { interactive: false } });
  });

  it('credentials the cluster refuses: a clear error naming the cause, not a stack trace', async () => {
    const file = kubeconfigWith(execUser({ token: 'not-a-valid-token' }, join(dir, 'refused.json')));
    const err = await readDeployedState(accessFor(file), { environment: 'x', ledgerNamespace: 'app-of-apps-pipe' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipeError);
    expect((err as PipeError).message).toContain('refused the credentials (401 Unauthorized)');
    expect((err as PipeError).hint).toContain('access entry');
    expect((err as PipeError).message).not.toContain('not-a-valid-token');
  });

  it("with a token of its own (EKS, signed in process) the access never runs the kubeconfig's plugin", async () => {
    const record = join(dir, 'not-run.json');
    const file = kubeconfigWith(execUser({ token: 'plugin-token' }, record));
    const conn = await connect({ ...accessFor(file), bearerToken: async () => 'own-token' });
    try {
      expect(await conn.authorization()).toBe('Bearer own-token');
      expect(existsSync(record)).toBe(false);
    } finally {
      conn.close();
    }
  });

  it('a plugin that fails or prints no JSON: a PipeError saying what to check, no part of its output', async () => {
    const failing = kubeconfigWith({ exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: process.execPath, args: ['-e', 'process.exit(3)'] } });
    const err = await readDeployedState(accessFor(failing), { environment: 'x', ledgerNamespace: 'app-of-apps-pipe' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipeError);
    // the plugin by name, how it ended; never its arguments (a kubeconfig may hold secrets there)
    expect((err as PipeError).message).toMatch(/^the kubeconfig's credential plugin node failed: exited with 3 after \d+ ms/);
    expect((err as PipeError).message).not.toContain('process.exit');
    expect((err as PipeError).hint).toContain('prints an ExecCredential');
    const garbled = kubeconfigWith({ exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: process.execPath, args: ['-e', 'process.stdout.write("token-abcdef0123456789 not json")'] } });
    const err2 = await readDeployedState(accessFor(garbled), { environment: 'x', ledgerNamespace: 'app-of-apps-pipe' }).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(PipeError);
    expect((err2 as PipeError).message).toMatch(/printed no JSON$/);
    expect(String((err2 as PipeError).message) + (err2 as PipeError).hint).not.toContain('token-abcdef');
  });

  it('an unreachable API server: says which server, after bounded retries', async () => {
    const file = kubeconfigWith({ 'client-certificate-data': adminUser['client-certificate-data'], 'client-key-data': adminUser['client-key-data'] }, 'https://127.0.0.1:1');
    const started = Date.now();
    const err = await readDeployedState({ ...accessFor(file), server: 'https://127.0.0.1:1' }, { environment: 'x', ledgerNamespace: 'app-of-apps-pipe' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipeError);
    expect((err as PipeError).message).toMatch(/cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(35_000);
  });
});
