/** The runner's side of a lab agent process (src/lab/agent.ts): a JSON-lines child. */
import type { ChildProcess } from 'node:child_process';
import { wrapJsonChild, type JsonChild } from './json-child.js';

export interface AgentEvent {
  ev: string;
  mech?: string;
  side?: 'client' | 'server';
  how?: string;
  message?: string;
  at?: number;
  [key: string]: unknown;
}

export type AgentHandle = JsonChild<AgentEvent>;

export function agentHandle(name: string, child: ChildProcess): AgentHandle {
  return wrapJsonChild<AgentEvent>(name, child);
}
