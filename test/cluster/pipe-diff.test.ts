// MODE=diff through the pipe's real entrypoint against the test bed: what the diff promises must be
// what the deploy of the same commit does, and the Code Insights report must say the same as the log.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestbed } from '../support/cluster-global-setup.js';
import { startBitbucketProxy, type FakeBitbucketProxy } from '../support/bitbucket-proxy.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { getJson, uid } from './helpers/engine.js';
import { Repo, yamlConfigMap } from './helpers/repo.js';

const bed = useTestbed();
const admin = bed.adminKubeconfig;
const id = uid();
const ns = `diff-${id}`;
const [one, two] = [`one-${id}`, `two-${id}`];

// Two environments in one namespace: app shared-one (environment one) and app shared-two
// (environment two) render the same ConfigMap; app runner creates a ServiceAccount and a Pod using it.
const root = `apiVersion: app-of-apps/v1
kind: Root
defaults:
  createNamespace: true
  namespace: ${ns}
  timeout: 60s
environments:
  ${one}: {}
  ${two}: {}
apps:
  - name: shared-one
    path: apps/shared-one
    environments: {${two}: {enabled: false}}
  - name: shared-two
    path: apps/shared-two
    environments: {${one}: {enabled: false}}
  - name: runner
    path: apps/runner
    environments: {${one}: {enabled: false}}
  - name: big
    path: apps/big
    environments: {${one}: {enabled: false}}
`;
const lineOf = (app: string) => root.split('\n').indexOf(`  - name: ${app}`) + 1;

const repo = new Repo({
  'app-of-apps.yaml': root,
  'apps/shared-one/cm.yaml': yamlConfigMap('shared', { v: '1' }),
  'apps/shared-two/cm.yaml': yamlConfigMap('shared', { v: '2' }),
  'apps/runner/sa.yaml': 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: runner\n',
  'apps/big/dashboards.yaml': yamlConfigMap('dashboards', Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`panel-${i}.json`, `dashboard ${i}`]))),
  'apps/runner/pod.yaml': 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: runner\nspec:\n  serviceAccountName: runner\n  containers: [{name: app, image: registry.example/app:1}]\n',
});
afterAll(() => repo.remove());
let proxy: FakeBitbucketProxy;
beforeAll(async () => {
  proxy = await startBitbucketProxy();
});
afterAll(() => proxy.close());

let build = 300;
const pipe = (environment: string, vars: Record<string, string> = {}) =>
  runPipe(
    bitbucketEnv(repo.dir, repo.head(), {
      BITBUCKET_BUILD_NUMBER: String(build++),
      BITBUCKET_DEPLOYMENT_ENVIRONMENT: environment,
      KUBE_CONFIG: Buffer.from(readFileSync(admin)).toString('base64'),
      REPORT_FILE: join(repo.dir, '..', 'report.json'),
      CODE_INSIGHTS: 'true',
      CODE_INSIGHTS_PROXY: proxy.url,
      ...vars,
    }),
    [],
    { timeoutMs: 180_000 },
  );
/** The report and annotations a run sent (the requests from `from` on). */
const sent = (from: number) => {
  const reqs = proxy.requests.slice(from);
  return { report: reqs.find((q) => q.method === 'PUT')?.body as { result: string; details: string; data: { title: string; value: unknown }[] }, annotations: reqs.filter((q) => q.method === 'POST').flatMap((q) => q.body as Record<string, unknown>[]) };
};

describe('MODE=diff says what the deploy of the commit would do', () => {
  beforeAll(async () => {
    const r = await pipe(one, { CODE_INSIGHTS: 'false' });
    expect(r.exitCode, r.all).toBe(0);
  });

  it('an object another environment deployed: the diff fails the app as the deploy does, not "1 to update"', async () => {
    const from = proxy.requests.length;
    const r = await pipe(two, { MODE: 'diff', APPS: 'shared-two' });
    expect(r.exitCode, r.all).toBe(1);
    expect(r.stderr).toContain(`ERROR: shared-two: could not diff: ConfigMap/${ns}/shared: is deployed by app shared-one of environment ${one}`);
    expect(r.all).toContain('What to do: an object is deployed for one environment: give each environment its own namespace, or its own object name');
    expect(r.stdout).not.toContain(`+++ desired/ConfigMap/${ns}/shared`);
    // the report says what went wrong, not that the cluster matches
    const { report, annotations } = sent(from);
    expect(report.result).toBe('FAILED');
    expect(report.details).toBe(`1 app could not be compared: shared-two (ConfigMap/${ns}/shared: is deployed by app shared-one of environment ${one}).`);
    expect(report.data).toContainEqual({ title: 'Apps that could not be compared', type: 'NUMBER', value: 1 });
    expect(report.data).toContainEqual({ title: 'Compared with', type: 'TEXT', value: 'the commits deployed (ledger)' });
    expect(annotations).toEqual([
      expect.objectContaining({ result: 'FAILED', path: 'app-of-apps.yaml', line: lineOf('shared-two'), summary: `shared-two could not be compared: ConfigMap/${ns}/shared: is deployed by app shared-one of environment ${one}` }),
    ]);

    // what the diff said: the deploy refuses it, and the ConfigMap stays environment one's
    const deploy = await pipe(two, { APPS: 'shared-two', CODE_INSIGHTS: 'false' });
    expect(deploy.exitCode, deploy.all).toBe(1);
    expect(deploy.stderr).toContain(`ConfigMap/${ns}/shared: is deployed by app shared-one of environment ${one}`);
    expect((await getJson(admin, ['configmap', '-n', ns, 'shared']))!.data).toEqual({ v: '1' });
  });

  it('a Pod whose ServiceAccount the same app creates: shown as a create, as the deploy then creates it', async () => {
    const r = await pipe(two, { MODE: 'diff', APPS: 'runner', FAIL_ON_DIFF: 'true' });
    expect(r.exitCode, r.all).toBe(3);
    expect(r.stdout).toContain('runner: 2 to create, 0 to update, 0 to delete');
    expect(r.stdout).toMatch(new RegExp(`^# Pod/${ns}/runner: not dry-run: the server checks it against objects this deploy creates first \\(.*serviceaccount "runner" not found\\)$`, 'm'));
    expect(r.stdout).toContain(`+++ desired/Pod/${ns}/runner`);
    expect(r.stdout).toContain(`+++ desired/ServiceAccount/${ns}/runner`);
    expect(r.all).not.toContain('RBAC');

    const deploy = await pipe(two, { APPS: 'runner', WAIT: 'false', CODE_INSIGHTS: 'false' });
    expect(deploy.exitCode, deploy.all).toBe(0);
    expect(deploy.stdout).toMatch(/runner: deployed in [\d.]+s \(2 created/);
    expect(await getJson(admin, ['pod', '-n', ns, 'runner'])).toBeDefined();
  });

  it('two apps rendering one object: the report says which, and what to do', async () => {
    repo.commit({ 'apps/runner/shared.yaml': yamlConfigMap('shared', { v: '3' }) });
    const from = proxy.requests.length;
    const r = await pipe(two, { MODE: 'diff' });
    expect(r.exitCode, r.all).toBe(2);
    // (whichever of the two comes first in the plan is named as the other)
    const problem = new RegExp(`app (runner|shared-two): ConfigMap/${ns}/shared is also rendered by app (runner|shared-two)`).exec(r.stderr)?.[0];
    expect(problem, r.all).toBeDefined();
    const hint = 'render each object in one app only: remove it from all but one of them (or give the copies other names or namespaces)';
    expect(r.all).toContain(`What to do: ${hint}`);
    expect(r.all).not.toContain('install CRDs');
    const { report } = sent(from);
    expect(report.result).toBe('FAILED');
    expect(report.details).toBe(`a rendered object cannot be applied; nothing was applied\n  ${problem}\nWhat to do: ${hint}`);
    repo.commit({ 'apps/runner/shared.yaml': null });
  });
  it("a large object's diff is bounded in the log: DEBUG=true and the JSON report have all of it", async () => {
    const r = await pipe(two, { MODE: 'diff', APPS: 'big' });
    expect(r.exitCode, r.all).toBe(0);
    const lines = r.stdout.split('\n');
    const start = lines.indexOf(`+++ desired/ConfigMap/${ns}/dashboards`);
    expect(start, r.stdout.slice(0, 2000)).toBeGreaterThan(0);
    // 1,009 lines of diff: the first 200 (from the --- line before), then how many more and where they are
    expect(lines[start + 198]).toMatch(/^\+ {2}panel-\d+\.json: /);
    expect(lines[start + 199]).toBe('... 809 more lines of this diff (DEBUG=true prints them all; the JSON report has all of it)');
    expect(r.stdout).not.toContain('panel-999.json');
    const report = JSON.parse(readFileSync(join(repo.dir, '..', 'report.json'), 'utf8'));
    expect(report.result.apps[0].objects.find((o: { id: string }) => o.id === `ConfigMap/${ns}/dashboards`).diff).toContain('panel-999.json');

    const debug = await pipe(two, { MODE: 'diff', APPS: 'big', DEBUG: 'true', CODE_INSIGHTS: 'false' });
    expect(debug.exitCode, debug.all).toBe(0);
    expect(debug.stdout).toContain('panel-999.json');
    expect(debug.stdout).not.toContain('more lines of this diff');
  });
  it('a custom resource using a field its CRD gains in the same commit (the CRD in another app): shown as it will be, not "could not be compared"', async () => {
    const crd = (fields: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets${id}.example.com}
spec:
  group: example.com
  names: {kind: Gadget${id}, plural: gadgets${id}}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, properties: {spec: {type: object, properties: {${fields}}}}}}}]
`;
    const gadget = (spec: string) => `apiVersion: example.com/v1\nkind: Gadget${id}\nmetadata: {name: g1}\nspec: {${spec}}\n`;
    const crds = `  - name: crds\n    path: apps/crds\n    environments: {${one}: {enabled: false}}\n  - name: gadgets\n    path: apps/gadgets\n    dependsOn: [crds]\n    environments: {${one}: {enabled: false}}\n`;
    repo.commit({ 'app-of-apps.yaml': root + crds, 'apps/crds/crd.yaml': crd('size: {type: integer}'), 'apps/gadgets/g1.yaml': gadget('size: 1') });
    const first = await pipe(two, { APPS: 'crds,gadgets', CODE_INSIGHTS: 'false' });
    expect(first.exitCode, first.all).toBe(0);

    repo.commit({ 'apps/crds/crd.yaml': crd('size: {type: integer}, color: {type: string}'), 'apps/gadgets/g1.yaml': gadget('size: 1, color: red') });
    const r = await pipe(two, { MODE: 'diff', APPS: 'crds,gadgets', CODE_INSIGHTS: 'false' });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain('gadgets: 0 to create, 1 to update, 0 to delete');
    expect(r.stdout).toMatch(new RegExp(`^# Gadget${id}/${ns}/g1: its CRD gadgets${id}.example.com changes in this deploy: not dry-run, compared as rendered \\(.*field not declared in schema\\)$`, 'm'));
    expect(r.stdout).toMatch(/^\+\s+color: red$/m);

    const deploy = await pipe(two, { APPS: 'crds,gadgets', CODE_INSIGHTS: 'false' });
    expect(deploy.exitCode, deploy.all).toBe(0);
    expect((await getJson(admin, [`gadgets${id}.example.com`, '-n', ns, 'g1']))!.spec).toEqual({ size: 1, color: 'red' });
  });
  it("a Secret's values appear nowhere, as text or base64, with DEBUG=true: not in the log, the JSON report or the Code Insights report", async () => {
    const [first, second, pruned] = ['s3cret-first-value', 's3cret-second-value', 's3cret-pruned-value'];
    const secret = (name: string, value: string) => `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}}\nstringData: {password: ${value}}\ndata: {token: ${Buffer.from(`t-${value}`).toString('base64')}}\n`;
    const vault = `  - name: vault\n    path: apps/vault\n    environments: {${one}: {enabled: false}}\n`;
    repo.commit({ 'app-of-apps.yaml': root + vault, 'apps/vault/db.yaml': secret('db', first), 'apps/vault/old.yaml': secret('old', pruned) });
    expect((await pipe(two, { APPS: 'vault', CODE_INSIGHTS: 'false' })).exitCode).toBe(0);

    repo.commit({ 'apps/vault/db.yaml': secret('db', second), 'apps/vault/old.yaml': null });
    const from = proxy.requests.length;
    const r = await pipe(two, { MODE: 'diff', APPS: 'vault', PRUNE: 'true', DEBUG: 'true' });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain('vault: 0 to create, 1 to update, 1 to delete');
    expect(r.stdout).toMatch(/^-\s+password: "\*\*\* \(before\)"$/m);
    expect(r.stdout).toMatch(/^\+\s+password: "\*\*\* \(after\)"$/m);
    expect(r.stdout).toContain(`--- live/Secret/${ns}/old`);
    const report = readFileSync(join(repo.dir, '..', 'report.json'), 'utf8');
    const insights = proxy.requests.slice(from).map((q) => q.raw).join('\n');
    for (const value of [first, second, pruned]) {
      for (const text of [value, Buffer.from(value).toString('base64'), `t-${value}`, Buffer.from(`t-${value}`).toString('base64')]) {
        expect(r.all).not.toContain(text);
        expect(report).not.toContain(text);
        expect(insights).not.toContain(text);
      }
    }
  });
});
