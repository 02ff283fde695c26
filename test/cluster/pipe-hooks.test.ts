// Helm hooks through the pipe's real entrypoint: a chart with the usual migration pattern, a
// pre-install,pre-upgrade Job with before-hook-creation that reads the same value as a ConfigMap.
// An upgrade that changes the value re-creates the Job before the ConfigMap changes (applied as
// an ordinary object, the Job's changed template was refused as immutable, every upgrade after).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestbed } from '../support/cluster-global-setup.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { getJson, ledger, uid } from './helpers/engine.js';
import { Repo } from './helpers/repo.js';

const bed = useTestbed();
const admin = bed.adminKubeconfig;
const id = uid();
const env = `hookpipe-${id}`;
const ns = `hookpipe-${id}`;

const migrateJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      tolerations: [{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}]
      containers:
        - name: migrate
          image: registry.example/shop-migrate:{{ .Values.tag }}
`;

const repo = new Repo({
  'app-of-apps.yaml': `apiVersion: app-of-apps/v1
kind: Root
defaults: { createNamespace: true, timeout: 60s }
environments:
  ${env}: {}
apps:
  - name: shop
    path: apps/shop
    namespace: ${ns}
`,
  'apps/shop/Chart.yaml': 'apiVersion: v2\nname: shop\nversion: 1.0.0\n',
  'apps/shop/values.yaml': 'tag: "1"\n',
  'apps/shop/templates/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\ndata:\n  tag: "{{ .Values.tag }}"\n',
  'apps/shop/templates/migrate.yaml': migrateJob,
});
afterAll(() => repo.remove());

let build = 300;
/** A deploy (or `vars.MODE`) of `of` to `environment`, its JSON report next to the repository. */
const pipeOf = (of: Repo, environment: string) => (vars: Record<string, string> = {}) =>
  runPipe(
    bitbucketEnv(of.dir, of.head(), {
      BITBUCKET_BUILD_NUMBER: String(build++),
      BITBUCKET_DEPLOYMENT_ENVIRONMENT: environment,
      KUBE_CONFIG: Buffer.from(readFileSync(admin)).toString('base64'),
      REPORT_FILE: join(of.dir, '..', 'report.json'),
      LOCK_TIMEOUT: '20',
      ...vars,
    }),
    [],
    { timeoutMs: 180_000 },
  );
const pipe = () => pipeOf(repo, env)({ PRUNE: 'true' });
type Reported = { app: string; outcome: string; objects: { id: string; action: string; hook?: string }[] };
const reportedOf = (of: Repo) => () => (JSON.parse(readFileSync(join(of.dir, '..', 'report.json'), 'utf8')).result.apps as Reported[])[0]!;
const reported = reportedOf(repo);
const image = async () => (await getJson(admin, ['job', '-n', ns, 'shop-migrate']))?.spec.template.spec.containers[0].image as string | undefined;

describe('the pipe runs a Helm chart\'s pre-upgrade migration Job as a hook', () => {
  it('first deploy: the Job runs as a PreSync hook before the ConfigMap, and is not in the inventory', async () => {
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`shop: running 1 PreSync hook(s): Job/${ns}/shop-migrate`);
    expect(r.stdout.indexOf('PreSync hook(s) completed')).toBeGreaterThan(-1);
    const app = reported();
    expect(app.objects.map((o) => `${o.hook ?? '-'} ${o.id} ${o.action}`)).toEqual([`- Namespace/${ns} created`, `PreSync Job/${ns}/shop-migrate created`, `- ConfigMap/${ns}/shop-config created`]);
    expect(await image()).toBe('registry.example/shop-migrate:1');
    expect((await ledger(admin, env)).shop!.objects).toEqual([`v1 ConfigMap ${ns}/shop-config`]);
  });

  it('an upgrade that changes the value re-creates the Job with the new template, then changes the ConfigMap; and again', async () => {
    for (const tag of ['2', '3']) {
      repo.commit({ 'apps/shop/values.yaml': `tag: "${tag}"\n` }, `tag ${tag}`);
      const r = await pipe();
      expect(r.exitCode, r.all).toBe(0);
      expect(reported().objects.map((o) => `${o.hook ?? '-'} ${o.id} ${o.action}`)).toEqual([
        `- Namespace/${ns} unchanged`,
        `PreSync Job/${ns}/shop-migrate deleted`,
        `PreSync Job/${ns}/shop-migrate created`,
        `- ConfigMap/${ns}/shop-config configured`,
      ]);
      expect(await image()).toBe(`registry.example/shop-migrate:${tag}`);
      expect((await getJson(admin, ['configmap', '-n', ns, 'shop-config']))!.data).toEqual({ tag });
      expect(r.stdout).toMatch(/^shop: deployed in \d+\.\ds \(1 created, 1 configured, 1 unchanged, 0 pruned; 1 hook\(s\) run\)$/m);
    }
  });
});

// A hook the server names (metadata.generateName, as argocd-example-apps' helm-hooks and
// sync-waves write them): created anew at every deploy (POST), waited for by the name it got, and
// deleted by its policy.
const seedNs = `seedpipe-${id}`;
const seedEnv = `seedpipe-${id}`;
const seedRepo = new Repo({
  'app-of-apps.yaml': `apiVersion: app-of-apps/v1
kind: Root
defaults: { createNamespace: true, timeout: 60s }
environments:
  ${seedEnv}: {}
apps:
  - name: seeded
    path: apps/seeded
    namespace: ${seedNs}
`,
  'apps/seeded/Chart.yaml': 'apiVersion: v2\nname: seeded\nversion: 1.0.0\n',
  'apps/seeded/values.yaml': 'tag: "1"\n',
  'apps/seeded/templates/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: seeded-config\ndata:\n  tag: "{{ .Values.tag }}"\n',
  'apps/seeded/templates/seed.yaml': migrateJob
    .replace('name: {{ .Release.Name }}-migrate', 'generateName: seed-')
    .replace('helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-delete-policy: before-hook-creation', 'argocd.argoproj.io/hook: PreSync\n    argocd.argoproj.io/hook-delete-policy: HookSucceeded'),
});
afterAll(() => seedRepo.remove());
const seedPipe = pipeOf(seedRepo, seedEnv);
const seedReported = reportedOf(seedRepo);

describe('a hook the server names (generateName)', () => {
  it('is created anew at every deploy, waited for under the name it got, and deleted when it succeeded', async () => {
    const names: string[] = [];
    for (const tag of ['1', '2']) {
      if (tag !== '1') seedRepo.commit({ 'apps/seeded/values.yaml': `tag: "${tag}"\n` }, `tag ${tag}`);
      const r = await seedPipe();
      expect(r.exitCode, r.all).toBe(0);
      const hooks = seedReported().objects.filter((o) => o.hook);
      expect(hooks.map((o) => o.action)).toEqual(['created', 'deleted']);
      const [created, deleted] = hooks;
      expect(created!.id).toMatch(new RegExp(`^Job/${seedNs}/seed-[a-z0-9]{5}$`));
      expect(deleted!.id).toBe(created!.id);
      names.push(created!.id);
      expect((await getJson(admin, ['configmap', '-n', seedNs, 'seeded-config']))!.data).toEqual({ tag });
      // deleted (HookSucceeded): no Job is left in the namespace
      expect((await getJson(admin, ['jobs', '-n', seedNs]))!.items).toEqual([]);
    }
    expect(new Set(names).size).toBe(2);
    expect((await ledger(admin, seedEnv)).seeded!.objects).toEqual([`v1 ConfigMap ${seedNs}/seeded-config`]);
  });

  it('diff mode dry-runs it as the create it gets, and shows it as a hook that would run', async () => {
    seedRepo.commit({ 'apps/seeded/values.yaml': 'tag: "3"\n' }, 'tag 3');
    const r = await seedPipe({ MODE: 'diff' });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`# Job/${seedNs}/seed-*: PreSync hook: would run (a new object, named by the server: generateName)`);
    expect((await getJson(admin, ['jobs', '-n', seedNs]))!.items).toEqual([]);
  });
});
