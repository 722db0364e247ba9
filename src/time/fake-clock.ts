/**
 * FakeClock: a deterministic Clock for tests. Time moves only when `advance()` is called, so unit
 * tests never sleep (STYLE.md §2.10, §7). Node's built-in timer mocking does not move
 * `performance.now()`, hence our own.
 *
 * Precision: exact. A timer set for `ms` runs when time reaches now + ms, with `now()` equal to
 * its own deadline, never earlier or later. Pending timers live in a binary min-heap keyed by
 * (deadline, creation order); cancelled timers are dropped lazily when they reach the top.
 */
import type { Cancel, Clock } from './clock.js';

interface FakeTimer {
  readonly deadlineMs: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

function before(a: FakeTimer, b: FakeTimer): boolean {
  return a.deadlineMs < b.deadlineMs || (a.deadlineMs === b.deadlineMs && a.seq < b.seq);
}

export class FakeClock implements Clock {
  private nowMs: number;
  private seq = 0;
  private pending = 0;
  private readonly heap: FakeTimer[] = [];

  constructor(startMs = 0) {
    if (!Number.isFinite(startMs)) throw new RangeError(`FakeClock startMs must be finite, got ${startMs}`);
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  setTimer(fn: () => void, ms: number): Cancel {
    // Like setTimeout: negative or NaN delays mean "as soon as possible".
    const delayMs = ms > 0 ? ms : 0;
    const timer: FakeTimer = { deadlineMs: this.nowMs + delayMs, seq: this.seq++, fn, cancelled: false };
    this.push(timer);
    this.pending++;
    return () => {
      if (timer.cancelled) return;
      timer.cancelled = true;
      this.pending--;
      // Cancelled timers leave the heap lazily; rebuild when they dominate so churn stays bounded.
      if (this.heap.length > 64 && this.heap.length > 2 * this.pending) this.compact();
    };
  }

  /**
   * Move time forward by ms, running every timer that falls due, in deadline order (ties:
   * creation order), each with now() equal to its own deadline; timers created while advancing
   * that fall inside the window also run.
   *
   * A timer that throws does not stop the advance: the remaining timers still run and time still
   * reaches now + ms; afterwards the first error is rethrown (an AggregateError if several threw).
   */
  advance(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`FakeClock.advance(ms) needs a finite ms >= 0, got ${ms}`);
    const targetMs = this.nowMs + ms;
    const errors: unknown[] = [];
    for (;;) {
      const top = this.peekLive();
      if (top === undefined || top.deadlineMs > targetMs) break;
      this.pop();
      top.cancelled = true;
      this.pending--;
      if (top.deadlineMs > this.nowMs) this.nowMs = top.deadlineMs;
      try {
        top.fn();
      } catch (error) {
        errors.push(error);
      }
    }
    this.nowMs = targetMs;
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} FakeClock timers threw`);
  }

  /**
   * Move time forward by ms WITHOUT running the timers that fall due: what a suspended or
   * blocked process experiences. The next advance() (even advance(0)) runs them, late, with
   * now() at the current time rather than at their deadlines.
   */
  jump(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`FakeClock.jump(ms) needs a finite ms >= 0, got ${ms}`);
    this.nowMs += ms;
  }

  /** Number of pending timers. */
  get pendingTimers(): number {
    return this.pending;
  }

  private peekLive(): FakeTimer | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap[0];
  }

  private compact(): void {
    const live = this.heap.filter((t) => !t.cancelled);
    this.heap.length = 0;
    for (const t of live) this.push(t);
  }

  private push(timer: FakeTimer): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(timer);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(timer, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = timer;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
