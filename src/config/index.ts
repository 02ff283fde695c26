import { isAbsolute, posix, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { z } from 'zod';
import { InputError, InputErrors, type Location } from '../util/errors.js';
import { closest, distance } from '../util/spelling.js';
import { booleanVar, durationVar, enumVar, intVar, listVar, optionalBooleanVar, stringVar } from './values.js';

export const MODES = ['deploy', 'plan', 'diff'] as const;
export type Mode = (typeof MODES)[number];

const ROLE_ARN = /^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@\/-]{1,512}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
export const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

const optionalString = stringVar();
const roleArn = stringVar(ROLE_ARN, 'expected an IAM role ARN such as arn:aws:iam::123456789012:role/deploy');
const url = stringVar(/^https?:\/\/\S+$/, 'expected an http(s) URL');
/** Bitbucket's local proxy as a pipe's container reaches it; it authenticates calls to Bitbucket's API. */
export const DEFAULT_INSIGHTS_PROXY = 'http://host.docker.internal:29418';

/**
 * Every variable the pipe reads, with its default. The key is the variable's name, so a zod
 * issue path names the variable. pipe.yml and README's table list the same variables.
 */
const schema = z.object({
  // What to do
  MODE: enumVar(MODES, 'deploy'),
  ROOT_MANIFEST: stringVar().transform((v) => v ?? 'app-of-apps.yaml'),
  ENVIRONMENT: optionalString,
  APPS: listVar,
  FORCE: booleanVar(false),
  BASE_REVISION: stringVar(/^[\w./@^~{}-]+$/, 'expected a commit SHA, tag or branch name'),
  PRUNE: booleanVar(false),
  PRUNE_REMOVED_APPS: booleanVar(false),
  WAIT: booleanVar(true),
  TIMEOUT: durationVar(300),
  CONCURRENCY: intVar(4, 1, 64),
  FAIL_ON_DIFF: booleanVar(false),
  FORCE_CONFLICTS: booleanVar(false),
  FIELD_MANAGER: stringVar(/^[\w.:-]{1,128}$/, 'expected up to 128 letters, digits, ".", ":", "_" or "-"').transform(
    (v) => v ?? 'app-of-apps-pipe',
  ),
  LEDGER_NAMESPACE: stringVar(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a Kubernetes namespace name').transform(
    (v) => v ?? 'app-of-apps-pipe',
  ),
  LOCK_TIMEOUT: durationVar(600, 0),
  REPORT_FILE: optionalString,
  CODE_INSIGHTS: optionalBooleanVar(),
  CODE_INSIGHTS_PROXY: url.transform((v) => v ?? DEFAULT_INSIGHTS_PROXY),
  DEBUG: booleanVar(false),

  // Identity and cluster access
  AWS_OIDC_ROLE_ARN: roleArn,
  AWS_ROLE_ARN: roleArn,
  AWS_REGION: stringVar(REGION, 'expected an AWS region such as eu-west-1'),
  AWS_DEFAULT_REGION: stringVar(REGION, 'expected an AWS region such as eu-west-1 (or set AWS_REGION, which wins)'),
  ROLE_SESSION_NAME: stringVar(SESSION_NAME, 'expected 2 to 64 characters of letters, digits and + = , . @ _ - (AWS RoleSessionName rules)'),
  SESSION_DURATION: intVar(3600, 900, 43200),
  AWS_ACCESS_KEY_ID: optionalString,
  AWS_SECRET_ACCESS_KEY: optionalString,
  AWS_SESSION_TOKEN: optionalString,
  AWS_ENDPOINT_URL: url,
  AWS_ENDPOINT_URL_STS: url,
  AWS_ENDPOINT_URL_EKS: url,
  CLUSTER_NAME: stringVar(/^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/, 'expected an EKS cluster name (letters, digits, - and _, up to 100 characters)'),
  CLUSTER_ENDPOINT: stringVar(/^https:\/\/\S+$/, 'expected the cluster API endpoint as an https:// URL'),
  CLUSTER_CA_DATA: optionalString,
  KUBE_CONFIG: optionalString,
  KUBE_CONTEXT: optionalString,
  BITBUCKET_STEP_OIDC_TOKEN: optionalString,

  // Set by Bitbucket Pipelines
  BITBUCKET_CLONE_DIR: optionalString,
  BITBUCKET_COMMIT: optionalString,
  BITBUCKET_BRANCH: optionalString,
  BITBUCKET_TAG: optionalString,
  BITBUCKET_BUILD_NUMBER: optionalString,
  BITBUCKET_DEPLOYMENT_ENVIRONMENT: optionalString,
  BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID: optionalString,
  BITBUCKET_WORKSPACE: optionalString,
  BITBUCKET_REPO_SLUG: optionalString,
  BITBUCKET_REPO_UUID: optionalString,
  BITBUCKET_REPO_FULL_NAME: optionalString,
  BITBUCKET_STEP_TRIGGERER_UUID: optionalString,
  BITBUCKET_STEP_UUID: optionalString,
  BITBUCKET_PIPELINE_UUID: optionalString,
  BITBUCKET_PR_ID: optionalString,
  BITBUCKET_PR_DESTINATION_BRANCH: optionalString,
  BITBUCKET_PR_DESTINATION_COMMIT: optionalString,
  BITBUCKET_GIT_HTTP_ORIGIN: optionalString,
  BITBUCKET_GIT_SSH_ORIGIN: optionalString,
  BITBUCKET_PIPE_STORAGE_DIR: optionalString,
  BITBUCKET_PIPE_SHARED_STORAGE_DIR: optionalString,
  CI: booleanVar(false),
});

type Vars = z.output<typeof schema>;

/** Every variable the pipe reads (pipe.yml and README's table list the pipe's own). */
export const VARIABLES: readonly string[] = Object.keys(schema.shape);

/** The pipe's own variables (not Bitbucket's or the AWS SDK's), for "did you mean" on an unknown one. */
const OWN_VARIABLES = Object.keys(schema.shape).filter((k) => !k.startsWith('BITBUCKET_') && !k.startsWith('AWS_') && k !== 'CI');

/**
 * Variables of the environment that look like a misspelt pipe variable (ENVIRONMNET): the pipe
 * would run without them, so it says so. Short names are left alone (HOME is not MODE).
 */
export function misspeltVariables(env: NodeJS.ProcessEnv): string[] {
  const known = new Set(Object.keys(schema.shape));
  const out: string[] = [];
  for (const name of Object.keys(env)) {
    if (known.has(name) || name.length < 6 || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    const guess = closest(name, OWN_VARIABLES);
    if (guess && distance(name, guess) <= 2) out.push(`${name} is not a variable of the pipe and is ignored; did you mean ${guess}?`);
  }
  return out;
}

/** Who and what a run is, for audit labels, the ledger, the lock and reports. */
export interface BuildContext {
  commit?: string;
  branch?: string;
  tag?: string;
  buildNumber?: string;
  repoFullName?: string;
  repoSlug?: string;
  workspace?: string;
  repoUuid?: string;
  triggerer?: string;
  pipelineUuid?: string;
  stepUuid?: string;
  deploymentEnvironment?: string;
  deploymentEnvironmentUuid?: string;
  prId?: string;
  prDestinationBranch?: string;
  prDestinationCommit?: string;
  gitHttpOrigin?: string;
  gitSshOrigin?: string;
  ci: boolean;
}

export interface IdentityConfig {
  oidcRoleArn?: string;
  oidcToken?: string;
  roleArn?: string;
  region?: string;
  roleSessionName?: string;
  sessionDurationSeconds: number;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  stsEndpoint?: string;
  eksEndpoint?: string;
  clusterName?: string;
  clusterEndpoint?: string;
  clusterCaData?: string;
  kubeConfig?: string;
  kubeContext?: string;
  /** Where a value came from when it is not its pipe variable's (the root manifest's environment): messages name that. */
  from?: Partial<Record<'oidcRoleArn' | 'clusterName' | 'region', Location>>;
}

const VARIABLE_OF = { oidcRoleArn: 'AWS_OIDC_ROLE_ARN', clusterName: 'CLUSTER_NAME', region: 'AWS_REGION' } as const;

/** Where the value of an identity setting came from: its pipe variable, or the root manifest's field. */
export function originOf(id: Pick<IdentityConfig, 'from'>, key: keyof typeof VARIABLE_OF): Location {
  return id.from?.[key] ?? { variable: VARIABLE_OF[key] };
}

export interface Config {
  mode: Mode;
  /** Absolute path of the repository clone. */
  workspace: string;
  /** Root manifest path as given (relative to the workspace). */
  rootManifest: string;
  environment?: string;
  apps: string[];
  force: boolean;
  baseRevision?: string;
  prune: boolean;
  pruneRemovedApps: boolean;
  wait: boolean;
  timeoutSeconds: number;
  concurrency: number;
  failOnDiff: boolean;
  forceConflicts: boolean;
  fieldManager: string;
  ledgerNamespace: string;
  lockTimeoutSeconds: number;
  /** Absolute path of the JSON report. */
  reportFile: string;
  /** Bitbucket Code Insights: on in a Bitbucket pipeline unless CODE_INSIGHTS=false. */
  codeInsights: { enabled: boolean; proxy: string };
  debug: boolean;
  identity: IdentityConfig;
  build: BuildContext;
}

/** env -> Config. Every problem is reported at once, each naming its variable. */
export function loadConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const errors = result.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? '?');
      return new InputError(issue.message, {
        where: { variable },
        hint: `set ${variable} to an allowed value in the step's variables (README, "Variables"), or leave it unset for its default`,
      });
    });
    throw new InputErrors(errors);
  }
  const v = result.data;
  const config = toConfig(v, cwd);
  checkCombinations(config);
  return config;
}

function toConfig(v: Vars, cwd: string): Config {
  const workspace = resolve(cwd, v.BITBUCKET_CLONE_DIR ?? '.');
  const storage = v.BITBUCKET_PIPE_STORAGE_DIR;
  const reportFile = v.REPORT_FILE
    ? resolve(workspace, v.REPORT_FILE)
    : resolve(storage ?? resolve(tmpdir(), 'app-of-apps-pipe'), 'app-of-apps-report.json');
  return {
    mode: v.MODE,
    workspace,
    rootManifest: v.ROOT_MANIFEST,
    environment: v.ENVIRONMENT ?? v.BITBUCKET_DEPLOYMENT_ENVIRONMENT,
    apps: v.APPS,
    force: v.FORCE,
    baseRevision: v.BASE_REVISION,
    prune: v.PRUNE,
    pruneRemovedApps: v.PRUNE_REMOVED_APPS,
    wait: v.WAIT,
    timeoutSeconds: v.TIMEOUT,
    concurrency: v.CONCURRENCY,
    failOnDiff: v.FAIL_ON_DIFF,
    forceConflicts: v.FORCE_CONFLICTS,
    fieldManager: v.FIELD_MANAGER,
    ledgerNamespace: v.LEDGER_NAMESPACE,
    lockTimeoutSeconds: v.LOCK_TIMEOUT,
    reportFile,
    codeInsights: {
      // a Bitbucket pipeline (it sets BITBUCKET_PIPELINE_UUID) has the proxy; elsewhere only when asked
      enabled: v.CODE_INSIGHTS ?? (v.BITBUCKET_PIPELINE_UUID !== undefined && v.BITBUCKET_COMMIT !== undefined && repoFullName(v) !== undefined),
      proxy: v.CODE_INSIGHTS_PROXY,
    },
    debug: v.DEBUG,
    identity: {
      oidcRoleArn: v.AWS_OIDC_ROLE_ARN,
      oidcToken: v.BITBUCKET_STEP_OIDC_TOKEN,
      roleArn: v.AWS_ROLE_ARN,
      region: v.AWS_REGION ?? v.AWS_DEFAULT_REGION,
      roleSessionName: v.ROLE_SESSION_NAME,
      sessionDurationSeconds: v.SESSION_DURATION,
      accessKeyId: v.AWS_ACCESS_KEY_ID,
      secretAccessKey: v.AWS_SECRET_ACCESS_KEY,
      sessionToken: v.AWS_SESSION_TOKEN,
      stsEndpoint: v.AWS_ENDPOINT_URL_STS ?? v.AWS_ENDPOINT_URL,
      eksEndpoint: v.AWS_ENDPOINT_URL_EKS ?? v.AWS_ENDPOINT_URL,
      clusterName: v.CLUSTER_NAME,
      clusterEndpoint: v.CLUSTER_ENDPOINT,
      clusterCaData: v.CLUSTER_CA_DATA,
      kubeConfig: v.KUBE_CONFIG,
      kubeContext: v.KUBE_CONTEXT,
    },
    build: {
      commit: v.BITBUCKET_COMMIT,
      branch: v.BITBUCKET_BRANCH,
      tag: v.BITBUCKET_TAG,
      buildNumber: v.BITBUCKET_BUILD_NUMBER,
      repoFullName: repoFullName(v),
      repoSlug: v.BITBUCKET_REPO_SLUG,
      workspace: v.BITBUCKET_WORKSPACE,
      repoUuid: v.BITBUCKET_REPO_UUID,
      triggerer: v.BITBUCKET_STEP_TRIGGERER_UUID,
      pipelineUuid: v.BITBUCKET_PIPELINE_UUID,
      stepUuid: v.BITBUCKET_STEP_UUID,
      deploymentEnvironment: v.BITBUCKET_DEPLOYMENT_ENVIRONMENT,
      deploymentEnvironmentUuid: v.BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID,
      prId: v.BITBUCKET_PR_ID,
      prDestinationBranch: v.BITBUCKET_PR_DESTINATION_BRANCH,
      prDestinationCommit: v.BITBUCKET_PR_DESTINATION_COMMIT,
      gitHttpOrigin: v.BITBUCKET_GIT_HTTP_ORIGIN,
      gitSshOrigin: v.BITBUCKET_GIT_SSH_ORIGIN,
      ci: v.CI,
    },
  };
}

/** "workspace/slug": BITBUCKET_REPO_FULL_NAME, else BITBUCKET_WORKSPACE and BITBUCKET_REPO_SLUG. */
function repoFullName(v: Pick<Vars, 'BITBUCKET_REPO_FULL_NAME' | 'BITBUCKET_WORKSPACE' | 'BITBUCKET_REPO_SLUG'>): string | undefined {
  return v.BITBUCKET_REPO_FULL_NAME ?? (v.BITBUCKET_WORKSPACE && v.BITBUCKET_REPO_SLUG ? `${v.BITBUCKET_WORKSPACE}/${v.BITBUCKET_REPO_SLUG}` : undefined);
}

/** Rules that span several variables. */
function checkCombinations(c: Config): void {
  const errors: InputError[] = [];
  const id = c.identity;
  const err = (variable: string, message: string, hint?: string) =>
    errors.push(new InputError(message, { where: { variable }, hint }));

  // a ".." that stays inside (apps/../app-of-apps.yaml) is the file it names, as for every path the root gives
  const normalized = posix.normalize(c.rootManifest.replaceAll('\\', '/'));
  if (isAbsolute(c.rootManifest) || normalized === '..' || normalized.startsWith('../')) {
    err('ROOT_MANIFEST', `"${c.rootManifest}" is outside the repository`, 'give a path relative to the repository root');
  }
  if (id.accessKeyId && !id.secretAccessKey) err('AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not');
  if (id.secretAccessKey && !id.accessKeyId) err('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not');
  if (id.kubeConfig && !/^[A-Za-z0-9+/=\s_-]+$/.test(id.kubeConfig)) {
    err('KUBE_CONFIG', 'is not base64', 'set KUBE_CONFIG to the output of `base64 -w0 ~/.kube/config`');
  }
  if (!URL.canParse(c.codeInsights.proxy)) err('CODE_INSIGHTS_PROXY', `"${c.codeInsights.proxy}" is not a URL`, 'set it to the proxy as http://host:port, or leave it unset');
  if (c.codeInsights.enabled) {
    if (!c.build.repoFullName || !/^[^/\s]+\/[^/\s]+$/.test(c.build.repoFullName)) {
      err('CODE_INSIGHTS', 'a Code Insights report needs the repository: BITBUCKET_REPO_FULL_NAME (workspace/slug) is not set', 'set BITBUCKET_REPO_FULL_NAME, or CODE_INSIGHTS=false');
    }
    if (!c.build.commit) err('CODE_INSIGHTS', 'a Code Insights report needs the commit: BITBUCKET_COMMIT is not set', 'set BITBUCKET_COMMIT, or CODE_INSIGHTS=false');
  }
  if (errors.length) throw new InputErrors(errors);
}

/** What the root manifest's environment says about where it deploys. */
export interface EnvironmentTarget {
  /** The environment's name as the root declares it (ENVIRONMENT matches it in any letter case). */
  name?: string;
  cluster?: { name?: string; region?: string };
  roleArn?: string;
}

/**
 * The cluster and role to use: pipe variables first, then the root manifest's environment
 * (`cluster`, `roleArn`). Outside plan mode, a run with no way to reach a cluster stops here,
 * naming the variables to set.
 */
export function withEnvironmentTarget(c: Config, target: EnvironmentTarget | undefined, rootFile = c.rootManifest): Config {
  const id = { ...c.identity, from: { ...c.identity.from } };
  const fromRoot = (key: keyof typeof VARIABLE_OF, field: string, value: string | undefined) => {
    if (id[key] !== undefined || value === undefined) return;
    id[key] = value;
    id.from[key] = { file: rootFile, field: `environments.${target?.name}.${field}` };
  };
  if (!id.kubeConfig) fromRoot('clusterName', 'cluster.name', target?.cluster?.name);
  if (id.clusterName || id.clusterEndpoint) fromRoot('region', 'cluster.region', target?.cluster?.region);
  if (!id.accessKeyId) fromRoot('oidcRoleArn', 'roleArn', target?.roleArn);
  // the declared spelling names the ledger, the lock and the messages: "Staging" is staging
  const merged = { ...c, environment: target?.name ?? c.environment, identity: id };
  checkClusterAccess(merged);
  return merged;
}

function checkClusterAccess(c: Config): void {
  const errors: InputError[] = [];
  const id = c.identity;
  const err = (variable: string, message: string, hint?: string) =>
    errors.push(new InputError(message, { where: { variable }, hint }));
  if (c.mode !== 'plan') {
    const ways = [id.kubeConfig, id.clusterName || id.clusterEndpoint].filter(Boolean).length;
    if (ways === 0) {
      err(
        'CLUSTER_NAME',
        `MODE=${c.mode} needs a cluster`,
        'set CLUSTER_NAME (EKS) or KUBE_CONFIG (a base64 kubeconfig), give the environment a `cluster` in the root manifest, or use MODE=plan',
      );
    }
    if (id.kubeConfig && (id.clusterName || id.clusterEndpoint)) {
      err('KUBE_CONFIG', 'KUBE_CONFIG and CLUSTER_NAME/CLUSTER_ENDPOINT are both set', 'set one way to reach the cluster');
    }
    if (id.clusterEndpoint && !id.clusterCaData) {
      err('CLUSTER_CA_DATA', 'CLUSTER_ENDPOINT is set but CLUSTER_CA_DATA is not', 'set CLUSTER_CA_DATA to the base64 CA bundle of the cluster');
    }
    if ((id.clusterName || id.clusterEndpoint) && !id.region) {
      err('AWS_REGION', 'an EKS cluster needs a region', 'set AWS_REGION, for example eu-west-1, or cluster.region on the environment in the root manifest');
    }
    if (id.clusterEndpoint && !id.clusterName) {
      err('CLUSTER_NAME', 'CLUSTER_ENDPOINT is set but CLUSTER_NAME is not', 'the EKS token is bound to the cluster name: set CLUSTER_NAME too');
    }
    if ((id.clusterName || id.clusterEndpoint) && !id.oidcRoleArn && !id.accessKeyId) {
      err(
        'AWS_OIDC_ROLE_ARN',
        'no AWS credentials for the EKS cluster',
        'set AWS_OIDC_ROLE_ARN (or roleArn on the environment in the root manifest) and add `oidc: true` to the step (preferred), or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
      );
    }
  }
  if (!URL.canParse(c.codeInsights.proxy)) err('CODE_INSIGHTS_PROXY', `"${c.codeInsights.proxy}" is not a URL`, 'set it to the proxy as http://host:port, or leave it unset');
  if (c.codeInsights.enabled) {
    if (!c.build.repoFullName || !/^[^/\s]+\/[^/\s]+$/.test(c.build.repoFullName)) {
      err('CODE_INSIGHTS', 'a Code Insights report needs the repository: BITBUCKET_REPO_FULL_NAME (workspace/slug) is not set', 'set BITBUCKET_REPO_FULL_NAME, or CODE_INSIGHTS=false');
    }
    if (!c.build.commit) err('CODE_INSIGHTS', 'a Code Insights report needs the commit: BITBUCKET_COMMIT is not set', 'set BITBUCKET_COMMIT, or CODE_INSIGHTS=false');
  }
  if (errors.length) throw new InputErrors(errors);
}

/** The deploying repository (BITBUCKET_REPO_UUID, kept across renames, and the full name), as the deploy ledger tells its entries from another repository's. */
export function repositoryOf(config: Pick<Config, 'build'>): { uuid?: string; fullName?: string } {
  return { uuid: config.build.repoUuid, fullName: config.build.repoFullName };
}
