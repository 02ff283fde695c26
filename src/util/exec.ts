import type { Options } from 'execa';
import { mask, redactUserInfo, registerSecret } from '../report/mask.js';

/** A failed external tool: one typed error with the command, exit code, stderr and duration. */
export class ToolError extends Error {
  constructor(
    readonly tool: string,
    readonly argv: string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
    readonly durationMs: number,
    readonly timedOut = false,
  ) {
    super(mask(`${tool} ${argv.join(' ')} ${outcome(exitCode, timedOut, durationMs, stderr)}`));
    this.name = 'ToolError';
  }

  /** How it ended and its last lines of stderr, masked, without the argv: for a tool whose arguments may hold secrets (a user's credential plugin). */
  get outcome(): string {
    return mask(redactUserInfo(outcome(this.exitCode, this.timedOut, this.durationMs, this.stderr)));
  }

  /** The tool's last line of stderr (its own summary of what went wrong), masked, URLs without user info: for a message. */
  get lastLine(): string {
    return mask(redactUserInfo(this.stderr.trim().split('\n').pop() ?? ''));
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
  /** Exit codes that are answers, not failures (kubectl diff exits 1 when there are differences). */
  okExitCodes?: number[];
  signal?: AbortSignal;
  /**
   * Pass the pipe's AWS and OIDC credentials on to the tool. Off by default: git, helm and kubectl
   * kustomize need none of them; a kubeconfig's credential plugin may. KUBE_CONFIG never goes to
   * a child: a plugin is given what it needs in KUBERNETES_EXEC_INFO.
   */
  withCredentials?: boolean;
}

/** Variables that carry credentials: the tools the pipe runs get them only when they need them. */
export const CREDENTIAL_VARIABLES = ['BITBUCKET_STEP_OIDC_TOKEN', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'KUBE_CONFIG'] as const;

/** Registers the values of the credential variables for masking: a run does it before anything reads them. */
export function registerCredentialVariables(env: NodeJS.ProcessEnv): void {
  for (const name of CREDENTIAL_VARIABLES) {
    registerSecret(env[name]);
    registerSecret(env[name]?.trim());
  }
}

/** The environment of a child process: this process's, without its credentials, plus `extra`. */
export function childEnv(extra: Record<string, string | undefined> = {}, withCredentials = false): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of CREDENTIAL_VARIABLES) {
    if (!withCredentials || name === 'KUBE_CONFIG') delete env[name];
    // whatever the child prints (a plugin's verbose error, its environment) is masked
    else registerSecret(env[name]);
  }
  return { ...env, ...extra };
}

/** Runs a tool with an argv array (never a shell); throws ToolError on failure. */
export async function runTool(bin: string, argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  // loaded on first use: modules that only need ToolError (git, tree) stay off the start-up path
  const { execa } = await import('execa');
  const started = Date.now();
  const options: Options = {
    cwd: opts.cwd,
    env: childEnv(opts.env, opts.withCredentials),
    extendEnv: false,
    input: opts.input,
    timeout: opts.timeoutMs,
    cancelSignal: opts.signal,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 512 * 1024 * 1024,
  };
  const r = await execa(bin, argv, options);
  const durationMs = Date.now() - started;
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  const ok = r.exitCode !== undefined && (r.exitCode === 0 || (opts.okExitCodes ?? []).includes(r.exitCode));
  if (!ok || r.timedOut || r.isCanceled) {
    const tool = bin.split('/').pop() ?? bin;
    const why = r.exitCode === undefined && !r.timedOut ? `${stderr}\n${r.originalMessage ?? ''}`.trim() : stderr;
    throw new ToolError(tool, argv, r.exitCode, why, durationMs, Boolean(r.timedOut));
  }
  return { stdout, stderr, exitCode: r.exitCode ?? 0, durationMs };
}

function outcome(exitCode: number | undefined, timedOut: boolean, durationMs: number, stderr: string): string {
  const why = timedOut ? 'timed out' : exitCode === undefined ? 'could not be started' : `exited with ${exitCode}`;
  return `${why} after ${durationMs} ms${stderr.trim() ? `: ${lastLines(stderr, 20)}` : ''}`;
}

function lastLines(text: string, n: number): string {
  const lines = text.trim().split('\n');
  return (lines.length > n ? ['…', ...lines.slice(-n)] : lines).join('\n');
}
