// Kubeconfigs the pipe hands to kubectl: one for EKS whose user is an exec entry calling the pipe's
// own `eks-token` subcommand (fresh tokens during long deploys), or the user's KUBE_CONFIG.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, stringify } from 'yaml';
import { registerSecret } from '../report/mask.js';
import { InputError } from '../util/errors.js';

export interface SelfCommand {
  command: string;
  args: string[];
}

const ENTRY = /^main\.(ts|js|mjs|cjs)$/;
const LOADER_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
const SNAPSHOT_FLAG = '--snapshot-blob';

type ProcessFacts = Pick<NodeJS.Process, 'execPath' | 'execArgv' | 'argv' | 'cwd'>;

/**
 * How to run this pipe again: the running entry point (dist/main.js, or src/main.ts under tsx,
 * keeping its loader flags), else the bundle this code is in, else the entry point next to this
 * module (tests, embedding).
 */
export function selfCommand(proc: ProcessFacts = process): SelfCommand {
  const script = proc.argv[1];
  if (script && ENTRY.test(basename(script))) {
    return { command: proc.execPath, args: [...portableExecArgv(proc), resolve(proc.cwd(), script)] };
  }
  const here = fileURLToPath(import.meta.url);
  if (!/^kubeconfig\.(ts|js)$/.test(basename(here))) return { command: proc.execPath, args: [here] };
  const js = join(dirname(here), '..', 'main.js');
  if (existsSync(js)) return { command: proc.execPath, args: [js] };
  const tsxLoader = join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'loader.mjs');
  return { command: proc.execPath, args: ['--import', pathToFileURL(tsxLoader).href, join(dirname(here), '..', 'main.ts')] };
}

/**
 * Node flags of this process that kubectl must repeat, with loaders and the startup snapshot
 * (the image's `--snapshot-blob`) made absolute: kubectl runs the plugin from its own working
 * directory, where `--import tsx` or a relative path would not resolve.
 */
function portableExecArgv(proc: ProcessFacts): string[] {
  const out: string[] = [];
  const args = proc.execArgv.filter((a) => !a.startsWith('--inspect'));
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (flag === SNAPSHOT_FLAG) {
      out.push(flag, resolve(proc.cwd(), inline ?? args[++i] ?? ''));
      continue;
    }
    if (!LOADER_FLAGS.has(flag)) {
      out.push(args[i]!);
      continue;
    }
    const value = inline ?? args[++i] ?? '';
    out.push(flag, absoluteModule(value, flag === '--require' || flag === '-r', proc.cwd()));
  }
  return out;
}

function absoluteModule(spec: string, asPath: boolean, cwd: string): string {
  if (spec.startsWith('file:') || spec.startsWith('node:') || isAbsolute(spec)) return spec;
  for (const base of [join(cwd, 'noop.js'), fileURLToPath(import.meta.url)]) {
    try {
      const path = createRequire(base).resolve(spec);
      return asPath ? path : pathToFileURL(path).href;
    } catch {
      // not resolvable from here; try the next base
    }
  }
  return spec;
}

export interface EksKubeconfigInput {
  clusterName: string;
  region: string;
  server: string;
  caData: string;
  credentialsFile: string;
  self: SelfCommand;
}

export function eksKubeconfig(i: EksKubeconfigInput): string {
  const name = `eks-${i.clusterName}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: i.server, 'certificate-authority-data': i.caData } }],
    users: [
      {
        name,
        user: {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1beta1',
            command: i.self.command,
            args: [...i.self.args, 'eks-token', '--cluster-name', i.clusterName, '--region', i.region, '--credentials-file', i.credentialsFile],
            interactiveMode: 'Never',
            provideClusterInfo: false,
          },
        },
      },
    ],
    contexts: [{ name, context: { cluster: name, user: name } }],
    'current-context': name,
  });
}

interface Named {
  name: string;
  [key: string]: unknown;
}

export interface UserKubeconfig {
  /** The kubeconfig to write, with current-context set to the chosen context. */
  text: string;
  context: string;
  cluster: string;
  server: string;
  caData?: string;
  /** A static bearer token of the chosen user, if it has one. */
  token?: string;
}

/** KUBE_CONFIG (base64, as Atlassian's kubectl pipes take it) and KUBE_CONTEXT. */
export function readUserKubeconfig(base64: string, wantedContext?: string): UserKubeconfig {
  registerSecret(base64.trim());
  const bad = (message: string, hint: string, variable = 'KUBE_CONFIG') => new InputError(message, { where: { variable }, hint });
  const text = Buffer.from(base64.replace(/\s+/g, ''), 'base64').toString('utf8');
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch {
    throw bad('does not decode to YAML', 'set KUBE_CONFIG to the output of `base64 -w0 ~/.kube/config`');
  }
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.contexts) || doc.contexts.length === 0) {
    throw bad('has no contexts', 'set KUBE_CONFIG to the output of `base64 -w0 ~/.kube/config` for a kubeconfig with at least one context');
  }
  const list = (key: string) => (Array.isArray(doc[key]) ? (doc[key] as Named[]) : []);
  for (const u of list('users')) {
    const user = (u.user ?? {}) as Record<string, unknown>;
    for (const field of ['token', 'client-key-data', 'password']) registerSecret(typeof user[field] === 'string' ? (user[field] as string) : undefined);
  }
  const contexts = list('contexts');
  const contextName = wantedContext ?? (typeof doc['current-context'] === 'string' ? doc['current-context'] : contexts[0]!.name);
  const context = contexts.find((c) => c.name === contextName);
  if (!context) {
    throw bad(`has no context "${contextName}"`, `use one of: ${contexts.map((c) => c.name).join(', ')}`, wantedContext ? 'KUBE_CONTEXT' : 'KUBE_CONFIG');
  }
  const ref = (context.context ?? {}) as { cluster?: string; user?: string };
  const cluster = list('clusters').find((c) => c.name === ref.cluster)?.cluster as Record<string, string> | undefined;
  if (!cluster?.server) throw bad(`context "${contextName}" names cluster "${ref.cluster}", which is not in the kubeconfig`, 'export the kubeconfig with `kubectl config view --raw --minify --flatten`');
  const user = (list('users').find((u) => u.name === ref.user)?.user ?? {}) as Record<string, unknown>;
  doc['current-context'] = contextName;
  return {
    text: stringify(doc),
    context: contextName,
    cluster: ref.cluster!,
    server: cluster.server,
    caData: cluster['certificate-authority-data'],
    token: typeof user.token === 'string' ? user.token : undefined,
  };
}
