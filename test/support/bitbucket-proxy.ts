// A stand-in for the Bitbucket Pipelines local proxy (host.docker.internal:29418): an HTTP proxy on
// 127.0.0.1 that receives the pipe's absolute-form requests to http://api.bitbucket.org/2.0/...
// and answers as the Code Insights API does. Every request is kept for the test to inspect.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  /** The absolute URL the pipe asked the proxy for. */
  url: string;
  body: unknown;
  raw: string;
}

export interface FakeBitbucketProxy {
  url: string;
  requests: ProxiedRequest[];
  /** Answer every request (or those of `methods`) with this status and Bitbucket's error body, or never (`'hang'`). */
  failWith(status: number | 'hang' | undefined, message?: string, methods?: string[]): void;
  close(): Promise<void>;
}

export async function startBitbucketProxy(): Promise<FakeBitbucketProxy> {
  const requests: ProxiedRequest[] = [];
  let failure: { status: number | 'hang'; message: string; methods?: string[] } | undefined;
  const reports = new Set<string>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      requests.push({ method: req.method ?? '?', url: req.url ?? '', body, raw });
      const failing = failure && (!failure.methods || failure.methods.includes(req.method ?? '')) ? failure : undefined;
      if (failing?.status === 'hang') return;
      const send = (status: number, json?: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(json === undefined ? '' : JSON.stringify(json));
      };
      if (failing) return send(failing.status as number, { type: 'error', error: { message: failing.message } });
      const url = new URL(req.url ?? '/', 'http://proxy');
      if (url.host !== 'api.bitbucket.org' || !url.pathname.startsWith('/2.0/repositories/')) return send(400, { type: 'error', error: { message: `not a Bitbucket API URL: ${req.url}` } });
      const report = url.pathname.replace(/\/annotations$/, '');
      if (req.method === 'DELETE') return reports.delete(report) ? send(204) : send(404, { type: 'error', error: { message: 'Report not found' } });
      if (req.method === 'PUT') {
        reports.add(report);
        return send(200, { type: 'report', ...(body as object) });
      }
      if (req.method === 'POST' && url.pathname.endsWith('/annotations')) {
        if (!reports.has(report)) return send(404, { type: 'error', error: { message: 'Report not found' } });
        if (!Array.isArray(body) || body.length > 100) return send(400, { type: 'error', error: { message: 'expected up to 100 annotations' } });
        return send(200, body);
      }
      send(405, { type: 'error', error: { message: 'method not allowed' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failWith(status, message = 'Something went wrong', methods) {
      failure = status === undefined ? undefined : { status, message, methods };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
