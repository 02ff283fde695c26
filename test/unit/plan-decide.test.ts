import { describe, expect, it } from 'vitest';
import type { AppBase } from '../../src/plan/base.js';
import { decide, type BaseRoot, type DecideInput } from '../../src/plan/decide.js';
import type { AppDependencies } from '../../src/plan/dependencies.js';
import type { DeployedState } from '../../src/plan/model.js';
import type { App } from '../../src/root/model.js';
import { InputError } from '../../src/util/errors.js';
import { app, root } from './plan-support.js';

const BASE = 'b'.repeat(40);

function depsOf(apps: App[], extra: Record<string, Partial<AppDependencies>> = {}): Map<string, AppDependencies> {
  return new Map(
    apps.map((a) => [a.name, { folder: a.path, directory: a.type === 'directory' ? a.directory : undefined, paths: [], watch: a.watch, ...extra[a.name] }]),
  );
}

function input(apps: App[], over: Partial<DecideInput> & { files?: string[]; baseRoot?: BaseRoot } = {}): DecideInput {
  const { files = [], baseRoot = { kind: 'same' }, ...rest } = over;
  return {
    root: root(apps),
    base: () => ({ kind: 'commit', commit: BASE }),
    changed: new Map([[BASE, files]]),
    baseRoots: new Map([[BASE, baseRoot]]),
    deps: depsOf(apps),
    force: false,
    only: [],
    ...rest,
  };
}

const status = (d: ReturnType<typeof decide>) => Object.fromEntries(d.changes.map((c) => [c.app.name, c.status]));
const reasons = (d: ReturnType<typeof decide>, name: string) => d.changes.find((c) => c.app.name === name)!.reasons;

describe('decide', () => {
  const api = app('api', { type: 'kustomize' });
  const web = app('web', { type: 'kustomize', dependsOn: ['api'] });
  const db = app('db', { type: 'helm', helm: { releaseName: 'db', valueFiles: ['envs/prod/db.yaml'], parameters: [] } });

  it('marks an app changed by a file in its folder, and only that app (not its dependents)', () => {
    const d = decide(input([api, web, db], { files: ['apps/api/deployment.yaml'] }));
    expect(status(d)).toEqual({ api: 'changed', web: 'unchanged', db: 'unchanged' });
    expect(reasons(d, 'api')).toEqual(['apps/api/deployment.yaml changed']);
    expect(d.changes[0]!.base).toBe(BASE);
  });

  it('names the dependency kind for files outside the folder: shared bases, values files', () => {
    const apps = [api, web, db];
    const deps = depsOf(apps, {
      api: { paths: [{ path: 'libs/base', kind: 'kustomize base' }] },
      db: { paths: [{ path: 'envs/prod/db.yaml', kind: 'values file' }] },
    });
    const d = decide(input(apps, { deps, files: ['libs/base/deploy.yaml', 'envs/prod/db.yaml', 'envs/prod/other.yaml'] }));
    expect(status(d)).toEqual({ api: 'changed', web: 'unchanged', db: 'changed' });
    expect(reasons(d, 'api')).toEqual(['kustomize base libs/base/deploy.yaml changed']);
    expect(reasons(d, 'db')).toEqual(['values file envs/prod/db.yaml changed']);
  });

  it('matches watch globs', () => {
    const w = app('w', { watch: ['libs/config/**'] });
    const d = decide(input([w], { files: ['libs/config/a/b.yaml', 'libs/other.yaml'] }));
    expect(reasons(d, 'w')).toEqual(['watched path libs/config/a/b.yaml changed (watch: libs/config/**)']);
  });

  it('respects a directory app\'s recurse, include and exclude, and ignores files it does not render', () => {
    const flat = app('flat', { directory: { recurse: false } });
    const picky = app('picky', { directory: { recurse: true, include: '*.yaml', exclude: '{secret.yaml,skip/*}' } });
    const files = ['apps/flat/sub/x.yaml', 'apps/flat/README.md', 'apps/picky/secret.yaml', 'apps/picky/skip/a.yaml', 'apps/picky/a.json'];
    expect(status(decide(input([flat, picky], { files })))).toEqual({ flat: 'unchanged', picky: 'unchanged' });
    const d = decide(input([flat, picky], { files: ['apps/flat/x.yml', 'apps/picky/deep/er/a.yaml'] }));
    expect(reasons(d, 'flat')).toEqual(['apps/flat/x.yml changed']);
    expect(reasons(d, 'picky')).toEqual(['apps/picky/deep/er/a.yaml changed']);
  });

  it('counts a submodule bump for a directory app that renders files below it', () => {
    const whole = app('whole', { path: 'apps/whole', directory: { recurse: false } });
    const deep = app('deep', { path: 'apps/deep', directory: { recurse: true } });
    const flat = app('flat', { path: 'apps/flat', directory: { recurse: false } });
    const submodules = new Set(['apps/whole', 'apps/deep/vendor/lib', 'apps/flat/vendor']);
    const d = decide(input([whole, deep, flat], { files: ['apps/whole', 'apps/deep/vendor/lib', 'apps/flat/vendor'], submodules }));
    expect(reasons(d, 'whole')).toEqual(['submodule apps/whole changed']);
    expect(reasons(d, 'deep')).toEqual(['submodule apps/deep/vendor/lib changed']);
    // a folder below a non-recursive app is not read
    expect(status(d).flat).toBe('unchanged');
    // an app whose folder is inside the submodule, of any type
    const inside = app('inside', { type: 'kustomize', path: 'vendor/sub/deploy' });
    const files = decide(input([inside, app('files', { path: 'vendor/sub/manifests', directory: { recurse: false } })], { files: ['vendor/sub'], submodules: new Set(['vendor/sub']) }));
    expect(reasons(files, 'inside')).toEqual(["submodule vendor/sub changed (the app's folder is inside it)"]);
    expect(reasons(files, 'files')).toEqual(["submodule vendor/sub changed (the app's folder is inside it)"]);
  });

  it("counts a kustomization or chart file in a directory app's folder, rendered or not: it decides the type", () => {
    // a deleted `Kustomization` (no extension) turned a kustomize app into a directory app
    const flat = app('flat', { directory: { recurse: false } });
    const picky = app('picky', { directory: { recurse: true, exclude: '{Chart.yaml,kustomization.yaml}' } });
    const d = decide(input([flat, picky], { files: ['apps/flat/Kustomization', 'apps/picky/Chart.yaml', 'apps/picky/sub/Kustomization'] }));
    expect(reasons(d, 'flat')).toEqual(['apps/flat/Kustomization changed (it decides whether the folder is a kustomization or a chart)']);
    expect(reasons(d, 'picky')).toEqual(['apps/picky/Chart.yaml changed (it decides whether the folder is a kustomization or a chart)']);
    expect(status(decide(input([picky], { files: ['apps/picky/sub/Kustomization'] })))).toEqual({ picky: 'unchanged' });
  });

  it('lists a few files and counts the rest', () => {
    const files = Array.from({ length: 8 }, (_, i) => `apps/api/f${i}.yaml`);
    expect(reasons(decide(input([api], { files })), 'api')).toEqual([...files.slice(0, 5).map((f) => `${f} changed`), 'and 3 more changed files']);
  });

  it('compares root entries with the root at the base: edited entry, new app, removed app', () => {
    const baseRoot: BaseRoot = { kind: 'loaded', apps: new Map([['api', 'old-digest'], ['web', web.definitionDigest], ['gone', 'x']]), disabled: [] };
    const d = decide(input([api, web, db], { baseRoot }));
    expect(status(d)).toEqual({ api: 'changed', web: 'unchanged', db: 'new' });
    expect(reasons(d, 'api')).toEqual(['root entry changed']);
    expect(reasons(d, 'db')).toEqual([`new app (not in the root manifest at ${BASE.slice(0, 12)})`]);
    expect(d.removed).toEqual(['gone']);
  });

  it('says when the root did not exist at the base, or could not be read there', () => {
    expect(status(decide(input([api], { baseRoot: { kind: 'absent' } })))).toEqual({ api: 'new' });
    const d = decide(input([api], { baseRoot: { kind: 'failed', reason: 'bad yaml' } }));
    expect(status(d)).toEqual({ api: 'changed' });
    expect(reasons(d, 'api')[0]).toContain('bad yaml');
  });

  it('deploys an app whose last attempt failed after changing objects, even when its files did not change since', () => {
    const deployed: DeployedState = { source: 'test', apps: new Map([['api', { app: 'api', commit: BASE, failed: { commit: 'f'.repeat(40), at: '2026-11-28T10:00:00Z' } }]]) };
    const d = decide(input([api], { deployed }));
    expect(status(d)).toEqual({ api: 'changed' });
    expect(reasons(d, 'api')).toEqual([`its last deploy attempt (ffffffffffff, 2026-11-28T10:00:00Z) changed objects and did not finish: the cluster is not what bbbbbbbbbbbb rendered`]);
  });

  it('changes an app that renders the commit (Argo CD\'s $ARGOCD_APP_REVISION) whenever its base is another commit, and only then', () => {
    const rev = app('rev', { type: 'helm', buildEnvironment: { variables: {}, usesRevision: true } });
    const named = app('named', { type: 'helm', buildEnvironment: { variables: { ARGOCD_APP_NAME: 'named' }, usesRevision: false } });
    const head = 'c'.repeat(40);
    expect(status(decide(input([rev, named], { head })))).toEqual({ rev: 'changed', named: 'unchanged' });
    expect(reasons(decide(input([rev], { head })), 'rev')).toEqual(["its render uses the commit (Argo CD's $ARGOCD_APP_REVISION): cccccccccccc now, bbbbbbbbbbbb before"]);
    expect(status(decide(input([rev], { head: BASE })))).toEqual({ rev: 'unchanged' });
  });

  it('uses each app\'s deployed commit from the ledger', () => {
    const c1 = '1'.repeat(40);
    const c2 = '2'.repeat(40);
    const deployed: DeployedState = {
      source: 'test',
      apps: new Map([
        ['api', { app: 'api', commit: c1 }],
        ['web', { app: 'web', commit: c2 }],
        ['db', { app: 'db', commit: 'f'.repeat(40) }],
        ['old', { app: 'old', commit: c1 }],
      ]),
    };
    const bases: Record<string, AppBase> = {
      api: { kind: 'commit', commit: c1 },
      web: { kind: 'commit', commit: c2 },
      db: { kind: 'unknown', reason: 'its deployed commit is gone' },
    };
    const fresh = app('fresh');
    const d = decide(
      input([api, web, db, fresh], {
        deployed,
        base: (n) => bases[n] ?? { kind: 'not-deployed' },
        // the same file changed since c1 but not since c2: only api is behind
        changed: new Map([
          [c1, ['apps/api/a.yaml', 'apps/web/w.yaml']],
          [c2, []],
        ]),
        baseRoots: new Map(),
      }),
    );
    expect(status(d)).toEqual({ api: 'changed', web: 'unchanged', db: 'unknown-base', fresh: 'new' });
    expect(reasons(d, 'fresh')).toEqual(['not deployed before']);
    expect(d.removed).toEqual(['old']);
  });

  it('APPS restricts the run; FORCE deploys regardless of changes', () => {
    const apps = [api, web, db];
    let d = decide(input(apps, { only: ['web'], files: ['apps/api/x.yaml', 'apps/web/x.yaml'] }));
    expect(status(d)).toEqual({ api: 'skipped', web: 'changed', db: 'skipped' });
    d = decide(input(apps, { only: ['db'], force: true }));
    expect(status(d)).toEqual({ api: 'skipped', web: 'skipped', db: 'forced' });
    d = decide(input(apps, { force: true, files: ['apps/api/x.yaml'] }));
    expect(status(d)).toEqual({ api: 'forced', web: 'forced', db: 'forced' });
    expect(reasons(d, 'api')).toEqual(['forced (FORCE=true)', 'apps/api/x.yaml changed']);
  });

  it('rejects an unknown name in APPS, naming the variable and the known apps', () => {
    const err = (() => {
      try {
        decide(input([api, web], { only: ['api', 'wbe'] }));
      } catch (e) {
        return e;
      }
    })() as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.exitCode).toBe(2);
    expect(err.located).toBe('APPS: "wbe" is not an app of the root manifest');
    expect(err.hint).toContain('api, web');
  });

  it('notes apps named in APPS that are disabled, and reports disabled apps that were deployed as removed', () => {
    const r = root([api], { disabled: ['web'], environment: { name: 'prod' } });
    const deployed: DeployedState = { source: 't', apps: new Map([['web', { app: 'web', commit: BASE }]]) };
    const d = decide({ ...input([api]), root: r, only: ['web'], deployed });
    expect(d.changes.map((c) => c.status)).toEqual(['skipped']);
    expect(d.removed).toEqual(['web']);
    expect(d.notes).toEqual(['APPS names web, which is disabled for environment prod: it is not deployed', "web is disabled for environment prod: its deployed objects are handled as a removed app's (kept, or pruned with PRUNE_REMOVED_APPS)"]);
  });
});
