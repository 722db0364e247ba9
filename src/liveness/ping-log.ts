/**
 * PingLog: the PINGs *we* sent on one connection that are still unanswered, and the RTT of the
 * answered ones. Part of Heartbeat, made on our first PING (or first RTT read): a server whose
 * clients lead the heartbeat (liveness/negotiate.ts pingSchedule) rarely pings, and holds ~100k
 * connections, so they carry none of this.
 *
 * A PONG answers its PING and every PING sent before it (PROTOCOL.md §8.3: bunched PINGs may get
 * a single PONG), so the unanswered PINGs are always the last few sent: consecutive ids from
 * `firstPendingId`, with their send times in order (the oldest in a field: one unanswered PING,
 * the usual case on a connection whose side leads, allocates nothing).
 * Pure, O(pending) per PONG (pending ≤ timeout / interval in practice).
 */
import { PING_ID_MODULO } from '../protocol/frames.js';
import { RttEstimator } from './rtt.js';

export class PingLog {
  /** Id of the next PING (wraps at PING_ID_MODULO). */
  nextId = 0;
  /** When the last PING was sent, ms. */
  lastPingAtMs = 0;
  /** Id of the oldest unanswered PING (meaningful while pendingCount > 0). */
  private firstPendingId = 0;
  /** Unanswered PINGs. */
  private pendingCount = 0;
  /** Send time of the oldest unanswered PING: usually the only one, so no array per PING. */
  private oldestSentAtMs = 0;
  /** Send times of the unanswered PINGs after the oldest, in order; only while there are any. */
  private laterSentAtMs: number[] | undefined = undefined;
  readonly rtt = new RttEstimator();

  /** A PING goes out now: returns its id. */
  sent(nowMs: number): number {
    const id = this.nextId;
    this.nextId = (id + 1) % PING_ID_MODULO;
    this.lastPingAtMs = nowMs;
    if (this.pendingCount === 0) {
      this.firstPendingId = id;
      this.oldestSentAtMs = nowMs;
      this.pendingCount = 1;
      return id;
    }
    const later = (this.laterSentAtMs ??= []);
    later.push(nowMs);
    this.pendingCount++;
    // Ids wrap: with PING_ID_MODULO pings unanswered, the oldest shares its id with the newest.
    if (this.pendingCount > PING_ID_MODULO) {
      this.oldestSentAtMs = later.shift()!;
      this.pendingCount--;
      this.firstPendingId = (this.firstPendingId + 1) % PING_ID_MODULO;
    }
    return id;
  }

  /**
   * A PONG with this id arrived at nowMs: when it answers an unanswered PING, forget that one
   * and every older one, sample the RTT and return it; else undefined.
   */
  answered(id: number, nowMs: number): number | undefined {
    if (this.pendingCount === 0 || !Number.isInteger(id) || id < 0 || id >= PING_ID_MODULO) return undefined;
    const offset = (id - this.firstPendingId + PING_ID_MODULO) % PING_ID_MODULO;
    if (offset >= this.pendingCount) return undefined;
    const later = this.laterSentAtMs;
    const sentAtMs = offset === 0 ? this.oldestSentAtMs : later![offset - 1]!;
    const remaining = this.pendingCount - offset - 1;
    if (remaining === 0) {
      this.pendingCount = 0;
      this.laterSentAtMs = undefined;
    } else {
      // later[j] is pending offset j + 1: the new oldest is later[offset].
      this.oldestSentAtMs = later![offset]!;
      later!.splice(0, offset + 1);
      if (later!.length === 0) this.laterSentAtMs = undefined;
      this.pendingCount = remaining;
      this.firstPendingId = (id + 1) % PING_ID_MODULO;
    }
    const rttMs = Math.max(0, nowMs - sentAtMs);
    this.rtt.sample(rttMs);
    return rttMs;
  }
}
