import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolPath } from '../../src/util/tools.js';
import { useTestbed } from '../support/cluster-global-setup.js';
import { startStsServer, type StsServer } from '../support/sts-server.js';

const bed = useTestbed();
// Names unique to this run, so the file also passes against a long-running bed (TESTBED_INFO).
const run = randomBytes(3).toString('hex');

/** The pinned kubectl against the test bed, with a discovery cache of this run only. */
function kubectl(kubeconfig: string, args: string[], input?: string) {
  return execa(toolPath('kubectl'), ['--kubeconfig', kubeconfig, '--cache-dir', join(bed.runDir, 'kubectl-cache'), ...args], { reject: false, input });
}

function configMap(namespace: string, name: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { k: 'v' } });
}

describe('the test bed', () => {
  it('runs a Deployment applied with kubectl to Available, on kwok nodes', async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `web-${run}`, namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: `web-${run}` } },
        template: {
          metadata: { labels: { app: `web-${run}` } },
          spec: { containers: [{ name: 'web', image: 'registry.k8s.io/pause:3.10', readinessProbe: { tcpSocket: { port: 80 } } }] },
        },
      },
    };
    const applied = await kubectl(bed.adminKubeconfig, ['apply', '-f', '-'], JSON.stringify(deployment));
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toBe(`deployment.apps/web-${run} created`);

    const rollout = await kubectl(bed.adminKubeconfig, ['rollout', 'status', `deployment/web-${run}`, '-n', 'default', '--timeout=120s']);
    expect(rollout.exitCode, rollout.stderr).toBe(0);
    expect(rollout.stdout).toContain(`deployment "web-${run}" successfully rolled out`);

    const available = await kubectl(bed.adminKubeconfig, ['get', `deployment/web-${run}`, '-n', 'default', '-o', 'jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.readyReplicas}']);
    expect(available.stdout).toBe('True 2');
    const pods = await kubectl(bed.adminKubeconfig, ['get', 'pods', '-n', 'default', '-l', `app=web-${run}`, '-o', 'json']);
    const items = (JSON.parse(pods.stdout) as { items: { spec: { nodeName: string }; status: { phase: string; conditions: { type: string; status: string }[] }; metadata: { ownerReferences: { kind: string }[] } }[] }).items;
    expect(items).toHaveLength(2);
    for (const pod of items) {
      expect(pod.status.phase).toBe('Running');
      expect(pod.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(pod.spec.nodeName).toMatch(/^kwok-node-\d$/);
      expect(pod.metadata.ownerReferences[0]?.kind).toBe('ReplicaSet');
    }
  });

  it('lets the least-privileged deployer write only in its own namespaces', async () => {
    const deployer = bed.deployerKubeconfig;
    for (const ns of [...bed.deployerNamespaces, bed.pipeNamespace]) {
      const ok = await kubectl(deployer, ['apply', '-f', '-'], configMap(ns, `allowed-${run}`));
      expect(ok.exitCode, ok.stderr).toBe(0);
      expect(ok.stdout).toBe(`configmap/allowed-${run} created`);
    }
    const lease = await kubectl(deployer, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `lock-${run}`, namespace: bed.pipeNamespace }, spec: { holderIdentity: 'pipe' } }));
    expect(lease.exitCode, lease.stderr).toBe(0);

    for (const ns of ['default', 'kube-system']) {
      const denied = await kubectl(deployer, ['apply', '-f', '-'], configMap(ns, 'not-allowed'));
      expect(denied.exitCode).toBe(1);
      expect(denied.stderr).toMatch(new RegExp(`forbidden: User "deployer" cannot \\w+ resource "configmaps" in API group "" in the namespace "${ns}"`));
      const absent = await kubectl(bed.adminKubeconfig, ['get', 'configmap/not-allowed', '-n', ns, '--ignore-not-found', '-o', 'name']);
      expect(absent.stdout).toBe('');
    }
    const namespace = await kubectl(deployer, ['create', 'namespace', 'team-z']);
    expect(namespace.stderr).toMatch(/forbidden: User "deployer" cannot create resource "namespaces"/);
    const escalate = await kubectl(deployer, ['create', 'rolebinding', `grab-${run}`, '--clusterrole=admin', `--group=${bed.deployerGroup}`, '-n', bed.deployerNamespaces[0]!]);
    expect(escalate.stderr).toMatch(/forbidden/);
    const whoami = await kubectl(deployer, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}']);
    expect(whoami.stdout).toBe(`deployer ["${bed.deployerGroup}","system:authenticated"]`);
  });
});

describe('cleaning up', () => {
  it('tears a test bed down, processes and directory, when its owner process is killed', async () => {
    const owner = execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      "const { startTestbed } = await import('./test/support/testbed.ts'); const b = await startTestbed({ nodes: 1 }); console.log(JSON.stringify({ runDir: b.runDir, pids: b.components.map((c) => c.pid) }));"],
    { reject: false, buffer: false });
    const started = await new Promise<{ runDir: string; pids: number[] }>((resolve, reject) => {
      owner.stdout?.on('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { runDir: string; pids: number[] }));
      void owner.then((r) => reject(new Error(`the owner process ended first: ${String(r.exitCode)}`)));
    });
    expect(started.pids).toHaveLength(5);
    expect(existsSync(started.runDir)).toBe(true);
    owner.kill('SIGKILL');
    const alive = () => started.pids.filter((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } });
    for (let i = 0; i < 150 && (alive().length > 0 || existsSync(started.runDir)); i++) await sleep(100);
    expect(alive()).toEqual([]);
    expect(existsSync(started.runDir)).toBe(false);
  });
});

describe('EKS token authentication through the webhook and the local STS', () => {
  const account = '111122223333';
  const roleArn = `arn:aws:iam::${account}:role/deployer`;
  const base = { accessKeyId: 'AKIAIOSFODNN7TESTBED', secretAccessKey: 'c2VjcmV0LWtleS1mb3ItdGhlLXRlc3QtYmVk', arn: `arn:aws:iam::${account}:user/ci` };
  let sts: StsServer;
  let session: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string };
  // Only these credentials and no config files of the machine reach the AWS CLI.
  const awsEnv = (extra: Record<string, string>) => ({
    PATH: process.env.PATH ?? '', HOME: bed.runDir, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_DEFAULT_REGION: 'eu-west-1', ...extra,
  });
  const getToken = async (clusterName: string) => {
    const out = await execa('aws', ['eks', 'get-token', '--cluster-name', clusterName, '--output', 'json'], {
      env: awsEnv({ AWS_ACCESS_KEY_ID: session.AccessKeyId, AWS_SECRET_ACCESS_KEY: session.SecretAccessKey, AWS_SESSION_TOKEN: session.SessionToken }),
      extendEnv: false,
    });
    return (JSON.parse(out.stdout) as { status: { token: string } }).status.token;
  };
  const whoami = async (token: string) => kubectl(await bed.kubeconfigFor({ name: 'eks-user', token }), ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}']);

  beforeAll(async () => {
    sts = await startStsServer({ region: 'eu-west-1' });
    sts.addCredentials(base);
    sts.addRole({ arn: roleArn, trustPolicy: { Version: '2012-10-17', Statement: { Effect: 'Allow', Principal: { AWS: base.arn }, Action: 'sts:AssumeRole' } } });
    const assumed = await execa('aws', ['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 'pipeline-42', '--output', 'json'], {
      env: awsEnv({ AWS_ACCESS_KEY_ID: base.accessKeyId, AWS_SECRET_ACCESS_KEY: base.secretAccessKey, AWS_ENDPOINT_URL_STS: sts.url }),
      extendEnv: false,
    });
    session = (JSON.parse(assumed.stdout) as { Credentials: typeof session }).Credentials;
    await bed.configureAuthenticator({ stsUrl: sts.url, roleMappings: [{ arn: roleArn, username: 'eks:{{SessionName}}', groups: [bed.deployerGroup] }] });
  });
  afterAll(async () => {
    await bed.configureAuthenticator({ stsUrl: undefined, roleMappings: [] });
    await sts?.close();
  });

  it('authenticates a token from `aws eks get-token` for this cluster as the mapped role', async () => {
    const token = await getToken(bed.clusterName);
    const me = await whoami(token);
    expect(me.exitCode, me.stderr).toBe(0);
    expect(me.stdout).toBe(`eks:pipeline-42 ["${bed.deployerGroup}","system:authenticated"]`);
    expect(sts.requests.some((r) => r.action === 'GetCallerIdentity' && r.status === 200)).toBe(true);

    const kubeconfig = await bed.kubeconfigFor({ name: 'eks-user', token });
    const inside = await kubectl(kubeconfig, ['get', 'configmaps', '-n', bed.deployerNamespaces[0]!, '-o', 'name']);
    expect(inside.exitCode, inside.stderr).toBe(0);
    const outside = await kubectl(kubeconfig, ['get', 'configmaps', '-n', 'kube-system']);
    expect(outside.stderr).toMatch(/forbidden: User "eks:pipeline-42" cannot list resource "configmaps"/);
  });

  it('refuses a token signed for another cluster, because STS rejects the signature', async () => {
    const me = await whoami(await getToken('another-cluster'));
    expect(me.exitCode).toBe(1);
    expect(me.stderr).toContain('Unauthorized');
    const [decision] = await bed.authenticatorDecisions();
    expect(decision).toMatchObject({ authenticated: false });
    expect(decision?.reason).toMatch(/expected 200, got 403/);
  });

  it('refuses tampered, expired and unmapped tokens before or after asking STS', async () => {
    const token = await getToken(bed.clusterName);
    const url = Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString();
    const reencode = (u: string) => `k8s-aws-v1.${Buffer.from(u).toString('base64url')}`;
    const expired = await presign(session, bed.clusterName, new Date(Date.now() - 16 * 60_000));
    const cases: [string, RegExp][] = [
      [reencode(`${url}&X-Amz-Foo=1`), /non-whitelisted query parameter "X-Amz-Foo"/],
      [reencode(url.replace('https://sts.eu-west-1.amazonaws.com/', 'https://sts.evil.example/')), /unexpected hostname/],
      [reencode(url.replace('Action=GetCallerIdentity', 'Action=GetSessionToken')), /unexpected action/],
      [reencode(url.replace('X-Amz-Expires=60', 'X-Amz-Expires=901')), /invalid X-Amz-Expires/],
      [expired, /X-Amz-Date parameter is expired/],
    ];
    for (const [bad, reason] of cases) {
      const me = await whoami(bad);
      expect(me.stderr).toContain('Unauthorized');
      expect((await bed.authenticatorDecisions())[0]?.reason).toMatch(reason);
    }
    await bed.configureAuthenticator({ roleMappings: [] });
    try {
      const me = await whoami(token);
      expect(me.stderr).toContain('Unauthorized');
      expect((await bed.authenticatorDecisions())[0]?.reason).toBe(`ARN is not mapped: ${roleArn}`);
    } finally {
      await bed.configureAuthenticator({ roleMappings: [{ arn: roleArn, username: 'eks:{{SessionName}}', groups: [bed.deployerGroup] }] });
    }
  });
});

/** An EKS token signed at a chosen time, the way the pipe's own token code signs (smithy SigV4). */
async function presign(creds: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string }, clusterName: string, signingDate: Date): Promise<string> {
  const signer = new SignatureV4({
    service: 'sts', region: 'eu-west-1', sha256: Sha256,
    credentials: { accessKeyId: creds.AccessKeyId, secretAccessKey: creds.SecretAccessKey, sessionToken: creds.SessionToken },
  });
  const request = new HttpRequest({
    method: 'GET', protocol: 'https:', hostname: 'sts.eu-west-1.amazonaws.com', path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: 'sts.eu-west-1.amazonaws.com', 'x-k8s-aws-id': clusterName },
  });
  const signed = await signer.presign(request, { expiresIn: 60, signingDate });
  const query = Object.entries(signed.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
  return `k8s-aws-v1.${Buffer.from(`https://${signed.hostname}/?${query}`).toString('base64url')}`;
}
