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
  /**
   * Optional: one re-armable timer for `fn` (TimerWheel: the wheel entry itself, so re-arming
   * allocates nothing). Use createTimer(), which falls back to schedule() when absent.
   */
  timer?<T>(fn: (this: T) => void, receiver?: T): SchedulerTimer;
}

/**
 * A callback that is re-armed again and again (a connection's heartbeat check): one object for
 * its whole life instead of an entry and a Cancel closure per schedule().
 */
export interface SchedulerTimer {
  /** Run fn at (or soon after) atMs; replaces the pending time, if any. */
  arm(atMs: number): void;
  /** Forget the pending time (no-op when none). */
  cancel(): void;
}

/**
 * scheduler.timer(fn, receiver) when it has one, else a SchedulerTimer built on schedule(). fn is
 * called with `receiver` as this, so an owner can pass a prototype method, not a closure.
 */
export function createTimer<T>(scheduler: Scheduler, fn: (this: T) => void, receiver?: T): SchedulerTimer {
  return scheduler.timer ? scheduler.timer(fn, receiver) : new ScheduledTimer(scheduler, () => fn.call(receiver as T));
}

class ScheduledTimer implements SchedulerTimer {
  private cancelPending: Cancel | undefined = undefined;
  constructor(
    private readonly scheduler: Scheduler,
    private readonly fn: () => void,
  ) {}

  arm(atMs: number): void {
    this.cancel();
    this.cancelPending = this.scheduler.schedule(atMs, this.fire);
  }

  cancel(): void {
    const cancel = this.cancelPending;
    this.cancelPending = undefined;
    cancel?.();
  }

  private readonly fire = (): void => {
    this.cancelPending = undefined;
    this.fn();
  };
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
