// KUBE_CONFIG: the user's kubeconfig for a cluster that is not EKS, with KUBE_CONTEXT chosen.
import { parse, stringify } from 'yaml';
import { registerSecret } from '../report/mask.js';
import { InputError } from '../util/errors.js';

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

/** Names of flags, env variables and auth-provider fields whose values are secrets. */
const SECRET_NAME = /secret|token|passw|pwd|key|cred|auth|private|session|cookie|cert/i;
/** Env variables of a credential plugin that name a place, not a secret (masking "default" would hide namespaces). */
const PLAIN_ENV = /(^|_)(REGION|PROFILE)$/i;

/**
 * The secrets of a kubeconfig user: its token, key and password, an auth-provider's secret fields,
 * and what a credential plugin is given: every env value (but a region or profile) and the values
 * of secret-looking flags in its args (`--client-secret X`, `--api-key=X`).
 */
export function userSecrets(user: Record<string, unknown>): string[] {
  const str = (v: unknown) => (typeof v === 'string' ? [v] : []);
  const out = ['token', 'client-key-data', 'password'].flatMap((field) => str(user[field]));
  const provider = (user['auth-provider'] ?? {}) as { config?: Record<string, unknown> };
  for (const [name, value] of Object.entries(provider.config ?? {})) if (SECRET_NAME.test(name)) out.push(...str(value));
  const exec = (user.exec ?? {}) as { args?: unknown; env?: unknown };
  for (const e of Array.isArray(exec.env) ? (exec.env as { name?: unknown; value?: unknown }[]) : []) {
    if (!PLAIN_ENV.test(String(e?.name ?? ''))) out.push(...str(e?.value));
  }
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  args.forEach((arg, i) => {
    const flag = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!flag || !SECRET_NAME.test(flag[1]!)) return;
    if (flag[2] !== undefined) out.push(flag[2]);
    else if (args[i + 1] !== undefined && !args[i + 1]!.startsWith('-')) out.push(args[i + 1]!);
  });
  return out;
}
