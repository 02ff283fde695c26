import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { execa } from 'execa';
import type { ClusterEndpoint } from '../../../src/apply/connection.js';
import { loadConfig, type Config } from '../../../src/config/index.js';
import type { AppChange, ChangeStatus, Plan } from '../../../src/plan/model.js';
import type { K8sObject, RenderedApp } from '../../../src/render/model.js';
import { memoryLogger } from '../../../src/report/logger.js';
import type { App, Environment, Root } from '../../../src/root/model.js';
import { toolPath } from '../../../src/util/tools.js';
import { testApp } from '../../support/app.js';
import { useTestbed } from '../../support/cluster-global-setup.js';
import type { Testbed } from '../../support/testbed.js';

/** The cluster endpoint of a kubeconfig whose user authenticates with a client certificate or static token. */
export function accessFor(kubeconfigPath: string): ClusterEndpoint {
  const kc = parse(readFileSync(kubeconfigPath, 'utf8')) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[] };
  return { kubeconfigPath, server: kc.clusters[0]!.cluster.server, caData: kc.clusters[0]!.cluster['certificate-authority-data'], bearerToken: async () => undefined };
}

/** The test bed as its admin: the bed, its admin kubeconfig, the engine's access with it, and a signal nobody aborts. */
export function asAdmin(): { bed: Testbed; admin: string; access: ClusterEndpoint; signal: AbortSignal } {
  const bed = useTestbed();
  return { bed, admin: bed.adminKubeconfig, access: accessFor(bed.adminKubeconfig), signal: new AbortController().signal };
}

/** A unique suffix, so tests sharing one cluster never see each other's namespaces, ledgers or locks. */
export const uid = () => randomBytes(3).toString('hex');

export function app(name: string, o: Partial<App> = {}): App {
  return testApp(name, { timeoutSeconds: 60, serverSideApply: true, origin: { file: 'app-of-apps.yaml' }, definitionDigest: name, ...o });
}

export function rendered(name: string, objects: K8sObject[]): RenderedApp {
  return { app: name, objects, digest: `sha256:${createHash('sha256').update(JSON.stringify(objects)).digest('hex')}` };
}

/** Layers from dependsOn (the plan stage's job; kept simple here). */
function layersOf(apps: App[]): string[][] {
  const layers: string[][] = [];
  const placed = new Set<string>();
  const names = new Set(apps.map((a) => a.name));
  while (placed.size < apps.length) {
    const layer = apps.filter((a) => !placed.has(a.name) && a.dependsOn.every((d) => placed.has(d) || !names.has(d))).map((a) => a.name);
    if (!layer.length) throw new Error('dependency cycle in test plan');
    layer.forEach((n) => placed.add(n));
    layers.push(layer);
  }
  return layers;
}

export interface PlanInput {
  environment: string;
  apps: App[];
  head?: string;
  status?: Record<string, ChangeStatus>;
  removed?: string[];
  env?: Partial<Environment>;
}

export function plan(p: PlanInput): Plan {
  const environment: Environment = { name: p.environment, ...p.env };
  const root: Root = { format: 'native', file: 'app-of-apps.yaml', environment, environments: [p.environment], apps: p.apps, disabled: [], unsupported: [] };
  const changes: AppChange[] = p.apps.map((a) => ({ app: a, status: p.status?.[a.name] ?? 'new', reasons: ['test'] }));
  return {
    root,
    environment: p.environment,
    head: p.head ?? createHash('sha1').update(randomBytes(8)).digest('hex'),
    baseSource: 'ledger',
    apps: changes,
    layers: layersOf(p.apps.filter((a) => (p.status?.[a.name] ?? 'new') !== 'unchanged')),
    waves: Object.fromEntries(p.apps.map((a) => [a.name, a.syncWave])),
    removed: p.removed ?? [],
    notes: [],
  };
}

export function config(kubeconfigPath: string, vars: Record<string, string> = {}): Config {
  return loadConfig({
    MODE: 'deploy',
    KUBE_CONFIG: Buffer.from(readFileSync(kubeconfigPath)).toString('base64'),
    BITBUCKET_BUILD_NUMBER: '42',
    BITBUCKET_REPO_FULL_NAME: 'acme/platform-apps',
    BITBUCKET_STEP_TRIGGERER_UUID: '{1a2b3c4d-0000-4000-8000-000000000001}',
    LOCK_TIMEOUT: '20',
    ...vars,
  });
}

export const logger = () => memoryLogger(true);

/** kubectl (the pinned binary) as an independent witness of what is in the cluster. */
export async function kubectl(kubeconfig: string, args: string[], opts: { reject?: boolean; input?: string } = {}) {
  return execa(toolPath('kubectl'), ['--kubeconfig', kubeconfig, ...args], { reject: opts.reject ?? true, input: opts.input });
}

export async function getJson<T = K8sObject & { spec?: any; status?: any; data?: Record<string, string> }>(kubeconfig: string, args: string[]): Promise<T | undefined> {
  const r = await kubectl(kubeconfig, ['get', ...args, '-o', 'json'], { reject: false });
  if (r.exitCode !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(r.stderr);
  }
  return JSON.parse(r.stdout) as T;
}

/** The ledger entries of an environment, as kubectl sees them. */
export async function ledger(kubeconfig: string, environment: string, namespace = 'app-of-apps-pipe'): Promise<Record<string, { commit: string; digest?: string; buildNumber?: string; objects: string[]; failed?: { commit: string; at: string } }>> {
  const list = await getJson<{ items: { data?: Record<string, string> }[] }>(kubeconfig, ['configmap', '-n', namespace, '-l', `app-of-apps.io/ledger=${environment}`]);
  return Object.fromEntries((list?.items ?? []).map((cm) => {
    const e = JSON.parse(cm.data!.entry!) as { app: string; commit: string; objects: string[] };
    return [e.app, e];
  }));
}

export const configMap = (name: string, namespace: string | undefined, data: Record<string, string> = { a: '1' }, extra: Partial<K8sObject['metadata']> = {}): K8sObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, ...(namespace ? { namespace } : {}), ...extra },
  data,
});

export function deployment(name: string, namespace: string | undefined, o: { image?: string; replicas?: number; nodeSelector?: Record<string, string>; progressDeadlineSeconds?: number; wave?: number } = {}): K8sObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, ...(namespace ? { namespace } : {}), ...(o.wave !== undefined ? { annotations: { 'argocd.argoproj.io/sync-wave': String(o.wave) } } : {}) },
    spec: {
      replicas: o.replicas ?? 1,
      ...(o.progressDeadlineSeconds ? { progressDeadlineSeconds: o.progressDeadlineSeconds } : {}),
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          // kwok runs pods on its fake nodes; the toleration matches kwok's usual taint if one is set.
          tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
          ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
          containers: [{ name: 'app', image: o.image ?? 'registry.example/app:1' }],
        },
      },
    },
  };
}
