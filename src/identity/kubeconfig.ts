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
