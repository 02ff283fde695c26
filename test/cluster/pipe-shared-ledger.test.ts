// Two repositories deploying to one environment of one cluster (one ledger, one lock), through the
// pipe's real entrypoint with each repository's Bitbucket variables: neither removes, prunes or
// takes over the other's apps and objects.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestbed } from '../support/cluster-global-setup.js';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { getJson, ledger, uid } from './helpers/engine.js';
import { Repo, yamlConfigMap } from './helpers/repo.js';

const bed = useTestbed();
const admin = bed.adminKubeconfig;
const id = uid();
const env = `shared-${id}`;

const root = (apps: { name: string; ns: string }[]) => `apiVersion: app-of-apps/v1
kind: Root
defaults: {createNamespace: true}
environments:
  ${env}: {}
apps:
${apps.map((a) => `  - {name: ${a.name}, path: apps/${a.name}, namespace: ${a.ns}}`).join('\n')}
`;

const payments = new Repo({
  'app-of-apps.yaml': root([{ name: 'payments', ns: `pay-${id}` }]),
  'apps/payments/cm.yaml': yamlConfigMap('pay', { owner: 'payments' }),
});
const search = new Repo({
  'app-of-apps.yaml': root([{ name: 'search', ns: `search-${id}` }]),
  'apps/search/cm.yaml': yamlConfigMap('search', { owner: 'search' }),
});
afterAll(() => {
  payments.remove();
  search.remove();
});

const identity = {
  payments: { BITBUCKET_REPO_SLUG: 'payments-apps', BITBUCKET_REPO_FULL_NAME: 'acme/payments-apps', BITBUCKET_REPO_UUID: '{11111111-0000-4000-8000-000000000001}' },
  search: { BITBUCKET_REPO_SLUG: 'search-apps', BITBUCKET_REPO_FULL_NAME: 'acme/search-apps', BITBUCKET_REPO_UUID: '{22222222-0000-4000-8000-000000000002}' },
};
const reportFile = (repo: Repo) => join(repo.dir, '..', 'report.json');
const pipe = (repo: Repo, who: keyof typeof identity, vars: Record<string, string> = {}) =>
  runPipe(
    bitbucketEnv(repo.dir, repo.head(), {
      ...identity[who],
      BITBUCKET_DEPLOYMENT_ENVIRONMENT: env,
      KUBE_CONFIG: Buffer.from(readFileSync(admin)).toString('base64'),
      REPORT_FILE: reportFile(repo),
      LOCK_TIMEOUT: '20',
      ...vars,
    }),
    [],
    { timeoutMs: 120_000 },
  );

describe('two repositories, one environment', () => {
  it("a repository never reports or prunes another repository's apps as removed", async () => {
    const a = await pipe(payments, 'payments');
    expect(a.exitCode, a.all).toBe(0);
    const b = await pipe(search, 'search', { PRUNE_REMOVED_APPS: 'true' });
    expect(b.exitCode, b.all).toBe(0);
    expect(b.all).not.toContain('payments');
    expect(JSON.parse(readFileSync(reportFile(search), 'utf8')).result.removed).toEqual([]);
    expect((await getJson(admin, ['configmap', '-n', `pay-${id}`, 'pay']))!.data).toEqual({ owner: 'payments' });
    const l = await ledger(admin, env);
    expect(Object.keys(l).sort()).toEqual(['payments', 'search']);
    expect(l.search).toMatchObject({ repository: 'acme/search-apps', repositoryUuid: identity.search.BITBUCKET_REPO_UUID });

    // and the first repository's next run sees its own app as deployed, the other's not as removed
    payments.commit({ 'apps/payments/cm.yaml': yamlConfigMap('pay', { owner: 'payments', v: '2' }) });
    const again = await pipe(payments, 'payments', { PRUNE_REMOVED_APPS: 'true' });
    expect(again.exitCode, again.all).toBe(0);
    expect(again.all).not.toContain('search');
    expect((await getJson(admin, ['configmap', '-n', `search-${id}`, 'search']))!.data).toEqual({ owner: 'search' });
  });

  it("an object another repository's app deployed is not taken over", async () => {
    search.commit({ 'apps/search/pay.yaml': yamlConfigMap('pay', { owner: 'search' }).replace('metadata:\n', `metadata:\n  namespace: pay-${id}\n`) });
    const r = await pipe(search, 'search');
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toContain(`ConfigMap/pay-${id}/pay: is deployed by app payments from repository acme/payments-apps, which this run does not deploy`);
    expect((await getJson(admin, ['configmap', '-n', `pay-${id}`, 'pay']))!.data).toEqual({ owner: 'payments', v: '2' });
    search.commit({ 'apps/search/pay.yaml': null });
  });

  it('an app of the same name as one of the other repository stops the run before anything is applied', async () => {
    const ledgerBefore = await ledger(admin, env);
    search.commit({
      'app-of-apps.yaml': root([
        { name: 'search', ns: `search-${id}` },
        { name: 'payments', ns: `search-${id}` },
      ]),
      'apps/payments/cm.yaml': yamlConfigMap('impostor', { owner: 'search' }),
    });
    const r = await pipe(search, 'search');
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toContain(`holds apps of the same name from another repository; nothing was applied`);
    expect(r.all).toMatch(new RegExp(`app payments is in the ledger from repository acme/payments-apps \\(commit [0-9a-f]{12}, build \\d+; ConfigMap app-of-apps-ledger-${env}\\.payments\\)`));
    expect(r.all).toContain('LEDGER_NAMESPACE');
    expect(await getJson(admin, ['configmap', '-n', `search-${id}`, 'impostor'])).toBeUndefined();
    expect(await ledger(admin, env)).toEqual(ledgerBefore);
  });
});
