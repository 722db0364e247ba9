/**
 * `serveDashboard(server, options)`: the live dashboard's HTTP server (fastify), for
 * `lifeline server --dashboard PORT` and for users who embed lifeline (docs/spec/0017-dashboard.md).
 *
 * Routes: `/` the live page, `/results` the results page and their static assets
 * (public/, served by @fastify/static); `/events` the live feed as Server-Sent Events;
 * `/api/snapshot` the same data once, as JSON; `/api/results` and `/api/results/render`
 * (result files from `resultsDir`, or a posted body); `/metrics` when given a LifelineMetrics.
 * Binds 127.0.0.1 unless told otherwise: the page shows peers' addresses and session ids.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { LifelineServer } from '../server/server.js';
import type { LifelineMetrics } from '../metrics/prometheus.js';
import { DashboardFeed, type DashboardFeedOptions } from './feed.js';
import { listResultFiles, readResultFile, ResultsFileError } from './results-files.js';
import { renderResultText, ResultShapeError } from './results-render.js';

export interface DashboardOptions extends DashboardFeedOptions {
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Address to bind. Default '127.0.0.1'. */
  host?: string;
  /** Serve `/metrics` from this (e.g. `lifelineMetrics(server)`); the caller keeps owning it. */
  metrics?: LifelineMetrics;
  /** Directory whose `.json` lab / bench results the results page may open (`?file=NAME`). */
  resultsDir?: string;
  /** Largest result body accepted by POST /api/results/render, bytes. Default 16 MiB. */
  maxUploadBytes?: number;
}

export interface DashboardServer {
  readonly address: AddressInfo;
  /** http://host:port/ */
  readonly url: string;
  readonly feed: DashboardFeed;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/** An SSE stream with more than this waiting to be sent is a page that stopped reading: it is cut. */
const MAX_SSE_BACKLOG_BYTES = 1024 * 1024;
/** A comment line this often keeps proxies from timing an idle stream out. */
const SSE_KEEPALIVE_MS = 15_000;

/** public/ beside this module: src/dashboard/public under tsx, dist/dashboard/public once built. */
function publicDir(): string {
  const dir = fileURLToPath(new URL('./public/', import.meta.url));
  if (!existsSync(dir)) throw new Error(`dashboard assets missing at ${dir} (npm run build copies src/dashboard/public there)`);
  return dir;
}

export async function serveDashboard(server: LifelineServer, options: DashboardOptions = {}): Promise<DashboardServer> {
  const root = publicDir();
  if (options.resultsDir !== undefined && !existsSync(options.resultsDir)) throw new Error(`dashboard resultsDir ${options.resultsDir}: no such directory`);
  const feed = new DashboardFeed(server, options);
  const streams = new Set<import('node:http').ServerResponse>();
  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: options.maxUploadBytes ?? 16 * 1024 * 1024 });

  // max-age 0: a browser revalidates (ETag) on every load, so an upgraded server's page is never stale.
  await app.register(fastifyStatic, { root, prefix: '/static/', maxAge: 0 });
  app.get('/', (_req, reply) => reply.type('text/html; charset=utf-8').sendFile('index.html'));
  app.get('/results', (_req, reply) => reply.type('text/html; charset=utf-8').sendFile('results.html'));

  // The page shows a Metrics link only when /metrics is here.
  const snapshot = () => ({ ...feed.snapshot(), metrics: options.metrics !== undefined });
  app.get('/api/snapshot', () => snapshot());

  app.get('/events', (_req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (event: string, data: unknown): void => {
      if (res.destroyed) return; // 'close' (and the unsubscribe) comes a tick after a destroy
      if (res.writableLength > MAX_SSE_BACKLOG_BYTES) {
        res.destroy();
        return;
      }
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    res.write('retry: 2000\n\n');
    send('snapshot', snapshot());
    const unsubscribe = feed.subscribe((event, data, rtt) => send(event, event === 'sample' ? { sample: data, rtt } : data));
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    keepalive.unref();
    streams.add(res);
    res.on('close', () => {
      unsubscribe();
      clearInterval(keepalive);
      streams.delete(res);
    });
  });

  const dir = options.resultsDir;
  app.get('/api/results', async (_req, reply) => {
    if (dir === undefined) return reply.code(404).send({ error: 'no results directory: start with --dashboard-results DIR' });
    return { files: await listResultFiles(dir) };
  });
  app.get<{ Querystring: { file?: string } }>('/api/results/render', async (req, reply) => {
    if (dir === undefined) return reply.code(404).send({ error: 'no results directory: start with --dashboard-results DIR' });
    try {
      return renderResultText(await readResultFile(dir, req.query.file));
    } catch (err) {
      return sendError(reply, err);
    }
  });
  // A pasted or chosen file: the page sends its text as the body, whatever its type.
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.post('/api/results/render', async (req, reply) => {
    try {
      const body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
      return renderResultText(body);
    } catch (err) {
      return sendError(reply, err);
    }
  });

  const metrics = options.metrics;
  if (metrics !== undefined) {
    app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  }

  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const address = app.server.address() as AddressInfo;
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    address,
    url: `http://${host}:${address.port}/`,
    feed,
    app,
    async close() {
      feed.close();
      for (const res of streams) res.end();
      await app.close();
    },
  };
}

function sendError(reply: import('fastify').FastifyReply, err: unknown) {
  if (err instanceof ResultsFileError) return reply.code(err.statusCode).send({ error: err.message });
  if (err instanceof ResultShapeError) return reply.code(422).send({ error: err.message });
  throw err;
}
