// The Code Insights report through the pipe's real entrypoint, with the variables Bitbucket sets and
// a local stand-in for the pipeline's proxy (what host.docker.internal:29418 is in a pipe).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBitbucketProxy, type FakeBitbucketProxy } from '../support/bitbucket-proxy.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { TestRepo } from '../support/repo.js';

const made: TestRepo[] = [];
let proxy: FakeBitbucketProxy;
beforeAll(async () => {
  proxy = await startBitbucketProxy();
});
afterAll(async () => {
  await proxy.close();
  made.forEach((r) => r.cleanup());
});

const CM = (name: string, v = '1') => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name} }\ndata: { v: "${v}" }\n`;
const ROOT = `apiVersion: app-of-apps/v1
kind: Root
environments:
  staging: {}
apps:
  - name: web
    path: apps/web
  - name: api
    path: apps/api
`;

/** A repository with two commits: the second changes app web only. */
function twoCommits(): { repo: TestRepo; head: string } {
  const repo = new TestRepo().write({ 'app-of-apps.yaml': ROOT, 'apps/web/cm.yaml': CM('web'), 'apps/api/cm.yaml': CM('api') });
  made.push(repo);
  repo.commit('one');
  repo.write({ 'apps/web/cm.yaml': CM('web', '2') });
  return { repo, head: repo.commit('two') };
}

/** Bitbucket's variables as a pipeline sets them: the report is on unless CODE_INSIGHTS=false. */
function pipelineEnv(dir: string, commit: string, extra: Record<string, string> = {}): Record<string, string> {
  const { CODE_INSIGHTS: _off, ...env } = bitbucketEnv(dir, commit, { MODE: 'plan', ENVIRONMENT: 'staging', CODE_INSIGHTS_PROXY: proxy.url });
  return { ...env, ...extra };
}

/** The requests of one run: those made since `from`. */
const since = (from: number) => proxy.requests.slice(from);

describe('Code Insights report', () => {
  it('a plan on a pull-request build (short BITBUCKET_COMMIT) is reported on the full commit, through the proxy, replacing the last one', async () => {
    const { repo, head } = twoCommits();
    const from = proxy.requests.length;
    const r = await runPipe(pipelineEnv(repo.dir, head.slice(0, 12), { REPORT_FILE: join(repo.dir, '..', `${Date.now()}-plan.json`) }));
    expect(r.exitCode, r.all).toBe(0);
    const reqs = since(from);
    const url = `http://api.bitbucket.org/2.0/repositories/acme/platform-apps/commit/${head}/reports/app-of-apps-pipe-plan-staging`;
    // deleted first (a re-run leaves no annotations of the last), then written; a plan without problems has no annotations
    expect(reqs.map((q) => `${q.method} ${q.url}`)).toEqual([`DELETE ${url}`, `PUT ${url}`]);
    expect(reqs[1]!.body).toMatchObject({
      title: 'App of Apps plan: staging',
      report_type: 'TEST',
      reporter: 'app-of-apps-pipe',
      result: 'PASSED',
      link: 'https://bitbucket.org/acme/platform-apps/pipelines/results/42',
      details: '1 app of 2 would be deployed: web.',
    });
    const data = Object.fromEntries((reqs[1]!.body as { data: { title: string; value: unknown }[] }).data.map((d) => [d.title, d.value]));
    expect(data).toMatchObject({ Environment: 'staging', 'Apps in the root': 2, 'Apps to deploy': 1, 'Compared with': `${repo.git('rev-parse', 'HEAD~1').slice(0, 12)} (parent commit)` });
    expect(data.Duration).toBeGreaterThan(0);
    expect(r.stdout).toContain(`Code Insights report "App of Apps plan: staging" published on ${head.slice(0, 12)} (0 annotations)`);

    // the same run again replaces the report
    const again = proxy.requests.length;
    expect((await runPipe(pipelineEnv(repo.dir, head))).exitCode).toBe(0);
    expect(since(again).map((q) => q.method)).toEqual(['DELETE', 'PUT']);
  });

  it('bad input: a failed report, the error annotated on its file and line', async () => {
    const repo = new TestRepo().write({ 'app-of-apps.yaml': ROOT.replace('    path: apps/api\n', '    path: apps/api\n    dependsOn: [database]\n'), 'apps/web/cm.yaml': CM('web'), 'apps/api/cm.yaml': CM('api') });
    made.push(repo);
    const head = repo.commit('one');
    const from = proxy.requests.length;
    const r = await runPipe(pipelineEnv(repo.dir, head));
    expect(r.exitCode, r.all).toBe(2);
    const [, put, post] = since(from);
    expect(put!.body).toMatchObject({ result: 'FAILED', title: 'App of Apps plan: staging' });
    expect((put!.body as { details: string }).details).toMatch(/^app-of-apps\.yaml:\d+(:\d+)?: .*database/);
    expect(post!.url).toMatch(/\/reports\/app-of-apps-pipe-plan-staging\/annotations$/);
    expect(post!.body).toEqual([
      expect.objectContaining({ annotation_type: 'BUG', severity: 'HIGH', result: 'FAILED', path: 'app-of-apps.yaml', line: expect.any(Number), summary: expect.stringContaining('database') }),
    ]);
    const line = (post!.body as { line: number }[])[0]!.line;
    expect(ROOT.replace('    path: apps/api\n', '    path: apps/api\n    dependsOn: [database]\n').split('\n')[line - 1]).toContain('database');
  });

  it('an error holding a secret (a token in a remote URL) reaches the report masked', async () => {
    const token = 'INSIGHTSTOKEN123abc';
    const repo = new TestRepo().write({
      'app-of-apps.yaml': ROOT,
      'apps/web/kustomization.yaml': `resources:\n  - https://x-token-auth:${token}@bitbucket.invalid/acme/infra//deploy/web?ref=v1\n`,
      'apps/api/cm.yaml': CM('api'),
    });
    made.push(repo);
    const head = repo.commit('one');
    const from = proxy.requests.length;
    const r = await runPipe(pipelineEnv(repo.dir, head, { FORCE: 'true' }));
    expect(r.exitCode, r.all).toBe(2);
    const reqs = since(from);
    expect(reqs.map((q) => q.method)).toEqual(['DELETE', 'PUT', 'POST']);
    for (const q of reqs) expect(q.raw).not.toContain(token);
    expect(reqs[1]!.raw).toContain('https://****@bitbucket.invalid/acme/infra');
  });

  it("a proxy that refuses or does not answer is a warning: the run's result stands", async () => {
    const { repo, head } = twoCommits();
    proxy.failWith(500, 'Internal Server Error');
    try {
      const r = await runPipe(pipelineEnv(repo.dir, head));
      expect(r.exitCode, r.all).toBe(0);
      expect(r.stdout).toContain('✔ Plan: 1 of 2 apps would be deployed');
      expect(r.stderr).toContain(
        `WARNING: the Code Insights report was not published (DELETE http://api.bitbucket.org/2.0/repositories/acme/platform-apps/commit/${head}/reports/app-of-apps-pipe-plan-staging answered HTTP 500: Internal Server Error, through the proxy ${proxy.url}); the run's result is unchanged. Outside a Bitbucket pipeline, set CODE_INSIGHTS=false`,
      );
      // nothing listening: refused at once
      const closed = await runPipe(pipelineEnv(repo.dir, head, { CODE_INSIGHTS_PROXY: 'http://127.0.0.1:1' }));
      expect(closed.exitCode).toBe(0);
      expect(closed.stderr).toMatch(/WARNING: the Code Insights report was not published \(.*ECONNREFUSED.*through the proxy http:\/\/127\.0\.0\.1:1\)/);
      // a proxy that takes the request and never answers: bounded
      proxy.failWith('hang');
      const started = Date.now();
      const hung = await runPipe(pipelineEnv(repo.dir, head));
      expect(hung.exitCode).toBe(0);
      expect(Date.now() - started).toBeLessThan(40_000);
      expect(hung.stderr).toMatch(/WARNING: the Code Insights report was not published \(timeout of 10000ms exceeded, through the proxy /);

      // the report is in, its annotations are refused: said as it is
      proxy.failWith(400, 'The summary field cannot contain more than 450 characters.', ['POST']);
      const unknown = new TestRepo().write({ 'app-of-apps.yaml': ROOT.replace('    path: apps/api\n', '    path: apps/api\n    dependsOn: [database]\n'), 'apps/web/cm.yaml': CM('web'), 'apps/api/cm.yaml': CM('api') });
      made.push(unknown);
      const unknownHead = unknown.commit('one');
      const bad = await runPipe(pipelineEnv(unknown.dir, unknownHead));
      expect(bad.exitCode, bad.all).toBe(2);
      expect(bad.stderr).toContain(
        `WARNING: the Code Insights report was published without its annotations (0 of 1 sent: POST http://api.bitbucket.org/2.0/repositories/acme/platform-apps/commit/${unknownHead}/reports/app-of-apps-pipe-plan-staging/annotations answered HTTP 400: The summary field cannot contain more than 450 characters., through the proxy ${proxy.url}); the run's result is unchanged`,
      );
    } finally {
      proxy.failWith(undefined);
    }
  });

  it('is off outside a pipeline, and CODE_INSIGHTS=false turns it off in one; CODE_INSIGHTS=true without the repository is bad input', async () => {
    const { repo, head } = twoCommits();
    const from = proxy.requests.length;
    const { BITBUCKET_PIPELINE_UUID: _p, ...local } = pipelineEnv(repo.dir, head);
    expect((await runPipe(local)).exitCode).toBe(0);
    expect((await runPipe(pipelineEnv(repo.dir, head, { CODE_INSIGHTS: 'false' }))).exitCode).toBe(0);
    expect(since(from)).toEqual([]);

    const { BITBUCKET_REPO_FULL_NAME: _n, BITBUCKET_WORKSPACE: _w, ...nameless } = pipelineEnv(repo.dir, head, { CODE_INSIGHTS: 'true' });
    const r = await runPipe(nameless);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('CODE_INSIGHTS: a Code Insights report needs the repository: BITBUCKET_REPO_FULL_NAME (workspace/slug) is not set');
  });

  it('an Argo CD child that cannot be rendered is annotated on its Application, and the details say so in a sentence', async () => {
    const app = (name: string, repoURL: string) =>
      `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: ${name}, namespace: argocd}\nspec:\n  project: default\n  destination: {server: https://kubernetes.default.svc, namespace: shop}\n  source: {repoURL: '${repoURL}', path: apps/${name}}\n`;
    const repo = new TestRepo().write({
      'argo/web.yaml': app('web', 'git@bitbucket.org:acme/platform-apps.git'),
      'argo/vendor.yaml': app('vendor', 'https://github.com/acme/elsewhere.git'),
      'apps/web/cm.yaml': CM('web'),
    });
    made.push(repo);
    const head = repo.commit('one');
    const from = proxy.requests.length;
    const r = await runPipe(pipelineEnv(repo.dir, head, { ROOT_MANIFEST: 'argo', FORCE: 'true' }));
    expect(r.exitCode, r.all).toBe(0);
    const [, put, post] = since(from);
    expect((put!.body as { details: string }).details).toBe('1 app of 1 would be deployed: web.\n1 child cannot be rendered and is not deployed: vendor.');
    expect(post!.body).toEqual([expect.objectContaining({ external_id: 'unsupported-vendor', result: 'SKIPPED', path: 'argo/vendor.yaml', line: 1 })]);
  });

  it("an app that does not render is annotated on a file: the template and line helm names, the kustomization; the tool's message in the annotation", async () => {
    const root = 'apiVersion: app-of-apps/v1\nkind: Root\nenvironments:\n  staging: {}\napps:\n  - name: chart\n    path: apps/chart\n  - name: kust\n    path: apps/kust\n';
    const repo = new TestRepo().write({
      'app-of-apps.yaml': root,
      'apps/chart/Chart.yaml': 'apiVersion: v2\nname: web-chart\nversion: 1.0.0\n',
      'apps/chart/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  key: {{ required "set apiKey" .Values.apiKey }}\n',
      'apps/kust/kustomization.yaml': 'resources: [missing.yaml]\n',
    });
    made.push(repo);
    const head = repo.commit('one');
    const from = proxy.requests.length;
    const r = await runPipe(pipelineEnv(repo.dir, head, { FORCE: 'true' }));
    expect(r.exitCode, r.all).toBe(2);
    const [, put, post] = since(from);
    const annotations = post!.body as { path: string; line?: number; summary: string; details: string }[];
    expect(annotations.map((a) => [a.path, a.line, a.summary])).toEqual([
      ['apps/chart/templates/cm.yaml', 5, 'app chart: helm template apps/chart failed (exit 1)'],
      ['apps/kust/kustomization.yaml', undefined, 'app kust: kubectl kustomize apps/kust failed (exit 1)'],
    ]);
    expect(annotations[0]!.details).toContain('set apiKey');
    // the details name each problem in a line; the tools' messages are in the annotations
    expect((put!.body as { details: string }).details).toBe(
      '2 apps of 2 would be deployed: chart, kust.\napps/chart/templates/cm.yaml:5: app chart: helm template apps/chart failed (exit 1)\napps/kust/kustomization.yaml: app kust: kubectl kustomize apps/kust failed (exit 1)\nWhat to do: fix each problem listed above (each names its place and what to do), then run again',
    );
  });

  it("more annotations than Bitbucket keeps (1000): the most severe are sent, and the details say how many were left out", async () => {
    const app = (name: string, repoURL: string) =>
      `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: ${name}, namespace: argocd}\nspec:\n  project: default\n  destination: {server: https://kubernetes.default.svc, namespace: shop}\n  source: {repoURL: '${repoURL}', path: apps/${name}}\n`;
    const elsewhere = Array.from({ length: 1005 }, (_, i) => app(`vendor-${i}`, 'https://github.com/acme/elsewhere.git')).join('---\n');
    const repo = new TestRepo().write({
      'argo/vendors.yaml': elsewhere,
      'argo/web.yaml': app('web', 'git@bitbucket.org:acme/platform-apps.git'),
      'apps/web/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n---\nkind: ConfigMap\nmetadata: {name: broken}\n',
    });
    made.push(repo);
    const head = repo.commit('one');
    const from = proxy.requests.length;
    const r = await runPipe(pipelineEnv(repo.dir, head, { ROOT_MANIFEST: 'argo', FORCE: 'true' }));
    expect(r.exitCode, r.all).toBe(2);
    const reqs = since(from);
    const annotations = reqs.filter((q) => q.method === 'POST').flatMap((q) => q.body as { result: string; path: string; line?: number }[]);
    expect(annotations).toHaveLength(1000);
    // the broken manifest is among them, first
    expect(annotations[0]).toMatchObject({ result: 'FAILED', path: 'apps/web/cm.yaml', line: 5 });
    expect((reqs[1]!.body as { details: string }).details).toMatch(/^1006 annotations: the 1000 most severe are attached\./m);
  });

  it('a text clipped to its limit never ends in half a character (an emoji is two UTF-16 units)', async () => {
    const root = 'apiVersion: app-of-apps/v1\nkind: Root\nenvironments:\n  staging: {}\napps:\n  - name: chart\n    path: apps/chart\n';
    const repo = new TestRepo().write({
      'app-of-apps.yaml': root,
      'apps/chart/Chart.yaml': 'apiVersion: v2\nname: chart\nversion: 1.0.0\n',
      // helm's message is longer than an annotation's 2000 characters, and its 1999th unit starts an emoji
      'apps/chart/templates/cm.yaml': `{{ fail "x${'\u{1F680}'.repeat(1000)}" }}\n`,
    });
    made.push(repo);
    const head = repo.commit('one');
    const from = proxy.requests.length;
    expect((await runPipe(pipelineEnv(repo.dir, head, { FORCE: 'true' }))).exitCode).toBe(2);
    const post = since(from).find((q) => q.method === 'POST')!;
    const details = (post.body as { details: string }[])[0]!.details;
    expect(details.length).toBeLessThanOrEqual(2000);
    // helm's message is what is clipped, at a whole emoji; what to do comes after it, whole
    const [message, advice] = details.split('\nWhat to do: ');
    expect(message).toMatch(/\u{1F680}…$/u);
    expect(advice).toBe("fix the chart or its values; the lines above are helm's own message");
    // no lone surrogate: JSON.stringify writes one as an escape that stands for no character
    expect(post.raw).not.toMatch(/\\ud[89ab][0-9a-f]{2}/i);
  });

  it('the JSON report names where each app is defined (what the annotations point at)', async () => {
    const { repo, head } = twoCommits();
    const file = join(repo.dir, '..', `${Date.now()}-where.json`);
    expect((await runPipe(bitbucketEnv(repo.dir, head, { MODE: 'plan', ENVIRONMENT: 'staging', REPORT_FILE: file }))).exitCode).toBe(0);
    const apps = JSON.parse(readFileSync(file, 'utf8')).plan.apps as { name: string; file: string; line: number }[];
    expect(apps.map((a) => [a.name, a.file, a.line]).sort()).toEqual([
      ['api', 'app-of-apps.yaml', 8],
      ['web', 'app-of-apps.yaml', 6],
    ]);
  });
});
