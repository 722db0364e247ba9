/**
 * The part of a Connection's state that an idle, heartbeating connection never touches: why it
 * is closing, a GOAWAY received, the pending ACK timer (resumable sessions), the last write time
 * (adaptive-heartbeat clients only), the peer's last PONG status (a server's clients lead the
 * heartbeat, so a server rarely gets PONGs), a replay in progress (a resumed session) and the
 * slow-consumer watch (a peer that stopped reading). Made on
 * first use: a server holds ~100k connections, and six fields fewer each is ~48 bytes per connection.
 */
import type { Cancel } from '../time/clock.js';
import type { SchedulerTimer } from '../time/scheduler.js';
import type { GoawayFrame, PeerStatus } from '../protocol/frames.js';
import type { CloseReason } from './close-reason.js';
import type { Replay } from './replay.js';

export class RareState {
  /** The close reason decided before the transport went away (reported when it does). */
  pendingReason: CloseReason | undefined = undefined;
  goawayReceived: GoawayFrame | undefined = undefined;
  /** Pending delayed ACK (resumable sessions). */
  cancelAck: Cancel | undefined = undefined;
  /** Clock time of the last write (only with trackWriteTimes). */
  lastWriteAtMs = 0;
  /** Last status and load the peer reported in a PONG. */
  peerStatus: PeerStatus = 'ok';
  peerLoad = 0;
  /** The resumed session's replay while it is being written (replay.ts). */
  replay: Replay | undefined = undefined;
  /**
   * The slow-consumer watch (connection-core.ts): armed when a write found the transport above
   * its high-water mark, it checks a heartbeat timeout later whether the peer took any byte.
   */
  slowWatch: SchedulerTimer | undefined = undefined;
  slowWatchArmed = false;
  /** bytesTaken() when the watch began or last saw progress, and when that was (clock ms). */
  slowWatchTaken = 0;
  slowWatchSinceMs = 0;
}
