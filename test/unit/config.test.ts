import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { misspeltVariables, loadConfig, VARIABLES, withEnvironmentTarget } from '../../src/config/index.js';
import { InputErrors } from '../../src/util/errors.js';

const base = { BITBUCKET_CLONE_DIR: '/repo', MODE: 'plan' };

function errorsOf(env: Record<string, string>): string[] {
  try {
    withEnvironmentTarget(loadConfig(env), undefined);
  } catch (e) {
    expect(e).toBeInstanceOf(InputErrors);
    return (e as InputErrors).errors.map((x) => x.located);
  }
  throw new Error('expected loadConfig to fail');
}

describe('config', () => {
  it('applies documented defaults', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      mode: 'plan',
      workspace: '/repo',
      rootManifest: 'app-of-apps.yaml',
      force: false,
      prune: false,
      wait: true,
      timeoutSeconds: 300,
      concurrency: 4,
      fieldManager: 'app-of-apps-pipe',
    });
    expect(c.identity.sessionDurationSeconds).toBe(3600);
  });

  it('accepts booleans as Bitbucket users write them', () => {
    for (const [v, want] of [['YES', true], ['no', false], ['True', true], ['0', false], ['on', true]] as const) {
      expect(loadConfig({ ...base, FORCE: v }).force).toBe(want);
    }
  });

  it('names the variable and what is allowed', () => {
    expect(errorsOf({ ...base, FORCE: 'maybe' })).toEqual(['FORCE: expected true/false (or yes/no, on/off, 1/0), got "maybe"']);
    expect(errorsOf({ ...base, MODE: 'apply' })).toEqual(['MODE: expected one of deploy, plan, diff, got "apply"']);
    // separators only: the user meant to restrict the run, so it is no "every app"
    expect(errorsOf({ ...base, APPS: ' , ' })).toEqual(['APPS: names nothing: list names separated by commas or spaces, or leave it unset, got " , "']);
    expect(loadConfig({ ...base, APPS: '' }).apps).toEqual([]);
    expect(loadConfig({ ...base, APPS: 'a, b c' }).apps).toEqual(['a', 'b', 'c']);
    expect(errorsOf({ ...base, CONCURRENCY: '0' })[0]).toMatch(/^CONCURRENCY: expected a whole number from 1 to 64/);
    expect(errorsOf({ ...base, TIMEOUT: 'soon' })[0]).toMatch(/^TIMEOUT: expected a duration/);
    expect(errorsOf({ ...base, SESSION_DURATION: '60' })[0]).toMatch(/^SESSION_DURATION: expected a whole number from 900 to 43200/);
    expect(errorsOf({ ...base, ROLE_SESSION_NAME: 'has space' })[0]).toMatch(/^ROLE_SESSION_NAME: /);
    expect(errorsOf({ ...base, AWS_OIDC_ROLE_ARN: 'role/deploy' })[0]).toMatch(/^AWS_OIDC_ROLE_ARN: expected an IAM role ARN/);
    // the region a cluster is found in, whichever of the two variables gives it
    expect(errorsOf({ ...base, AWS_DEFAULT_REGION: 'eu-west1' })[0]).toMatch(/^AWS_DEFAULT_REGION: expected an AWS region such as eu-west-1/);
    expect(loadConfig({ ...base, AWS_DEFAULT_REGION: 'eu-west-1' }).identity.region).toBe('eu-west-1');
  });

  it('reports every bad variable at once', () => {
    expect(errorsOf({ ...base, FORCE: 'x', WAIT: 'later' })).toHaveLength(2);
  });

  it('parses durations', () => {
    expect(loadConfig({ ...base, TIMEOUT: '1h30m' }).timeoutSeconds).toBe(5400);
    expect(loadConfig({ ...base, TIMEOUT: '90s' }).timeoutSeconds).toBe(90);
    expect(loadConfig({ ...base, TIMEOUT: '120' }).timeoutSeconds).toBe(120);
  });

  it("names the environment as the root declares it, whatever ENVIRONMENT's letter case (one ledger, one lock)", () => {
    expect(withEnvironmentTarget(loadConfig({ ...base, ENVIRONMENT: 'Staging' }), { name: 'staging' }).environment).toBe('staging');
    expect(withEnvironmentTarget(loadConfig({ ...base, ENVIRONMENT: 'staging' }), undefined).environment).toBe('staging');
  });

  it('defaults ENVIRONMENT to the Bitbucket deployment environment', () => {
    expect(loadConfig({ ...base, BITBUCKET_DEPLOYMENT_ENVIRONMENT: 'production' }).environment).toBe('production');
    expect(loadConfig({ ...base, BITBUCKET_DEPLOYMENT_ENVIRONMENT: 'production', ENVIRONMENT: 'staging' }).environment).toBe('staging');
  });

  it('requires a way to reach the cluster outside plan mode', () => {
    expect(errorsOf({ ...base, MODE: 'deploy' })[0]).toMatch(/^CLUSTER_NAME: MODE=deploy needs a cluster/);
    expect(errorsOf({ ...base, MODE: 'deploy', CLUSTER_NAME: 'prod' })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^AWS_REGION: /), expect.stringMatching(/^AWS_OIDC_ROLE_ARN: /)]),
    );
    expect(withEnvironmentTarget(loadConfig(base), undefined).mode).toBe('plan');
  });

  it("takes the cluster and role from the root manifest's environment where no variable says otherwise", () => {
    const target = { cluster: { name: 'staging-eks', region: 'eu-west-1' }, roleArn: 'arn:aws:iam::111111111111:role/deploy-staging' };
    const fromRoot = withEnvironmentTarget(loadConfig({ ...base, MODE: 'deploy' }), target).identity;
    expect(fromRoot).toMatchObject({ clusterName: 'staging-eks', region: 'eu-west-1', oidcRoleArn: target.roleArn });
    const vars = { ...base, MODE: 'deploy', CLUSTER_NAME: 'other', AWS_REGION: 'us-east-1', AWS_OIDC_ROLE_ARN: 'arn:aws:iam::222222222222:role/x' };
    expect(withEnvironmentTarget(loadConfig(vars), target).identity).toMatchObject({ clusterName: 'other', region: 'us-east-1', oidcRoleArn: 'arn:aws:iam::222222222222:role/x' });
    const kube = withEnvironmentTarget(loadConfig({ ...base, MODE: 'deploy', KUBE_CONFIG: 'YQ==' }), target).identity;
    expect(kube.clusterName).toBeUndefined();
  });

  it('refuses a root manifest outside the repository', () => {
    expect(errorsOf({ ...base, ROOT_MANIFEST: '../other/app.yaml' })[0]).toMatch(/^ROOT_MANIFEST: .* outside the repository/);
    expect(errorsOf({ ...base, ROOT_MANIFEST: 'apps/../../app.yaml' })[0]).toMatch(/^ROOT_MANIFEST: .* outside the repository/);
    expect(errorsOf({ ...base, ROOT_MANIFEST: '/etc/app.yaml' })[0]).toMatch(/^ROOT_MANIFEST: .* outside the repository/);
    // a ".." that stays inside names the file it leads to
    expect(loadConfig({ ...base, ROOT_MANIFEST: 'apps/../app-of-apps.yaml' }).rootManifest).toBe('apps/../app-of-apps.yaml');
  });
});

describe('misspelt variables', () => {
  it('says when a variable looks like a misspelt pipe variable, and leaves everything else alone', () => {
    expect(misspeltVariables({ ENVIRONMNET: 'production', TIMOUT: '5m', KUBECONFIG: '/x', ENVIRONMENT: 'staging' })).toEqual([
      'ENVIRONMNET is not a variable of the pipe and is ignored; did you mean ENVIRONMENT?',
      'TIMOUT is not a variable of the pipe and is ignored; did you mean TIMEOUT?',
      'KUBECONFIG is not a variable of the pipe and is ignored; did you mean KUBE_CONFIG?',
    ]);
    // short names, other tools' variables and Bitbucket's own are not guesses
    expect(misspeltVariables({ HOME: '/root', HOSTNAME: 'x', NODE_VERSION: '20', AWS_REGON: 'x', BITBUCKET_EXIT_CODE: '0', lowercase_mode: 'x' })).toEqual([]);
  });
});

describe('pipe.yml and README list the variables the pipe reads', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const listed = (load(readFileSync(join(root, 'pipe.yml'), 'utf8')) as { variables: { name: string }[] }).variables.map((v) => v.name);
  const readme = readFileSync(join(root, 'README.md'), 'utf8');

  it('every variable of pipe.yml is read, and every variable of the pipe is in pipe.yml and in README', () => {
    expect(listed.filter((v) => !VARIABLES.includes(v))).toEqual([]);
    // Bitbucket's own variables, and the AWS SDK's fallbacks the pipe honours, are not the pipe's to list
    const own = VARIABLES.filter((v) => !v.startsWith('BITBUCKET_') && v !== 'CI' && v !== 'AWS_DEFAULT_REGION' && v !== 'AWS_ENDPOINT_URL');
    expect(own.filter((v) => !listed.includes(v))).toEqual([]);
    expect(listed.filter((v) => !readme.includes(`| \`${v}\``) && !readme.includes(`\`${v}\`, `) && !readme.includes(`, \`${v}\` |`))).toEqual([]);
  });
});

describe('Code Insights variables', () => {
  it('a CODE_INSIGHTS_PROXY that is not a URL is bad input naming it (it would otherwise fail only after the run)', () => {
    expect(errorsOf({ ...base, CODE_INSIGHTS_PROXY: 'http://proxy:29418x' })).toEqual(['CODE_INSIGHTS_PROXY: "http://proxy:29418x" is not a URL']);
  });
});

