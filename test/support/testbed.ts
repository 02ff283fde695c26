import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { toolPath } from '../../src/util/tools.js';
import { resolveBinaries } from '../testbed/binaries.js';
import { apiserverArgs, controllerManagerArgs, etcdArgs, kwokArgs, schedulerArgs, type Layout } from '../testbed/components.js';
import { kubeconfigYaml, kwokNodes, listYaml, rbacObjects } from '../testbed/fixtures.js';
import { fetchText, okJson, type TlsClient } from '../testbed/http.js';
import { Pki } from '../testbed/pki.js';
import {
  freePorts, killGroups, killGroupsNow, newRunDir, startComponent, startWatchdog, sweepStaleRuns, waitFor, writeState, type Component,
} from '../testbed/processes.js';
import { startEksAuthenticator, type AuthenticatorSettings, type Decision, type RoleMapping } from './eks-authenticator.js';

export type { RoleMapping, AuthenticatorSettings, Decision };

export interface TestbedOptions {
  /** The EKS cluster name the authenticator expects in x-k8s-aws-id. Default "testbed". */
  clusterName?: string;
  /** Address of the local STS that verifies presigned GetCallerIdentity calls. */
  stsUrl?: string;
  /** IAM role/user -> Kubernetes user and groups, like EKS access entries. */
  roleMappings?: RoleMapping[];
  /** Group of the least-privileged deployers. Default "deployers". */
  deployerGroup?: string;
  /** Namespaces the deployers may write to. Default team-a, team-b. */
  deployerNamespaces?: string[];
  /** The pipe's own namespace (ledger, lock), writable by the deployers. Default "app-of-apps-pipe". */
  pipeNamespace?: string;
  /** How many kwok nodes. Default 2. */
  nodes?: number;
  /** Progress lines (building binaries, start-up). */
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Everything about a running test bed that can cross a process boundary (vitest provide/inject). */
export interface TestbedInfo {
  server: string;
  /** Base64 of the CA's PEM, as in a kubeconfig's certificate-authority-data. */
  caData: string;
  clusterName: string;
  /** kubeconfig of an admin (client certificate in group system:masters). */
  adminKubeconfig: string;
  /** kubeconfig of user "deployer" in the least-privileged deployer group. */
  deployerKubeconfig: string;
  deployerGroup: string;
  deployerNamespaces: string[];
  pipeNamespace: string;
  runDir: string;
  authenticator: { url: string; settingsUrl: string; adminToken: string };
  components: { name: string; pid: number; log: string }[];
  timings: { binariesMs: number; startMs: number };
}

export interface Testbed extends TestbedInfo {
  /** A kubeconfig for a user: a client certificate (name, groups) or, with token, a bearer token. */
  kubeconfigFor(user: KubeconfigUser): Promise<string>;
  /** Changes the authenticator's STS address and/or role mappings (effective on the next request). */
  configureAuthenticator(settings: Partial<AuthenticatorSettings>): Promise<void>;
  /** The authenticator's most recent decisions, newest first, with the reason for each. */
  authenticatorDecisions(): Promise<Decision[]>;
  /** Stops every process and removes the run directory. A no-op on an attached handle. */
  stop(): Promise<void>;
}

/** Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and the EKS authenticator. */
export async function startTestbed(opts: TestbedOptions = {}): Promise<Testbed> {
  const say = opts.log ?? (() => {});
  const clusterName = opts.clusterName ?? 'testbed';
  const env = opts.env ?? process.env;
  const t0 = Date.now();
  await sweepStaleRuns();
  const bins = await resolveBinaries(env, say);
  const t1 = Date.now();
  const log = (line: string) => say(`test bed: ${line} (${((Date.now() - t1) / 1000).toFixed(1)} s)`);
  // The ports were free when chosen; another process can take one before a component binds it.
  // Such a start is retried with new ports; any other failure is reported as it is.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, { bins, env, clusterName, t0, t1, log });
    } catch (err) {
      if (attempt >= BIND_ATTEMPTS || !/address already in use/i.test((err as Error).message)) throw err;
      log(`a port was taken before a component could bind it; starting again with new ports (attempt ${attempt + 1} of ${BIND_ATTEMPTS})`);
    }
  }
}

const BIND_ATTEMPTS = 3;

async function startOnce(
  opts: TestbedOptions,
  s: { bins: Awaited<ReturnType<typeof resolveBinaries>>; env: NodeJS.ProcessEnv; clusterName: string; t0: number; t1: number; log: (line: string) => void },
): Promise<Testbed> {
  const { bins, env, clusterName, t0, t1, log } = s;

  const runDir = await newRunDir();
  const pids: number[] = [];
  const save = () => writeState(runDir, { ownerPid: process.pid, pids, startedAt: new Date(t1).toISOString() });
  save();
  startWatchdog(runDir);
  const onExit = () => { killGroupsNow(pids); rmSync(runDir, { recursive: true, force: true }); };
  process.once('exit', onExit);
  const components: Component[] = [];
  const stop = async () => {
    process.removeListener('exit', onExit);
    await authenticator?.close();
    await killGroups(pids);
    rmSync(runDir, { recursive: true, force: true });
  };
  let authenticator: Awaited<ReturnType<typeof startEksAuthenticator>> | undefined;

  try {
    const pkiDir = join(runDir, 'pki');
    const kubeDir = join(runDir, 'kubeconfigs');
    await mkdir(kubeDir, { recursive: true, mode: 0o700 });
    const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler] = (await freePorts(5)) as [number, number, number, number, number];
    const server = `https://127.0.0.1:${apiserver}`;
    const layout: Layout = {
      runDir,
      pkiDir,
      ports: { etcdClient, etcdPeer, apiserver, controllerManager, scheduler },
      kubeconfigs: {
        controllerManager: join(kubeDir, 'kube-controller-manager.yaml'),
        scheduler: join(kubeDir, 'kube-scheduler.yaml'),
        kwok: join(kubeDir, 'kwok.yaml'),
        webhook: join(kubeDir, 'authenticator-webhook.yaml'),
      },
    };

    const pki = await Pki.create(pkiDir);
    const [, authCert] = await Promise.all([
      pki.issue({ file: 'apiserver', commonName: 'kube-apiserver', usage: 'server', altNames: ['IP:127.0.0.1', 'IP:10.96.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc'] }),
      pki.issue({ file: 'authenticator', commonName: 'eks-authenticator', usage: 'server', altNames: ['IP:127.0.0.1'] }),
      pki.serviceAccountKey(),
    ]);
    const caData = await pki.caBase64();
    const base = { server, caData, clusterName };
    const client = (file: string, name: string, groups: string[]) => writeKubeconfig(pki, base, join(kubeDir, `${file}.yaml`), { name, groups }, file);
    const [adminKubeconfig] = await Promise.all([
      client('admin', 'testbed-admin', ['system:masters']),
      client('kube-controller-manager', 'system:kube-controller-manager', []),
      client('kube-scheduler', 'system:kube-scheduler', []),
      // kwok stands in for the kubelets of many nodes, so it gets the admin group, as kwokctl gives it.
      client('kwok', 'kwok', ['system:masters']),
    ]);
    const deployerGroup = opts.deployerGroup ?? 'deployers';
    const deployerNamespaces = opts.deployerNamespaces ?? ['team-a', 'team-b'];
    const pipeNamespace = opts.pipeNamespace ?? 'app-of-apps-pipe';

    authenticator = await startEksAuthenticator({
      clusterName,
      tls: { cert: await readFile(authCert.cert, 'utf8'), key: await readFile(authCert.key, 'utf8') },
      settings: { stsUrl: opts.stsUrl, roleMappings: opts.roleMappings ?? [] },
    });
    await writeFile(layout.kubeconfigs.webhook, kubeconfigYaml({ clusterName: 'eks-authenticator', server: authenticator.url, caData, user: { name: 'kube-apiserver', token: 'unused' } }), { mode: 0o600 });

    const launch = async (name: string, bin: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
      const c = await startComponent(runDir, name, bin, args, { ...env, ...extraEnv });
      pids.push(c.pid);
      components.push(c);
      save();
      return c;
    };
    const admin = { ca: readFileSync(pki.ca.cert, 'utf8'), cert: readFileSync(join(pkiDir, 'admin.crt'), 'utf8'), key: readFileSync(join(pkiDir, 'admin.key'), 'utf8') };

    log('certificates ready; starting etcd');
    await launch('etcd', bins.etcd, etcdArgs(layout));
    await waitFor('etcd health', () => okJson(`http://127.0.0.1:${etcdClient}/health`), components, 30_000);
    log('etcd healthy; starting kube-apiserver');
    await launch('kube-apiserver', bins['kube-apiserver'], apiserverArgs(layout));
    await waitFor('kube-apiserver /readyz', () => okJson(`${server}/readyz`, admin), components, 90_000);

    log('kube-apiserver ready; starting kube-controller-manager, kube-scheduler, kwok');
    await launch('kube-controller-manager', bins['kube-controller-manager'], controllerManagerArgs(layout));
    await launch('kube-scheduler', bins['kube-scheduler'], schedulerArgs(layout));
    await mkdir(join(runDir, 'home'));
    await launch('kwok', bins.kwok, kwokArgs(layout), { HOME: join(runDir, 'home') });

    const fixtures = join(runDir, 'fixtures.yaml');
    await writeFile(fixtures, listYaml([
      ...rbacObjects({ group: deployerGroup, namespaces: deployerNamespaces, pipeNamespace }),
      ...kwokNodes(opts.nodes ?? 2),
    ]));
    await execa(toolPath('kubectl'), ['--kubeconfig', adminKubeconfig, 'apply', '-f', fixtures]);

    log('fixtures applied');
    await waitUntilReady({ server, admin, ports: layout.ports, namespaces: ['default', ...deployerNamespaces, pipeNamespace], components, log });

    const deployerKubeconfig = await writeKubeconfig(pki, base, join(kubeDir, 'deployer.yaml'), { name: 'deployer', groups: [deployerGroup] }, 'deployer');
    const info: TestbedInfo = {
      ...base,
      adminKubeconfig,
      deployerKubeconfig,
      deployerGroup,
      deployerNamespaces,
      pipeNamespace,
      runDir,
      authenticator: { url: authenticator.url, settingsUrl: authenticator.url.replace(/\/authenticate$/, '/settings'), adminToken: authenticator.adminToken },
      components: components.map(({ name, pid, log: l }) => ({ name, pid, log: l })),
      timings: { binariesMs: t1 - t0, startMs: Date.now() - t1 },
    };
    log(`ready at ${server}`);
    return { ...attachTestbed(info), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Ready means: controllers and scheduler healthy, every node Ready, default ServiceAccounts made. */
async function waitUntilReady(o: { server: string; admin: TlsClient; ports: Layout['ports']; namespaces: string[]; components: Component[]; log: (line: string) => void }): Promise<void> {
  const { server, admin, components } = o;
  await waitFor('kube-controller-manager /healthz', () => okJson(`https://127.0.0.1:${o.ports.controllerManager}/healthz`), components, 60_000);
  await waitFor('kube-scheduler /healthz', () => okJson(`https://127.0.0.1:${o.ports.scheduler}/healthz`), components, 60_000);
  o.log('controller-manager and scheduler healthy');
  await waitFor('kwok nodes Ready', async () => {
    const nodes = await okJson<{ items: { status?: { conditions?: { type: string; status: string }[] } }[] }>(`${server}/api/v1/nodes`, admin);
    const ready = nodes?.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return nodes && nodes.items.length > 0 && ready?.length === nodes.items.length ? true : undefined;
  }, components, 60_000);
  o.log('nodes Ready');
  // Pods are refused until the namespace's default ServiceAccount exists: wait for the controller.
  for (const ns of o.namespaces) {
    const url = `${server}/api/v1/namespaces/${ns}/serviceaccounts/default`;
    await waitFor(`ServiceAccount ${ns}/default`, async () => ((await fetchText(url, admin)).status === 200 ? true : undefined), components, 60_000);
  }
}

export interface KubeconfigUser {
  name: string;
  groups?: string[];
  /** A bearer token (e.g. an EKS token) instead of a client certificate. */
  token?: string;
}

async function writeKubeconfig(pki: Pki, bed: Pick<TestbedInfo, 'server' | 'caData' | 'clusterName'>, path: string, user: KubeconfigUser, file: string): Promise<string> {
  let kubeUser: Parameters<typeof kubeconfigYaml>[0]['user'];
  if (user.token !== undefined) {
    kubeUser = { name: user.name, token: user.token };
  } else {
    const pair = await pki.issue({ file, commonName: user.name, organisations: user.groups, usage: 'client' });
    kubeUser = { name: user.name, certPem: await readFile(pair.cert, 'utf8'), keyPem: await readFile(pair.key, 'utf8') };
  }
  await writeFile(path, kubeconfigYaml({ ...bed, user: kubeUser }), { mode: 0o600 });
  return path;
}

/** The plain data of a test bed (what crosses to test workers or into testbed.json). */
export function infoOf(bed: Testbed): TestbedInfo {
  const { kubeconfigFor: _k, configureAuthenticator: _c, authenticatorDecisions: _d, stop: _s, ...info } = bed;
  return info;
}

/** The test bed API for a process that did not start it (a vitest worker, given inject('testbed')). */
export function attachTestbed(info: TestbedInfo): Testbed {
  const pki = Pki.open(join(info.runDir, 'pki'));
  const settingsRequest = async (method: 'GET' | 'PUT', body?: object) => {
    const res = await fetchText(info.authenticator.settingsUrl, {
      method, body: body && JSON.stringify(body), ca: Buffer.from(info.caData, 'base64').toString(), headers: { authorization: `Bearer ${info.authenticator.adminToken}` },
    });
    if (res.status !== 200) throw new Error(`authenticator settings: HTTP ${res.status} ${res.body}`);
    return JSON.parse(res.body) as { settings: AuthenticatorSettings; decisions: Decision[] };
  };
  return {
    ...info,
    async kubeconfigFor(user) {
      const file = `${user.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${randomBytes(4).toString('hex')}`;
      return writeKubeconfig(pki, info, join(info.runDir, 'kubeconfigs', `${file}.yaml`), user, file);
    },
    async configureAuthenticator(settings) {
      await settingsRequest('PUT', settings);
    },
    async authenticatorDecisions() {
      return (await settingsRequest('GET')).decisions;
    },
    async stop() {},
  };
}
