// KUBE_CONFIG: the user's kubeconfig for a cluster that is not EKS, with KUBE_CONTEXT chosen.
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parse, stringify } from 'yaml';
import { registerSecret } from '../report/mask.js';
import { InputError, InputErrors } from '../util/errors.js';

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
  for (const u of list('users')) for (const secret of userSecrets((u.user ?? {}) as Record<string, unknown>)) registerSecret(secret);
  const contexts = list('contexts');
  const contextName = wantedContext ?? (typeof doc['current-context'] === 'string' ? doc['current-context'] : contexts[0]!.name);
  const context = contexts.find((c) => c.name === contextName);
  if (!context) {
    throw bad(`has no context "${contextName}"`, `use one of: ${contexts.map((c) => c.name).join(', ')}`, wantedContext ? 'KUBE_CONTEXT' : 'KUBE_CONFIG');
  }
  const ref = (context.context ?? {}) as { cluster?: string; user?: string };
  const cluster = list('clusters').find((c) => c.name === ref.cluster)?.cluster as Record<string, string> | undefined;
  if (!cluster?.server) throw bad(`context "${contextName}" names cluster "${ref.cluster}", which is not in the kubeconfig`, 'export the kubeconfig with `kubectl config view --raw --minify --flatten`');
  const named = list('users').find((u) => u.name === ref.user);
  if (ref.user !== undefined && !named) throw bad(`context "${contextName}" names user "${ref.user}", which is not in the kubeconfig`, 'export the kubeconfig with `kubectl config view --raw --minify --flatten`');
  const user = (named?.user ?? {}) as Record<string, unknown>;
  const problems = [...fileProblems(`cluster "${ref.cluster}"`, cluster, CLUSTER_FILES), ...fileProblems(`user "${ref.user}"`, user, USER_FILES)];
  const command = (user.exec as { command?: unknown } | undefined)?.command;
  if (typeof command === 'string' && command.includes('/') && !isAbsolute(command)) {
    problems.push(
      new InputError(`user "${ref.user}": exec command "${command}" is a relative path, which cannot work in KUBE_CONFIG: it is a variable, not a file, so there is no folder for the path to be relative to`, {
        where: { variable: 'KUBE_CONFIG' },
        hint: 'name a command on the PATH of the pipe\'s image, or an absolute path in its container',
      }),
    );
  }
  if (cluster['proxy-url']) {
    // requests would go straight to the server, not through the proxy kubectl uses: say so rather than fail to connect
    problems.push(
      new InputError(`cluster "${ref.cluster}": proxy-url is not supported: the pipe connects to the API server directly`, {
        where: { variable: 'KUBE_CONFIG' },
        hint: 'give a server the runner reaches directly (a private endpoint, or a self-hosted runner in the cluster\'s network), and remove proxy-url',
      }),
    );
  }
  if (problems.length) throw new InputErrors(problems);
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

/** A field that holds a file path, the field that can hold its data instead, and whether the data is PEM. */
interface FileField {
  path: string;
  data?: string;
  pem?: boolean;
}
const CLUSTER_FILES: FileField[] = [{ path: 'certificate-authority', data: 'certificate-authority-data', pem: true }];
const USER_FILES: FileField[] = [
  { path: 'client-certificate', data: 'client-certificate-data', pem: true },
  { path: 'client-key', data: 'client-key-data', pem: true },
  { path: 'tokenFile' },
];
const FLATTEN = 'embed the files: `kubectl config view --raw --minify --flatten | base64 -w0` makes a KUBE_CONFIG with the certificates and keys as -data fields';

/**
 * The files a kubeconfig entry names must be readable in the pipe's container, and certificate
 * and key data must be PEM: found here, as bad input naming the field, not when the first
 * request fails. A base64 KUBE_CONFIG is no file, so a relative path has nothing to be relative
 * to (kubectl resolves it against the kubeconfig's folder).
 */
function fileProblems(entry: string, fields: Record<string, unknown>, files: FileField[]): InputError[] {
  const out: InputError[] = [];
  const bad = (message: string, hint: string) => out.push(new InputError(`${entry}: ${message}`, { where: { variable: 'KUBE_CONFIG' }, hint }));
  for (const f of files) {
    const path = fields[f.path];
    const data = f.data ? fields[f.data] : undefined;
    const embed = f.data ? FLATTEN : 'put the token itself in the user\'s `token` field, or use an absolute path of a file that exists in the pipe\'s container (only the clone, at BITBUCKET_CLONE_DIR, is mounted there)';
    if (typeof data === 'string' && data) {
      if (f.pem && !Buffer.from(data.replace(/\s+/g, ''), 'base64').toString('utf8').includes('-----BEGIN')) {
        bad(`${f.data} is not a base64-encoded PEM ${f.path.includes('key') ? 'key' : 'certificate'}`, `set it to the base64 of the PEM file; ${FLATTEN.replace(/^embed the files: /, '')}`);
      }
      continue;
    }
    if (typeof path !== 'string' || !path) continue;
    if (!isAbsolute(path)) {
      bad(`${f.path} "${path}" is a relative path, which cannot work in KUBE_CONFIG: it is a variable, not a file, so there is no folder for the path to be relative to`, embed);
      continue;
    }
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      bad(`${f.path} ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`} in the pipe's container`, embed);
      continue;
    }
    if (f.pem && !text.includes('-----BEGIN')) bad(`${f.path} ${path} is not a PEM file`, embed);
  }
  return out;
}

/**
 * Names of flags, env variables and auth-provider fields whose values are secrets; not those that
 * name where a secret is or how it is used (`--token-cache-dir`, `--client-key-file`,
 * `AWS_SHARED_CREDENTIALS_FILE`, `--role-session-name`): a path masked hides it in every line.
 * A URL stays a secret (`TOKEN_URL=https://idp/x?token=...` may carry one in its query).
 */
const SECRET_NAME = /secret|token|passw|pwd|key|cred|auth|private|session|cookie|cert/i;
const NOT_A_SECRET = /[-_.](dir|directory|path|file|cache|region|profile|name|type|mode|format|ttl|timeout|duration|expiry)$/i;
const secretName = (name: string) => SECRET_NAME.test(name) && !NOT_A_SECRET.test(name);

/**
 * The secrets of a kubeconfig user: its token, key and password, an auth-provider's secret fields,
 * and what a credential plugin is given: the values of its secret-looking env variables and flags
 * (`VAULT_TOKEN`, `--client-secret X`, `--api-key=X`); other values (a namespace, a region, `true`)
 * would hide names everywhere if masked.
 */
export function userSecrets(user: Record<string, unknown>): string[] {
  const str = (v: unknown) => (typeof v === 'string' ? [v] : []);
  const out = ['token', 'client-key-data', 'password'].flatMap((field) => str(user[field]));
  const provider = (user['auth-provider'] ?? {}) as { config?: Record<string, unknown> };
  for (const [name, value] of Object.entries(provider.config ?? {})) if (secretName(name)) out.push(...str(value));
  const exec = (user.exec ?? {}) as { args?: unknown; env?: unknown };
  for (const e of Array.isArray(exec.env) ? (exec.env as { name?: unknown; value?: unknown }[]) : []) {
    if (secretName(String(e?.name ?? ''))) out.push(...str(e?.value));
  }
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  args.forEach((arg, i) => {
    const flag = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!flag || !secretName(flag[1]!)) return;
    if (flag[2] !== undefined) out.push(flag[2]);
    else if (args[i + 1] !== undefined && !args[i + 1]!.startsWith('-')) out.push(args[i + 1]!);
  });
  return out;
}
