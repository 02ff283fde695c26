import { request } from 'node:https';
import { request as plainRequest } from 'node:http';

export interface TlsClient {
  /** PEM of the CA to trust; unset means "accept any certificate" (the components' self-signed health ports). */
  ca?: string;
  cert?: string;
  key?: string;
  headers?: Record<string, string>;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One request to a loopback component, with a short timeout: used for readiness polls and settings. */
export function fetchText(url: string, opts: TlsClient & { method?: string; body?: string } = {}): Promise<HttpResult> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? request : plainRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: opts.method ?? 'GET',
        headers: { ...(opts.body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        rejectUnauthorized: opts.ca !== undefined,
        timeout: 5_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 5 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The value when the request answers 200, else undefined (for polling with waitFor). */
export async function okJson<T>(url: string, opts: TlsClient = {}): Promise<T | undefined> {
  const res = await fetchText(url, opts);
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${res.body.slice(0, 300)}`);
  return (res.body.trim().startsWith('{') ? JSON.parse(res.body) : res.body) as T;
}
