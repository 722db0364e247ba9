/**
 * ServerCounters: plain integer fields a server increments where its events already happen — a
 * connection or session closes, a session resumes, a stall is reported, a PING is sent or read,
 * a PONG brings an RTT — and that `src/metrics/` reads only when scraped
 * (docs/spec/0015-metrics.md). The per-heartbeat ones (PINGs, the RTT bucket) are one increment
 * each; the only per-frame ones are the frames-by-type arrays, which the connections bump
 * themselves through the server's ConnectionEnv (one slot per frame, connection/frame-counts.ts).
 * One object per server, made with it, so counts start at construction whether or not metrics
 * are ever attached.
 */
import type { CloseReason } from '../connection/close-reason.js';
import { newFrameCounts } from '../connection/frame-counts.js';

/**
 * RTT histogram bucket upper bounds, ms (Prometheus `le`, shown in seconds). A server measures
 * RTT only on connections where it leads the heartbeat (spec 0010): the PONG to its own PING.
 */
export const RTT_BUCKETS_MS: readonly number[] = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

export class ServerCounters {
  /** Connections (handshaking ones included) closed, by CloseReason.code. */
  readonly connectionsClosed = new Map<string, number>();
  /** transport-error closes by the error's code (ETIMEDOUT: keepalive / TCP_USER_TIMEOUT; ECONNRESET…). */
  readonly transportErrors = new Map<string, number>();
  /** Sessions closed for good (not detached), by CloseReason.code. */
  readonly sessionsClosed = new Map<string, number>();
  resumes = 0;
  /** Messages written again on resumes (the peer's last seq to our last sent seq). */
  replayedMessages = 0;
  /** Reads carrying PINGs from the peer (PINGs in one read get one PONG and count once). */
  pingsReceived = 0;
  pingsSent = 0;
  /** GOAWAY draining frames sent (drain() and handshakes completing during a drain). */
  goawaysDraining = 0;
  /** Session.send() refused with BufferOverflowError (send buffer or replay buffer full). */
  bufferOverflows = 0;
  /** 'stall' reports (the server tells at most one a second). */
  stalls = 0;
  /** Detached sessions ended because their resume window ran out (resume-registry.ts). */
  resumeExpiries = 0;
  /**
   * Detached sessions ended early, the oldest giving way, by the bound that was passed:
   * 'max-resume-bytes' (all detached sessions' replay bytes) or 'max-detached-sessions'.
   */
  readonly resumeEvictions = new Map<string, number>();
  /** RTT histogram: counts per RTT_BUCKETS_MS bucket (not cumulative; the last is +Inf), sum and count. */
  readonly rttBuckets: number[] = new Array<number>(RTT_BUCKETS_MS.length + 1).fill(0);
  rttSumMs = 0;
  rttCount = 0;
  /**
   * Frames decoded from / handed to every connection's transport, by FRAME_COUNT_TYPES slot;
   * passed to connections as ConnectionEnv.framesReceived / framesSent. PINGs count per frame
   * (pingsReceived counts reads). Frames an admission refusal writes before any connection exists
   * are not here (admission.ts).
   */
  readonly framesReceived: Float64Array = newFrameCounts();
  readonly framesSent: Float64Array = newFrameCounts();

  connectionClosed(reason: CloseReason): void {
    bump(this.connectionsClosed, reason.code);
    if (reason.code === 'transport-error') bump(this.transportErrors, (reason.error as { code?: unknown } | undefined)?.code?.toString() ?? 'unknown');
  }

  sessionClosed(reason: CloseReason): void {
    bump(this.sessionsClosed, reason.code);
    // A detached session ends with its transport's reason again; the resume registry adds why to
    // the message (resume-registry.ts: the expiry timer, enforceMaxResumeBytes,
    // enforceMaxDetachedSessions). That text is today the only place the cause is told, so it is
    // read here rather than giving the registry a counter port. A structured cause on
    // ResumeRegistryOwner.finishSession would be sturdier; the wording is pinned by
    // test/unit/metrics/server-counters.test.ts and test/integration/metrics.test.ts meanwhile.
    if (!DETACHABLE_CODES.has(reason.code)) return;
    const { message } = reason;
    if (EXPIRED.test(message)) this.resumeExpiries++;
    else if (OVER_BYTES.test(message)) bump(this.resumeEvictions, 'max-resume-bytes');
    else if (OVER_COUNT.test(message)) bump(this.resumeEvictions, 'max-detached-sessions');
  }

  resumed(replayedMessages: number): void {
    this.resumes++;
    this.replayedMessages += Math.max(0, replayedMessages);
  }

  /** One heartbeat RTT sample (a PONG to our PING). A linear scan of 13 bounds: no allocation. */
  rtt(ms: number): void {
    let i = 0;
    while (i < RTT_BUCKETS_MS.length && ms > RTT_BUCKETS_MS[i]!) i++;
    this.rttBuckets[i]!++;
    this.rttSumMs += ms;
    this.rttCount++;
  }
}

/** The codes a session may detach on (resume-registry.ts DETACHABLE); only these can end a detached session. */
const DETACHABLE_CODES: ReadonlySet<string> = new Set(['heartbeat-timeout', 'transport-closed', 'transport-error']);
const EXPIRED = /; not resumed within \d+ ms$/;
const OVER_BYTES = /; resume buffers over maxResumeBytes( \(\d+ bytes\))?$/;
const OVER_COUNT = /; over maxDetachedSessions \(\d+\)/;

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
