/**
 * Scheduler: the narrow port liveness code uses to ask "call me back at time T" (STYLE.md §1.2).
 * Two implementations: TimerScheduler (here: one clock timer per call, precise) for a single
 * client connection, and TimerWheel (wheel.ts: one shared coarse timer) for servers holding
 * many connections.
 *
 * Precision of TimerScheduler: as precise as the Clock's timers (systemClock: setTimeout, so a
 * few ms of event-loop lateness); never early — if the runtime fires before atMs by the clock's
 * own reading (setTimeout and performance.now() can disagree by ~1 ms), it re-arms for the rest.
 */
import type { Cancel, Clock } from './clock.js';

/** setTimeout fires at once (with a warning) past 2^31-1 ms; longer waits re-arm in steps. */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** "Call fn at (or soon after) monotonic time atMs." */
export interface Scheduler {
  schedule(atMs: number, fn: () => void): Cancel;
}

/** One clock timer per scheduled call: precise; what a single client connection uses. */
export class TimerScheduler implements Scheduler {
  constructor(private readonly clock: Clock) {}

  schedule(atMs: number, fn: () => void): Cancel {
    if (!Number.isFinite(atMs)) throw new RangeError(`TimerScheduler.schedule(atMs): atMs must be finite, got ${atMs}`);
    const clock = this.clock;
    let cancelTimer: Cancel | undefined;
    const fire = (): void => {
      const nowMs = clock.now();
      if (nowMs < atMs) {
        cancelTimer = clock.setTimer(fire, Math.min(atMs - nowMs, MAX_TIMER_DELAY_MS));
        return;
      }
      cancelTimer = undefined;
      fn();
    };
    cancelTimer = clock.setTimer(fire, Math.min(atMs - clock.now(), MAX_TIMER_DELAY_MS));
    return () => {
      if (cancelTimer === undefined) return;
      const cancel = cancelTimer;
      cancelTimer = undefined;
      cancel();
    };
  }
}
