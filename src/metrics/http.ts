/**
 * A small node:http server for `/metrics` (Prometheus text), for `lifeline server --metrics-port`
 * and for users who have no HTTP server of their own. Anything else gets 404; a failing scrape 500.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LifelineMetrics } from './prometheus.js';

export interface MetricsHttpServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

export async function serveMetrics(metrics: LifelineMetrics, options: { port?: number; host?: string; path?: string } = {}): Promise<MetricsHttpServer> {
  const path = options.path ?? '/metrics';
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || url !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
