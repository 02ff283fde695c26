// MODE=deploy and MODE=diff through the pipe's real entrypoint (src/main.ts, a separate process)
// with the variables Bitbucket sets, against the test bed, on a git repository made for the test:
// a plain directory app, a Helm chart, two kustomize apps on a shared base, with dependsOn.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/apply/client.js';
import { connect } from '../../src/apply/connection.js';
import { EnvironmentLock } from '../../src/apply/lock.js';
import { useTestbed } from '../support/cluster-global-setup.js';
import { startBitbucketProxy, type FakeBitbucketProxy } from '../support/bitbucket-proxy.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { accessFor, getJson, ledger, logger, uid } from './helpers/engine.js';
import { Repo, yamlConfigMap, yamlDeployment, yamlService } from './helpers/repo.js';

const bed = useTestbed();
const admin = bed.adminKubeconfig;
const id = uid();
const env = `e2e-${id}`;
const ns = (app: string) => `${app}-${id}`;

const root = (extra = '') => `apiVersion: app-of-apps/v1
kind: Root
defaults:
  createNamespace: true
  timeout: 60s
environments:
  ${env}: {${extra}}
apps:
  - name: config
    path: apps/config
    namespace: ${ns('config')}
  - name: api
    path: apps/api
    namespace: ${ns('api')}
    dependsOn: [config]
  - name: web
    path: apps/web
    namespace: ${ns('web')}
    dependsOn: [api]
  - name: admin
    path: apps/admin
    namespace: ${ns('admin')}
`;

const repo = new Repo({
  'app-of-apps.yaml': root(),
  'apps/config/settings.yaml': yamlConfigMap('settings', { level: 'info' }),
  'apps/config/extra.yaml': yamlConfigMap('extra', { a: '1' }),
  'apps/api/Chart.yaml': 'apiVersion: v2\nname: api\nversion: 1.0.0\n',
  'apps/api/values.yaml': 'replicas: 2\n',
  'apps/api/templates/deployment.yaml': yamlDeployment('api').replace('replicas: 1', 'replicas: {{ .Values.replicas }}'),
  'apps/api/templates/service.yaml': yamlService('api'),
  'bases/svc/kustomization.yaml': 'resources: [deployment.yaml, service.yaml]\n',
  'bases/svc/deployment.yaml': yamlDeployment('svc'),
  'bases/svc/service.yaml': yamlService('svc'),
  'apps/web/kustomization.yaml': 'resources: [../../bases/svc]\nnamePrefix: web-\n',
  'apps/admin/kustomization.yaml': 'resources: [../../bases/svc]\nnamePrefix: admin-\n',
});
afterAll(() => repo.remove());
// Bitbucket's local proxy, for the Code Insights reports of the diff and the failed deploy
let proxy: FakeBitbucketProxy;
beforeAll(async () => {
  proxy = await startBitbucketProxy();
});
afterAll(() => proxy.close());
const insights = () => ({ CODE_INSIGHTS: 'true', CODE_INSIGHTS_PROXY: proxy.url });
/** The report and annotations a run sent (the requests from `from` on). */
const sent = (from: number) => {
  const reqs = proxy.requests.slice(from);
  return { report: reqs.find((q) => q.method === 'PUT'), annotations: reqs.filter((q) => q.method === 'POST').flatMap((q) => q.body as Record<string, unknown>[]) };
};
/** The line of "- name: <app>" in the root manifest. */
const lineOf = (app: string) => root().split('\n').indexOf(`  - name: ${app}`) + 1;

const kubeConfig = (file = admin) => Buffer.from(readFileSync(file)).toString('base64');
let build = 100;
const pipe = (vars: Record<string, string> = {}) =>
  runPipe(
    bitbucketEnv(repo.dir, repo.head(), {
      BITBUCKET_BUILD_NUMBER: String(build++),
      BITBUCKET_DEPLOYMENT_ENVIRONMENT: env,
      KUBE_CONFIG: kubeConfig(),
      REPORT_FILE: join(repo.dir, '..', 'report.json'),
      LOCK_TIMEOUT: '20',
      ...vars,
    }),
    [],
    { timeoutMs: 180_000 },
  );
const report = () => JSON.parse(readFileSync(join(repo.dir, '..', 'report.json'), 'utf8'));
const outcomes = () => Object.fromEntries((report().result.apps as { app: string; outcome: string }[]).map((a) => [a.app, a.outcome]));
const rv = async (kind: string, app: string, name: string) => (await getJson(admin, [kind, '-n', ns(app), name]))?.metadata.resourceVersion;

describe('the pipe deploys an App of Apps', () => {
  it('first deploy: every app, in dependency order, healthy, recorded, with a summary and a JSON report', async () => {
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(0);
    expect(outcomes()).toEqual({ config: 'deployed', admin: 'deployed', api: 'deployed', web: 'deployed' });
    expect(r.stdout).toMatch(/^config: deployed in \d+\.\ds \(3 created/m);
    expect(r.stdout).toMatch(/^APP\s+RESULT\s+CREATED\s+CONFIGURED\s+UNCHANGED\s+PRUNED\s+DURATION/m);
    expect(r.stdout.indexOf('api: deployed')).toBeLessThan(r.stdout.indexOf('web: started'));
    expect((await getJson(admin, ['deployment', '-n', ns('api'), 'api']))!.status.availableReplicas).toBe(2);
    expect((await getJson(admin, ['deployment', '-n', ns('web'), 'web-svc']))!.metadata.annotations!['app-of-apps.io/commit']).toBe(repo.head());
    const l = await ledger(admin, env);
    expect(Object.keys(l).sort()).toEqual(['admin', 'api', 'config', 'web']);
    for (const e of Object.values(l)) expect(e.commit).toBe(repo.head());
  });

  it('a commit touching one app deploys only that app', async () => {
    const before = { api: await rv('deployment', 'api', 'api'), web: await rv('deployment', 'web', 'web-svc'), admin: await rv('service', 'admin', 'admin-svc') };
    const ledgerBefore = await ledger(admin, env);
    repo.commit({ 'apps/config/settings.yaml': yamlConfigMap('settings', { level: 'debug' }) });
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(0);
    expect(outcomes()).toEqual({ config: 'deployed' });
    expect((await getJson(admin, ['configmap', '-n', ns('config'), 'settings']))!.data).toEqual({ level: 'debug' });
    expect({ api: await rv('deployment', 'api', 'api'), web: await rv('deployment', 'web', 'web-svc'), admin: await rv('service', 'admin', 'admin-svc') }).toEqual(before);
    const l = await ledger(admin, env);
    expect(l.config!.commit).toBe(repo.head());
    for (const app of ['api', 'web', 'admin']) expect(l[app]).toEqual(ledgerBefore[app]);
    expect((await getJson(admin, ['deployment', '-n', ns('api'), 'api']))!.metadata.labels!['app-of-apps.io/build-number']).toBe(ledgerBefore.api!.buildNumber);
  });

  it('a change to the shared base redeploys exactly the apps built on it', async () => {
    const apiBefore = await rv('deployment', 'api', 'api');
    repo.commit({ 'bases/svc/deployment.yaml': yamlDeployment('svc', { image: 'registry.example/app:2' }) });
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(0);
    expect(outcomes()).toEqual({ admin: 'deployed', web: 'deployed' });
    expect(await rv('deployment', 'api', 'api')).toBe(apiBefore);
    expect((await getJson(admin, ['deployment', '-n', ns('admin'), 'admin-svc']))!.spec.template.spec.containers[0].image).toBe('registry.example/app:2');
  });

  it('diff mode shows the change and changes nothing; FAIL_ON_DIFF exits 3', async () => {
    const ledgerBefore = await ledger(admin, env);
    repo.commit({ 'apps/api/values.yaml': 'replicas: 3\n' });
    const before = await rv('deployment', 'api', 'api');
    const from = proxy.requests.length;
    const r = await pipe({ MODE: 'diff', ...insights() });
    expect(r.exitCode, r.all).toBe(0);
    // the pull request's report: what would change, annotated on the app's line of the root manifest
    const { report: diffReport, annotations } = sent(from);
    expect(diffReport!.url).toBe(`http://api.bitbucket.org/2.0/repositories/acme/platform-apps/commit/${repo.head()}/reports/app-of-apps-pipe-diff-${env}`);
    expect(diffReport!.body).toMatchObject({ title: `App of Apps diff: ${env}`, result: 'PASSED', details: '1 app would change: api.' });
    expect(annotations).toEqual([
      expect.objectContaining({ annotation_type: 'CODE_SMELL', result: 'PASSED', path: 'app-of-apps.yaml', line: lineOf('api'), summary: 'api would change: 1 to update', details: `update Deployment/${ns('api')}/api` }),
    ]);
    expect(r.stdout).toContain(`--- live/Deployment/${ns('api')}/api`);
    expect(r.stdout).toMatch(/^-\s+replicas: 2$/m);
    expect(r.stdout).toMatch(/^\+\s+replicas: 3$/m);
    expect(await rv('deployment', 'api', 'api')).toBe(before);
    expect(await ledger(admin, env)).toEqual(ledgerBefore);
    const strict = await pipe({ MODE: 'diff', FAIL_ON_DIFF: 'true' });
    expect(strict.exitCode, strict.all).toBe(3);
  });

  it('a failing rollout stops its dependents and leaves their ledger entries alone (its own notes the attempt); fixed, the next run converges', async () => {
    const ledgerBefore = await ledger(admin, env);
    repo.commit({
      'apps/api/templates/deployment.yaml': yamlDeployment('api', { nodeSelector: 'no-such-node: "x"', progressDeadlineSeconds: 2 }).replace('replicas: 1', 'replicas: {{ .Values.replicas }}'),
      'apps/web/kustomization.yaml': 'resources: [../../bases/svc]\nnamePrefix: web-\ncommonAnnotations: {tier: front}\n',
    });
    const from = proxy.requests.length;
    const r = await pipe(insights());
    expect(r.exitCode).toBe(1);
    expect(outcomes()).toEqual({ api: 'failed', web: 'skipped' });
    const { report: failedReport, annotations } = sent(from);
    expect(failedReport!.body).toMatchObject({ title: `App of Apps deploy: ${env}`, result: 'FAILED', details: 'Deploy: 1 failed, 1 skipped.\nFailed: api.' });
    expect((failedReport!.body as { data: { title: string; value: unknown }[] }).data).toContainEqual({ title: 'Failed', type: 'NUMBER', value: 1 });
    expect(annotations).toEqual([expect.objectContaining({ annotation_type: 'BUG', severity: 'HIGH', result: 'FAILED', path: 'app-of-apps.yaml', line: lineOf('api') })]);
    expect(annotations[0]!.summary).toMatch(new RegExp(`^api failed: .*Deployment/${ns('api')}/api: rollout failed: ProgressDeadlineExceeded`));
    expect(r.all).toMatch(new RegExp(`api: FAILED after .*Deployment/${ns('api')}/api: rollout failed: ProgressDeadlineExceeded`));
    expect(r.all).toMatch(/web: skipped: dependency api failed/);
    const l = await ledger(admin, env);
    // api's attempt changed its Deployment before failing: its entry keeps the last deployed
    // commit and notes the failed attempt (so a revert is deployed again); web was not touched
    expect(l.api).toEqual({ ...ledgerBefore.api, failed: { commit: report().build.commit, at: expect.any(String) } });
    expect(report().build.commit).not.toBe(ledgerBefore.api!.commit);
    expect(l.web).toEqual(ledgerBefore.web);

    repo.commit({ 'apps/api/templates/deployment.yaml': yamlDeployment('api').replace('replicas: 1', 'replicas: {{ .Values.replicas }}') });
    const fixed = await pipe();
    expect(fixed.exitCode, fixed.all).toBe(0);
    expect(outcomes()).toEqual({ api: 'deployed', web: 'deployed' });
    const again = await pipe();
    expect(again.exitCode).toBe(0);
    expect(outcomes()).toEqual({});
  });

  it('PRUNE removes exactly the object the repository dropped', async () => {
    repo.commit({ 'apps/config/extra.yaml': null });
    const r = await pipe({ PRUNE: 'true' });
    expect(r.exitCode, r.all).toBe(0);
    expect(outcomes()).toEqual({ config: 'deployed' });
    const pruned = report().result.apps[0].objects.filter((o: { action: string }) => o.action === 'pruned').map((o: { id: string }) => o.id);
    expect(pruned).toEqual([`ConfigMap/${ns('config')}/extra`]);
    expect(await getJson(admin, ['configmap', '-n', ns('config'), 'extra'])).toBeUndefined();
    expect(await getJson(admin, ['configmap', '-n', ns('config'), 'settings'])).toBeDefined();
  });

  it('the environment lock blocks a concurrent run, naming the holder', async () => {
    const client = new KubeClient(await connect(accessFor(admin)));
    const other = await EnvironmentLock.acquire(client, { namespace: 'app-of-apps-pipe', name: `app-of-apps-lock-${env}`, holder: 'build 99, commit feedfacecafe, acme/platform-apps', leaseDurationSeconds: 60, timeoutSeconds: 0, logger: logger() });
    try {
      repo.commit({ 'apps/config/settings.yaml': yamlConfigMap('settings', { level: 'warn' }) });
      const r = await pipe({ LOCK_TIMEOUT: '2' });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/✖ environment lock .* is held by build 99, commit feedfacecafe/);
      // the JSON report is this run's, and says the same
      expect(report().build.commit).toBe(repo.head());
      expect(report().result).toBeUndefined();
      expect(report().error).toMatchObject({ message: expect.stringMatching(/^environment lock .* is held by build 99, commit feedfacecafe/), hint: expect.stringMatching(/LOCK_TIMEOUT/) });
      expect((await getJson(admin, ['configmap', '-n', ns('config'), 'settings']))!.data).toEqual({ level: 'debug' });
    } finally {
      await other.release();
      client.close();
    }
  });

  it('a forbidden namespace is refused before anything is applied (exit 2)', async () => {
    repo.commit({
      'app-of-apps.yaml': root(` allowedNamespaces: [${['config', 'api', 'web', 'admin'].map(ns).join(', ')}] `),
      'apps/config/sneaky.yaml': yamlConfigMap('sneaky', { a: '1' }).replace('metadata:\n', 'metadata:\n  namespace: kube-system\n'),
    });
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toContain('app config: ConfigMap/kube-system/sneaky: namespace kube-system is not in allowedNamespaces');
    expect(await getJson(admin, ['configmap', '-n', 'kube-system', 'sneaky'])).toBeUndefined();
    expect((await getJson(admin, ['configmap', '-n', ns('config'), 'settings']))!.data).toEqual({ level: 'debug' });
    repo.commit({ 'apps/config/sneaky.yaml': null, 'app-of-apps.yaml': root() });
  });

  it('an app disabled for the environment is reported as disabled: kept, then pruned with PRUNE_REMOVED_APPS', async () => {
    const converged = await pipe();
    expect(converged.exitCode, converged.all).toBe(0);
    expect(await getJson(admin, ['deployment', '-n', ns('admin'), 'admin-svc'])).toBeDefined();
    repo.commit({ 'app-of-apps.yaml': root().replace(`    namespace: ${ns('admin')}\n`, `    namespace: ${ns('admin')}\n    environments: {${env}: {enabled: false}}\n`) });

    const kept = await pipe();
    expect(kept.exitCode, kept.all).toBe(0);
    expect(kept.all).toContain('Nothing to deploy.');
    expect(kept.all).toContain(`admin: disabled for ${env}; its objects stay (set PRUNE_REMOVED_APPS=true to delete them)`);
    expect(report().result.removed).toEqual([expect.objectContaining({ app: 'admin', outcome: 'kept', disabled: true })]);
    expect(await getJson(admin, ['deployment', '-n', ns('admin'), 'admin-svc'])).toBeDefined();

    const pruned = await pipe({ PRUNE_REMOVED_APPS: 'true' });
    expect(pruned.exitCode, pruned.all).toBe(0);
    expect(pruned.all).toContain(`admin: disabled for ${env}; pruned 2 objects`);
    expect(pruned.all).toMatch(new RegExp(`✔ Pruned 1 removed app\\(s\\) in ${env} in [\\d.]+s; every other app is up to date`));
    expect(pruned.all).toMatch(/^admin\s+disabled \(pruned\)/m);
    expect(report().result.removed).toEqual([expect.objectContaining({ app: 'admin', outcome: 'pruned', disabled: true })]);
    expect(await getJson(admin, ['deployment', '-n', ns('admin'), 'admin-svc'])).toBeUndefined();
    expect(Object.keys(await ledger(admin, env)).sort()).toEqual(['api', 'config', 'web']);
  });
});
