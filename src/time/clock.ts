/**
 * Clock: the only way code under time/, liveness/ and protocol/ learns the time or waits.
 * Monotonic milliseconds (never wall-clock), so NTP steps and DST never fake a timeout.
 * Runtime-neutral: uses the `performance` and `setTimeout` globals that Node and browsers share.
 */

export type Cancel = () => void;

export interface Clock {
  /** Monotonic time in milliseconds (fractional allowed). */
  now(): number;
  /** Run `fn` once after `ms` milliseconds; the returned function cancels it (idempotent). */
  setTimer(fn: () => void, ms: number): Cancel;
}

interface MaybeUnref {
  unref?: () => void;
}

/**
 * The real clock. Timers are unref'd where the runtime supports it: a pending heartbeat check
 * must never be the only thing keeping a process alive (sockets and servers keep it alive).
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(fn, ms) {
    const handle = setTimeout(fn, Math.max(0, ms)) as unknown as MaybeUnref;
    handle.unref?.();
    return () => clearTimeout(handle as unknown as ReturnType<typeof setTimeout>);
  },
};
