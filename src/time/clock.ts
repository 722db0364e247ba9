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

/**
 * The system clock in whole milliseconds (performance.now() rounded down): the server's default.
 * Why: a server keeps several timestamps per connection (last seen, next check, last PING…), and
 * V8 stores a fractional number in an object field as a separate 16-byte heap number, but an
 * integer below 2^31 in the field itself; at ~100k connections that is ~100 bytes per connection.
 * The server's checks run on a TimerWheel of 50 ms ticks, so 1 ms of resolution changes nothing
 * it decides (a verdict is exact in this clock: at most 1 ms earlier in real time). Past 2^31 ms
 * (24.8 days of process uptime) times are heap numbers again: more memory, same behaviour.
 */
export const wholeMsClock: Clock = {
  now: () => Math.floor(performance.now()),
  setTimer: systemClock.setTimer,
};
