// Bad input through the pipe's real entrypoint: each fails before anything is rendered or applied,
// names the file and line (or the variable), says what to do, and exits 2.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bitbucketEnv, runPipe } from '../support/pipe.js';
import { committedRepo, TestRepo } from '../support/repo.js';

const made: TestRepo[] = [];
afterAll(() => made.forEach((r) => r.cleanup()));

const APP = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings }\ndata: { a: "1" }\n';

/** A git repository with the given files, committed; returns its path and HEAD. */
function repo(files: Record<string, string>): { dir: string; head: string } {
  const made1 = committedRepo(files);
  made.push(made1.repo);
  return made1;
}

const root = (apps: string, extra = '') =>
  `apiVersion: app-of-apps/v1\nkind: Root\nenvironments:\n  staging: {}\n${extra}apps:\n${apps}`;

async function expectBadInput(files: Record<string, string>, env: Record<string, string>, where: RegExp, what: RegExp) {
  const { dir, head } = repo(files);
  const r = await runPipe(bitbucketEnv(dir, head, { MODE: 'plan', ENVIRONMENT: 'staging', ...env }));
  expect(r.exitCode, r.all).toBe(2);
  const failure = r.stderr.split('\n').filter((l) => l.startsWith('✖') || l.startsWith('ERROR')).join('\n');
  expect(failure, r.all).toMatch(where);
  expect(r.all, r.all).toMatch(what);
  expect(r.stdout).toContain('Nothing was applied.');
  expect(r.stdout).toMatch(/What to do: \S+/);
  return r;
}

describe.concurrent('bad input stops the pipe with exit 2, the place and what to do', () => {
  it('malformed YAML: file and line', async () => {
    await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n  - name: [b\n'), 'apps/a/cm.yaml': APP },
      {},
      /app-of-apps\.yaml:(8|9)/,
      /YAML|flow/i,
    );
  });

  it('an unknown key: file, line and the near miss', async () => {
    await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n    dependOn: [b]\n'), 'apps/a/cm.yaml': APP },
      {},
      /app-of-apps\.yaml:8/,
      /dependOn.*dependsOn|dependsOn.*dependOn/,
    );
  });

  it('a path outside the repository', async () => {
    await expectBadInput({ 'app-of-apps.yaml': root('  - name: a\n    path: ../elsewhere\n') }, {}, /app-of-apps\.yaml:7/, /outside the repository/);
  });

  it('a symlink that escapes the repository', async () => {
    const files = { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n') };
    const { dir, head } = repo(files);
    mkdirSync(join(dir, 'apps'), { recursive: true });
    symlinkSync('/etc', join(dir, 'apps', 'a'));
    const r = await runPipe(bitbucketEnv(dir, head, { MODE: 'plan', ENVIRONMENT: 'staging' }));
    expect(r.exitCode, r.all).toBe(2);
    expect(r.stderr).toMatch(/app-of-apps\.yaml:7.*outside the repository through a symbolic link/);
  });

  it('a missing path', async () => {
    await expectBadInput({ 'app-of-apps.yaml': root('  - name: a\n    path: apps/missing\n') }, {}, /app-of-apps\.yaml:7/, /apps\/missing.*(does not exist|not found)/);
  });

  it('duplicate app names', async () => {
    await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n  - name: a\n    path: apps/a\n'), 'apps/a/cm.yaml': APP },
      {},
      /app-of-apps\.yaml:8/,
      /duplicate|more than once|already/i,
    );
  });

  it('a dependency cycle', async () => {
    await expectBadInput(
      {
        'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n    dependsOn: [b]\n  - name: b\n    path: apps/b\n    dependsOn: [a]\n'),
        'apps/a/cm.yaml': APP,
        'apps/b/cm.yaml': APP,
      },
      { FORCE: 'true' },
      /app-of-apps\.yaml:\d+/,
      /cycle.*(a -> b -> a|b -> a -> b)/i,
    );
  });

  it('an unknown dependsOn', async () => {
    await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n    dependsOn: [nope]\n'), 'apps/a/cm.yaml': APP },
      {},
      /app-of-apps\.yaml:8/,
      /nope/,
    );
  });

  it('an environment the root does not declare', async () => {
    await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n'), 'apps/a/cm.yaml': APP },
      { ENVIRONMENT: 'prod' },
      /app-of-apps\.yaml|ENVIRONMENT/,
      /staging/,
    );
  });

  it('a YAML alias bomb', async () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) bomb.push(`${'abcdefghijklmnop'[i]}: &${'abcdefghijklmnop'[i]} [${Array(10).fill(`*${'abcdefghijklmnop'[i - 1]}`).join(',')}]`);
    await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n'), 'apps/a/cm.yaml': APP, 'apps/a/bomb.yaml': bomb.join('\n') + '\n' },
      { FORCE: 'true' },
      /apps\/a\/bomb\.yaml/,
      /alias/i,
    );
  });

  it('a file over the size limit', async () => {
    const big = `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: big }\ndata:\n  blob: "${'x'.repeat(5 * 1024 * 1024)}"\n`;
    await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n'), 'apps/a/big.yaml': big },
      { FORCE: 'true' },
      /apps\/a\/big\.yaml/,
      /limit/,
    );
  });

  it('a manifest of an app that is not valid YAML: file and line', async () => {
    await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n'), 'apps/a/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n' },
      { FORCE: 'true' },
      /apps\/a\/cm\.yaml:\d+/,
      /YAML|flow/i,
    );
  });

  it("a Secret whose data is not base64: file, line and key, never the value (the API server would refuse it in a deploy, with a 500)", async () => {
    const value = 'hunter2-plain-text!';
    const secret = `apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata:\n  user: YWRtaW4=\n  password: ${value}\n`;
    const r = await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n'), 'apps/a/secret.yaml': secret },
      { FORCE: 'true' },
      /apps\/a\/secret\.yaml:1: app a: Secret\/db data\.password is not base64/,
      /What to do: encode each value of data in base64 \(printf %s 'value' \| base64 -w0\), or give it as plain text under stringData/,
    );
    expect(r.all).not.toContain(value);
  });

  it('every app that cannot be rendered is named, with its file, in one run', async () => {
    const r = await expectBadInput(
      {
        'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n  - name: b\n    path: apps/b\n  - name: c\n    path: apps/c\n'),
        'apps/a/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n',
        'apps/b/cm.yaml': 'apiVersion: v1\nmetadata: { name: no-kind }\n',
        'apps/c/cm.yaml': APP,
      },
      { FORCE: 'true' },
      /2 apps cannot be rendered/,
      /apps\/a\/cm\.yaml:\d+(:\d+)?: app a: invalid YAML[\s\S]*apps\/b\/cm\.yaml:1: app b: object has no kind/,
    );
    expect(r.stdout).toMatch(/a\s+directory\s+forced\s+render failed/);
    expect(r.stdout).toMatch(/c\s+directory\s+forced\s+ConfigMap 1/);
  });

  it("charts helm refuses: each app's helm lines, then what to do about them, in that order", async () => {
    const chart = (name: string) => ({
      [`apps/${name}/Chart.yaml`]: `apiVersion: v2\nname: ${name}\nversion: 1.0.0\n`,
      [`apps/${name}/templates/cm.yaml`]: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name | required "name is required" }}\n',
    });
    const r = await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n  - name: b\n    path: apps/b\n'), ...chart('a'), ...chart('b') },
      { FORCE: 'true' },
      /2 apps cannot be rendered/,
      /name is required/,
    );
    // each app's lines: where, helm's message, what to do (which speaks of "the lines above")
    const lines = r.stderr.split('\n');
    const starts = ['a', 'b'].map((app) => lines.findIndex((l) => l.includes(`app ${app}: helm template apps/${app} failed`)));
    expect(starts[0], r.all).toBeGreaterThan(-1);
    expect(starts[1], r.all).toBeGreaterThan(starts[0]!);
    for (const [i, from] of starts.entries()) {
      const own = lines.slice(from, i + 1 < starts.length ? starts[i + 1] : undefined);
      const message = own.findIndex((l) => l.includes('name is required'));
      const hint = own.findIndex((l) => l.includes("what to do: fix the chart or its values; the lines above are helm's own message"));
      expect([message > 0, hint > message], r.all).toEqual([true, true]);
    }
  });

  it('a BASE_REVISION that is no commit names the variable', async () => {
    await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n'), 'apps/a/cm.yaml': APP },
      { BASE_REVISION: 'no-such-branch' },
      /BASE_REVISION/,
      /"no-such-branch" is not a commit of this repository/,
    );
  });

  it('a broken root is reported before a bad BASE_REVISION (the base is resolved while the root loads)', async () => {
    const r = await expectBadInput(
      { 'app-of-apps.yaml': root('  - name: a\n    path: apps/missing\n') },
      { BASE_REVISION: 'no-such-branch' },
      /app-of-apps\.yaml:7/,
      /"apps\/missing" does not exist/,
    );
    expect(r.all).not.toContain('no-such-branch');
  });

  it('a workspace that is not the top of a git clone (an export, missing, bare, a subfolder) names BITBUCKET_CLONE_DIR', async () => {
    const { dir, head } = repo({ 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n'), 'apps/a/cm.yaml': APP });
    const exported = mkdtempSync(join(tmpdir(), 'aoa-export-'));
    try {
      execFileSync('sh', ['-c', `git -C "${dir}" archive HEAD | tar -x -C "${exported}"`]);
      const bare = join(exported, 'bare.git');
      execFileSync('git', ['clone', '--quiet', '--bare', dir, bare]);
      for (const [workspace, what] of [
        [exported, `${exported} is not a git repository`],
        [join(exported, 'missing'), `${join(exported, 'missing')} does not exist`],
        [bare, `${bare} is a bare git repository (it has no work tree)`],
        [join(dir, 'apps'), `${join(dir, 'apps')} is inside the git work tree ${dir}, not at its top`],
      ] as const) {
        for (const mode of ['plan', 'deploy']) {
          const r = await runPipe(bitbucketEnv(workspace, head, { MODE: mode, ENVIRONMENT: 'staging', KUBE_CONFIG: 'not-used' }));
          expect(r.exitCode, r.all).toBe(2);
          expect(r.stderr, r.all).toContain(`✖ BITBUCKET_CLONE_DIR: ${what}`);
          expect(r.stdout).toMatch(/What to do: \S+/);
          expect(r.all).not.toMatch(/ToolError|at .*\.(ts|js):\d+/);
        }
      }
    } finally {
      rmSync(exported, { recursive: true, force: true });
    }
  });

  it('a REPORT_FILE that cannot be written stops the run before anything is done', async () => {
    const { dir, head } = repo({ 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n'), 'apps/a/cm.yaml': APP });
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    for (const [value, what] of [
      [dir, `${dir} is a folder; the report is a file`],
      [join(file, 'report.json'), `the report cannot be written to ${join(file, 'report.json')} (${file} is not a folder)`],
    ] as const) {
      for (const mode of ['plan', 'deploy']) {
        const r = await runPipe(bitbucketEnv(dir, head, { MODE: mode, ENVIRONMENT: 'staging', KUBE_CONFIG: 'not-used', REPORT_FILE: value }));
        expect(r.exitCode, r.all).toBe(2);
        expect(r.stderr).toContain(`✖ REPORT_FILE: ${what}`);
        expect(r.stdout).toContain('What to do: set REPORT_FILE to a file path in a folder the pipe can write');
        expect(r.stdout).not.toContain('Planned in');
      }
    }
  });

  it('a malformed pipe variable names the variable and applies nothing', async () => {
    const { dir, head } = repo({ 'app-of-apps.yaml': root('  - name: a\n    path: apps/a\n'), 'apps/a/cm.yaml': APP });
    const r = await runPipe(bitbucketEnv(dir, head, { MODE: 'plan', ENVIRONMENT: 'staging', WAIT: 'sometimes', CONCURRENCY: 'many' }));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('WAIT: expected true/false (or yes/no, on/off, 1/0), got "sometimes"');
    expect(r.stderr).toContain('CONCURRENCY: expected a whole number from 1 to 64, got "many"');
    expect(r.stdout).toContain('Nothing was applied.');
    // one bad variable alone also says what to do
    const one = await runPipe(bitbucketEnv(dir, head, { MODE: 'plan', ENVIRONMENT: 'staging', CONCURRENCY: '0' }));
    expect(one.exitCode).toBe(2);
    expect(one.stderr).toContain('✖ CONCURRENCY: expected a whole number from 1 to 64, got "0"');
    expect(one.stdout).toContain('What to do: set CONCURRENCY to an allowed value in the step\'s variables (README, "Variables"), or leave it unset for its default');
  });

  it('a kustomize remote resource that cannot be fetched: named, with no token from its URL in the log or the report', async () => {
    const token = 'QATOKENabc123xyz';
    const url = `https://x-token-auth:${token}@bitbucket.invalid/acme/infra//deploy/web?ref=v1.2.0`;
    const { dir, head } = repo({ 'app-of-apps.yaml': root('  - name: h\n    path: apps/h\n'), 'apps/h/kustomization.yaml': `resources:\n  - ${url}\n` });
    const reportFile = join(dir, '..', 'remote.json');
    const r = await runPipe(bitbucketEnv(dir, head, { MODE: 'plan', ENVIRONMENT: 'staging', FORCE: 'true', REPORT_FILE: reportFile }));
    expect(r.exitCode, r.all).toBe(2);
    expect(r.all).toContain('uses the remote resource https://****@bitbucket.invalid/acme/infra//deploy/web?ref=v1.2.0, which needs network access');
    expect(r.all).not.toContain(token);
    const report = readFileSync(reportFile, 'utf8');
    expect(report).not.toContain(token);
    expect(() => JSON.parse(report)).not.toThrow();
  });
});
