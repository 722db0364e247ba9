/**
 * TimerWheel: one shared coarse timer for a server holding many connections (STYLE.md §1.5),
 * after Netty's HashedWheelTimer and undici's lib/util/timers.js. Each connection's heartbeat
 * check is an entry here instead of its own setTimeout.
 *
 * Precision: a callback scheduled for a future atMs runs at the first tick boundary at or after
 * atMs, i.e. within [atMs, atMs + tickMs) plus event-loop lateness; never before atMs. A
 * deadline already reached runs on the next tick or sooner (at most tickMs away), never
 * synchronously inside schedule(). Within one tick,
 * callbacks run in schedule order (not sorted by atMs). When a tick holds more than maxPerTurn
 * callbacks the rest continue on 0 ms timers, adding that much delay. After a stall longer than
 * slots * tickMs, overdue entries of different rounds may run out of order (each still no
 * earlier than its atMs).
 *
 * Cost: schedule and cancel are O(1) (an intrusive doubly linked list per slot), and timer(fn)
 * gives a callback that is re-armed often (a heartbeat check) one entry for life, so re-arming
 * allocates nothing (no garbage for the GC to promote and sweep); each wake-up
 * walks one slot per elapsed tick. Exactly one clock timer is armed while entries are pending
 * and none when the wheel is empty, so an idle server has no wake-ups; between deadlines the
 * wheel sleeps until the next non-empty slot rather than ticking every tickMs.
 *
 * Errors: a callback (or onLate) that throws does not break the wheel. The error is caught and
 * rethrown from a fresh 0 ms clock timer, so it surfaces exactly like a throwing setTimeout
 * callback would (an uncaught exception on systemClock; FakeClock.advance() rethrows it). That
 * transient timer is the only other clock timer the wheel ever creates.
 */
import type { Cancel, Clock } from './clock.js';
import type { Scheduler, SchedulerTimer } from './scheduler.js';
import { InvalidOptionError } from '../errors.js';

export interface TimerWheelOptions {
  /** Slot width, ms. Callbacks fire in [atMs, atMs + tickMs) plus event-loop lateness. Default 50. */
  tickMs?: number;
  /** Number of slots (deadlines further than slots*tickMs ahead wait extra rounds). Default 512. */
  slots?: number;
  /** At most this many callbacks run in one synchronous turn; the rest continue on a 0 ms timer so I/O interleaves. Default 500. */
  maxPerTurn?: number;
  /** Hard cap on pending entries; schedule() beyond it throws a RangeError (bound everywhere). Default 2_000_000. */
  maxPending?: number;
  /** Called when a tick fires later than planned by more than tickMs (event loop stalled / process suspended): the hook the stall guard will use. */
  onLate?: (lateByMs: number) => void;
}

export const TIMER_WHEEL_DEFAULTS = {
  tickMs: 50,
  slots: 512,
  // 500 checks per synchronous turn keeps a turn to a few ms even on a slow machine (the bench
  // measured ~40 ms turns at 2000); the rest continue on the next turn, after pending I/O.
  maxPerTurn: 500,
  maxPending: 2_000_000,
} as const;

/** setTimeout fires at once (with a warning) past 2^31-1 ms; the wheel just wakes early instead. */
const MAX_TIMER_DELAY_MS = 2_147_483_647;
/** armedTick value while the armed timer is a 0 ms continuation of an oversized tick. */
const CONTINUATION = -1;

/**
 * One pending callback, linked into a slot (or `due`). A schedule() call makes a fresh one; a
 * timer() is one Entry re-armed for its whole life (no allocation per arm).
 */
class Entry implements SchedulerTimer {
  prev: Entry | undefined = undefined;
  next: Entry | undefined = undefined;
  list: EntryList | undefined = undefined;
  tick = 0;
  constructor(
    readonly wheel: TimerWheel,
    readonly fn: (this: unknown) => void,
    /** `this` for fn (timer(fn, receiver): a prototype method instead of a closure per owner). */
    readonly receiver: unknown,
  ) {}

  arm(atMs: number): void {
    this.wheel.insert(this, atMs);
  }

  cancel(): void {
    this.wheel.remove(this);
  }
}

class EntryList {
  head: Entry | undefined = undefined;
  tail: Entry | undefined = undefined;

  append(entry: Entry): void {
    entry.list = this;
    entry.prev = this.tail;
    entry.next = undefined;
    if (this.tail === undefined) this.head = entry;
    else this.tail.next = entry;
    this.tail = entry;
  }

  remove(entry: Entry): void {
    if (entry.prev === undefined) this.head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.tail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = entry.next = entry.list = undefined;
  }

  /** Detach every entry (they become no-ops to cancel). */
  drop(): void {
    for (let e = this.head; e !== undefined; ) {
      const next = e.next;
      e.prev = e.next = e.list = undefined;
      e = next;
    }
    this.head = this.tail = undefined;
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidOptionError(name, `must be an integer >= 1, got ${value}`);
  return value;
}

export class TimerWheel implements Scheduler {
  private readonly tickMs: number;
  private readonly slotCount: number;
  private readonly maxPerTurn: number;
  private readonly maxPending: number;
  private readonly onLate: ((lateByMs: number) => void) | undefined;
  /** Tick k's boundary is originMs + k * tickMs. */
  private readonly originMs: number;
  private readonly slots: EntryList[];
  /** Entries whose tick has been reached, waiting to run (oldest tick first). */
  private readonly due = new EntryList();
  /** Every tick <= cursorTick has been moved from its slot into `due`. */
  private cursorTick = 0;
  private pending = 0;
  private running = false;
  private cancelTimer: Cancel | undefined = undefined;
  private armedTick = 0;
  private plannedAtMs = 0;
  private readonly onTimer = (): void => this.turn();

  constructor(
    private readonly clock: Clock,
    options: TimerWheelOptions = {},
  ) {
    const tickMs = options.tickMs ?? TIMER_WHEEL_DEFAULTS.tickMs;
    if (!Number.isFinite(tickMs) || tickMs <= 0) throw new InvalidOptionError('tickMs', `must be a finite number > 0, got ${tickMs}`);
    this.tickMs = tickMs;
    this.slotCount = positiveInteger('slots', options.slots ?? TIMER_WHEEL_DEFAULTS.slots);
    this.maxPerTurn = positiveInteger('maxPerTurn', options.maxPerTurn ?? TIMER_WHEEL_DEFAULTS.maxPerTurn);
    this.maxPending = positiveInteger('maxPending', options.maxPending ?? TIMER_WHEEL_DEFAULTS.maxPending);
    if (options.onLate !== undefined && typeof options.onLate !== 'function') {
      throw new InvalidOptionError('onLate', 'must be a function');
    }
    this.onLate = options.onLate;
    this.originMs = clock.now();
    this.slots = Array.from({ length: this.slotCount }, () => new EntryList());
  }

  /** O(1). Throws RangeError for a non-finite atMs or when maxPending entries are already pending. */
  schedule(atMs: number, fn: () => void): Cancel {
    const entry = new Entry(this, fn, undefined);
    this.insert(entry, atMs);
    return () => this.remove(entry);
  }

  /**
   * A re-armable timer for fn, called with `receiver` as this (Scheduler.timer): arm(atMs) has
   * schedule()'s precision, bounds and
   * errors, and moves the pending time when there is one; cancel() forgets it. The same object
   * serves every arm, so a connection re-arming its heartbeat check allocates nothing.
   */
  timer<T>(fn: (this: T) => void, receiver?: T): SchedulerTimer {
    return new Entry(this, fn as (this: unknown) => void, receiver);
  }

  /** @internal (Entry.arm) O(1): (re)link entry for atMs. */
  insert(entry: Entry, atMs: number): void {
    if (!Number.isFinite(atMs)) throw new RangeError(`TimerWheel.schedule(atMs): atMs must be finite, got ${atMs}`);
    if (entry.list !== undefined) {
      entry.list.remove(entry);
      this.pending--;
    }
    if (this.pending >= this.maxPending) {
      throw new RangeError(`TimerWheel is full: ${this.pending} entries pending (maxPending ${this.maxPending})`);
    }
    // After an idle spell the cursor is stale: realign it to the last boundary before now, so a
    // deadline of exactly now (on a boundary) still runs at once instead of one tick later.
    if (this.pending === 0 && !this.running) {
      this.cursorTick = Math.max(this.cursorTick, this.ceilTick(this.clock.now()) - 1);
    }
    const tick = Math.max(this.cursorTick + 1, this.ceilTick(atMs));
    entry.tick = tick;
    this.slots[tick % this.slotCount]!.append(entry);
    this.pending++;
    if (!this.running) {
      if (this.cancelTimer === undefined) this.arm(tick);
      else if (this.armedTick !== CONTINUATION && tick < this.armedTick) {
        this.cancelTimer();
        this.arm(tick);
      }
    }
  }

  /** Pending entries (scheduled, not yet run or cancelled). */
  get size(): number {
    return this.pending;
  }

  /** Cancel everything and stop the underlying clock timer. */
  clear(): void {
    for (const slot of this.slots) slot.drop();
    this.due.drop();
    this.pending = 0;
    this.disarm();
  }

  /** @internal (Entry.cancel, schedule()'s Cancel) */
  remove(entry: Entry): void {
    if (entry.list === undefined) return; // already ran, cancelled, or cleared
    entry.list.remove(entry);
    this.pending--;
    if (this.pending === 0 && !this.running) this.disarm();
  }

  private turn(): void {
    const continuation = this.armedTick === CONTINUATION;
    this.cancelTimer = undefined;
    const nowMs = this.clock.now();
    if (!continuation && this.onLate !== undefined) {
      const lateByMs = nowMs - this.plannedAtMs;
      const onLate = this.onLate;
      if (lateByMs > this.tickMs) this.guard(() => onLate(lateByMs));
    }
    this.running = true;
    try {
      this.collect(nowMs);
      for (let ran = 0; ran < this.maxPerTurn; ran++) {
        const entry = this.due.head;
        if (entry === undefined) break;
        this.due.remove(entry);
        this.pending--;
        this.guard(entry.fn, entry.receiver);
      }
    } finally {
      this.running = false;
    }
    this.rearm();
  }

  /** Move every entry whose tick boundary is <= nowMs from its slot to `due`. */
  private collect(nowMs: number): void {
    const nowTick = this.floorTick(nowMs);
    if (nowTick <= this.cursorTick) return;
    // A stall longer than one revolution still needs each slot visited only once.
    const steps = Math.min(nowTick - this.cursorTick, this.slotCount);
    for (let i = 1; i <= steps; i++) {
      const slot = this.slots[(this.cursorTick + i) % this.slotCount]!;
      for (let e = slot.head; e !== undefined; ) {
        const next = e.next;
        if (e.tick <= nowTick) {
          slot.remove(e);
          this.due.append(e);
        }
        e = next;
      }
    }
    this.cursorTick = nowTick;
  }

  private rearm(): void {
    if (this.cancelTimer !== undefined || this.pending === 0) return;
    if (this.due.head !== undefined) {
      this.armedTick = CONTINUATION;
      this.cancelTimer = this.clock.setTimer(this.onTimer, 0);
      return;
    }
    for (let i = 1; i <= this.slotCount; i++) {
      const tick = this.cursorTick + i;
      if (this.slots[tick % this.slotCount]!.head !== undefined) {
        this.arm(tick);
        return;
      }
    }
  }

  private arm(tick: number): void {
    const nowMs = this.clock.now();
    this.armedTick = tick;
    // A boundary already behind us (an entry for the past) is due now: that is not lateness.
    this.plannedAtMs = Math.max(this.boundaryMs(tick), nowMs);
    const delayMs = Math.min(this.plannedAtMs - nowMs, MAX_TIMER_DELAY_MS);
    this.cancelTimer = this.clock.setTimer(this.onTimer, delayMs);
  }

  private disarm(): void {
    const cancel = this.cancelTimer;
    this.cancelTimer = undefined;
    cancel?.();
  }

  private guard(fn: (this: unknown) => void, receiver?: unknown): void {
    try {
      fn.call(receiver);
    } catch (error) {
      this.clock.setTimer(() => {
        throw error;
      }, 0);
    }
  }

  private boundaryMs(tick: number): number {
    return this.originMs + tick * this.tickMs;
  }

  /** Latest tick whose boundary is <= ms (corrected for floating-point rounding). */
  private floorTick(ms: number): number {
    let tick = Math.floor((ms - this.originMs) / this.tickMs);
    if (this.boundaryMs(tick) > ms) tick--;
    return tick;
  }

  /** Earliest tick whose boundary is >= ms, so nothing runs early. */
  private ceilTick(ms: number): number {
    let tick = Math.ceil((ms - this.originMs) / this.tickMs);
    if (this.boundaryMs(tick) < ms) tick++;
    return tick;
  }
}
