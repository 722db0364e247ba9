/**
 * HeartbeatDriver: the reaction to liveness verdicts (STYLE.md §1.3). liveness/heartbeat.ts says
 * "ping" or "dead"; this layer writes the PING (with our status in front when we lead for a
 * follower, spec 0010), answers the peer's PINGs, forgives our own stalls (spec 0004 §Stall
 * guard) and tears the transport down on the dead verdict. One re-armable timer per connection.
 */
import { Heartbeat, sharedHeartbeatOptions } from '../liveness/heartbeat.js';
import { createDetector } from '../liveness/detectors/index.js';
import { createTimer } from '../time/scheduler.js';
import { pingBytes, pongBytes } from './pong-bytes.js';
import { SLOT_PING, SLOT_PONG } from './frame-counts.js';
import { ConnectionCore, NOT_PUSHING } from './connection-core.js';
import type { HealthReport, OpenParams } from './types.js';

/** pushStatus: a PONG rides with our PING when the load moved this much since we last told it. */
const LOAD_PUSH_STEP = 32;
/** statusTold's status bits before the first push (no status is 3). */
const NEVER_TOLD = 3 << 8;

export abstract class HeartbeatDriver extends ConnectionCore {
  /** The handshake succeeded: start the heartbeat. */
  open(params: OpenParams): void {
    if (this.state !== 'handshake') return;
    this.cancelHandshake?.();
    this.cancelHandshake = undefined;
    this.state = 'open';
    // The full limit from the very next frame, even one in the chunk that carried the HELLO /
    // WELCOME: open() runs inside the decoder's callback, before it reads the next length.
    if (this.decoder.frameSizeLimit !== this.env.maxFrameSize) this.decoder.setMaxFrameSize(this.env.maxFrameSize);
    this.peerMaxFrameSize = params.peerMaxFrameSize;
    this.stallGuard = params.stallGuard;
    if (params.resume) this.resumeState = params.resume;
    if (params.pushStatus === true) this.statusTold = NEVER_TOLD;
    const now = this.clock.now();
    const spec = params.detector;
    // The fixed timeout (the default) is judged by the Heartbeat itself, from settings shared by
    // every connection that negotiated the same: nothing per connection but its own state.
    const options =
      spec === undefined || spec.kind === 'fixed'
        ? sharedHeartbeatOptions(params.pingAfterMs, params.timeoutMs, params.jitterMs)
        : {
            intervalMs: params.pingAfterMs,
            timeoutMs: params.timeoutMs,
            jitterMs: params.jitterMs,
            detector: createDetector(spec, { timeoutMs: params.timeoutMs, pingAfterMs: params.pingAfterMs, nowMs: now }),
          };
    this.heartbeat = new Heartbeat(options, now);
    this.armCheck();
  }

  /**
   * Change how long we wait in silence before pinging (client, adaptive heartbeat): takes effect
   * from the next ping cycle; the death timeout stays the negotiated one.
   */
  setPingInterval(pingAfterMs: number, jitterMs: number): void {
    const hb = this.heartbeat;
    if (!hb || this.state !== 'open') return;
    hb.setPingInterval(pingAfterMs, jitterMs);
    // The pending check may be planned for the old, later ping time: re-arming replaces it.
    this.armCheck();
  }

  /**
   * PINGs that arrive together (one read) get one PONG, echoing the last id (PROTOCOL.md §9):
   * bunched PINGs — a peer re-pinging while *we* were stalled, or a flood — cost one write, and
   * the owner's rate check sees one event per read, not a burst it would punish.
   */
  protected answerPing(id: number): void {
    const h = this.health();
    // A shared, never-mutated 2-byte frame per (id, status, load): no allocation per PONG.
    this.countSent(SLOT_PONG);
    this.write(pongBytes(id, h.status, h.load));
    // The write may have found a slow consumer and closed (connection-core.ts).
    if (this.state !== 'open') return;
    if (this.statusTold !== NOT_PUSHING) this.statusTold = (id << 10) | statusBits(h);
    this.owner.ping(id, this.lastSeenAtMs);
  }

  /**
   * pushStatus: our PING, preceded by a PONG with our status and load when the peer has not
   * heard them yet (first beat) or they changed (status, or load by LOAD_PUSH_STEP). The PONG
   * echoes the peer's last PING id, already answered, so it gives the peer no false RTT sample.
   */
  private pingWithStatus(id: number): Uint8Array {
    const told = this.statusTold;
    const h = this.health();
    const now = statusBits(h);
    if ((now & 0x300) === (told & 0x300) && Math.abs((now & 0xff) - (told & 0xff)) < LOAD_PUSH_STEP) return pingBytes(id);
    const peerPingId = told >>> 10;
    this.statusTold = (peerPingId << 10) | now;
    this.countSent(SLOT_PONG);
    const out = new Uint8Array(3);
    out.set(pongBytes(peerPingId, h.status, h.load), 0);
    out[2] = pingBytes(id)[0]!;
    return out;
  }

  private armCheck(): void {
    const hb = this.heartbeat;
    if (!hb || this.state !== 'open') return;
    this.plannedCheckAtMs = hb.nextCheckAtMs;
    (this.checkTimer ??= createTimer(this.scheduler, this.onCheck, this)).arm(this.plannedCheckAtMs);
  }

  private onCheck(): void {
    const hb = this.heartbeat;
    if (!hb || this.state !== 'open') return;
    const now = this.clock.now();
    const lateByMs = now - this.plannedCheckAtMs;
    const guard = this.stallGuard;
    if (guard && lateByMs > guard.thresholdMs && !this.deferredForStall) {
      // We ran late: our own process stalled (blocked loop, GC, SIGSTOP). The peer's frames may
      // be sitting unread in the kernel; judging now would blame the peer for our pause. Forgive
      // the stalled time and re-check on the next turn, after pending I/O has been read.
      this.deferredForStall = true;
      hb.forgive(lateByMs);
      guard.onStall?.(lateByMs);
      this.plannedCheckAtMs = now;
      this.checkTimer!.arm(now);
      return;
    }
    this.deferredForStall = false;
    // The usual case on a busy server: traffic moved the deadline since this check was planned.
    // check() would answer 'alive' with this same time (detectors are dead exactly from their
    // deadlineMs()), so re-arm without building a verdict.
    const nextCheckAtMs = hb.nextCheckAtMs;
    if (now < nextCheckAtMs && nextCheckAtMs !== Infinity) {
      this.plannedCheckAtMs = nextCheckAtMs;
      this.checkTimer!.arm(nextCheckAtMs);
      return;
    }
    const verdict = hb.check(now);
    switch (verdict.kind) {
      case 'alive':
        break;
      case 'ping': {
        const silentForMs = now - Math.max(hb.lastSeenAtMs, this.rareState?.lastWriteAtMs ?? 0);
        this.countSent(SLOT_PING);
        this.write(this.statusTold === NOT_PUSHING ? pingBytes(verdict.id) : this.pingWithStatus(verdict.id));
        // The write may have found a slow consumer and closed (connection-core.ts).
        if (this.state !== 'open') return;
        this.owner.pingSent(verdict.id, now, silentForMs);
        break;
      }
      case 'dead':
        // Best effort: tell a half-alive peer why, then drop at once (do not wait on a dead path).
        this.abort('heartbeat-timeout', {
          code: 'heartbeat-timeout',
          message: `nothing received for ${Math.round(verdict.sinceLastSeenMs)} ms (timeout ${hb.timeoutMs} ms, ${verdict.unansweredPings} unanswered pings)`,
          initiator: 'local',
          detectedBy: 'heartbeat',
          sinceLastSeenMs: verdict.sinceLastSeenMs,
        });
        return;
      default: {
        const never: never = verdict;
        return never;
      }
    }
    this.armCheck();
  }
}

/** A report's status and load as statusTold packs them (status in bits 8–9, load in 0–7). */
function statusBits(h: HealthReport): number {
  const status = h.status === 'ok' ? 0 : h.status === 'busy' ? 1 : 2;
  return (status << 8) | (h.load & 0xff);
}
