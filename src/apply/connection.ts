import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { createSecureContext } from 'node:tls';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { registerSecret } from '../report/mask.js';
import { ExitCode, PipeError } from '../util/errors.js';
import { runTool, ToolError } from '../util/exec.js';

/** The part of identity's ClusterAccess the engine needs (structural, so any access fits). */
export interface ClusterEndpoint {
  /** A kubeconfig for what the access itself does not give: client certificate, token file, credential plugin (KUBE_CONFIG). */
  kubeconfigPath?: string;
  server: string;
  /** Base64 PEM (kubeconfig style) or PEM. */
  caData?: string;
  /** A fresh bearer token (EKS), or undefined when the kubeconfig's user authenticates otherwise. */
  bearerToken(): Promise<string | undefined>;
}

const Cluster = z.object({
  server: z.string().optional(),
  'certificate-authority-data': z.string().optional(),
  'certificate-authority': z.string().optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
  'tls-server-name': z.string().optional(),
});
const User = z.object({
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  'client-certificate-data': z.string().optional(),
  'client-certificate': z.string().optional(),
  'client-key-data': z.string().optional(),
  'client-key': z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  exec: z
    .object({
      command: z.string(),
      args: z.array(z.string()).nullish(),
      env: z.array(z.object({ name: z.string(), value: z.string() })).nullish(),
      apiVersion: z.string().optional(),
    })
    .optional(),
});
const Kubeconfig = z.object({
  'current-context': z.string().optional(),
  clusters: z.array(z.object({ name: z.string(), cluster: Cluster })).default([]),
  users: z.array(z.object({ name: z.string(), user: User.nullish().transform((u) => u ?? {}) })).default([]),
  contexts: z.array(z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string().optional() }) })).default([]),
});
type KubeUser = z.output<typeof User>;

const ExecCredential = z.object({
  status: z.object({
    token: z.string().optional(),
    clientCertificateData: z.string().optional(),
    clientKeyData: z.string().optional(),
    expirationTimestamp: z.string().optional(),
  }),
});

/** How requests reach the API server: a keep-alive TLS agent and a way to get the Authorization header. */
export interface Connection {
  server: URL;
  agent: Agent;
  /** The Authorization header value; `refresh` after a 401 drops any cached token. */
  authorization(refresh?: boolean): Promise<string | undefined>;
  close(): void;
}

const TOKEN_CACHE_MS = 60_000;

/**
 * Builds the connection from the ClusterAccess and its kubeconfig, if it has one: the CA and a
 * bearer token from the access (EKS), or from the kubeconfig a client certificate (test beds,
 * KUBE_CONFIG users), the user's static token or token file, or the user's exec credential plugin.
 */
export async function connect(access: ClusterEndpoint, opts: { context?: string; maxSockets?: number } = {}): Promise<Connection> {
  const { cluster, user, base } = access.kubeconfigPath ? await kubeconfigEntries(access.kubeconfigPath, opts.context) : { cluster: {}, user: {}, base: process.cwd() };

  const fileOrData = async (data: string | undefined, path: string | undefined): Promise<Buffer | undefined> => {
    if (data) return Buffer.from(data, 'base64');
    if (!path) return undefined;
    const file = isAbsolute(path) ? path : resolve(base, path);
    return readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new PipeError(`cannot read ${file}, which the kubeconfig names: ${err.code ?? err.message}`, {
        exitCode: ExitCode.badInput,
        hint: 'embed the file in the kubeconfig (`kubectl config view --raw --minify --flatten`), or make it readable in the pipe\'s container',
      });
    });
  };
  const ca = access.caData
    ? Buffer.from(access.caData.includes('-----BEGIN') ? access.caData : Buffer.from(access.caData, 'base64').toString('utf8'))
    : await fileOrData(cluster['certificate-authority-data'], cluster['certificate-authority']);
  let cert = await fileOrData(user['client-certificate-data'], user['client-certificate']);
  let key = await fileOrData(user['client-key-data'], user['client-key']);
  if (key) registerSecret(key.toString('utf8'));

  const exec = user.exec ? execPlugin(user.exec, base) : undefined;
  // a plugin may answer with a client certificate, which the TLS agent needs now; not asked when
  // the access has its own token
  if (exec && !cert && !(await access.bearerToken())) {
    const first = await exec();
    if (first.cert && first.key) [cert, key] = [first.cert, first.key];
  }

  try {
    // a bad certificate or key fails here, naming where it came from, and not on the first request
    createSecureContext({ ca, cert, key });
  } catch (err) {
    throw new PipeError(`the TLS material of ${access.kubeconfigPath ? 'the kubeconfig (CA, client certificate or key)' : "the cluster's CA"} is not valid: ${(err as Error).message}`, {
      exitCode: ExitCode.badInput,
      hint: access.kubeconfigPath
        ? 'set the -data fields to base64 PEM (`kubectl config view --raw --minify --flatten`)'
        : "set CLUSTER_CA_DATA to the cluster's certificateAuthority.data",
    });
  }
  const agent = new Agent({
    keepAlive: true,
    maxSockets: opts.maxSockets ?? 32,
    ca,
    cert,
    key,
    rejectUnauthorized: !cluster['insecure-skip-tls-verify'],
    servername: cluster['tls-server-name'],
  });

  let cached: { value: string | undefined; until: number } | undefined;
  const fresh = async (): Promise<string | undefined> => {
    const token = (await access.bearerToken()) ?? user.token ?? (user.tokenFile ? (await fileOrData(undefined, user.tokenFile))?.toString('utf8').trim() : undefined);
    if (token) return `Bearer ${token}`;
    if (exec) {
      const cred = await exec();
      if (cred.token) return `Bearer ${cred.token}`;
    }
    if (user.username !== undefined && user.password !== undefined) return `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
    return undefined;
  };
  return {
    server: new URL(access.server || cluster.server || ''),
    agent,
    async authorization(refresh = false) {
      if (refresh || !cached || Date.now() >= cached.until) {
        const value = await fresh();
        if (value) registerSecret(value.replace(/^\w+ /, ''));
        cached = { value, until: Date.now() + TOKEN_CACHE_MS };
      }
      return cached.value;
    },
    close: () => agent.destroy(),
  };
}

/** The cluster and user of the kubeconfig's context (`context` if it has one by that name, else its current one). */
async function kubeconfigEntries(file: string, contextWanted?: string): Promise<{ cluster: z.output<typeof Cluster>; user: KubeUser; base: string }> {
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new PipeError(`cannot read the kubeconfig ${file}: ${(err as Error).message}`);
  });
  const parsed = Kubeconfig.safeParse(parse(text) ?? {});
  if (!parsed.success) throw new PipeError(`the kubeconfig ${file} is not valid: ${parsed.error.issues[0]?.message ?? ''}`);
  const kc = parsed.data;
  const contextName = contextWanted && kc.contexts.some((c) => c.name === contextWanted) ? contextWanted : kc['current-context'];
  const context = kc.contexts.find((c) => c.name === contextName)?.context;
  return {
    cluster: kc.clusters.find((c) => c.name === context?.cluster)?.cluster ?? {},
    user: kc.users.find((u) => u.name === context?.user)?.user ?? {},
    base: dirname(file),
  };
}

interface ExecResult {
  token?: string;
  cert?: Buffer;
  key?: Buffer;
}

/** A kubeconfig exec credential plugin, called as kubectl calls it; the answer is cached until it expires. */
function execPlugin(spec: NonNullable<KubeUser['exec']>, base: string): () => Promise<ExecResult> {
  const command = spec.command.includes('/') && !isAbsolute(spec.command) ? resolve(base, spec.command) : spec.command;
  let cached: { result: ExecResult; until: number } | undefined;
  return async () => {
    if (cached && Date.now() < cached.until) return cached.result;
    const env: Record<string, string> = Object.fromEntries((spec.env ?? []).map((e) => [e.name, e.value]));
    env.KUBERNETES_EXEC_INFO = JSON.stringify({
      apiVersion: spec.apiVersion ?? 'client.authentication.k8s.io/v1beta1',
      kind: 'ExecCredential',
      spec: { interactive: false },
    });
    const hint = `check that ${spec.command} runs in the pipe's image and prints an ExecCredential (try it with kubectl and the same kubeconfig), or give KUBE_CONFIG a user with a token or client certificate`;
    let stdout: string;
    try {
      // a user's plugin (aws eks get-token, ...) may read the AWS variables
      stdout = (await runTool(command, spec.args ?? [], { env, timeoutMs: 60_000, withCredentials: true })).stdout;
    } catch (e) {
      if (!(e instanceof ToolError)) throw e;
      // its args may hold secrets (a client secret, an API key): the message names the plugin, not its argv
      throw new PipeError(`the kubeconfig's credential plugin ${e.tool} failed: ${e.outcome}`, { hint });
    }
    // its output holds the token: no part of it goes into a message
    let answer: unknown;
    try {
      answer = JSON.parse(stdout);
    } catch {
      throw new PipeError(`the kubeconfig's credential plugin ${spec.command} printed no JSON`, { hint });
    }
    const parsed = ExecCredential.safeParse(answer);
    if (!parsed.success) throw new PipeError(`the kubeconfig's credential plugin ${spec.command} printed no ExecCredential status`, { hint });
    const s = parsed.data.status;
    registerSecret(s.token);
    registerSecret(s.clientKeyData);
    const result: ExecResult = {
      token: s.token,
      cert: s.clientCertificateData ? Buffer.from(s.clientCertificateData) : undefined,
      key: s.clientKeyData ? Buffer.from(s.clientKeyData) : undefined,
    };
    const expires = s.expirationTimestamp ? Date.parse(s.expirationTimestamp) - 30_000 : Date.now() + TOKEN_CACHE_MS;
    cached = { result, until: expires };
    return result;
  };
}
