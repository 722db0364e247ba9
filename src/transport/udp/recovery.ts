/**
 * Loss-recovery arithmetic of the UDP channel, RFC 9002 style: the RTT estimator that drives
 * the probe timeout (§5, §6.2) and NewReno congestion control (§7, Appendix B). Pure numbers,
 * no clock: the channel passes times in. liveness/rtt.ts measures the heartbeat (SRTT only);
 * this one also needs RTTVAR and min RTT for the PTO, so it lives here.
 */

/** RFC 9002 §6.2.2: kInitialRtt 333 ms, so the first PTO is ~1 s, as TCP's initial RTO (RFC 6298). */
export const INITIAL_RTT_MS = 333;
/** RFC 9002 §6.1.2 kGranularity. */
export const GRANULARITY_MS = 1;
/** RFC 9002 §6.1.2 kTimeThreshold 9/8 and §6.1.1 kPacketThreshold 3. */
export const TIME_THRESHOLD = 9 / 8;
export const PACKET_THRESHOLD = 3;
/**
 * RFC 9002 §7.6.1 kPersistentCongestionThreshold is 3 PTOs; with backoff, the PTO's second
 * expiry in a row comes 1 + 2 = 3 PTOs after the last acknowledgement-eliciting send.
 */
export const PERSISTENT_CONGESTION_PTOS = 2;

export class RttStats {
  /** Latest sample, ms (0 before the first). */
  latest = 0;
  smoothed = INITIAL_RTT_MS;
  variance = INITIAL_RTT_MS / 2;
  min = Infinity;
  samples = 0;

  constructor(readonly maxAckDelayMs: number) {}

  /**
   * One round trip, ms, of which the peer says it held the ACK `ackDelayMs` (RFC 9002 §5.3).
   * The delay is capped at max_ack_delay and subtracted only if that leaves at least min_rtt.
   */
  sample(latestMs: number, ackDelayMs = 0): void {
    if (!Number.isFinite(latestMs) || latestMs < 0) return;
    this.latest = latestMs;
    this.min = Math.min(this.min, latestMs);
    if (this.samples++ === 0) {
      this.smoothed = latestMs;
      this.variance = latestMs / 2;
      return;
    }
    const delay = Math.min(Math.max(ackDelayMs, 0), this.maxAckDelayMs);
    const adjusted = latestMs >= this.min + delay ? latestMs - delay : latestMs;
    this.variance = (3 / 4) * this.variance + (1 / 4) * Math.abs(this.smoothed - adjusted);
    this.smoothed = (7 / 8) * this.smoothed + (1 / 8) * adjusted;
  }

  /** RFC 9002 §6.2.1: PTO = smoothed_rtt + max(4·rttvar, kGranularity) + max_ack_delay (no backoff). */
  get ptoMs(): number {
    return this.smoothed + Math.max(4 * this.variance, GRANULARITY_MS) + this.maxAckDelayMs;
  }

  /** RFC 9002 §6.1.2: how long after a later packet was acknowledged an earlier one counts as lost. */
  get lossDelayMs(): number {
    return Math.max(TIME_THRESHOLD * Math.max(this.latest, this.smoothed), GRANULARITY_MS);
  }
}

export interface CongestionLimits {
  /** Datagram size the window is counted in (max_datagram_size). */
  datagramBytes: number;
  /** Initial window in datagrams (RFC 9002 §7.2: 10). */
  initialDatagrams: number;
  /** Minimum window in datagrams (RFC 9002 §7.2: 2). */
  minimumDatagrams: number;
  /** Hard ceiling on the window, bytes: the in-flight bound of spec 0012 (256 KiB). */
  maxWindowBytes: number;
}

/** NewReno (RFC 9002 §7.3, Appendix B): slow start, recovery, congestion avoidance. */
export class NewReno {
  window: number;
  ssthresh = Infinity;
  /** Packets sent at or before this time belong to the current recovery period (§7.3.2). */
  private recoveryStartMs = -Infinity;
  /** Times the window was cut (one per recovery period) and collapsed (persistent congestion). */
  reductions = 0;
  collapses = 0;

  constructor(readonly limits: CongestionLimits) {
    this.window = Math.min(limits.initialDatagrams * limits.datagramBytes, limits.maxWindowBytes);
  }

  get minimum(): number {
    return this.limits.minimumDatagrams * this.limits.datagramBytes;
  }

  inRecovery(sentTimeMs: number): boolean {
    return sentTimeMs <= this.recoveryStartMs;
  }

  /** Appendix B.5: grow by the bytes acknowledged (slow start) or ~1 datagram per window. */
  onAcked(bytes: number, sentTimeMs: number): void {
    if (this.inRecovery(sentTimeMs)) return; // §7.3.2: no growth for packets sent before the cut
    if (this.window < this.ssthresh) this.window += bytes;
    else this.window += (this.limits.datagramBytes * bytes) / this.window;
    // Bounded by the in-flight ceiling: a larger window could never be used, and an
    // application-limited sender must not inflate it without bound (RFC 9002 §7.8).
    this.window = Math.min(this.window, this.limits.maxWindowBytes);
  }

  /**
   * Appendix B.6–B.8: a loss of a packet sent after the current recovery started halves the
   * window (once per round trip, since later losses of earlier packets fall in the period).
   */
  onLost(largestLostSentTimeMs: number, nowMs: number): void {
    if (this.inRecovery(largestLostSentTimeMs)) return;
    this.recoveryStartMs = nowMs;
    this.ssthresh = Math.max(this.window / 2, this.minimum);
    this.window = this.ssthresh;
    this.reductions++;
  }

  /**
   * §7.6.2 / B.8: collapse to the minimum window and leave recovery; slow start then climbs
   * back to half the old window (ssthresh), as TCP after an RTO (RFC 5681 §3.1).
   */
  onPersistentCongestion(): void {
    this.ssthresh = Math.max(this.window / 2, this.minimum);
    this.window = this.minimum;
    this.recoveryStartMs = -Infinity;
    this.collapses++;
  }
}
