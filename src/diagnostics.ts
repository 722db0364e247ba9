/**
 * Named diagnostics channels (node:diagnostics_channel) the library publishes to: the metrics
 * layer (and any user's observability code) subscribes; the core never imports metrics
 * (STYLE.md §3.15, undici's lib/core/diagnostics.js). Publishing to a channel nobody listens to
 * costs one boolean check (`hasSubscribers`).
 *
 * | channel | message |
 * | --- | --- |
 * | `lifeline:client:unavailable` | `{ client, reason, status, load, waitedMs? }` |
 * | `lifeline:client:available` | `{ client, status, load }` |
 * | `lifeline:client:reconnecting` | `{ client, attempt, delayMs, server }` |
 * | `lifeline:session:open` | `{ session }` |
 * | `lifeline:session:close` | `{ session, reason }` |
 * | `lifeline:server:stall` | `{ server, lateByMs }` |
 * | `lifeline:server:client-error` | `{ server, transport, code, message, remoteAddress }` (TLS handshake / WebSocket upgrade failed) |
 * | `lifeline:server:auth-failure` | `{ server, code, message, error?, identity?, remoteAddress, remotePort, transport }` (spec 0013; never on the wire) |
 * | `lifeline:server:ping-strike` | `{ session?, verdict: 'strike' \| 'too-many' }` |
 * | `lifeline:server:slow-consumer` | `{ server, session?, reason }` (a connection closed as a slow consumer: `reason.bufferedBytes` were waiting; docs/spec/0003 §Slow consumers) |
 * | `lifeline:presence:degraded` | `{ presence, nodeId, error }` (the store stopped answering; PONG status is not changed: spec 0014 §Redis outage) |
 * | `lifeline:presence:restored` | `{ presence, nodeId, degradedForMs }` (it answers again; our state is re-published) |
 * | `lifeline:presence:warning` | `{ presence, nodeId, code, message }` (the deployment is wrong: `code` 'node-id-conflict', two live processes share a nodeId; spec 0014) |
 * | `lifeline:client:adaptive` | `{ client, event: 'survived' \| 'died' \| 'settled' \| 'reprobe', idleMs, key, phase, intervalMs, goodMs, badMs }` |
 */
import diagnostics from 'node:diagnostics_channel';

export const channels = {
  clientUnavailable: diagnostics.channel('lifeline:client:unavailable'),
  clientAvailable: diagnostics.channel('lifeline:client:available'),
  clientReconnecting: diagnostics.channel('lifeline:client:reconnecting'),
  sessionOpen: diagnostics.channel('lifeline:session:open'),
  sessionClose: diagnostics.channel('lifeline:session:close'),
  serverStall: diagnostics.channel('lifeline:server:stall'),
  serverClientError: diagnostics.channel('lifeline:server:client-error'),
  serverPingStrike: diagnostics.channel('lifeline:server:ping-strike'),
  serverSlowConsumer: diagnostics.channel('lifeline:server:slow-consumer'),
  serverAuthFailure: diagnostics.channel('lifeline:server:auth-failure'),
  clientAdaptive: diagnostics.channel('lifeline:client:adaptive'),
  presenceDegraded: diagnostics.channel('lifeline:presence:degraded'),
  presenceRestored: diagnostics.channel('lifeline:presence:restored'),
  presenceWarning: diagnostics.channel('lifeline:presence:warning'),
} as const;

/** Publish only when someone listens (the message object is not even built otherwise). */
export function publish(channel: diagnostics.Channel, message: () => object): void {
  if (channel.hasSubscribers) channel.publish(message());
}
