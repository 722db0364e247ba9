/**
 * SharedRules: the per-connection settings a server hands out as one shared, frozen object per
 * distinct value instead of one per connection — stall guards by threshold, ping-rate rules
 * (docs/spec/0003-enforcement-and-drain.md) by negotiated interval. Each map is bounded.
 */
import type { StallGuardOptions } from '../connection/connection.js';
import { PingRatePolicy } from '../liveness/enforcement.js';
import type { ResolvedServerOptions } from './options.js';
import type { PingRule } from './peer.js';

/** What the rules need from their server (narrow port). */
export interface StallReporter {
  /** A connection's heartbeat check ran late by this much: our own process stalled. */
  stalled(lateByMs: number): void;
}

export type SharedRulesOptions = Pick<ResolvedServerOptions, 'minPingIntervalRatio' | 'maxPingStrikes'>;

export class SharedRules {
  /** Shared stall guards, by threshold (one per negotiated timeout, not one per connection). */
  private readonly stallGuards = new Map<number, StallGuardOptions>();
  /** Shared ping-rate rules, by negotiated interval (undefined: enforcement off). */
  private readonly pingRules = new Map<number, PingRule | undefined>();

  constructor(
    private readonly options: SharedRulesOptions,
    private readonly reporter: StallReporter,
  ) {}

  stallGuard(thresholdMs: number): StallGuardOptions {
    let guard = this.stallGuards.get(thresholdMs);
    if (guard === undefined) {
      guard = Object.freeze({ thresholdMs, onStall: (lateByMs: number) => this.reporter.stalled(lateByMs) });
      // Thresholds follow the negotiated timeouts: a handful in practice; bounded all the same.
      if (this.stallGuards.size < MAX_SHARED_STALL_GUARDS) this.stallGuards.set(thresholdMs, guard);
    }
    return guard;
  }

  pingRule(intervalMs: number): PingRule | undefined {
    if (this.pingRules.has(intervalMs)) return this.pingRules.get(intervalMs);
    const minPingIntervalMs = intervalMs * this.options.minPingIntervalRatio;
    const rule =
      minPingIntervalMs > 0
        ? Object.freeze({ intervalMs, policy: new PingRatePolicy({ minPingIntervalMs, maxStrikes: this.options.maxPingStrikes }) })
        : undefined;
    // Intervals follow the clients' proposals (clamped to the bounds): bounded all the same.
    if (this.pingRules.size < MAX_SHARED_PING_RULES) this.pingRules.set(intervalMs, rule);
    return rule;
  }
}

const MAX_SHARED_STALL_GUARDS = 64;
const MAX_SHARED_PING_RULES = 64;
