/** The client's reconnect / resume / queue logic, shared by the Node and browser clients (see client.ts). */
import type { PongInfo } from '../connection/connection.js';
import type { CloseReason } from '../connection/close-reason.js';
import type { GoawayFrame, PeerStatus, PresenceFrame, WelcomeFrame } from '../protocol/frames.js';
import { ResumeState } from '../connection/resume.js';
import type { AvailabilityChange, UnavailableReason } from '../liveness/availability.js';
import { systemClock, type Clock, type Cancel } from '../time/clock.js';
import { TimerScheduler } from '../time/scheduler.js';
import type { AppliedSocketOptions, NetKeepaliveApi } from '../transport/socket-tuning.js';
import { LifelineError } from '../errors.js';
import { Link, type LinkOpenInfo, type LinkOwner } from './link.js';
import { AdaptiveHeartbeat, type AdaptiveSnapshot } from './adaptive.js';
import { MemoryNatStore } from '../liveness/nat-store.js';
import type { ResolvedClientOptions } from './options.js';
import { ReconnectPlanner } from './reconnect.js';
import { formatServer } from './servers.js';
import type { ClientState, OpenInfo } from './types.js';
import type { ReconnectingInfo } from './types.js';
import type { ClientRuntime, ClientSink } from './runtime.js';
import { ClientCounts, type ClientStats } from './client-stats.js';
import { ClientPresence, type PresenceSink } from './presence.js';

export class ClientCore implements LinkOwner {
  private readonly runtime: ClientRuntime<unknown>;
  private readonly sink: ClientSink;
  readonly options: ResolvedClientOptions;
  state: ClientState = 'connecting';
  /** Set at each 'open' (the latest connection's). */
  info: OpenInfo | undefined;
  /** Set once closed. */
  closeReason: CloseReason | undefined;
  /** Kernel socket options really in force (keepalive, TCP_USER_TIMEOUT), set once connected. */
  socketOptions: AppliedSocketOptions | undefined;
  private readonly clock: Clock;
  private readonly scheduler: TimerScheduler;
  private readonly planner: ReconnectPlanner;
  private readonly netKeepalive: Promise<NetKeepaliveApi | undefined>;
  private link: Link | undefined;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private peerStatus: PeerStatus = 'ok';
  private peerLoad = 0;
  /** client.stats()'s counted fields (client-stats.ts). */
  private readonly counts = new ClientCounts();
  /**
   * Resume (docs/spec/0006-resume.md): the session the server keeps for us, and our sequence
   * state — sent-but-unacknowledged messages live here across reconnects.
   */
  private resumeState: ResumeState | undefined;
  private resumeSessionId: Uint8Array | undefined;
  /** The last WELCOME resumed our session. */
  private resumed = false;
  /** close() found an open connection and closed it gracefully. */
  private closedGracefully = false;
  /** close() was called while a link was closing: the final reason once it has. */
  private stopReason: CloseReason | undefined;
  /** The client itself is leaving the current link (failover): retry whatever its reason. */
  private leaving = false;
  private cancelWait: Cancel | undefined;
  private cancelStable: Cancel | undefined;
  private cancelFailoverCheck: Cancel | undefined;
  /** heartbeat: 'adaptive' (docs/spec/0007). */
  private readonly adaptive: AdaptiveHeartbeat | undefined;
  /** Network key of the latest connection (adaptive heartbeat). */
  private adaptiveKey: string | undefined;
  /** Keeps the process alive while waiting to reconnect (clock timers are unref'd). */
  private keepAlive: Cancel | undefined;
  /** Presence subscriptions (docs/spec/0014 §Subscriptions), sent again on every connection. */
  readonly presence: ClientPresence;

  constructor(options: ResolvedClientOptions, runtime: ClientRuntime<unknown>, sink: ClientSink) {
    this.runtime = runtime;
    this.sink = sink;
    this.options = options;
    this.presence = new ClientPresence(sink as PresenceSink);
    this.clock = this.options.clock ?? systemClock;
    this.scheduler = new TimerScheduler(this.clock);
    this.planner = new ReconnectPlanner(this.options.servers, this.options.reconnect || { ...NO_RECONNECT }, this.options.rng);
    this.netKeepalive = runtime.prepare?.().catch(() => undefined) ?? Promise.resolve(undefined);
    if (this.options.resume) this.resumeState = this.newResumeState();
    this.adaptive = this.createAdaptive();
    // Dial asynchronously so listeners attached right after connect() see every event.
    void this.startLink();
  }

  /** Last heartbeat round trip, ms. */
  get rtt(): number | undefined {
    return this.link?.connection?.rttMs;
  }

  get smoothedRtt(): number | undefined {
    return this.link?.connection?.smoothedRttMs;
  }

  /** ms since anything was received from the server. */
  get sinceLastSeen(): number | undefined {
    return this.link?.connection?.sinceLastSeenMs;
  }

  /**
   * Who sends the heartbeat PINGs on the current connection (docs/spec/0010-server-leads.md):
   * 'server' when the server leads (we offered and it is configured to), else 'client'.
   */
  get heartbeatLeader(): 'client' | 'server' {
    return this.link?.serverLeads === true ? 'server' : 'client';
  }

  /** RTT, last heard, server status and load, reconnects, resumes, messages and bytes (client-stats.ts). */
  stats(): ClientStats {
    const c = this.counts;
    return {
      rttMs: this.rtt,
      smoothedRttMs: this.smoothedRtt,
      lastHeardMs: this.sinceLastSeen,
      serverStatus: this.peerStatus,
      serverLoad: this.peerLoad,
      connects: c.connects,
      reconnects: Math.max(0, c.connects - 1),
      resumes: c.resumes,
      messagesSent: c.messagesSent,
      bytesSent: c.bytesSent,
      messagesReceived: c.messagesReceived,
      bytesReceived: c.bytesReceived,
    };
  }

  /** The server's status from its latest PONG. */
  get serverStatus(): PeerStatus {
    return this.peerStatus;
  }

  /** False while the current server is reported unavailable (see 'unavailable'). */
  get available(): boolean {
    return this.link?.available ?? true;
  }

  /**
   * heartbeat 'adaptive': what the learner knows about the current network (interval in use,
   * longest idle survived, shortest idle known to kill); undefined otherwise or before connecting.
   */
  get adaptiveHeartbeat(): AdaptiveSnapshot | undefined {
    const key = this.link?.networkKey ?? this.adaptiveKey;
    return key === undefined ? undefined : this.adaptive?.snapshot(key);
  }

  /** The server being dialled or connected to, `host:port`. */
  get server(): string {
    return this.link?.address ?? formatServer(this.planner.current);
  }

  /** Bytes not yet on the wire, plus (resumable sessions) bytes the server has not acknowledged. */
  get bufferedAmount(): number {
    return (this.link?.connection?.transport.bufferedBytes ?? 0) + this.queuedBytes + (this.resumeState?.unackedBytes ?? 0);
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
    if (waiting && this.resumeState) {
      // Resumable: the message takes its seq now and is sent (or replayed) on the next connection,
      // exactly once. A copy: the caller may reuse its buffer. Bounded (BufferOverflowError).
      this.resumeState.record(payload.slice());
      this.counts.sent(payload.byteLength);
      return false;
    }
    if (waiting) {
      if (this.queuedBytes + payload.byteLength > this.options.maxQueuedBytes) {
        throw new LifelineError(
          'LL_ERR_BUFFER_OVERFLOW',
          `cannot queue ${payload.byteLength} more bytes while not connected: maxQueuedBytes is ${this.options.maxQueuedBytes}`,
        );
      }
      // Keep a copy: the caller may reuse its buffer before we are open.
      this.queue.push(payload.slice());
      this.queuedBytes += payload.byteLength;
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
    this.info = { ...info, resumed: this.resumed, server: link.address };
    this.counts.opened(this.resumed);
    if (link.connection) this.presence.opened(link.connection, link.presenceLimit, link.serverMaxFrameSize);
    this.sink.emit('open', this.info);
    if (this.link === link && link.state === 'open') this.flushQueue(link);
  }

  // --- failover on unavailability (spec 0005 §Failover) ---------------------------------------

  linkAvailability(link: Link, change: AvailabilityChange): void {
    if (link !== this.link) return;
    const { kind, ...info } = change;
    this.sink.emit(kind, info);
    this.runtime.publish(kind === 'unavailable' ? 'clientUnavailable' : 'clientAvailable', () => ({ client: this.sink, ...info }));
    if (!this.options.reconnect || this.options.servers.length < 2 || link.state !== 'open' || this.link !== link) return;
    if (change.kind === 'available') {
      this.cancelFailoverCheck?.();
      this.cancelFailoverCheck = undefined;
      return;
    }
    if (change.reason === 'draining') return this.failover(link, change.reason);
    // Busy, slow or silent may be a blip: move only if it lasts one more heartbeat round — the
    // interval plus the budget, by when the next PONG is due (a PONG saying ok cancels this).
    if (this.cancelFailoverCheck) return;
    const waitMs = (this.info?.heartbeatInterval ?? 0) + (link.availabilityBudgetMs ?? 0);
    const reason = change.reason;
    this.cancelFailoverCheck = this.scheduler.schedule(this.clock.now() + waitMs, () => {
      this.cancelFailoverCheck = undefined;
      if (this.link === link && link.state === 'open' && !link.available) this.failover(link, reason);
    });
  }

  private failover(link: Link, why: UnavailableReason): void {
    this.leaving = true;
    this.state = 'reconnecting';
    link.leave(
      {
        code: 'failover',
        message: `failover: ${link.address} unavailable (${why})`,
        initiator: 'local',
        detectedBy: 'heartbeat',
      },
      why !== 'no-answer',
    );
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
    this.sink.emit('goaway', frame);
    // The link closes itself right after this; with reconnect, sends are queued for the next one.
    if (this.state === 'open') this.state = this.options.reconnect ? 'reconnecting' : 'closing';
  }

  linkDrain(link: Link): void {
    if (link === this.link) this.sink.emit('drain');
  }

  linkStall(link: Link, lateByMs: number): void {
    if (link === this.link) this.sink.emit('stall', lateByMs);
  }

  linkPresence(link: Link, frame: PresenceFrame): void {
    if (link !== this.link) return;
    if (frame.kind !== 'state') return link.connection?.refuse('protocol-error', `PRESENCE ${frame.kind.toUpperCase()} from a server: only a client sends it`);
    this.presence.received(frame.states);
  }

  // --- adaptive heartbeat (docs/spec/0007-adaptive-interval.md) ---------------------------------

  linkCanRenegotiate(link: Link): boolean {
    const state = this.resumeState;
    return (
      link === this.link &&
      this.state === 'open' &&
      this.options.reconnect !== false &&
      this.resumeSessionId !== undefined &&
      state !== undefined &&
      state.unackedBytes === 0 &&
      this.queue.length === 0
    );
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
    const state = this.resumeState;
    if (link !== this.link || !state) return { resumable: false };
    return { resumable: true, ...(this.resumeSessionId ? { sessionId: this.resumeSessionId, lastSeq: state.receivedSeq } : {}) };
  }

  linkResumeWelcome(link: Link, welcome: WelcomeFrame): { state?: ResumeState; replayAfter?: number } {
    let state = this.resumeState;
    if (link !== this.link || !state) return {};
    if (this.resumeSessionId && welcome.resumed === true) {
      this.resumed = true;
      return { state, replayAfter: welcome.resumeLastSeq ?? 0 };
    }
    this.resumed = false;
    if (this.resumeSessionId) {
      // The server no longer holds our session. What we sent on it and it never confirmed is the
      // application's to decide about ('undelivered'); what never left us (queued while
      // disconnected) goes to the new session, which starts from seq 1.
      const lost = state.unackedPayloads(state.writtenSeq);
      const neverSent = state.unwrittenPayloads();
      state = this.resumeState = this.newResumeState();
      for (const payload of neverSent) state.record(payload);
      if (lost.length > 0) {
        this.reportUndelivered(lost, new LifelineError('LL_ERR_NOT_OPEN', 'the server did not resume the session: these messages were never acknowledged'));
      }
    }
    if (welcome.resumeWindowMs === undefined) {
      // This server does not resume sessions: send what waited (in order) without retaining it.
      const waiting = state.unackedPayloads();
      this.resumeSessionId = undefined;
      this.resumeState = this.newResumeState();
      this.queue.push(...waiting);
      for (const p of waiting) this.queuedBytes += p.byteLength;
      return {};
    }
    this.resumeSessionId = welcome.sessionId;
    // A fresh session: everything recorded while connecting goes out now, from seq 1.
    return { state, replayAfter: 0 };
  }

  private newResumeState(): ResumeState {
    const maxBytes = this.options.maxQueuedBytes;
    return new ResumeState({ retain: true, maxBytes, highWaterBytes: maxBytes / 4 });
  }

  // --- queue and end ----------------------------------------------------------------------------

  private flushQueue(link: Link): void {
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    const undelivered: Uint8Array[] = [];
    let firstError: Error | undefined;
    for (const payload of queue) {
      if (link.state !== 'open') {
        undelivered.push(payload);
        continue;
      }
      try {
        link.send(payload);
      } catch (err) {
        // Only a frame-size refusal can happen here (the server's limit is known only now).
        undelivered.push(payload);
        firstError ??= err as Error;
      }
    }
    if (undelivered.length > 0) {
      this.reportUndelivered(undelivered, firstError ?? new LifelineError('LL_ERR_NOT_OPEN', 'connection closed before queued messages were sent'));
    }
  }

  private reportUndelivered(payloads: Uint8Array[], error: Error): void {
    this.sink.emit('undelivered', payloads.map((p) => this.runtime.toMessage(p)), error);
  }

  private cancelTimers(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
    this.cancelStable?.();
    this.cancelStable = undefined;
    this.cancelFailoverCheck?.();
    this.cancelFailoverCheck = undefined;
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
    // After a graceful close of an open connection, TCP delivered what we wrote before our CLOSE;
    // otherwise messages the server never acknowledged are reported, not silently dropped.
    const graceful = this.closedGracefully && reason.code === 'local-close';
    const unsent = [...(graceful ? [] : (this.resumeState?.unackedPayloads() ?? [])), ...this.queue];
    this.resumeState = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    if (unsent.length > 0) {
      this.reportUndelivered(unsent, new LifelineError('LL_ERR_NOT_OPEN', `client closed (${reason.code}) before queued messages were sent`));
    }
    this.sink.emit('close', reason);
  }
}

/** Planner settings when reconnect is off: only its `current` server is ever used. */
const NO_RECONNECT = { initialDelay: 1000, multiplier: 1.6, jitter: 0.2, maxDelay: 120_000, maxAttempts: 0, stableAfter: 0 } as const;



