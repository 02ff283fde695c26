import { z } from 'zod';
import { MAX_DURATION_SECONDS, parseDuration } from '../config/values.js';

/**
 * The native root manifest (app-of-apps.yaml), apiVersion app-of-apps/v1. Purely structural
 * (no transforms), so docs/root-manifest.schema.json is generated from it one to one; the
 * resolution per environment happens in native.ts. Every object is strict: an unknown key is an error.
 */
export const API_VERSION = 'app-of-apps/v1';

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const appName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected lowercase letters, digits, "-" and "." (starting and ending with a letter or digit)')
  .describe('Unique app name: the id of the app in every message, the ledger and the plan.');

export const envName = z
  .string()
  .max(63)
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'expected letters, digits, "-", "_" and "." (such as staging or production)');

const namespace = z
  .string()
  .max(63)
  .regex(dns1123Label, 'expected a Kubernetes namespace name (lowercase letters, digits and "-")')
  .describe('Namespace the app is deployed into (objects without their own namespace land here).');

const relPath = z.string().min(1).describe('Path relative to the repository root; must stay inside the repository.');

/** 1 s to 24 h, as the TIMEOUT variable (0 would fail every wait at once). */
const DURATION_MESSAGE = 'expected a duration from 1s to 24h such as 300, 90s, 5m or 1h30m';
const duration = z
  .union(
    [
      z.int().min(1, DURATION_MESSAGE).max(MAX_DURATION_SECONDS, DURATION_MESSAGE),
      z
        .string()
        .regex(/^(\d+|(?=\d)(\d+h)?(\d+m)?(\d+s)?)$/, { message: DURATION_MESSAGE, abort: true })
        .refine((v) => {
          const seconds = parseDuration(v);
          return seconds !== undefined && seconds >= 1 && seconds <= MAX_DURATION_SECONDS;
        }, DURATION_MESSAGE),
    ],
    { error: DURATION_MESSAGE },
  )
  .describe('Seconds, or a duration such as 90s, 5m, 1h30m (1s to 24h).');

/** Deploy behaviour: settable in defaults, per environment, per app and per app per environment. */
const behaviour = {
  namespace: namespace.optional(),
  createNamespace: z.boolean().optional().describe('Create the namespace if it does not exist (default false).'),
  prune: z.boolean().optional().describe("Delete objects that were deployed before but are no longer in the app's render (default false)."),
  wait: z.boolean().optional().describe('Wait until the objects are ready before the next layer (default true).'),
  timeout: duration.optional().describe('How long to wait for readiness (default 5m).'),
  serverSideApply: z.boolean().optional().describe('Apply with server-side apply (default true).'),
  pruneLast: z.boolean().optional().describe("Prune after every other app of the run was applied (Argo CD's PruneLast; default false)."),
  allowEmpty: z
    .boolean()
    .optional()
    .describe('Let prune delete every object of the app when it renders nothing (default false: an empty render is refused, in case a path or overlay broke).'),
};

const helm = z
  .strictObject({
    releaseName: z
      .string()
      .max(53)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'expected a Helm release name (lowercase letters, digits, "-" and ".")')
      .optional()
      .describe('Helm release name (default: the app name).'),
    valueFiles: z.array(z.string().min(1)).optional().describe("Values files relative to the app's path, applied in order."),
    values: z.record(z.string(), z.unknown()).optional().describe('Inline values, applied after the values files.'),
    parameters: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          value: z.union([z.string(), z.number(), z.boolean()]),
          forceString: z.boolean().optional().describe('Pass with --set-string.'),
        }),
      )
      .optional()
      .describe('--set parameters, applied last.'),
  })
  .describe('Options for a helm app.');

const kustomize = z
  .strictObject({
    namePrefix: z.string().optional(),
    nameSuffix: z.string().optional(),
    images: z.array(z.string().min(1)).optional().describe('Image overrides as "name=newName:tag", "name:tag" or "name@digest".'),
    commonLabels: z.record(z.string(), z.string()).optional(),
  })
  .describe('Options for a kustomize app.');

const directory = z
  .strictObject({
    recurse: z.boolean().optional().describe('Read subdirectories too (default false).'),
    include: z.string().optional().describe('Glob of files to read, relative to the path ("{a.yaml,b.yaml}" lists allowed).'),
    exclude: z.string().optional().describe('Glob of files to skip.'),
  })
  .describe('Options for a plain directory app.');

const appEnvironment = z
  .strictObject({
    enabled: z.boolean().optional(),
    ...behaviour,
    helm: helm.optional(),
    kustomize: kustomize.optional(),
    directory: directory.optional(),
  })
  .describe("Overrides for one environment: scalars replace the app's, valueFiles/parameters/images are appended, values and labels are merged.");

export const app = z.strictObject({
  name: appName,
  path: relPath.describe("The app's source: a plain directory, a kustomization or a Helm chart."),
  type: z
    .enum(['directory', 'kustomize', 'helm'])
    .optional()
    .describe('Source type; detected when omitted: Chart.yaml -> helm, kustomization.yaml -> kustomize, else directory.'),
  enabled: z.boolean().optional().describe('Deploy this app (default true); see environments.<env>.enabled.'),
  ...behaviour,
  overlays: z.record(envName, relPath).optional().describe('Per environment: the path to deploy instead of path (a kustomize overlay).'),
  dependsOn: z.array(appName).optional().describe('Apps deployed (and ready) before this one.'),
  syncWave: z.int().optional().describe('Orders apps, lowest wave first (default 0); once an app fails, apps of higher waves are skipped.'),
  watch: z.array(z.string().min(1)).optional().describe('Extra repository globs whose change makes the app changed.'),
  helm: helm.optional(),
  kustomize: kustomize.optional(),
  directory: directory.optional(),
  environments: z.record(envName, appEnvironment.nullable()).optional().describe('Per-environment overrides.'),
});

const environment = z
  .strictObject({
    description: z.string().optional(),
    cluster: z
      .strictObject({
        name: z.string().min(1).optional().describe('EKS cluster name.'),
        region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as eu-west-1').optional(),
      })
      .optional(),
    roleArn: z
      .string()
      .regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, 'expected an IAM role ARN such as arn:aws:iam::123456789012:role/deploy')
      .optional()
      .describe('IAM role assumed with the Bitbucket OIDC token for this environment.'),
    allowedNamespaces: z.array(z.string().min(1)).optional().describe('Namespaces (names or globs) apps may deploy into.'),
    allowedClusterKinds: z.array(z.string().min(1)).optional().describe('Cluster-scoped kinds apps may deploy (such as Namespace, ClusterRole).'),
    defaults: z.strictObject(behaviour).optional().describe("Defaults for this environment's apps (over the root defaults)."),
  })
  .nullable();

export const rootSchema = z
  .strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('Root'),
    defaults: z.strictObject(behaviour).optional().describe('Defaults for every app.'),
    environments: z.record(envName, environment).optional().describe('The environments this root deploys to, by name (ENVIRONMENT picks one).'),
    apps: z.array(app).describe('The apps, in any order (dependsOn and syncWave give the deploy order).'),
  })
  .describe('app-of-apps-pipe root manifest');

export type NativeRoot = z.output<typeof rootSchema>;
export type NativeApp = z.output<typeof app>;
export type NativeEnvironment = NonNullable<z.output<typeof environment>>;
export type Behaviour = z.output<z.ZodObject<typeof behaviour>>;
export type AppEnvironment = NonNullable<z.output<typeof appEnvironment>>;
