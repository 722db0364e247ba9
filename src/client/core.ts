/**
 * ClientCore: the client's reconnect loop, failover and event routing, shared by the Node and
 * browser clients (see client.ts). What waits to be sent and the resume bookkeeping are the
 * outbox's (outbox.ts); the `logger` option's lines are client-log.ts's.
 */
import type { PongInfo } from '../connection/connection.js';
import type { CloseReason } from '../connection/close-reason.js';
import type { GoawayFrame, PresenceFrame, WelcomeFrame } from '../protocol/frames.js';
import type { ResumeState } from '../connection/resume.js';
import type { AvailabilityChange, UnavailableReason } from '../liveness/availability.js';
import { systemClock, type Clock, type Cancel } from '../time/clock.js';
import { TimerScheduler } from '../time/scheduler.js';
import type { AppliedSocketOptions, NetKeepaliveApi } from '../transport/socket-tuning.js';
import { LifelineError } from '../errors.js';
import { Link, type LinkOpenInfo, type LinkOwner } from './link.js';
import { AdaptiveHeartbeat } from './adaptive.js';
import { MemoryNatStore } from '../liveness/nat-store.js';
import type { ResolvedClientOptions } from './options.js';
import { ReconnectPlanner } from './reconnect.js';
import { formatServer } from './servers.js';
import type { ReconnectingInfo } from './types.js';
import type { ClientRuntime, ClientSink } from './runtime.js';
import { ClientPresence, type PresenceSink } from './presence.js';
import { Outbox } from './outbox.js';
import { FailoverWatch, leaveUnavailable, type FailoverOwner } from './failover.js';
import { ClientView } from './core-view.js';
import { ClientLog } from './client-log.js';

export class ClientCore extends ClientView implements LinkOwner, FailoverOwner {
  private readonly runtime: ClientRuntime<unknown>;
  private readonly sink: ClientSink;
  readonly options: ResolvedClientOptions;
  private readonly clock: Clock;
  private readonly scheduler: TimerScheduler;
  protected readonly planner: ReconnectPlanner;
  private readonly netKeepalive: Promise<NetKeepaliveApi | undefined>;
  /** Messages not on the wire yet, and the resume bookkeeping (outbox.ts). */
  protected readonly outbox: Outbox;
  /** The `logger` option's lines (client-log.ts). */
  private readonly log: ClientLog;
  /** close() found an open connection and closed it gracefully. */
  private closedGracefully = false;
  /** close() was called while a link was closing: the final reason once it has. */
  private stopReason: CloseReason | undefined;
  /** The client itself is leaving the current link (failover): retry whatever its reason. */
  private leaving = false;
  private cancelWait: Cancel | undefined;
  private cancelStable: Cancel | undefined;
  /** When to leave an unavailable server for the next (failover.ts). */
  private readonly failoverWatch: FailoverWatch;
  /** heartbeat: 'adaptive' (docs/spec/0007). */
  protected readonly adaptive: AdaptiveHeartbeat | undefined;
  /** Keeps the process alive while waiting to reconnect (clock timers are unref'd). */
  private keepAlive: Cancel | undefined;
  /** Presence subscriptions (docs/spec/0014 §Subscriptions), sent again on every connection. */
  readonly presence: ClientPresence;

  constructor(options: ResolvedClientOptions, runtime: ClientRuntime<unknown>, sink: ClientSink) {
    super();
    this.runtime = runtime;
    this.sink = sink;
    this.options = options;
    this.presence = new ClientPresence(sink as PresenceSink);
    this.clock = this.options.clock ?? systemClock;
    this.scheduler = new TimerScheduler(this.clock);
    this.failoverWatch = new FailoverWatch(this.clock, this.scheduler, this);
    this.planner = new ReconnectPlanner(this.options.servers, this.options.reconnect || { ...NO_RECONNECT }, this.options.rng);
    this.netKeepalive = runtime.prepare?.().catch(() => undefined) ?? Promise.resolve(undefined);
    this.outbox = new Outbox(options.maxQueuedBytes, options.resume, (payloads, error) => this.reportUndelivered(payloads, error));
    this.log = new ClientLog(options.logger);
    this.adaptive = this.createAdaptive();
    // Dial asynchronously so listeners attached right after connect() see every event.
    void this.startLink();
  }

  /**
   * Send a message. While no connection is open (before 'open', and while reconnecting) it is
   * queued, up to maxQueuedBytes (then LL_ERR_BUFFER_OVERFLOW), and sent in order on the next
   * connection; after close it throws LL_ERR_NOT_OPEN. Returns false when the send buffer is
   * above its high-water mark or the message was queued (wait for 'drain' / 'open').
   */
  send(data: Uint8Array | string): boolean {
    const payload = this.runtime.toPayload(data);
    const link = this.link;
    if (this.state === 'open' && link?.state === 'open' && link.connection?.state === 'open') {
      const ok = link.send(payload);
      this.counts.sent(payload.byteLength);
      return ok;
    }
    // An open client whose connection is already going (heartbeat timeout, GOAWAY) but not yet
    // reported: with reconnect the message waits for the next connection like any other.
    const dying = this.state === 'open' && this.options.reconnect !== false;
    const waiting = dying || this.state === 'connecting' || this.state === 'handshake' || this.state === 'reconnecting';
    if (waiting) {
      // Sent on the next connection, in order (resumable: exactly once); bounded, throws past it.
      this.outbox.hold(payload);
      this.counts.sent(payload.byteLength);
      return false;
    }
    if (this.state === 'open') {
      // Without reconnect: the connection is going away ('close' follows with the reason).
      throw new LifelineError('LL_ERR_NOT_OPEN', 'cannot send: the connection is closing (reconnect is off)');
    }
    throw new LifelineError('LL_ERR_NOT_OPEN', `cannot send: client is ${this.state}`);
  }

  /** Close for good, gracefully. 'close' follows once, with code local-close; no reconnect after it. */
  close(message = ''): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const localReason: CloseReason = {
      code: 'local-close',
      message: message || 'closed locally',
      initiator: 'local',
      detectedBy: 'application',
      sinceLastSeenMs: 0,
    };
    this.cancelTimers();
    this.adaptive?.saveAll();
    const link = this.link;
    this.log.closing(message);
    if (!link) {
      this.finish({ ...localReason, message: message || 'closed locally before connecting' });
      return;
    }
    // The final reason once the link has closed (its own local-close reason is preferred).
    this.stopReason = localReason;
    if (link.state === 'closing') {
      // Leaving already (GOAWAY, failover): stop once that close completes.
      this.state = 'closing';
      return;
    }
    if (link.connection) this.state = 'closing';
    this.closedGracefully = link.state === 'open';
    link.close(message); // before TCP is up this reports linkClosed at once
  }

  // --- dialling and the reconnect loop ---------------------------------------------------------

  private async startLink(): Promise<void> {
    const netKeepalive = await this.netKeepalive;
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'connecting';
    const link = new Link({
      server: this.planner.current,
      options: this.options,
      clock: this.clock,
      scheduler: this.scheduler,
      netKeepalive,
      owner: this,
      adaptive: this.adaptive,
      dial: this.runtime.dial,
    });
    this.link = link;
    this.log.dialing(link.address, this.planner.attempt);
    link.dial();
  }

  linkClosed(link: Link, reason: CloseReason): void {
    if (link !== this.link) return;
    this.link = undefined;
    this.presence.lost();
    if (link.networkKey !== undefined) this.adaptiveKey = link.networkKey;
    if (reason.code === 'renegotiate' && !this.stopReason) {
      // A planned reconnect (adaptive heartbeat): same server, at once, session resumed; the
      // application sees only the next 'open' (resumed: true).
      this.cancelTimers();
      this.state = 'reconnecting';
      void this.startLink();
      return;
    }
    const forced = this.leaving;
    this.leaving = false;
    this.cancelTimers();
    this.log.linkClosed(link, reason, this.info?.sessionId);
    if (this.stopReason) {
      // close() was called: the link's own local-close reason is the most precise one (unless it
      // is the failover's, which close() overtook).
      return this.finish(reason.code === 'local-close' && !forced ? reason : this.stopReason);
    }
    // Without reconnect a GOAWAY leaves the client 'closing': its reason is final.
    if (!this.options.reconnect) return this.finish(reason);
    const plan = this.planner.afterLoss(reason, forced);
    if (plan.kind === 'give-up') {
      const gaveUp =
        plan.why === 'max-attempts'
          ? { ...reason, message: `gave up after ${this.planner.attempt} reconnect attempts: ${reason.message}` }
          : reason;
      return this.finish(gaveUp);
    }
    this.state = 'reconnecting';
    this.sink.emit('disconnect', reason);
    if (this.state !== 'reconnecting') return; // a listener called close()
    const server = formatServer(plan.server);
    this.log.reconnecting(server, plan.attempt, plan.delayMs);
    this.sink.emit('reconnecting', { attempt: plan.attempt, delayMs: plan.delayMs, server } satisfies ReconnectingInfo);
    this.runtime.publish('clientReconnecting', () => ({ client: this.sink, attempt: plan.attempt, delayMs: plan.delayMs, server }));
    if (this.state !== 'reconnecting') return;
    this.keepAlive ??= this.runtime.holdOpen();
    this.cancelWait = this.scheduler.schedule(this.clock.now() + plan.delayMs, () => {
      this.cancelWait = undefined;
      this.releaseKeepAlive();
      void this.startLink();
    });
  }

  linkConnected(link: Link, socketOptions: AppliedSocketOptions): void {
    if (link !== this.link) return;
    this.state = 'handshake';
    this.socketOptions = socketOptions;
    this.log.connected(link, this.options.token !== undefined);
    for (const warning of socketOptions.warnings) this.sink.emit('warning', warning);
  }

  linkSocketOptions(link: Link, socketOptions: AppliedSocketOptions): void {
    if (link !== this.link) return;
    const before = new Set(this.socketOptions?.warnings);
    this.socketOptions = socketOptions;
    for (const warning of socketOptions.warnings) if (!before.has(warning)) this.sink.emit('warning', warning);
  }

  linkOpened(link: Link, info: LinkOpenInfo): void {
    if (link !== this.link) return;
    this.state = 'open';
    const reconnect = this.options.reconnect;
    if (reconnect) {
      this.cancelStable = this.scheduler.schedule(this.clock.now() + reconnect.stableAfter, () => {
        this.cancelStable = undefined;
        this.planner.stable();
      });
    }
    this.info = { ...info, resumed: this.outbox.resumed, server: link.address };
    this.counts.opened(this.outbox.resumed);
    this.log.opened(link, this.info);
    if (link.connection) this.presence.opened(link.connection, link.presenceLimit, link.serverMaxFrameSize);
    this.sink.emit('open', this.info);
    if (this.link === link && link.state === 'open') this.outbox.flush(link);
  }

  // --- failover on unavailability (spec 0005 §Failover) ---------------------------------------

  linkAvailability(link: Link, change: AvailabilityChange): void {
    if (link !== this.link) return;
    const { kind, ...info } = change;
    this.log.availability(link, this.info?.sessionId, change);
    this.sink.emit(kind, info);
    this.runtime.publish(kind === 'unavailable' ? 'clientUnavailable' : 'clientAvailable', () => ({ client: this.sink, ...info }));
    if (!this.options.reconnect || this.options.servers.length < 2 || link.state !== 'open' || this.link !== link) return;
    this.failoverWatch.changed(link, change, this.info?.heartbeatInterval ?? 0);
  }

  /** @internal FailoverOwner */
  isCurrent(link: Link): boolean {
    return this.link === link;
  }

  /** @internal FailoverOwner: leave for the next server (linkClosed retries whatever the link's reason). */
  failover(link: Link, why: UnavailableReason): void {
    this.log.failover(link, this.info?.sessionId, why);
    this.leaving = true;
    this.state = 'reconnecting';
    leaveUnavailable(link, why);
  }

  // --- events passed through from the link --------------------------------------------------------

  linkMessage(link: Link, payload: Uint8Array): void {
    if (link !== this.link) return;
    this.counts.received(payload.byteLength);
    this.sink.emit('message', this.runtime.toMessage(payload));
  }

  linkPing(link: Link, id: number): void {
    if (link === this.link) this.sink.emit('ping', id);
  }

  linkPong(link: Link, info: PongInfo): void {
    if (link !== this.link) return;
    this.peerLoad = info.load;
    this.sink.emit('pong', info);
    if (info.status !== this.peerStatus) {
      this.peerStatus = info.status;
      this.sink.emit('status', info.status, info.load);
    }
  }

  linkGoaway(link: Link, frame: GoawayFrame): void {
    if (link !== this.link) return;
    this.log.goaway(link, this.info?.sessionId, frame);
    this.sink.emit('goaway', frame);
    // The link closes itself right after this; with reconnect, sends are queued for the next one.
    if (this.state === 'open') this.state = this.options.reconnect ? 'reconnecting' : 'closing';
  }

  linkDrain(link: Link): void {
    if (link === this.link) this.sink.emit('drain');
  }

  linkStall(link: Link, lateByMs: number): void {
    if (link !== this.link) return;
    this.log.stalled(lateByMs);
    this.sink.emit('stall', lateByMs);
  }

  linkPresence(link: Link, frame: PresenceFrame): void {
    if (link !== this.link) return;
    if (frame.kind !== 'state') return link.connection?.refuse('protocol-error', `PRESENCE ${frame.kind.toUpperCase()} from a server: only a client sends it`);
    this.presence.received(frame.states);
  }

  // --- adaptive heartbeat (docs/spec/0007-adaptive-interval.md) ---------------------------------

  linkCanRenegotiate(link: Link): boolean {
    return link === this.link && this.state === 'open' && this.options.reconnect !== false && this.outbox.settled;
  }

  private createAdaptive(): AdaptiveHeartbeat | undefined {
    const o = this.options;
    if (o.heartbeat !== 'adaptive' || !o.adaptiveLearner) return undefined;
    const store =
      o.natStore === false
        ? new MemoryNatStore()
        : (o.natStore ??
          this.runtime.defaultNatStore(o, (err) => this.sink.emit('warning', `adaptive heartbeat state not saved/loaded: ${(err as Error).message ?? String(err)}`)));
    return new AdaptiveHeartbeat({
      learner: o.adaptiveLearner,
      store,
      rng: o.rng,
      onEvent: (event) => this.runtime.publish('clientAdaptive', () => ({ client: this.sink, ...event })),
    });
  }

  // --- resume (docs/spec/0006-resume.md) ----------------------------------------------------------

  linkResumeHello(link: Link): { resumable: boolean; sessionId?: Uint8Array; lastSeq?: number } {
    return link === this.link ? this.outbox.hello() : { resumable: false };
  }

  linkResumeWelcome(link: Link, welcome: WelcomeFrame): { state?: ResumeState; replayAfter?: number } {
    if (link !== this.link) return {};
    const resume = this.outbox.welcome(welcome);
    this.log.resume(link, welcome);
    return resume;
  }

  // --- end ----------------------------------------------------------------------------------

  private reportUndelivered(payloads: Uint8Array[], error: Error): void {
    this.sink.emit('undelivered', payloads.map((p) => this.runtime.toMessage(p)), error);
  }

  private cancelTimers(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
    this.cancelStable?.();
    this.cancelStable = undefined;
    this.failoverWatch.cancel();
    this.releaseKeepAlive();
  }

  private releaseKeepAlive(): void {
    this.keepAlive?.();
    this.keepAlive = undefined;
  }

  private finish(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.presence.close();
    this.cancelTimers();
    this.closeReason = reason;
    this.outbox.end(this.closedGracefully && reason.code === 'local-close', reason.code);
    this.log.closed(reason, this.info?.sessionId);
    this.sink.emit('close', reason);
  }
}

/** Planner settings when reconnect is off: only its `current` server is ever used. */
const NO_RECONNECT = { initialDelay: 1000, multiplier: 1.6, jitter: 0.2, maxDelay: 120_000, maxAttempts: 0, stableAfter: 0 } as const;
