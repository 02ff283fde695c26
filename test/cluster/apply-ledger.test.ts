// The deploy ledger: one ConfigMap per app, so concurrent writers never contend and the size of an
// environment's ledger has no limit but an app's own.
import { describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/apply/client.js';
import { connect } from '../../src/apply/connection.js';
import { LedgerWriter, otherLedgers, readLedger, type LedgerEntry } from '../../src/apply/ledger.js';
import { useTestbed } from '../support/cluster-global-setup.js';
import { deploy } from '../../src/apply/index.js';
import { accessFor, app, config, configMap, getJson, kubectl, ledger, logger, plan, rendered, uid } from './helpers/engine.js';

const bed = useTestbed();

const entry = (app: string, commit: string): LedgerEntry => ({ app, commit, deployedAt: new Date().toISOString(), objects: [`v1 ConfigMap ns/${app}`] });

describe('ledger', () => {
  it('two writers (two runs, two connections) recording at once keep every entry', async () => {
    const env = `ledger-${uid()}`;
    const clients = await Promise.all([0, 1].map(async () => new KubeClient(await connect(accessFor(bed.adminKubeconfig)))));
    try {
      const [a, b] = clients.map((c) => new LedgerWriter(c, 'app-of-apps-pipe', env)) as [LedgerWriter, LedgerWriter];
      await Promise.all([
        ...Array.from({ length: 15 }, (_, i) => a.record(entry(`a-${i}`, 'a'.repeat(40)))),
        ...Array.from({ length: 15 }, (_, i) => b.record(entry(`b-${i}`, 'b'.repeat(40)))),
      ]);
      const snapshot = await readLedger(clients[0]!, 'app-of-apps-pipe', env, undefined);
      expect(snapshot.problems).toEqual([]);
      expect(snapshot.entries.size).toBe(30);
      expect(snapshot.entries.get('b-14')?.commit).toBe('b'.repeat(40));

      // one writer's record and remove of one app keep their order; the other app's write stands
      await Promise.all([a.record(entry('a-0', 'd'.repeat(40))), a.remove('a-0'), b.record(entry('a-1', 'c'.repeat(40)))]);
      const after = await readLedger(clients[1]!, 'app-of-apps-pipe', env, undefined);
      expect(after.entries.has('a-0')).toBe(false);
      expect(after.entries.get('a-1')?.commit).toBe('c'.repeat(40));
      expect(after.entries.size).toBe(29);
      // removing an app that has no entry is not an error
      await a.remove('never-deployed');
      // another environment's ledger is not this one's, and is what otherLedgers lists
      const other = new LedgerWriter(clients[0]!, 'app-of-apps-pipe', `${env}-b`);
      await other.record(entry('a-1', 'e'.repeat(40)));
      expect((await readLedger(clients[0]!, 'app-of-apps-pipe', env, undefined)).entries.get('a-1')?.commit).toBe('c'.repeat(40));
      const elsewhere = await otherLedgers(clients[0]!, 'app-of-apps-pipe', env);
      expect(elsewhere.find((l) => l.environment === `${env}-b`)?.entries.map((e) => e.commit)).toEqual(['e'.repeat(40)]);
      expect(elsewhere.some((l) => l.environment === env)).toBe(false);
        } finally {
      clients.forEach((c) => c.close());
    }
  });

  it('holds an environment of 1,500 apps of 10 objects (more than one ConfigMap could), read back in pages', async () => {
    const env = `ledger-big-${uid()}`;
    const client = new KubeClient(await connect(accessFor(bed.adminKubeconfig)));
    try {
      const writer = new LedgerWriter(client, 'app-of-apps-pipe', env);
      const big = (app: string): LedgerEntry => ({ ...entry(app, 'f'.repeat(40)), objects: Array.from({ length: 10 }, (_, i) => `apps/v1 Deployment team-${app}/${app}-component-${i}`) });
      const apps = Array.from({ length: 1500 }, (_, i) => `service-${String(i).padStart(4, '0')}`);
      const bytes = apps.reduce((n, a) => n + JSON.stringify(big(a)).length, 0);
      expect(bytes).toBeGreaterThan(1024 * 1024);
      for (let i = 0; i < apps.length; i += 50) await Promise.all(apps.slice(i, i + 50).map((a) => writer.record(big(a))));
      const requests = client.requests;
      const snapshot = await readLedger(client, 'app-of-apps-pipe', env, undefined);
      expect(snapshot.problems).toEqual([]);
      expect(snapshot.entries.size).toBe(1500);
      expect(snapshot.entries.get('service-1499')?.objects).toHaveLength(10);
      // pages of at most 500 (the server may fill one with fewer when it filters by label)
      expect(client.requests - requests).toBeGreaterThanOrEqual(3);
      expect(client.requests - requests).toBeLessThanOrEqual(6);
    } finally {
      await client.request('DELETE', '/api/v1/namespaces/app-of-apps-pipe/configmaps', { query: { labelSelector: `app-of-apps.io/ledger=${env}` } }).catch(() => undefined);
      client.close();
    }
  });

  it('an app whose inventory would not fit its ledger entry fails before any of it is applied; the other apps deploy', async () => {
    const env = `ledger-huge-${uid()}`;
    const ns = `huge-${uid()}`;
    // 13,000 objects of long names: about 1.2 MB of inventory
    const many = Array.from({ length: 13_000 }, (_, i) => configMap(`a-config-map-with-a-rather-long-name-to-fill-the-entry-${String(i).padStart(5, '0')}`, ns));
    const apps = [app('huge', { namespace: ns, createNamespace: true }), app('small', { namespace: `${ns}-s`, createNamespace: true })];
    const objs = new Map([['huge', rendered('huge', many)], ['small', rendered('small', [configMap('fine', undefined)])]]);
    const result = await deploy({ plan: plan({ environment: env, apps }), rendered: objs, access: accessFor(bed.adminKubeconfig), config: config(bed.adminKubeconfig), logger: logger(), signal: new AbortController().signal });
    const huge = result.apps.find((a) => a.app === 'huge')!;
    expect(huge.outcome).toBe('failed');
    expect(huge.reason).toMatch(/deploy ledger entry of app huge would be \d+ bytes \(13000 objects\), over a ConfigMap's 1 MiB/);
    expect(await getJson(bed.adminKubeconfig, ['namespace', ns])).toBeUndefined();
    expect(result.apps.find((a) => a.app === 'small')!.outcome).toBe('deployed');
    expect(Object.keys(await ledger(bed.adminKubeconfig, env))).toEqual(['small']);
  });

  it('a ledger in the one-ConfigMap format of earlier versions counts, and the next deploy moves it to a ConfigMap per app', async () => {
    const env = `ledger-legacy-${uid()}`;
    const ns = `legacy-${uid()}`;
    const admin = bed.adminKubeconfig;
    const mine = { ...entry('web', 'a'.repeat(40)), repository: 'acme/platform-apps' };
    const theirs = { ...entry('pay', 'b'.repeat(40)), repository: 'acme/payments-apps' };
    const legacy = (name: string, entries: LedgerEntry[]) =>
      kubectl(admin, ['apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name, namespace: 'app-of-apps-pipe', labels: { 'app-of-apps.io/managed-by': 'app-of-apps-pipe', 'app-of-apps.io/environment': name.replace('app-of-apps-ledger-', '') } },
          data: Object.fromEntries(entries.map((e) => [e.app, JSON.stringify(e)])),
        }),
      });
    await legacy(`app-of-apps-ledger-${env}`, [mine, theirs]);
    await legacy(`app-of-apps-ledger-${env}-other`, [entry('elsewhere', 'c'.repeat(40))]);
    const client = new KubeClient(await connect(accessFor(admin)));
    try {
      // read: this repository's entry is deployed, the other repository's is foreign; another environment's old ledger is seen by prune's check
      const before = await readLedger(client, 'app-of-apps-pipe', env, { fullName: 'acme/platform-apps' });
      expect([[...before.entries.keys()], [...before.foreign.keys()]]).toEqual([['web'], ['pay']]);
      expect((await otherLedgers(client, 'app-of-apps-pipe', env)).find((l) => l.environment === `${env}-other`)?.entries.map((e) => e.app)).toEqual(['elsewhere']);

      // a deploy under the lock moves every entry to its own ConfigMap and deletes the old one
      const log = logger();
      const result = await deploy({ plan: plan({ environment: env, apps: [app('api', { namespace: ns, createNamespace: true })] }), rendered: new Map([['api', rendered('api', [configMap('cfg', undefined)])]]), access: accessFor(admin), config: config(admin), logger: log, signal: new AbortController().signal });
      expect(result.ok, JSON.stringify(result.apps)).toBe(true);
      expect(log.lines.join('\n')).toContain(`deploy ledger: moved 2 entries of ConfigMap app-of-apps-pipe/app-of-apps-ledger-${env} (the format of earlier versions) to a ConfigMap per app`);
      expect(await getJson(admin, ['configmap', '-n', 'app-of-apps-pipe', `app-of-apps-ledger-${env}`])).toBeUndefined();
      expect(Object.keys(await ledger(admin, env)).sort()).toEqual(['api', 'pay', 'web']);
      expect((await ledger(admin, env)).web).toEqual(mine);
    } finally {
      client.close();
      await kubectl(admin, ['delete', 'configmap', '-n', 'app-of-apps-pipe', `app-of-apps-ledger-${env}-other`, '--ignore-not-found']);
    }
  });
});

