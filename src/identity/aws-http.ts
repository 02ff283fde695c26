// How the pipe's AWS calls (STS, EKS) go over HTTP: every attempt is bounded in time, so an
// endpoint that accepts a connection and never answers fails the attempt instead of hanging the
// run; and each client remembers the endpoint the SDK actually called, for messages.
import type { EKSClient } from '@aws-sdk/client-eks';
import type { STSClient } from '@aws-sdk/client-sts';
import { PipeError } from '../util/errors.js';
import type { RetryOptions } from '../util/retry.js';

export interface AwsTimeouts {
  /** Establishing the TCP (and TLS) connection. */
  connectMs: number;
  /** One attempt, from the request to the response's headers; capped by what is left of the retry budget. */
  attemptMs: number;
}

export const AWS_TIMEOUTS: AwsTimeouts = { connectMs: 3_000, attemptMs: 8_000 };

/** docs/security.md: at most 5 attempts within 20 s; an attempt with less than 1 s left is not started. */
export const AWS_RETRY = { attempts: 5, maxElapsedMs: 20_000, baseDelayMs: 400, maxDelayMs: 4_000, minAttemptMs: 1_000 };

/** The request handler options of the pipe's AWS clients. */
export function awsHttpOptions(t: Partial<AwsTimeouts> = {}) {
  const { connectMs, attemptMs } = { ...AWS_TIMEOUTS, ...t };
  // without throwOnRequestTimeout, @smithy/node-http-handler only logs a warning when requestTimeout passes
  return { connectionTimeout: connectMs, requestTimeout: attemptMs, throwOnRequestTimeout: true };
}

/** The time one attempt may take: the attempt limit, capped by what is left of the retry budget. */
export function attemptLimitMs(remainingMs: number, t: Partial<AwsTimeouts> = {}): number {
  const attemptMs = t.attemptMs ?? AWS_TIMEOUTS.attemptMs;
  return Math.max(1, Math.min(attemptMs, Math.floor(remainingMs)));
}

/** The send options of one attempt: the run's cancel signal and the time it may take. */
export function attemptOptions(signal: AbortSignal | undefined, remainingMs: number, t: Partial<AwsTimeouts> = {}) {
  return { abortSignal: signal, requestTimeout: attemptLimitMs(remainingMs, t) };
}

/**
 * Runs one attempt (`send` with these options) bounded by the clock, from the request to the
 * last byte of the answer. The handler's requestTimeout ends when the headers arrive, and its
 * socket timeout is an idle one that every byte resets: an endpoint that sends its headers and
 * then a byte every few seconds would hold the run without limit. When the limit passes, the
 * request is aborted and the attempt fails as a timeout ("no answer within N s"), whatever the
 * SDK made of the cut answer; when the run's own signal is aborted, its error is kept.
 */
export async function boundedAttempt<T>(
  signal: AbortSignal | undefined,
  remainingMs: number,
  t: Partial<AwsTimeouts>,
  send: (opts: ReturnType<typeof attemptOptions>) => Promise<T>,
): Promise<T> {
  const ms = attemptLimitMs(remainingMs, t);
  const deadline = new AbortController();
  const timeout = () => Object.assign(new Error(`the answer did not arrive in full within ${ms} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' });
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      deadline.abort(timeout());
      reject(deadline.signal.reason);
    }, ms);
  });
  expired.catch(() => undefined);
  const abortSignal = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  try {
    return await Promise.race([send({ abortSignal, requestTimeout: ms }), expired]);
  } catch (err) {
    if (deadline.signal.aborted && !signal?.aborted) throw deadline.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The retry options of an AWS call, with the caller's overrides (tests use short delays). */
export function awsRetry(overrides: Partial<RetryOptions> | undefined): Omit<RetryOptions, 'label' | 'retryable'> {
  return { ...AWS_RETRY, ...overrides };
}

/** Why one attempt failed, for a retry line: "no answer within 8 s", "connection reset by the endpoint", or the code and message. */
export function attemptFailure(err: unknown, code: string, message: string): string {
  if (isConnectionReset(err)) return 'connection reset by the endpoint';
  if (!isTimeout(err)) return message ? `${code}: ${message}` : code;
  const ms = /(\d+) ms/.exec(message)?.[1];
  const within = ms ? ` within ${Number(ms) / 1000} s` : '';
  return /establish a connection/i.test(message) ? `no connection${within}` : `no answer${within}`;
}

/** Node's codes of a connection the other end reset or closed before the answer. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE']);

/**
 * Whether an SDK error is an attempt that timed out (connection or answer). @smithy/node-http-handler
 * names ECONNRESET and EPIPE "TimeoutError" too: those are resets, not timeouts (isConnectionReset).
 */
export function isTimeout(err: unknown): boolean {
  const e = (err ?? {}) as { name?: string; code?: string };
  if (isConnectionReset(err)) return false;
  return e.name === 'TimeoutError' || e.code === 'ETIMEDOUT';
}

/** Whether the endpoint (or something on the way) reset or closed the connection before answering. */
export function isConnectionReset(err: unknown): boolean {
  const e = (err ?? {}) as { code?: string };
  return RESET_CODES.has(e.code ?? '');
}

/** What the last request of a client went to, and what came back, as the SDK saw it. */
export interface Exchange {
  /** Scheme, host and port, as the SDK resolved them: FIPS, dual-stack and China endpoints differ from `<service>.<region>.amazonaws.com`. */
  endpoint?: string;
  status?: number;
  contentType?: string;
}

/** Records each request's endpoint and its answer's status and content type, for messages. */
export function recordExchange(client: STSClient | EKSClient): () => Exchange {
  let last: Exchange = {};
  type Answer = { response?: { statusCode?: number; headers?: Record<string, string> } };
  const answered = (r: Answer['response']) => {
    last.status = r?.statusCode;
    last.contentType = r?.headers?.['content-type']?.split(';')[0];
  };
  (client as STSClient).middlewareStack.add(
    (next) => async (args) => {
      const r = args.request as { protocol?: string; hostname?: string; port?: number } | undefined;
      last = { endpoint: r?.hostname ? `${r.protocol ?? 'https:'}//${r.hostname}${r.port ? `:${r.port}` : ''}` : undefined };
      try {
        const out = await next(args);
        answered((out as Answer).response);
        return out;
      } catch (err) {
        answered((err as { $response?: Answer['response'] }).$response);
        throw err;
      }
    },
    { step: 'finalizeRequest', name: 'appOfAppsRecordExchange' },
  );
  return () => last;
}

/** "HTTP 403, text/html" */
export function describeAnswer(x: Exchange): string {
  return `HTTP ${x.status ?? '?'}${x.contentType ? `, ${x.contentType}` : ''}`;
}

/**
 * Whether an error means the answer was not the service's own: the SDK found no AWS error in it
 * ("Unknown"), could not parse it, or it was not the service's content type (an HTML page).
 */
export function isForeignAnswer(err: unknown, x: Exchange, contentType: RegExp): boolean {
  const e = (err ?? {}) as { name?: string; Code?: string; message?: string; $response?: unknown };
  if (/Deserialization error/i.test(e.message ?? '')) return true;
  if (e.name === 'Unknown' && !e.Code) return true;
  return Boolean(e.$response && x.contentType && !contentType.test(x.contentType));
}

/** An answer that did not come from the service: the status and endpoint, and what to check. */
export function foreignAnswer(label: string, service: string, x: Exchange, where: string, what: string, variable: string, err?: unknown): PipeError {
  return new PipeError(`${label}: ${where} answered ${describeAnswer(x)}${what ? ` ${what}` : ''}, which is not an answer from ${service}`, {
    hint: `something else answered for ${service}: a proxy or firewall between the pipe and AWS (an HTML page is a proxy's), or ${variable} set to an address that is not ${service}'s endpoint; check ${variable} (unset it for the regional endpoint) and the network path, then re-run`,
    cause: err,
  });
}

/** An AWS endpoint that accepted no connection, or no request, in time: no word about roles or keys. */
export function unanswered(label: string, where: string, tried: string, err: unknown, variable: string): PipeError {
  const connecting = /establish a connection/i.test(String((err as Error)?.message));
  return new PipeError(`${label}: ${where} did not ${connecting ? 'accept a connection' : 'answer'} in time (${tried})`, {
    hint: `the endpoint is unreachable or does not answer: check the network path to it (a firewall or proxy that holds requests, DNS), and ${variable} if it is set, see https://health.aws.amazon.com, then re-run`,
    cause: err,
  });
}

/** An AWS endpoint that reset or closed each connection before answering: it answered quickly, just not with HTTP. */
export function connectionReset(label: string, where: string, tried: string, err: unknown, variable: string): PipeError {
  return new PipeError(`${label}: ${where} reset or closed the connection without answering (${tried})`, {
    hint: `the endpoint, or a proxy or firewall between the pipe and it, closed the connection: check ${variable} if it is set (an address that is not this service's endpoint, or http:// where it wants https://), HTTPS_PROXY / HTTP_PROXY and the proxy's logs, and the network path, then re-run`,
    cause: err,
  });
}
