// Argo CD Applications whose helm parameters use Argo CD's build environment, deployed through the
// pipe's real entrypoint: the chart gets the app's name and the commit being deployed, as Argo CD
// would give them, and an app that renders the commit is deployed again at every new commit (its
// objects change with it), while an app without it is left alone.
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
const env = `argoenv-${id}`;
const ns = `argoenv-${id}`;

const application = (name: string, path: string, source = '') => `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: { name: ${name}, namespace: argocd }
spec:
  project: shop
  destination: { server: https://kubernetes.default.svc, namespace: ${ns} }
  syncPolicy: { syncOptions: [CreateNamespace=true] }
  source:
    repoURL: git@bitbucket.org:acme/platform-apps.git
    targetRevision: main
    path: ${path}
${source}`;

const repo = new Repo({
  'argo/web.yaml': application(
    'web',
    'charts/web',
    `    helm:
      parameters:
      - { name: revision, value: $ARGOCD_APP_REVISION }
      - { name: short, value: $ARGOCD_APP_REVISION_SHORT, forceString: true }
      - { name: owner, value: "$ARGOCD_APP_NAME/$ARGOCD_APP_PROJECT_NAME" }
`,
  ),
  'argo/static.yaml': application('static', 'static'),
  'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 1.0.0\n',
  'charts/web/templates/configmap.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-build\ndata:\n  revision: {{ .Values.revision | quote }}\n  short: {{ .Values.short | quote }}\n  owner: {{ .Values.owner | quote }}\n',
  'static/configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: static\ndata:\n  a: "1"\n',
  'README.md': 'platform apps\n',
});
afterAll(() => repo.remove());

let build = 500;
const reportFile = join(repo.dir, '..', 'report.json');
const pipe = (vars: Record<string, string> = {}, commit = repo.head()) =>
  runPipe(
    bitbucketEnv(repo.dir, commit, {
      BITBUCKET_BUILD_NUMBER: String(build++),
      BITBUCKET_DEPLOYMENT_ENVIRONMENT: env,
      ROOT_MANIFEST: 'argo',
      KUBE_CONFIG: Buffer.from(readFileSync(admin)).toString('base64'),
      REPORT_FILE: reportFile,
      LOCK_TIMEOUT: '20',
      ...vars,
    }),
    [],
    { timeoutMs: 180_000 },
  );
type Planned = { name: string; status: string; deploy: boolean; reasons: string[] };
const planned = () => Object.fromEntries((JSON.parse(readFileSync(reportFile, 'utf8')).plan.apps as Planned[]).map((a) => [a.name, a]));
const buildData = async () => (await getJson(admin, ['configmap', '-n', ns, 'web-build']))?.data as Record<string, string> | undefined;

describe("Argo CD's build environment in an imported Application", () => {
  it('first deploy: the chart renders with the commit and the Application as Argo CD substitutes them', async () => {
    const head = repo.head();
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(0);
    expect(await buildData()).toEqual({ revision: head, short: head.slice(0, 7), owner: 'web/shop' });
    expect(Object.keys(await ledger(admin, env)).sort()).toEqual(['static', 'web']);
  });

  it('a commit that touches neither app deploys the one that renders the commit, with the new commit, and leaves the other', async () => {
    const before = repo.head();
    const head = repo.commit({ 'README.md': 'platform apps, described\n' }, 'docs');
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(0);
    const apps = planned();
    expect(apps.web).toMatchObject({ status: 'changed', deploy: true });
    expect(apps.web!.reasons).toEqual([`its render uses the commit (Argo CD's $ARGOCD_APP_REVISION): ${head.slice(0, 12)} now, ${before.slice(0, 12)} before`]);
    expect(apps.static).toMatchObject({ status: 'unchanged', deploy: false });
    expect(await buildData()).toEqual({ revision: head, short: head.slice(0, 7), owner: 'web/shop' });
  });

  it('the same commit again deploys nothing: what is deployed is what the commit renders', async () => {
    const r = await pipe();
    expect(r.exitCode, r.all).toBe(0);
    const apps = planned();
    expect([apps.web!.deploy, apps.static!.deploy]).toEqual([false, false]);
    expect(await buildData()).toMatchObject({ revision: repo.head() });
  });

  it("a pull request's diff that finds nothing names the merge it compared and the pull request's commit", async () => {
    // Bitbucket merges the destination into the source and builds the merge; BITBUCKET_COMMIT is the source's
    repo.git('checkout', '-q', '-b', 'feature', 'HEAD~1');
    const source = repo.commit({ 'docs/notes.md': 'notes\n' }, 'notes');
    repo.git('checkout', '-q', 'main');
    repo.git('merge', '-q', '--no-ff', '-m', 'Merge feature', 'feature');
    const merge = repo.head();
    const r = await pipe({ MODE: 'diff', APPS: 'static', BITBUCKET_BRANCH: 'feature', BITBUCKET_PR_ID: '7', BITBUCKET_PR_DESTINATION_BRANCH: 'main' }, source);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain(`✔ No differences: the cluster matches ${merge.slice(0, 12)} (${source.slice(0, 12)} merged into main, as the pull request would merge it)`);
  });
});
