/**
 * Prometheus metrics for one LifelineServer (docs/spec/0015-metrics.md), with prom-client.
 *
 * Every value is read when the registry is scraped (collect callbacks): the server's plain
 * counters (server/server-counters.ts), `server.stats()` (bytes: O(connections) per scrape),
 * its health report, its UDP listeners' counters, and an event-loop delay histogram of our own.
 * Nothing is observed per frame (frames by type are array slots the connections bump, read
 * here): attaching metrics adds no work to the data path, and counts start when the server is
 * made, not when metrics are attached.
 *
 * One server per registry (metric names are fixed); give each server its own registry, or
 * prom-client's `registry.setDefaultLabels()` on separate registries merged with
 * `Registry.merge()`.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry } from 'prom-client';
import type { LifelineServer } from '../server/server.js';
import { RTT_BUCKETS_MS, type ServerCounters } from '../server/server-counters.js';
import type { UdpListenerStats } from '../server/listen-udp.js';
import type { CloseReasonCode } from '../connection/close-reason.js';
import { FRAME_COUNT_TYPES } from '../connection/frame-counts.js';
import { ChannelCounts } from './channel-counts.js';

export interface LifelineMetricsOptions {
  /** Where the collectors are registered. Default: a new Registry (not prom-client's global one). */
  registry?: Registry;
  /** Sample the event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution). Default true. */
  eventLoopDelay?: boolean;
}

export interface LifelineMetrics {
  readonly registry: Registry;
  /** The Prometheus text exposition of the registry (what `/metrics` serves). */
  metrics(): Promise<string>;
  /** The Content-Type for metrics(). */
  readonly contentType: string;
  /** Stop the event-loop sampler and remove our collectors from the registry. */
  close(): void;
}

/**
 * Which mechanism noticed a dead or misbehaving peer, from a connection's close reason (those
 * not listed — the peer's CLOSE, our close(), shutdown — are not detections).
 */
const DETECTIONS: Partial<Record<CloseReasonCode, string>> = {
  'heartbeat-timeout': 'heartbeat',
  'transport-closed': 'transport',
  'protocol-error': 'protocol',
  'too-many-pings': 'enforcement',
  'handshake-timeout': 'handshake-timer',
  'slow-consumer': 'send-buffer',
};

/** transport-error causes by mechanism: ETIMEDOUT is the kernel's keepalive or TCP_USER_TIMEOUT giving up. */
function transportMechanism(errorCode: string): string {
  if (errorCode === 'ETIMEDOUT') return 'tcp-timeout';
  if (errorCode === 'ECONNRESET' || errorCode === 'EPIPE') return 'tcp-reset';
  return 'transport';
}

const UDP_COUNTERS: ReadonlyArray<Exclude<keyof UdpListenerStats, 'bytesHeldForValidation'>> = [
  'datagramsReceived',
  'malformed',
  'retriesSent',
  'resetsSent',
  'answersOverBudget',
  'replaysDropped',
  'refusedPerAddress',
  'unknownCid',
  'tombstoneAnswers',
  'migrations',
  'validations',
  'validationsFailed',
  'sendsAfterClose',
];

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Register lifeline's collectors for `server`. */
export function lifelineMetrics(server: LifelineServer, options: LifelineMetricsOptions = {}): LifelineMetrics {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  const c: ServerCounters = server.counters;
  const names: string[] = [];
  const counter = (name: string, help: string, labelNames: string[], collect: (m: Counter<string>) => void): void => {
    names.push(name);
    new Counter({ name, help, labelNames, registers, collect(this: Counter<string>) { this.reset(); collect(this); } });
  };
  const gauge = (name: string, help: string, labelNames: string[], collect: (m: Gauge<string>) => void): void => {
    names.push(name);
    new Gauge({ name, help, labelNames, registers, collect(this: Gauge<string>) { this.reset(); collect(this); } });
  };
  const fromMap = (m: Counter<string>, map: ReadonlyMap<string, number>, label: string): void => {
    for (const [key, value] of map) m.inc({ [label]: key }, value);
  };
  const byFrameType = (m: Counter<string>, counts: Float64Array): void => {
    FRAME_COUNT_TYPES.forEach((type, slot) => m.inc({ type }, counts[slot]!));
  };

  gauge('lifeline_sessions', 'Sessions open or detached (waiting for a resume).', [], (m) => m.set(server.sessionCount));
  gauge('lifeline_sessions_detached', 'Resumable sessions whose transport was lost, waiting for their client.', [], (m) => m.set(server.detachedCount));
  counter('lifeline_sessions_opened_total', 'Sessions opened (handshakes that made a new session; resumes are not counted).', [], (m) => {
    let closed = 0;
    for (const n of c.sessionsClosed.values()) closed += n;
    m.inc(server.sessionCount + closed);
  });
  counter('lifeline_sessions_closed_total', 'Sessions closed for good, by close reason.', ['reason'], (m) => fromMap(m, c.sessionsClosed, 'reason'));
  gauge('lifeline_connections', 'Accepted connections not yet closed (handshaking ones included).', [], (m) => m.set(server.connectionCount));
  counter('lifeline_connections_closed_total', 'Connections closed, by close reason (a resumable session outlives its connections).', ['reason'], (m) =>
    fromMap(m, c.connectionsClosed, 'reason'),
  );
  const detector = server.options.detector?.kind === 'phi' ? 'phi' : 'heartbeat';
  counter('lifeline_detections_total', 'Connections the server ended because a mechanism noticed a dead or misbehaving peer, by mechanism and reason.', ['mechanism', 'reason'], (m) => {
    for (const [reason, n] of c.connectionsClosed) {
      const mechanism = reason === 'heartbeat-timeout' ? detector : DETECTIONS[reason as CloseReasonCode];
      if (mechanism !== undefined) m.inc({ mechanism, reason }, n);
    }
    for (const [code, n] of c.transportErrors) m.inc({ mechanism: transportMechanism(code), reason: code }, n);
  });
  counter('lifeline_pings_received_total', "Reads carrying the peers' heartbeat PINGs (PINGs in one read get one PONG and count once).", [], (m) => m.inc(c.pingsReceived));
  counter('lifeline_pings_sent_total', 'Heartbeat PINGs the server sent (connections where it leads the heartbeat, spec 0010).', [], (m) => m.inc(c.pingsSent));
  counter('lifeline_frames_received_total', 'Frames decoded on accepted connections, by type (each PING counts, though PINGs in one read get one PONG).', ['type'], (m) =>
    byFrameType(m, c.framesReceived),
  );
  counter('lifeline_frames_sent_total', 'Frames written on accepted connections, by type (a PING with a status PONG in front is one of each).', ['type'], (m) => byFrameType(m, c.framesSent));
  // server.stats() walks every connection: one walk per scrape for both byte counters.
  let statsAt = Number.NEGATIVE_INFINITY;
  let statsNow: ReturnType<LifelineServer['stats']> | undefined;
  const scrapeStats = () => {
    const now = performance.now();
    if (statsNow === undefined || now - statsAt > 5) {
      statsNow = server.stats();
      statsAt = now;
    }
    return statsNow;
  };
  counter('lifeline_received_bytes_total', 'Bytes received on accepted connections (transport payload, frames included).', [], (m) => m.inc(scrapeStats().bytesRead));
  counter('lifeline_sent_bytes_total', 'Bytes sent on accepted connections (transport payload, frames included).', [], (m) => m.inc(scrapeStats().bytesWritten));
  counter('lifeline_goaways_total', 'GOAWAY frames sent, by code.', ['code'], (m) => {
    m.inc({ code: 'draining' }, c.goawaysDraining);
    m.inc({ code: 'too-many-pings' }, c.connectionsClosed.get('too-many-pings') ?? 0);
  });
  counter('lifeline_resumes_total', 'Sessions resumed on a new connection.', [], (m) => m.inc(c.resumes));
  counter('lifeline_replayed_messages_total', 'Messages written again on resumes.', [], (m) => m.inc(c.replayedMessages));
  counter('lifeline_buffer_overflows_total', 'Session.send() calls refused with BufferOverflowError.', [], (m) => m.inc(c.bufferOverflows));
  counter('lifeline_resume_expiries_total', 'Detached sessions ended because their client did not resume within the resume window.', [], (m) => m.inc(c.resumeExpiries));
  counter('lifeline_resume_evictions_total', "Detached sessions ended early, oldest first, by the bound passed: 'max-resume-bytes' (replay held by all detached sessions), 'max-detached-sessions'.", ['bound'], (m) => {
    for (const bound of ['max-resume-bytes', 'max-detached-sessions']) m.inc({ bound }, c.resumeEvictions.get(bound) ?? 0);
  });
  counter('lifeline_stalls_total', "Stall reports: the server's own event loop ran a heartbeat check late (at most one a second).", [], (m) => m.inc(c.stalls));
  gauge('lifeline_server_status', 'What PONGs report: 1 for the current status (ok, busy, draining), 0 for the others.', ['status'], (m) => {
    const { status } = server.health();
    for (const s of ['ok', 'busy', 'draining'] as const) m.set({ status: s }, s === status ? 1 : 0);
  });
  gauge('lifeline_server_load_ratio', 'The load PONGs report, 0..1 (255 on the wire).', [], (m) => m.set(server.health().load / 255));

  // From diagnostics channels, counted from here on (channel-counts.ts).
  const fromChannels = new ChannelCounts(server);
  counter('lifeline_ping_strikes_total', "PINGs that came too early for the ping-rate rule, by verdict: 'strike' (forgiven in time), 'too-many' (the session was sent away: GOAWAY too-many-pings).", ['verdict'], (m) => {
    for (const [verdict, n] of Object.entries(fromChannels.pingStrikes)) m.inc({ verdict }, n);
  });
  gauge('lifeline_presence_degraded', "1 while the presence store is not answering (presence answers from this node's devices only; spec 0014), else 0.", [], (m) => m.set(server.presence.degraded ? 1 : 0));
  counter('lifeline_presence_warnings_total', "Presence warnings by code ('node-id-conflict': another live process holds this node's lease).", ['code'], (m) => {
    m.inc({ code: 'node-id-conflict' }, 0);
    fromMap(m, fromChannels.presenceWarnings, 'code');
  });

  // UDP listeners: summed over all of them; no samples while there is none.
  counter('lifeline_udp_datagrams_total', "UDP listeners' datagram counters, by what happened (listen-udp.ts UdpListenerStats).", ['event'], (m) => {
    for (const stats of server.udpStats()) for (const key of UDP_COUNTERS) m.inc({ event: snake(key) }, stats[key]);
  });
  counter('lifeline_udp_held_for_validation_bytes_total', 'UDP bytes not sent to an address under validation (over 3× what came from it).', ['listener'], (m) => {
    server.udpStats().forEach((stats, i) => m.inc({ listener: String(i) }, stats.bytesHeldForValidation));
  });

  names.push('lifeline_heartbeat_rtt_seconds');
  registry.registerMetric(new CountedHistogram('lifeline_heartbeat_rtt_seconds', 'Heartbeat round trips the server measured (PONGs to its own PINGs).', c) as never);

  let loop: IntervalHistogram | undefined;
  if (options.eventLoopDelay !== false) {
    const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
    // A server without a `health` hook already samples its loop (server/health.ts, 10 ms): the
    // metrics read its windows rather than run a second monitor (≈ 8 ms of CPU a second on a busy
    // server, most of what attaching metrics cost in `lifeline bench --metrics`). With a hook of
    // the user's, there is no sampler: the metrics keep their own.
    const own = server.options.health === undefined ? undefined : monitorEventLoopDelay({ resolution: 10 });
    own?.enable();
    loop = own;
    gauge('lifeline_event_loop_delay_seconds', "Event-loop delay since the previous scrape, 10 ms resolution (the worst of the server's 500 ms health windows; its own monitor with a health hook).", ['quantile'], (m) => {
      if (own) {
        if (own.count > 0) {
          m.set({ quantile: '0.5' }, seconds(own.percentile(50)));
          m.set({ quantile: '0.99' }, seconds(own.percentile(99)));
          m.set({ quantile: '1' }, seconds(own.max));
        }
        own.reset();
        return;
      }
      const w = server.healthSampler?.takeLoopDelay();
      if (w) {
        m.set({ quantile: '0.5' }, seconds(w.p50Ns));
        m.set({ quantile: '0.99' }, seconds(w.p99Ns));
        m.set({ quantile: '1' }, seconds(w.maxNs));
      }
    });
  }

  return {
    registry,
    contentType: registry.contentType,
    metrics: () => registry.metrics(),
    close() {
      loop?.disable();
      fromChannels.close();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}

/**
 * A histogram whose buckets the server fills in plain fields (ServerCounters.rtt): prom-client's
 * Histogram can only be observed, so this is the registry's metric shape (name, help, type,
 * get()) built from those counts at scrape.
 */
class CountedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly c: ServerCounters,
  ) {}

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> }> {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    let cumulative = 0;
    RTT_BUCKETS_MS.forEach((le, i) => {
      cumulative += this.c.rttBuckets[i]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: le / 1000 }, value: cumulative });
    });
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.c.rttCount });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.c.rttSumMs / 1000 });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.c.rttCount });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {}
}
