/**
 * NatLearner: a heartbeat interval that learns how long the path may stay idle
 * (docs/spec/0007-adaptive-interval.md). In the spirit of Tencent Mars' smart heartbeat
 * (mars/stn/src/smart_heartbeat.cc): start at a safe interval, step up after a run of survived
 * idle periods, fall back when an idle connection dies, settle, re-probe now and then. Pure: no
 * clock, no timers, randomness injected (STYLE.md §2.10–11); the caller feeds events and times.
 *
 * Everything is reasoned on *idle periods* (silence the middlebox saw), not on the configured
 * interval: the client pings after `interval + jitter` (spec 0001 §Who pings, jitter up to 10 %),
 * so the idle a NAT sees is in [interval, interval × (1 + jitterRatio)]. The learner keeps a
 * *target* — the longest idle it is willing to risk — and proposes `target / (1 + jitterRatio)`
 * as the interval, so even the most jittered cycle stays within the target.
 *
 * Knowledge kept (JSON, per network key, see nat-store.ts):
 * - goodMs: the longest idle ever survived on this path (0: none yet).
 * - badMs:  the shortest idle after which an idle connection died (null: none known).
 * The NAT idle timeout T lies in (goodMs, badMs] when both are consistent.
 *
 * Rules (numbers match spec 0007 §Algorithm):
 * 1. Start (no state): probing, target = minIntervalMs × (1 + jitterRatio), i.e. the interval
 *    is minIntervalMs — a value chosen to be safe on nearly every path.
 * 2. survived(idle): goodMs = max(goodMs, idle). An idle longer than badMs proves badMs stale
 *    (the path changed, or that death was not the NAT): forget badMs. A survival counts toward a
 *    step up only if it was a full cycle at the current interval (idle ≥ interval − 1 %).
 * 3. Probing, after successesToStepUp counted survivals in a row — a run, like Mars'
 *    BaseSuccCount, so a fresh connection proves itself before being risked — step up:
 *    - badMs unknown: target = goodMs + stepMs (additive, as Mars' HeartStep);
 *    - badMs − goodMs > resolutionMs: target = (goodMs + badMs) / 2 (bisection: each probe
 *      halves the uncertainty, so learning costs at most ~1 + log2(stepMs / resolutionMs) drops);
 *    - otherwise settle (rule 5).
 *    At the top (interval would reach maxIntervalMs) the learner settles at maxIntervalMs.
 * 4. died(idle) while probing with idle > goodMs: badMs = min(badMs, idle); the target falls back
 *    to goodMs, the last known-good (not a blind factor: it has just been proven survivable, and
 *    anything longer is now uncertain). Run counter reset.
 * 5. Settle: target = goodMs − safetyMarginMs (never below rule 1's target). The margin absorbs
 *    what one survival cannot prove: NATs that expire flows on a coarse sweep (a lucky survival
 *    past T), timer lateness, and the path's latency. The next re-probe is scheduled at
 *    now + reprobeAfterMs × 2^reprobeFailures (capped at maxReprobeAfterMs), ±10 % jitter from
 *    rng so clients that settled together do not probe (and drop) together.
 * 6. died(idle) with idle ≤ goodMs, or while settled and not probing: the path no longer keeps
 *    what it used to (network switch, carrier change). The old knowledge is stale: goodMs = 0,
 *    badMs = idle, re-learn from rule 1 (Mars: "in stable state, can't use old value…"). Going
 *    back to the minimum costs heartbeats, not drops: everything below badMs is probed upward from
 *    a safe value. A spurious death (server restart) costs the same, and only lowers badMs; the
 *    next re-probe recovers the rest.
 * 7. Re-probe (settled, now ≥ nextProbeAtMs, and the current connection has survived
 *    successesToStepUp cycles): one probe at max(badMs, goodMs + stepMs) (or goodMs + stepMs when
 *    no bad is known). Survived: badMs is stale (rule 2), probing resumes upward and
 *    reprobeFailures = 0. Died: back to the settled target at once, reprobeFailures + 1, so the
 *    next re-probe waits twice as long: an unchanged NAT costs one drop per re-probe, at
 *    reprobeAfterMs, 2×, 4×, … up to maxReprobeAfterMs apart.
 * 8. Deaths after an idle below the minimum interval's target say nothing about idleness (Mars:
 *    "a failure on the minimum says nothing") and are ignored; so are non-finite inputs.
 *
 * 9. HELLO (helloIntervalMs) proposes room for the coming probes, at most HELLO_HEADROOM × the
 *    current interval (the server's ping-rate guard, spec 0003); a learner that outgrows the
 *    negotiated interval needs a new HELLO (spec 0007 §Wiring).
 *
 * `nowMs` must be wall-clock epoch ms (Date.now()), not the monotonic Clock: the state outlives
 * the process. A clock stepped backwards (nowMs < the last event) re-draws the probe deadline.
 *
 * Precision: exact arithmetic on its inputs; intervals returned are whole ms.
 */
import { InvalidOptionError } from '../errors.js';

export interface NatLearnerOptions {
  /** Smallest interval ever proposed, ms; also the safe start on an unknown path. Default 15000. */
  minIntervalMs?: number;
  /** Largest interval ever proposed, ms (the server's default maxHeartbeatInterval). Default 600000. */
  maxIntervalMs?: number;
  /** Additive step up while no failing idle is known, ms (Mars HeartStep). Default 15000. */
  stepMs?: number;
  /** Bisection stops when the known-good and known-bad idles are this close, ms. Default 2000. */
  resolutionMs?: number;
  /** Survived full cycles in a row before stepping up or re-probing (Mars BaseSuccCount). Default 3. */
  successesToStepUp?: number;
  /** Settled idle = longest survived idle − this, ms (Mars SuccessStep). Default 5000. */
  safetyMarginMs?: number;
  /** Fraction by which a cycle's idle may exceed the interval (client ping jitter, spec 0001). Default 0.1. */
  jitterRatio?: number;
  /** First re-probe this long after settling, ms; doubles after each failed re-probe. Default 24 h. */
  reprobeAfterMs?: number;
  /** Cap on the doubled re-probe delay, ms. Default 8 days. */
  maxReprobeAfterMs?: number;
}

export type ResolvedNatLearnerOptions = Required<NatLearnerOptions>;

export const NAT_LEARNER_DEFAULTS: ResolvedNatLearnerOptions = {
  minIntervalMs: 15_000,
  maxIntervalMs: 600_000,
  stepMs: 15_000,
  resolutionMs: 2_000,
  successesToStepUp: 3,
  safetyMarginMs: 5_000,
  jitterRatio: 0.1,
  reprobeAfterMs: 24 * 3600_000,
  maxReprobeAfterMs: 8 * 24 * 3600_000,
};

/**
 * HELLO never proposes more than this × the current interval: the server's ping-rate guard
 * (spec 0003, minPingIntervalRatio 0.5) strikes PINGs closer than half the negotiated interval,
 * and 1.6 leaves room below 2 for PINGs bunched by jitter, timer lateness and the path.
 */
export const HELLO_HEADROOM = 1.6;

/** Spread of the re-probe deadline (rule 5): ± this fraction. */
const REPROBE_JITTER = 0.1;
/** A cycle counts as "at the current interval" if it lasted at least this fraction of it (rule 2). */
const FULL_CYCLE = 0.99;
const STATE_VERSION = 1;

export type NatLearnerPhase = 'probing' | 'settled';

/** JSON-serialisable; every field is a number, boolean, null or string. */
export interface NatLearnerState {
  version: 1;
  phase: NatLearnerPhase;
  /** Longest idle the learner will risk next, ms. */
  targetMs: number;
  /** Longest idle ever survived, ms (0: none). */
  goodMs: number;
  /** Shortest idle after which an idle connection died, ms (null: none known). */
  badMs: number | null;
  /** Counted survivals in a row at the current target. */
  successes: number;
  /** True while the current target is a re-probe above the settled one (rule 7). */
  reprobing: boolean;
  /** Failed re-probes in a row (rule 7's doubling). */
  reprobeFailures: number;
  /** Wall-clock ms when the next re-probe is allowed (settled only; 0 otherwise). */
  nextProbeAtMs: number;
  /** Wall-clock ms of the last event (survived/died), for store eviction and clock-step checks. */
  updatedAtMs: number;
  /** Lifetime counters, for reports: survived and died idle periods, re-probes started. */
  survivedCount: number;
  diedCount: number;
  reprobeCount: number;
}

function finite(name: keyof ResolvedNatLearnerOptions, v: unknown, min: number, max = Infinity): void {
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max)) {
    throw new InvalidOptionError(`adaptiveHeartbeat.${name}`, `must be a finite number in [${min}, ${max}], got ${String(v)}`);
  }
}

export function resolveNatLearnerOptions(options: NatLearnerOptions = {}): ResolvedNatLearnerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('adaptiveHeartbeat', `must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const o: ResolvedNatLearnerOptions = { ...NAT_LEARNER_DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    // A misspelt setting would silently keep its default: refuse it.
    if (!(key in NAT_LEARNER_DEFAULTS)) throw new InvalidOptionError(`adaptiveHeartbeat.${key}`, 'is not a setting of the adaptive heartbeat');
    if (value !== undefined) (o as unknown as Record<string, unknown>)[key] = value;
  }
  finite('minIntervalMs', o.minIntervalMs, 1);
  finite('maxIntervalMs', o.maxIntervalMs, o.minIntervalMs);
  finite('stepMs', o.stepMs, 1);
  finite('resolutionMs', o.resolutionMs, 1);
  finite('successesToStepUp', o.successesToStepUp, 1);
  if (!Number.isInteger(o.successesToStepUp)) finite('successesToStepUp', NaN, 1);
  finite('safetyMarginMs', o.safetyMarginMs, 0);
  finite('jitterRatio', o.jitterRatio, 0, 1);
  finite('reprobeAfterMs', o.reprobeAfterMs, 1);
  finite('maxReprobeAfterMs', o.maxReprobeAfterMs, o.reprobeAfterMs);
  return o;
}

function isState(s: unknown): s is NatLearnerState {
  if (typeof s !== 'object' || s === null) return false;
  const r = s as Record<string, unknown>;
  const num = (k: string) => typeof r[k] === 'number' && Number.isFinite(r[k]);
  return (
    r.version === STATE_VERSION &&
    (r.phase === 'probing' || r.phase === 'settled') &&
    ['targetMs', 'goodMs', 'successes', 'reprobeFailures', 'nextProbeAtMs', 'updatedAtMs', 'survivedCount', 'diedCount', 'reprobeCount'].every(num) &&
    (r.badMs === null || num('badMs')) &&
    typeof r.reprobing === 'boolean'
  );
}

export class NatLearner {
  readonly options: ResolvedNatLearnerOptions;
  private readonly rng: () => number;
  private s: NatLearnerState;

  /**
   * `state` from a store; anything that is not a valid state (older version, hand-edited file)
   * is ignored and learning starts afresh — a learner must never fail a connect.
   */
  constructor(options: NatLearnerOptions = {}, state?: NatLearnerState, rng: () => number = Math.random) {
    this.options = resolveNatLearnerOptions(options);
    this.rng = rng;
    this.s = isState(state) ? this.sanitise({ ...state }) : this.fresh(0);
  }

  /** A copy of the state, for the store (nat-store.ts). */
  get state(): NatLearnerState {
    return { ...this.s };
  }

  get phase(): NatLearnerPhase {
    return this.s.phase;
  }

  /** True while the interval returned is a deliberate risk: a step above what is known to survive. */
  get probing(): boolean {
    return this.s.phase === 'probing' ? this.s.targetMs > this.s.goodMs : this.s.reprobing;
  }

  /**
   * The client's ping interval for the next idle period, ms, in [minIntervalMs, maxIntervalMs].
   * When settled it also starts a due re-probe (rule 7), hence `nowMs`.
   */
  currentIntervalMs(nowMs: number): number {
    this.maybeStartReprobe(nowMs);
    return this.intervalFor(this.s.targetMs);
  }

  /**
   * The interval to propose in HELLO, ms. The negotiated interval is a ceiling for the whole
   * connection: the server pings by itself after it (+ a margin), so the idle a NAT sees can
   * never exceed it, and the learner can only try longer idles up to it. It is also a floor: the
   * server counts a PING arriving sooner than `negotiated × minPingIntervalRatio` (0.5, spec
   * 0003) after the previous one as a strike. Hence: room for the coming probes (up to the
   * known-bad idle; up to maxIntervalMs while none is known; a due re-probe), but never more
   * than HELLO_HEADROOM × the current interval.
   * When the learner later wants more than was negotiated, the client renegotiates (spec 0007
   * §Wiring, step 5).
   */
  helloIntervalMs(nowMs: number): number {
    const current = this.currentIntervalMs(nowMs);
    const s = this.s;
    let probe: number;
    if (s.phase === 'settled') probe = s.reprobing || nowMs >= s.nextProbeAtMs ? this.reprobeTarget() : (s.badMs ?? this.maxTarget());
    else probe = s.badMs ?? this.maxTarget();
    const headroom = Math.floor(current * HELLO_HEADROOM);
    return Math.max(current, Math.min(headroom, this.intervalFor(probe), this.options.maxIntervalMs));
  }

  /**
   * A new connection to this network key completed its handshake. A run of survivals (rules 3,
   * 7) is per connection: a fresh connection, often one that follows a drop, must prove itself
   * at the current interval before it is risked on a longer one.
   */
  connectionStarted(): void {
    this.s.successes = 0;
  }

  /** The connection survived an idle period of `idleMs` (a PONG came back after that much silence). */
  survived(idleMs: number, nowMs: number): void {
    if (!(idleMs >= 0) || !Number.isFinite(idleMs)) return;
    const s = this.s;
    this.touch(nowMs);
    s.survivedCount++;
    const interval = this.intervalFor(s.targetMs);
    if (idleMs > s.goodMs) s.goodMs = idleMs;
    // Rule 2: a survival past the known-bad idle proves it stale.
    if (s.badMs !== null && idleMs >= s.badMs) s.badMs = null;
    if (idleMs < interval * FULL_CYCLE) return;
    s.successes++;
    if (s.phase === 'settled') {
      if (s.reprobing) {
        // Rule 7, survived: the path keeps more than we thought; resume probing upward.
        s.reprobing = false;
        s.reprobeFailures = 0;
        s.phase = 'probing';
        s.nextProbeAtMs = 0;
        s.successes = 0;
      }
      return;
    }
    if (s.successes >= this.options.successesToStepUp) this.stepUp(nowMs);
  }

  /** An idle connection died right after an idle period of `idleMs`: the middlebox forgot the flow. */
  died(idleMs: number, nowMs: number): void {
    if (!(idleMs >= 0) || !Number.isFinite(idleMs)) return;
    const s = this.s;
    // Rule 8.
    if (idleMs < this.minTarget() / (1 + this.options.jitterRatio)) return;
    this.touch(nowMs);
    s.diedCount++;
    s.successes = 0;
    if (s.phase === 'settled' && s.reprobing && idleMs > s.goodMs) {
      // Rule 7, died: the known-bad still holds; back to the settled target, probe less often.
      s.reprobing = false;
      s.reprobeFailures++;
      s.badMs = s.badMs === null ? idleMs : Math.min(s.badMs, idleMs);
      this.settle(nowMs);
      return;
    }
    if (s.phase === 'probing' && idleMs > s.goodMs) {
      // Rule 4: fall back to the last known-good.
      s.badMs = s.badMs === null ? idleMs : Math.min(s.badMs, idleMs);
      s.targetMs = Math.max(this.minTarget(), Math.min(s.goodMs, this.maxTarget()));
      return;
    }
    // Rule 6: what used to survive no longer does.
    const failures = s.reprobeFailures;
    this.s = this.fresh(nowMs, s);
    this.s.badMs = idleMs;
    this.s.reprobeFailures = failures;
  }

  /** The interval that keeps a cycle's idle within `targetMs`, clamped to the options. */
  private intervalFor(targetMs: number): number {
    const { minIntervalMs, maxIntervalMs, jitterRatio } = this.options;
    return Math.round(Math.min(maxIntervalMs, Math.max(minIntervalMs, targetMs / (1 + jitterRatio))));
  }

  private minTarget(): number {
    return this.options.minIntervalMs * (1 + this.options.jitterRatio);
  }

  private maxTarget(): number {
    return this.options.maxIntervalMs * (1 + this.options.jitterRatio);
  }

  private reprobeTarget(): number {
    const s = this.s;
    const stepped = s.goodMs + this.options.stepMs;
    return Math.min(this.maxTarget(), s.badMs === null ? stepped : Math.max(s.badMs, stepped));
  }

  /** Rule 3. */
  private stepUp(nowMs: number): void {
    const s = this.s;
    const { stepMs, resolutionMs } = this.options;
    s.successes = 0;
    if (this.intervalFor(s.targetMs) >= this.options.maxIntervalMs) {
      this.settle(nowMs);
      return;
    }
    let next: number;
    if (s.badMs === null) next = Math.max(s.targetMs, s.goodMs) + stepMs;
    else if (s.badMs - s.goodMs > resolutionMs) next = (s.goodMs + s.badMs) / 2;
    else {
      this.settle(nowMs);
      return;
    }
    s.targetMs = Math.min(this.maxTarget(), Math.max(this.minTarget(), next));
  }

  /** Rule 5. */
  private settle(nowMs: number): void {
    const s = this.s;
    const { safetyMarginMs, reprobeAfterMs, maxReprobeAfterMs } = this.options;
    s.phase = 'settled';
    s.reprobing = false;
    s.successes = 0;
    // At the top with nothing known bad there is nothing to keep a margin from.
    const atTop = s.badMs === null && s.goodMs >= this.intervalFor(this.maxTarget());
    const target = atTop ? this.maxTarget() : s.goodMs - safetyMarginMs;
    s.targetMs = Math.min(this.maxTarget(), Math.max(this.minTarget(), target));
    const delay = Math.min(maxReprobeAfterMs, reprobeAfterMs * 2 ** Math.min(s.reprobeFailures, 30));
    s.nextProbeAtMs = nowMs + delay * (1 + REPROBE_JITTER * (2 * this.rng() - 1));
  }

  /** Rule 7. */
  private maybeStartReprobe(nowMs: number): void {
    const s = this.s;
    if (s.phase !== 'settled' || s.reprobing) return;
    if (nowMs < s.updatedAtMs) {
      // Wall clock stepped backwards: the deadline is meaningless; draw a new one from now.
      this.settle(nowMs);
      s.updatedAtMs = nowMs;
      return;
    }
    if (nowMs < s.nextProbeAtMs || s.successes < this.options.successesToStepUp) return;
    const probe = this.reprobeTarget();
    if (probe <= s.targetMs) return; // already at the top
    s.reprobing = true;
    s.reprobeCount++;
    s.successes = 0;
    s.targetMs = probe;
  }

  private touch(nowMs: number): void {
    if (Number.isFinite(nowMs)) this.s.updatedAtMs = nowMs;
  }

  private fresh(nowMs: number, counters?: NatLearnerState): NatLearnerState {
    return {
      version: STATE_VERSION,
      phase: 'probing',
      targetMs: this.minTarget(),
      goodMs: 0,
      badMs: null,
      successes: 0,
      reprobing: false,
      reprobeFailures: 0,
      nextProbeAtMs: 0,
      updatedAtMs: nowMs,
      survivedCount: counters?.survivedCount ?? 0,
      diedCount: counters?.diedCount ?? 0,
      reprobeCount: counters?.reprobeCount ?? 0,
    };
  }

  /** A stored state may come from other options: bring the target back inside the bounds. */
  private sanitise(state: NatLearnerState): NatLearnerState {
    state.targetMs = Math.min(this.maxTarget(), Math.max(this.minTarget(), state.targetMs));
    state.goodMs = Math.max(0, state.goodMs);
    state.successes = 0; // a run is per connection: the next one must prove itself
    return state;
  }
}
