/**
 * A lab fault: something that goes wrong between (or on) two hosts. Each fault is one small file;
 * `index.ts` lists them. A fault runs in its own namespace topology, so faults run in parallel.
 */
import type { Topology } from '../netns.js';
import type { AgentHandle } from '../agent-handle.js';

export interface FaultContext {
  /** The namespace topology; undefined when the lab runs on loopback (no root / no ip+nft). */
  topo: Topology | undefined;
  server: AgentHandle;
  client: AgentHandle;
  /** User-space proxies between client and server, one per mechanism (faults with `requires: 'proxy'`). */
  proxies: PathProxy[];
  /** Start a fresh server agent (after a host "reboot"). */
  restartServer(): Promise<AgentHandle>;
  sleep(ms: number): Promise<void>;
}

/** A user-space proxy on one mechanism's path: TCP (fault-proxy.ts) or UDP (udp-fault-proxy.ts). */
export interface PathProxy {
  /** Drop everything, both ways, from now on. */
  blackhole(): void;
  close(): Promise<void>;
}

export interface FaultSpec {
  id: string;
  label: string;
  /** What is really done to the machines, in one or two sentences (shown in reports). */
  how: string;
  /** Keep data flowing from client to server from before the fault (unacknowledged data in flight). */
  dataInFlight?: boolean;
  /** An RST can only come back this long after the fault (a rebooted host): detection by RST then depends on what sent the packet. */
  resetsAfterMs?: number;
  /** The client application sends one message on every connection this long after the fault. */
  probeAfterMs?: number;
  /**
   * 'netns': needs the namespace topology (kernel faults); 'any': honest anywhere; 'proxy': the
   * loopback stand-in for a netns fault, through a user-space proxy — run only when namespaces
   * are unavailable, and only for application-level mechanisms (the proxy's kernel ACKs for the
   * dead peer, so kernel mechanisms cannot be judged through it).
   */
  requires: 'netns' | 'any' | 'proxy';
  /** Which side's detection this fault is about ('server': the server must reclaim; 'client': the client must notice). */
  sides: ('client' | 'server')[];
  /** Set up before the agents start (e.g. a short NAT timeout). */
  prepare?(topo: Topology): Promise<void>;
  /** Inject the fault. Detection times are measured from when this starts. */
  inject(ctx: FaultContext): Promise<void>;
  /** Runs after inject, concurrently with the observation window (e.g. reboot after N s, probe after idle). */
  during?(ctx: FaultContext): Promise<void>;
  /** Observation window after injection, ms. */
  windowMs: number;
  /** Lab-only note on what the result means. */
  note?: string;
}
