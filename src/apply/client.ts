import { request as httpsRequest } from 'node:https';
import { mask } from '../report/mask.js';
import { retry } from '../util/retry.js';
import type { Connection } from './connection.js';

/** Kubernetes' Status object, as it comes back with an error. */
export interface StatusBody {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; causes?: { reason?: string; message?: string; field?: string }[] };
}

/** A request the API server refused (or one that never got an answer: status 0). */
export class KubeApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: StatusBody,
  ) {
    super(mask(`${method} ${path}: ${status ? `${status} ${body.reason ?? ''}`.trim() : 'no answer'}: ${body.message ?? ''}`));
    this.name = 'KubeApiError';
  }
  get reason(): string | undefined {
    return this.body.reason;
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Accept header (default application/json): aggregated discovery asks for its own media type. */
  accept?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  /** The server's clock (Date header): what lease expiry is judged by, whatever the runner's clock says. */
  date?: Date;
}

const RETRYABLE_STATUS = new Set([0, 429, 500, 502, 503, 504]);

/**
 * The engine's only way to the API server: JSON over HTTPS on one keep-alive agent, in process
 * (no kubectl or credential plugin process per call), transient failures retried with backoff.
 */
export class KubeClient {
  requests = 0;

  constructor(
    readonly connection: Connection,
    private readonly defaults: { timeoutMs?: number; userAgent?: string } = {},
  ) {}

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    let refreshed = false;
    return retry(
      async () => {
        try {
          return await this.once<T>(method, path, opts, false);
        } catch (err) {
          // An expired token (EKS tokens live 15 minutes) is refreshed once, then the call is repeated.
          if (err instanceof KubeApiError && err.status === 401 && !refreshed) {
            refreshed = true;
            return this.once<T>(method, path, opts, true);
          }
          throw err;
        }
      },
      {
        label: `${method} ${path}`,
        attempts: 5,
        maxElapsedMs: 30_000,
        baseDelayMs: 200,
        maxDelayMs: 3_000,
        signal: opts.signal,
        retryable: (err) => err instanceof KubeApiError && RETRYABLE_STATUS.has(err.status),
      },
    );
  }

  /** GET that answers undefined for 404. */
  async get<T>(path: string, opts: RequestOptions = {}): Promise<T | undefined> {
    try {
      return (await this.request<T>('GET', path, opts)).body;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  private async once<T>(method: string, path: string, opts: RequestOptions, refresh: boolean): Promise<ApiResponse<T>> {
    const url = new URL(this.connection.server.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const auth = await this.connection.authorization(refresh);
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string> = { Accept: opts.accept ?? 'application/json', 'User-Agent': this.defaults.userAgent ?? 'app-of-apps-pipe' };
    if (auth) headers.Authorization = auth;
    if (payload) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    this.requests++;
    const fullPath = url.pathname + url.search;
    return new Promise<ApiResponse<T>>((resolvePromise, reject) => {
      const req = httpsRequest(url, { method, headers, agent: this.connection.agent, signal: opts.signal, timeout: opts.timeoutMs ?? this.defaults.timeoutMs ?? 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new KubeApiError(method, fullPath, 0, { message: err.message })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : {};
          } catch {
            body = { message: text.slice(0, 500) };
          }
          const status = res.statusCode ?? 0;
          const date = res.headers.date ? new Date(res.headers.date) : undefined;
          if (status >= 200 && status < 300) resolvePromise({ status, body: body as T, date });
          else reject(new KubeApiError(method, fullPath, status, typeof body === 'object' && body ? (body as StatusBody) : { message: String(body) }));
        });
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', (err) => reject(new KubeApiError(method, fullPath, 0, { message: err.message, reason: opts.signal?.aborted ? 'Aborted' : undefined })));
      req.end(payload);
    });
  }

  close(): void {
    this.connection.close();
  }
}
