/**
 * PingLog: the PINGs *we* sent on one connection that are still unanswered, and the RTT of the
 * answered ones. Part of Heartbeat, made on our first PING (or first RTT read): a server whose
 * clients lead the heartbeat (liveness/negotiate.ts pingSchedule) rarely pings, and holds ~100k
 * connections, so they carry none of this.
 *
 * A PONG answers its PING and every PING sent before it (PROTOCOL.md §8.3: bunched PINGs may get
 * a single PONG), so the unanswered PINGs are always the last few sent: consecutive ids from
 * `firstPendingId`, with their send times in order. The list is dropped when it empties.
 * Pure, O(pending) per PONG (pending ≤ timeout / interval in practice).
 */
import { PING_ID_MODULO } from '../protocol/frames.js';
import { RttEstimator } from './rtt.js';

export class PingLog {
  /** Id of the next PING (wraps at PING_ID_MODULO). */
  nextId = 0;
  /** When the last PING was sent, ms. */
  lastPingAtMs = 0;
  /** Id of the oldest unanswered PING (meaningful while pendingSentAtMs is set). */
  private firstPendingId = 0;
  /** Send times of the unanswered PINGs, oldest first; undefined when there are none. */
  private pendingSentAtMs: number[] | undefined = undefined;
  readonly rtt = new RttEstimator();

  /** A PING goes out now: returns its id. */
  sent(nowMs: number): number {
    const id = this.nextId;
    this.nextId = (id + 1) % PING_ID_MODULO;
    this.lastPingAtMs = nowMs;
    const pending = this.pendingSentAtMs;
    if (pending === undefined) {
      this.firstPendingId = id;
      this.pendingSentAtMs = [nowMs];
    } else {
      pending.push(nowMs);
      // Ids wrap: with PING_ID_MODULO pings unanswered, the oldest shares its id with the newest.
      if (pending.length > PING_ID_MODULO) {
        pending.shift();
        this.firstPendingId = (this.firstPendingId + 1) % PING_ID_MODULO;
      }
    }
    return id;
  }

  /**
   * A PONG with this id arrived at nowMs: when it answers an unanswered PING, forget that one
   * and every older one, sample the RTT and return it; else undefined.
   */
  answered(id: number, nowMs: number): number | undefined {
    const pending = this.pendingSentAtMs;
    if (pending === undefined || !Number.isInteger(id) || id < 0 || id >= PING_ID_MODULO) return undefined;
    const offset = (id - this.firstPendingId + PING_ID_MODULO) % PING_ID_MODULO;
    if (offset >= pending.length) return undefined;
    const sentAtMs = pending[offset]!;
    if (offset + 1 === pending.length) {
      this.pendingSentAtMs = undefined;
    } else {
      pending.splice(0, offset + 1);
      this.firstPendingId = (id + 1) % PING_ID_MODULO;
    }
    const rttMs = Math.max(0, nowMs - sentAtMs);
    this.rtt.sample(rttMs);
    return rttMs;
  }
}
