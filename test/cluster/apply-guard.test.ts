import { describe, expect, it } from 'vitest';
import { deploy, diff, readDeployedState } from '../../src/apply/index.js';
import { KubeClient } from '../../src/apply/client.js';
import { connect } from '../../src/apply/connection.js';
import { EnvironmentLock } from '../../src/apply/lock.js';
import { InputError, PipeError } from '../../src/util/errors.js';
import { Repo } from './helpers/repo.js';
import { accessFor, app, asAdmin, config, configMap, deployment, getJson, kubectl, ledger, logger, plan, rendered, uid } from './helpers/engine.js';

const { bed, admin, access, signal } = asAdmin();

describe('environment lock', () => {
  const id = uid();
  const env = `lock-${id}`;
  const ns = `lock-${id}`;
  const objs = new Map([['one', rendered('one', [configMap('one', undefined)])]]);
  const apps = [app('one', { namespace: ns })];

  it('a second run waits for the lock, then fails naming the holder (build and commit)', async () => {
    const client = new KubeClient(await connect(access));
    const holder = await EnvironmentLock.acquire(client, { namespace: 'app-of-apps-pipe', name: `app-of-apps-lock-${env}`, holder: 'build 7, commit 0123456789ab, acme/platform-apps', leaseDurationSeconds: 30, timeoutSeconds: 0, logger: logger() });
    try {
      const log = logger();
      const started = Date.now();
      const run = deploy({ plan: plan({ environment: env, apps }), rendered: objs, access, config: config(admin, { LOCK_TIMEOUT: '2' }), logger: log, signal });
      await expect(run).rejects.toThrow(/environment lock app-of-apps-pipe\/app-of-apps-lock-lock-\w+ is held by build 7, commit 0123456789ab, acme\/platform-apps .*waited 2s/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect(log.lines.join('\n')).toContain('waiting for the environment lock held by build 7');
      expect(await getJson(admin, ['configmap', '-n', ns, 'one'])).toBeUndefined();

      // Released while the next run waits: it proceeds.
      const waiting = deploy({ plan: plan({ environment: env, apps }), rendered: objs, access, config: config(admin, { LOCK_TIMEOUT: '30' }), logger: logger(), signal });
      await new Promise((r) => setTimeout(r, 1500));
      await holder.release();
      const result = await waiting;
      expect(result.ok).toBe(true);
    } finally {
      await holder.release();
      client.close();
    }
    // The run released its lease at the end.
    expect(await getJson(admin, ['lease', '-n', 'app-of-apps-pipe', `app-of-apps-lock-${env}`])).toBeUndefined();
  });

  it('two real runs at once: one deploys, the other is blocked while it holds (and renews) the lock', async () => {
    const slowApps = [app('slow', { namespace: `${ns}-slow`, timeoutSeconds: 8 })];
    const slow = new Map([['slow', rendered('slow', [deployment('slow', undefined, { nodeSelector: { 'no-such-node': 'x' } })])]]);
    // A 2 s lease: without renewals it would be free about 4 s after it was taken.
    const first = deploy({ plan: plan({ environment: `${env}-b`, apps: slowApps }), rendered: slow, access, config: config(admin, { BITBUCKET_BUILD_NUMBER: '100' }), logger: logger(), signal, pollMs: 200, lockLeaseSeconds: 2 });
    await new Promise((r) => setTimeout(r, 1000));
    const second = deploy({ plan: plan({ environment: `${env}-b`, apps }), rendered: objs, access, config: config(admin, { BITBUCKET_BUILD_NUMBER: '101', LOCK_TIMEOUT: '5' }), logger: logger(), signal });
    await expect(second).rejects.toThrow(/is held by build 100, commit/);
    const r = await first;
    expect(r.apps[0]!.outcome).toBe('failed');
    expect(r.apps[0]!.reason).toMatch(/not ready within TIMEOUT \(8s\)/);
  });

  it('a run whose lease another actor takes over stops: the running app is cancelled, and the result says the lock was lost', async () => {
    const e = `${env}-t`;
    const slowApps = [app('slow', { namespace: `${ns}-t`, timeoutSeconds: 20 })];
    const slow = new Map([['slow', rendered('slow', [deployment('slow', undefined, { nodeSelector: { 'no-such-node': 'x' } })])]]);
    const log = logger();
    const run = deploy({ plan: plan({ environment: e, apps: slowApps }), rendered: slow, access, config: config(admin), logger: log, signal, pollMs: 200, lockLeaseSeconds: 3 });
    await new Promise((r) => setTimeout(r, 1500));
    await kubectl(admin, ['patch', 'lease', '-n', 'app-of-apps-pipe', `app-of-apps-lock-${e}`, '--type', 'merge', '-p', '{"spec":{"holderIdentity":"intruder"}}']);
    const started = Date.now();
    const r = await run;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.lockLost).toBe(true);
    expect(r.ok).toBe(false);
    expect(r.apps[0]!.outcome).not.toBe('deployed');
    expect(log.lines.join('\n')).toContain(`lost the environment lock app-of-apps-pipe/app-of-apps-lock-${e} to intruder`);
    // the intruder's lease is not touched by the release
    expect((await getJson(admin, ['lease', '-n', 'app-of-apps-pipe', `app-of-apps-lock-${e}`]))?.spec?.holderIdentity).toBe('intruder');
  });

  it('a lease left by a killed run expires and is taken over', async () => {
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `app-of-apps-lock-${env}-k`, namespace: 'app-of-apps-pipe' }, spec: { holderIdentity: 'build 9, commit deadbeef [killed]', leaseDurationSeconds: 3, acquireTime: now, renewTime: now } };
    await kubectl(admin, ['create', '-f', '-'], { input: JSON.stringify(lease) });
    const log = logger();
    const started = Date.now();
    // its own namespace: the objects of environment ${env} are not another environment's to take over
    const result = await deploy({ plan: plan({ environment: `${env}-k`, apps: [app('one', { namespace: `${ns}-k` })] }), rendered: objs, access, config: config(admin, { LOCK_TIMEOUT: '30' }), logger: log, signal });
    expect(result.ok).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
    // while it waits, the run says the holder stopped renewing and when the lease runs out
    expect(log.lines.join('\n'), log.lines.join('\n')).toMatch(/waiting for the environment lock held by build 9, commit deadbeef \[killed\] \(last renewed \d+s ago; if its run is gone, the lock expires in [0-4]s; waiting up to 30s\)/);
    expect(log.lines.join('\n')).toContain('taking over the expired environment lock of build 9, commit deadbeef [killed]');
  });
});

describe('a run that waited for the lock', () => {
  it('does not put an older or unrelated commit over what another run deployed meanwhile', async () => {
    const env = `stale-${uid()}`;
    const ns = `stale-${uid()}`;
    const repo = new Repo({ 'a.txt': '1' });
    try {
      const c1 = repo.head();
      const c2 = repo.commit({ 'a.txt': '2' });
      repo.git('checkout', '-q', '-b', 'side', c1);
      const side = repo.commit({ 'b.txt': 'x' });
      repo.git('checkout', '-q', 'main');
      const apps = [app('one', { namespace: ns }), app('two', { namespace: ns })];
      const objs = (v: string) => new Map([['one', rendered('one', [configMap('one', undefined, { v })])], ['two', rendered('two', [configMap('two', undefined, { v })])]]);
      const vars = { BITBUCKET_CLONE_DIR: repo.dir };
      const run = (head: string, v: string, deployed?: Awaited<ReturnType<typeof readDeployedState>>, only?: string) =>
        deploy({ plan: plan({ environment: env, apps, head, status: only ? { [only === 'one' ? 'two' : 'one']: 'unchanged' } : undefined }), rendered: objs(v), access, config: config(admin, vars), logger: logger(), signal, deployed });

      expect((await run(c1, 'c1')).ok).toBe(true);
      const planned = await readDeployedState(access, { environment: env, ledgerNamespace: 'app-of-apps-pipe' });
      // Another run deploys app one at the side commit while "this" run (planned above) waits.
      expect((await run(side, 'side', undefined, 'one')).ok).toBe(true);

      const older = await run(c1, 'c1-again', planned);
      const byApp = Object.fromEntries(older.apps.map((a) => [a.app, a]));
      expect(byApp.one).toMatchObject({ outcome: 'failed' });
      expect(byApp.one!.reason).toContain(`deployed by build 42 (commit ${side.slice(0, 12)}) while this run waited for the lock`);
      expect(byApp.two!.outcome).toBe('deployed');
      expect((await getJson(admin, ['configmap', '-n', ns, 'one']))!.data).toEqual({ v: 'side' });

      // Now app one moves to c1 "meanwhile": a run at c2 (which contains c1) deploys over it; a run at c1 finds it done.
      const planned2 = await readDeployedState(access, { environment: env, ledgerNamespace: 'app-of-apps-pipe' });
      expect((await run(c1, 'c1', undefined, 'one')).ok).toBe(true);
      const same = await run(c1, 'c1', planned2, 'one');
      expect(same.apps[0]).toMatchObject({ app: 'one', outcome: 'unchanged' });
      expect(same.apps[0]!.reason).toContain('already deployed at this commit');
      const newer = await run(c2, 'c2', planned2, 'one');
      expect(newer.apps[0]).toMatchObject({ app: 'one', outcome: 'deployed' });
      expect((await getJson(admin, ['configmap', '-n', ns, 'one']))!.data).toEqual({ v: 'c2' });
    } finally {
      repo.remove();
    }
  });
});

describe('a run that planned before another run deployed', () => {
  it('applies nothing when an app it does not deploy was changed meanwhile (a revert planned as "nothing to do" would lose), and says to run again', async () => {
    const env = `replan-${uid()}`;
    const ns = `replan-${uid()}`;
    const repo = new Repo({ 'a.txt': '1' });
    try {
      const c1 = repo.head();
      const c2 = repo.commit({ 'a.txt': '2' });
      const c3 = repo.commit({ 'a.txt': '1' }); // the revert of c2
      const apps = [app('one', { namespace: ns }), app('two', { namespace: ns })];
      const objs = (v: string) => new Map([['one', rendered('one', [configMap('one', undefined, { v })])], ['two', rendered('two', [configMap('two', undefined, { v })])]]);
      const vars = { BITBUCKET_CLONE_DIR: repo.dir };
      const run = (head: string, v: string, status: Record<string, 'unchanged' | 'changed'>, deployed?: Awaited<ReturnType<typeof readDeployedState>>, log = logger()) =>
        deploy({ plan: plan({ environment: env, apps, head, status }), rendered: objs(v), access, config: config(admin, vars), logger: log, signal, deployed });

      expect((await run(c1, 'c1', {})).ok).toBe(true);
      // the revert's run plans now: against c1, app two is unchanged (and app one changed, say)
      const planned = await readDeployedState(access, { environment: env, ledgerNamespace: 'app-of-apps-pipe' });
      // the run of c2 deploys app two before the revert's run takes the lock
      expect((await run(c2, 'c2', { one: 'unchanged' })).ok).toBe(true);

      const log = logger();
      const stale = (await run(c3, 'c3', { two: 'unchanged' }, planned, log).catch((e: unknown) => e)) as PipeError;
      expect(stale).toBeInstanceOf(PipeError);
      expect(stale.message).toMatch(/^the deployed apps changed since this run planned: app two was deployed by build 42 \(commit [0-9a-f]{12}\) meanwhile; nothing was applied$/);
      expect(stale.hint).toMatch(/run this pipeline again, it plans against what is deployed now/);
      expect((await getJson(admin, ['configmap', '-n', ns, 'one']))!.data).toEqual({ v: 'c1' });
      expect((await getJson(admin, ['configmap', '-n', ns, 'two']))!.data).toEqual({ v: 'c2' });
      // with nothing to deploy by its plan, it checks the same under the lock instead of saying "up to date"
      const idle = deploy({ plan: plan({ environment: env, apps, head: c3, status: { one: 'unchanged', two: 'unchanged' } }), rendered: new Map(), access, config: config(admin, vars), logger: logger(), signal, deployed: planned });
      await expect(idle).rejects.toThrow(/app two was deployed by build 42 .* meanwhile; nothing was applied/);
      // planned again, both are deployed at the revert
      const now = await readDeployedState(access, { environment: env, ledgerNamespace: 'app-of-apps-pipe' });
      expect((await run(c3, 'c3', {}, now)).ok).toBe(true);
      expect((await getJson(admin, ['configmap', '-n', ns, 'two']))!.data).toEqual({ v: 'c3' });
      expect(await getJson(admin, ['lease', '-n', 'app-of-apps-pipe', `app-of-apps-lock-${env}`])).toBeUndefined();
    } finally {
      repo.remove();
    }
  });
});

describe('guardrails and identity', () => {
  const id = uid();

  it('an object outside the allowed namespaces is refused before anything is applied, naming app and object', async () => {
    const env = `guard-${id}`;
    const apps = [app('fine', { namespace: `ok-${id}` }), app('sneaky', { namespace: `ok-${id}` })];
    const objs = new Map([
      ['fine', rendered('fine', [configMap('fine', undefined)])],
      ['sneaky', rendered('sneaky', [configMap('x', 'kube-system')])],
    ]);
    const run = deploy({ plan: plan({ environment: env, apps, env: { allowedNamespaces: [`ok-${id}`] } }), rendered: objs, access, config: config(admin), logger: logger(), signal });
    await expect(run).rejects.toBeInstanceOf(InputError);
    await run.catch((err: InputError) => {
      expect(err.message).toContain('outside what environment');
      expect(err.details).toEqual([`app sneaky: ConfigMap/kube-system/x: namespace kube-system is not in allowedNamespaces [ok-${id}] of environment ${env}`]);
    });
    expect(await getJson(admin, ['configmap', '-n', `ok-${id}`, 'fine'])).toBeUndefined();
    expect(await getJson(admin, ['namespace', `ok-${id}`])).toBeUndefined();
    expect(await ledger(admin, env)).toEqual({});
  });

  it('the least-privileged deployer deploys into its namespace and is stopped at one it may not touch', async () => {
    const deployer = bed.deployerKubeconfig;
    const team = bed.deployerNamespaces[0]!;
    const env = `deployer-${id}`;
    const apps = [app('team', { namespace: team }), app('escape', { namespace: team })];
    const objs = new Map([
      ['team', rendered('team', [configMap(`team-${id}`, undefined)])],
      ['escape', rendered('escape', [configMap(`escape-${id}`, 'kube-system')])],
    ]);
    const result = await deploy({ plan: plan({ environment: env, apps }), rendered: objs, access: accessFor(deployer), config: config(deployer), logger: logger(), signal });
    const byApp = Object.fromEntries(result.apps.map((a) => [a.app, a]));
    expect(byApp.team!.outcome, byApp.team!.reason).toBe('deployed');
    expect(byApp.escape!.outcome).toBe('failed');
    expect(byApp.escape!.reason).toMatch(new RegExp(`ConfigMap/kube-system/escape-${id}: .*forbidden`));
    expect(await getJson(admin, ['configmap', '-n', 'kube-system', `escape-${id}`])).toBeUndefined();
    expect(Object.keys(await ledger(admin, env))).toEqual(['team']);
  });
});

describe('diff mode and cancellation', () => {
  const id = uid();
  const env = `diff-${id}`;
  const ns = `diff-${id}`;
  const apps = [app('site', { namespace: ns, prune: true })];

  it('shows what would change (update, create, prune) and changes nothing', async () => {
    await deploy({ plan: plan({ environment: env, apps }), rendered: new Map([['site', rendered('site', [configMap('cfg', undefined, { color: 'blue' }), configMap('old', undefined)])]]), access, config: config(admin), logger: logger(), signal });
    const before = await getJson(admin, ['configmap', '-n', ns, 'cfg']);
    const ledgerBefore = await ledger(admin, env);
    const log = logger();
    const next = new Map([['site', rendered('site', [configMap('cfg', undefined, { color: 'green' }), configMap('new', undefined)])]]);
    const result = await diff({ plan: plan({ environment: env, apps, status: { site: 'changed' } }), rendered: next, access, config: config(admin, { MODE: 'diff' }), logger: log, signal });
    expect(result.changed).toBe(true);
    expect(result.ok).toBe(true);
    const changes = Object.fromEntries(result.apps[0]!.objects.map((o) => [o.id, o.change]));
    expect(changes).toEqual({ [`ConfigMap/${ns}/cfg`]: 'update', [`ConfigMap/${ns}/new`]: 'create', [`ConfigMap/${ns}/old`]: 'delete' });
    const text = log.lines.join('\n');
    expect(text).toContain(`--- live/ConfigMap/${ns}/cfg`);
    expect(text).toContain('-  color: blue');
    expect(text).toContain('+  color: green');
    expect(text).not.toContain('managedFields');
    expect((await getJson(admin, ['configmap', '-n', ns, 'cfg']))!.metadata.resourceVersion).toBe(before!.metadata.resourceVersion);
    expect(await getJson(admin, ['configmap', '-n', ns, 'new'])).toBeUndefined();
    expect(await getJson(admin, ['configmap', '-n', ns, 'old'])).toBeDefined();
    expect(await ledger(admin, env)).toEqual(ledgerBefore);

    const same = await diff({ plan: plan({ environment: env, apps, status: { site: 'forced' } }), rendered: new Map([['site', rendered('site', [configMap('cfg', undefined, { color: 'blue' }), configMap('old', undefined)])]]), access, config: config(admin, { MODE: 'diff' }), logger: logger(), signal });
    expect(same.changed).toBe(false);
  });

  it('an object in a missing namespace is shown as a create only when the deploy creates the namespace; otherwise the diff fails as the deploy would', async () => {
    const nsApps = [
      app('namespaces', { namespace: `${ns}-obj`, createNamespace: false }),
      app('by-object', { namespace: `${ns}-obj`, createNamespace: false, dependsOn: ['namespaces'] }),
      app('by-create', { namespace: `${ns}-cn`, createNamespace: true }),
      app('nowhere', { namespace: `${ns}-missing`, createNamespace: false }),
    ];
    const objs = new Map([
      ['namespaces', rendered('namespaces', [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${ns}-obj` } }])],
      ['by-object', rendered('by-object', [configMap('cfg', undefined)])],
      ['by-create', rendered('by-create', [configMap('cfg', undefined)])],
      ['nowhere', rendered('nowhere', [configMap('cfg', undefined)])],
    ]);
    const log = logger();
    const result = await diff({ plan: plan({ environment: `${env}-ns`, apps: nsApps }), rendered: objs, access, config: config(admin, { MODE: 'diff' }), logger: log, signal });
    const byApp = Object.fromEntries(result.apps.map((a) => [a.app, a]));
    expect(byApp['by-object']!.objects).toEqual([expect.objectContaining({ id: `ConfigMap/${ns}-obj/cfg`, change: 'create', note: `its namespace ${ns}-obj is created by this deploy: not dry-run` })]);
    expect(byApp['by-create']!.objects.map((o) => [o.id, o.change, o.note])).toEqual([
      [`ConfigMap/${ns}-cn/cfg`, 'create', `its namespace ${ns}-cn is created by this deploy: not dry-run`],
      [`Namespace/${ns}-cn`, 'create', 'CreateNamespace'],
    ]);
    expect(byApp['by-create']!.error).toBeUndefined();
    // nothing creates this namespace: the deploy would fail on it, and so does the diff, with the same advice
    expect(byApp.nowhere!.objects).toEqual([]);
    expect(byApp.nowhere!.error).toEqual({
      message: `ConfigMap/${ns}-missing/cfg: server-side dry run failed: namespaces "${ns}-missing" not found`,
      details: [],
      hint: 'create the namespace first: set createNamespace for the app, or render a Namespace object',
    });
    expect(result.ok).toBe(false);
    expect(log.lines).toContain(`ERROR: nowhere: could not diff: ConfigMap/${ns}-missing/cfg: server-side dry run failed: namespaces "${ns}-missing" not found`);
    // the closing line counts what changes and what could not be compared, never "No changes."
    expect(log.lines).toContain('3 of 4 apps would change');
    expect(log.lines).toContain('1 of 4 apps could not be compared');
    const alone = logger();
    const only = await diff({ plan: plan({ environment: `${env}-ns`, apps: [nsApps[3]!] }), rendered: new Map([['nowhere', objs.get('nowhere')!]]), access, config: config(admin, { MODE: 'diff' }), logger: alone, signal });
    expect(only.ok).toBe(false);
    expect(alone.lines).toContain('1 of 1 apps could not be compared');
    expect(alone.lines).not.toContain('No changes.');
    for (const n of ['obj', 'cn', 'missing']) expect(await getJson(admin, ['namespace', `${ns}-${n}`])).toBeUndefined();
  });

  it('SIGTERM: no new app starts, the running one stops, nothing is recorded, the lock is released', async () => {
    const cenv = `cancel-${id}`;
    const capps = [app('stuck', { namespace: `${ns}-c`, timeoutSeconds: 120 }), app('after', { namespace: `${ns}-c`, dependsOn: ['stuck'] })];
    const objs = new Map([
      ['stuck', rendered('stuck', [deployment('stuck', undefined, { nodeSelector: { 'no-such-node': 'x' } })])],
      ['after', rendered('after', [configMap('after', undefined)])],
    ]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 1500);
    const started = Date.now();
    const result = await deploy({ plan: plan({ environment: cenv, apps: capps }), rendered: objs, access, config: config(admin), logger: logger(), signal: controller.signal, pollMs: 200 });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.cancelled).toBe(true);
    expect(result.ok).toBe(false);
    expect(result.apps.map((a) => [a.app, a.outcome])).toEqual([
      ['stuck', 'cancelled'],
      ['after', 'skipped'],
    ]);
    expect(await ledger(admin, cenv)).toEqual({});
    expect(await getJson(admin, ['lease', '-n', 'app-of-apps-pipe', `app-of-apps-lock-${cenv}`])).toBeUndefined();
  });
});
