// Helm charts render for the target cluster in deploy and diff modes (its version and the API
// versions it serves, as helm install would see them), through the pipe's real entrypoint; plan
// mode, with no cluster, keeps helm's defaults and says so.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type ApiResponse, type RequestOptions } from '../../src/apply/client.js';
import { apiVersionList } from '../../src/apply/capabilities.js';
import { connect } from '../../src/apply/connection.js';
import { Discovery } from '../../src/apply/discovery.js';
import { useTestbed } from '../support/cluster-global-setup.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { accessFor, getJson, kubectl, uid } from './helpers/engine.js';
import { Repo } from './helpers/repo.js';

const bed = useTestbed();
const admin = bed.adminKubeconfig;
const id = uid();
const env = `caps-${id}`;
const ns = `caps-${id}`;
const group = `caps-${id}.example.com`;

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: gadgets.${group} }
spec:
  group: ${group}
  scope: Namespaced
  names: { plural: gadgets, singular: gadget, kind: Gadget }
  versions: [{ name: v1, served: true, storage: true, schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } } }]
`;

/**
 * A chart that reads the cluster from .Capabilities: its version into a ConfigMap, a Gadget only
 * where the Gadget CRD is served, and a resource.k8s.io/v1 DeviceClass (Kubernetes 1.34+) only
 * where the version says it exists. The test bed is 1.33 and serves the CRD.
 */
const template = (name: string) => `apiVersion: v1
kind: ConfigMap
metadata: { name: ${name} }
data:
  kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
  servesGadgets: {{ .Capabilities.APIVersions.Has "${group}/v1" | quote }}
{{- if .Capabilities.APIVersions.Has "${group}/v1/Gadget" }}
---
apiVersion: ${group}/v1
kind: Gadget
metadata: { name: ${name} }
{{- end }}
{{- if semverCompare ">=1.34-0" .Capabilities.KubeVersion.Version }}
---
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: { name: ${name}-${id} }
spec: {}
{{- end }}
`;

const repo = new Repo({
  'app-of-apps.yaml': `apiVersion: app-of-apps/v1
kind: Root
defaults: { createNamespace: true, namespace: ${ns}, timeout: 60s }
environments: { ${env}: {} }
apps:
  - { name: chart, path: apps/chart }
  - { name: inflated, path: apps/inflated }
`,
  'apps/chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 0.1.0\n',
  'apps/chart/templates/all.yaml': template('chart'),
  // kustomize's helmCharts inflate a local chart with the same helm
  'apps/inflated/kustomization.yaml': 'helmCharts:\n  - name: local\n    releaseName: inflated\n',
  'apps/inflated/charts/local/Chart.yaml': 'apiVersion: v2\nname: local\nversion: 0.1.0\n',
  'apps/inflated/charts/local/values.yaml': '{}\n',
  'apps/inflated/charts/local/templates/all.yaml': template('inflated'),
});

const reportFile = join(repo.dir, '..', 'report.json');
let build = 300;
const pipe = (vars: Record<string, string> = {}) =>
  runPipe(
    bitbucketEnv(repo.dir, repo.head(), {
      BITBUCKET_BUILD_NUMBER: String(build++),
      BITBUCKET_DEPLOYMENT_ENVIRONMENT: env,
      KUBE_CONFIG: Buffer.from(readFileSync(admin)).toString('base64'),
      REPORT_FILE: reportFile,
      LOCK_TIMEOUT: '20',
      ...vars,
    }),
    [],
    { timeoutMs: 180_000 },
  );

let serverVersion = '';
beforeAll(async () => {
  await kubectl(admin, ['apply', '-f', '-'], { input: crd });
  await kubectl(admin, ['wait', '--for=condition=Established', `crd/gadgets.${group}`, '--timeout=60s']);
  serverVersion = (JSON.parse((await kubectl(admin, ['get', '--raw', '/version'])).stdout) as { gitVersion: string }).gitVersion;
});
afterAll(async () => {
  await kubectl(admin, ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found'], { reject: false });
  await kubectl(admin, ['delete', 'crd', `gadgets.${group}`, '--wait=false', '--ignore-not-found'], { reject: false });
  repo.remove();
});

describe('Helm charts render for the target cluster', () => {
  it("deploy: .Capabilities are the cluster's version and API versions, CRDs included (helm apps and kustomize helmCharts)", async () => {
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`Helm charts render for the cluster: Kubernetes ${serverVersion}`);
    expect(serverVersion).toMatch(/^v1\.33\./);
    for (const name of ['chart', 'inflated']) {
      expect((await getJson(admin, ['configmap', '-n', ns, name]))?.data, name).toEqual({ kubeVersion: serverVersion, servesGadgets: 'true' });
      expect(await getJson(admin, [`gadgets.${group}`, '-n', ns, name]), name).toBeDefined();
    }
    const applied = (JSON.parse(readFileSync(reportFile, 'utf8')) as { result: { apps: { objects: { id: string }[] }[] } }).result.apps.flatMap((a) => a.objects.map((o) => o.id));
    expect([...new Set(applied)].sort()).toEqual([`ConfigMap/${ns}/chart`, `ConfigMap/${ns}/inflated`, `Gadget/${ns}/chart`, `Gadget/${ns}/inflated`, `Namespace/${ns}`]);
  });

  it('diff: renders the same way, so a deployed chart shows no differences', async () => {
    const r = await pipe({ MODE: 'diff', FAIL_ON_DIFF: 'true', FORCE: 'true' });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`Helm charts render for the cluster: Kubernetes ${serverVersion}`);
    expect(r.all).toContain('No differences');
  });

  it("plan mode needs no cluster: helm's defaults, and a note that says so", async () => {
    const r = await pipe({ MODE: 'plan', KUBE_CONFIG: '', FORCE: 'true' });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain("note: plan mode has no cluster: Helm charts (helm apps, kustomize helmCharts) were rendered for helm's built-in Kubernetes version");
    expect(r.stdout).not.toContain('Helm charts render for the cluster');
    // helm 4's built-in version is 1.34 or later, and its built-in API versions know no Gadget
    expect(r.stdout).toMatch(/^\s+1\s+chart\s+helm\s+forced\s+ConfigMap 1, DeviceClass 1\s/m);
  });
});

/** What a server without aggregated discovery answers: this client never asks for the aggregated form. */
class PlainJsonClient extends KubeClient {
  override request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    return super.request<T>(method, path, { ...opts, accept: undefined });
  }
}

describe('discovery of everything the server serves', () => {
  it('answers the same from aggregated discovery and from the group/version lists older servers give, and the engine reuses it', async () => {
    const client = new KubeClient(await connect(accessFor(admin)));
    const legacy = new PlainJsonClient(client.connection);
    try {
      const aggregated = await new Discovery(client).all();
      const requests = client.requests;
      expect(requests).toBe(2);
      const fallback = await new Discovery(legacy).all();
      expect(legacy.requests).toBeGreaterThan(requests + 10);
      expect(apiVersionList(fallback)).toEqual(apiVersionList(aggregated));
      expect(apiVersionList(aggregated)).toEqual(expect.arrayContaining(['v1', 'v1/ConfigMap', 'apps/v1/Deployment', `${group}/v1`, `${group}/v1/Gadget`]));
      expect(aggregated.get('apps/v1')?.get('Deployment')).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', namespaced: true });
      expect(aggregated.get('v1')?.get('Namespace')).toEqual({ group: '', version: 'v1', kind: 'Namespace', resource: 'namespaces', namespaced: false });

      // a Discovery given what was found asks the server nothing for those group/versions
      const seeded = new Discovery(client, aggregated);
      expect(await seeded.find(`${group}/v1`, 'Gadget')).toEqual({ group, version: 'v1', kind: 'Gadget', resource: 'gadgets', namespaced: true });
      expect(await seeded.find('apps/v1', 'Deployment')).toBeDefined();
      expect(client.requests).toBe(requests);

      // a group/version found without kinds (an aggregated API that was down then) is asked again
      const withEmpty = new Map(aggregated);
      withEmpty.set('apps/v1', new Map());
      const retried = new Discovery(client, withEmpty);
      expect(await retried.find('apps/v1', 'Deployment')).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', namespaced: true });
      expect(client.requests).toBe(requests + 1);
    } finally {
      client.close();
    }
  });
});
