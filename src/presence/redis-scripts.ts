/**
 * The Lua scripts of RedisPresenceStore (docs/spec/0014-presence.md §Stores). Every write is
 * one script, so concurrent nodes never see half an update, and each script ends by
 * *announcing*: it computes the identity's state over devices of nodes whose lease exists and,
 * when that differs from the state last announced (`state:<id>`), stores it and publishes the
 * change — in the same atomic step, so every node hears the changes in one order.
 *
 * Keys are built inside the scripts (from the prefix in ARGV[1]): one Redis, not Redis Cluster.
 * ARGV[1] is always the prefix, ARGV[2] the last-seen TTL in ms (0: keep none). Device JSON is
 * JSON.stringify({ sessionId, nodeId, state, since, lastSeen? }), so `"state":"online"` appears
 * in it exactly when the device is online.
 *
 * No script touches more than one chunk of devices (the sync is several scripts, §Sync in
 * chunks): Redis runs a script to its end before anything else, so the chunk bounds how long one
 * node's sync holds every other client of that Redis.
 */

const PRELUDE = `
local P = ARGV[1]
local SEEN_TTL = tonumber(ARGV[2])
local function live(identity, alive)
  local all = redis.call('HGETALL', P .. 'id:' .. identity)
  local state = 'offline'
  local devices = {}
  for i = 1, #all, 2 do
    local node = string.match(all[i], '^([^/]*)/')
    local ok = alive[node]
    if ok == nil then
      ok = redis.call('EXISTS', P .. 'lease:' .. node) == 1
      alive[node] = ok
    end
    if ok then
      local json = all[i + 1]
      devices[#devices + 1] = json
      if string.find(json, '"state":"online"', 1, true) then
        state = 'online'
      elseif state == 'offline' then
        state = 'away'
      end
    end
  end
  return state, devices
end
local function announce(identity, origin, now)
  local skey = P .. 'state:' .. identity
  local state, devices = live(identity, {})
  local previous = redis.call('GET', skey) or 'offline'
  if state == previous then return end
  if state == 'offline' then redis.call('DEL', skey) else redis.call('SET', skey, state) end
  redis.call('PUBLISH', P .. 'changes', '{"id":' .. cjson.encode(identity) .. ',"state":"' .. state ..
    '","previous":"' .. previous .. '","devices":[' .. table.concat(devices, ',') ..
    '],"nodeId":' .. cjson.encode(origin) .. ',"at":' .. now .. '}')
end
-- A device of the identity went away: its client was last heard at its lastSeen (away) or now.
-- seen:<id> keeps the latest such time, so an offline identity's last seen is its last device's.
local function went(identity, json, now)
  if SEEN_TTL <= 0 then return end
  local at = tonumber(json and string.match(json, '"lastSeen":(%d+)') or now)
  local key = P .. 'seen:' .. identity
  local before = tonumber(redis.call('GET', key) or '0')
  if before > at then at = before end
  redis.call('SET', key, string.format('%d', at), 'PX', SEEN_TTL)
end
-- Remove one device record of the node (both hashes), remembering when it went.
local function forget(node, sid, identity, now)
  local ikey = P .. 'id:' .. identity
  local field = node .. '/' .. sid
  went(identity, redis.call('HGET', ikey, field), now)
  redis.call('HDEL', P .. 'node:' .. node, sid)
  redis.call('HDEL', ikey, field)
end
-- 1: the lease holds our incarnation; 0: it is gone (expired); 2: another process holds it.
local function lease_is(node, incarnation)
  local lease = redis.call('GET', P .. 'lease:' .. node)
  if lease == incarnation then return 1 end
  if lease then return 2 end
  return 0
end
`;

/**
 * ARGV: prefix, seen ttl, node, incarnation, identity, sessionId, device JSON ('' = remove), now.
 * → 1; 0: our lease is gone; 2: another process holds it (nothing written).
 */
const DEVICE = `${PRELUDE}
local node, identity, sid, json, now = ARGV[3], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local mine = lease_is(node, ARGV[4])
if mine ~= 1 then return mine end
if json == '' then
  if redis.call('HEXISTS', P .. 'node:' .. node, sid) == 1 then forget(node, sid, identity, now) end
else
  redis.call('HSET', P .. 'node:' .. node, sid, identity)
  redis.call('HSET', P .. 'id:' .. identity, node .. '/' .. sid, json)
  redis.call('SADD', P .. 'nodes', node)
  -- A sync in progress keeps what it was told about and what came after it (SYNC_SWEEP).
  local synced = P .. 'sync:' .. node
  if redis.call('EXISTS', synced) == 1 then redis.call('SADD', synced, sid) end
end
announce(identity, node, now)
return 1
`;

/**
 * One chunk of a sync. ARGV: prefix, seen ttl, node, incarnation, ttl ms, now, first ('1' / '0'),
 * then (sessionId, identity, device JSON) per device. The first chunk takes the lease and starts
 * `sync:<node>`, the set of sessions this sync keeps ('' in it marks a sync in progress); every
 * chunk upserts its devices and adds them to it. → 1; 2: the first chunk took the lease from
 * another incarnation (a restart within the TTL — or another live process with our nodeId);
 * 0: a later chunk found the lease or the sync gone (start over).
 */
const SYNC = `${PRELUDE}
local node, incarnation, ttl, now = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local synced = P .. 'sync:' .. node
local answer = 1
if ARGV[7] == '1' then
  local previous = redis.call('SET', P .. 'lease:' .. node, incarnation, 'PX', ttl, 'GET')
  if previous and previous ~= incarnation then answer = 2 end
  -- UNLINK, here and below: the set holds every session of the node; DEL would free it inside the script.
  redis.call('UNLINK', synced)
  redis.call('SADD', synced, '')
elseif lease_is(node, incarnation) ~= 1 or redis.call('EXISTS', synced) == 0 then
  return 0
end
-- Outlives a slow sync; a node that dies mid-sync leaves nothing behind for long.
redis.call('PEXPIRE', synced, 3 * tonumber(ttl))
local nkey = P .. 'node:' .. node
local touched = {}
for i = 8, #ARGV, 3 do
  redis.call('HSET', nkey, ARGV[i], ARGV[i + 1])
  redis.call('HSET', P .. 'id:' .. ARGV[i + 1], node .. '/' .. ARGV[i], ARGV[i + 2])
  redis.call('SADD', synced, ARGV[i])
  touched[ARGV[i + 1]] = true
end
if #ARGV >= 8 then redis.call('SADD', P .. 'nodes', node) end
for identity in pairs(touched) do announce(identity, node, now) end
return answer
`;

/**
 * The end of a sync, a step at a time. ARGV: prefix, seen ttl, node, incarnation, cursor, count, now.
 * Removes the node's records (one HSCAN step of them) that the sync did not keep. → the next
 * cursor ('0': done, the sync is over); '-1': the lease or the sync is gone (start over).
 */
const SYNC_SWEEP = `${PRELUDE}
local node, incarnation, now = ARGV[3], ARGV[4], ARGV[7]
local synced = P .. 'sync:' .. node
if lease_is(node, incarnation) ~= 1 or redis.call('EXISTS', synced) == 0 then return '-1' end
local step = redis.call('HSCAN', P .. 'node:' .. node, ARGV[5], 'COUNT', ARGV[6])
local fields = step[2]
local touched = {}
for i = 1, #fields, 2 do
  if redis.call('SISMEMBER', synced, fields[i]) == 0 then
    forget(node, fields[i], fields[i + 1], now)
    touched[fields[i + 1]] = true
  end
end
for identity in pairs(touched) do announce(identity, node, now) end
if step[1] == '0' then redis.call('UNLINK', synced) end
return step[1]
`;

/**
 * ARGV: prefix, seen ttl, node, incarnation ('' = sweep another node), now, count. A sweep
 * removes a node's records only if its lease is gone (checked here: it may have come back since
 * the sweeper looked); a leave (our own close) only if the lease is ours or gone, and deletes it.
 * At most `count` devices per call. → devices removed (the caller calls again while that equals
 * `count`), or -1 when nothing was done.
 */
const DROP = `${PRELUDE}
local node, incarnation, now, count = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local lkey = P .. 'lease:' .. node
local lease = redis.call('GET', lkey)
if incarnation == '' then
  if lease then return -1 end
else
  if lease and lease ~= incarnation then return -1 end
  redis.call('DEL', lkey)
end
local nkey = P .. 'node:' .. node
local touched = {}
local removed = 0
-- A SCAN step may come back empty before the end: go on until count are removed or the end.
local cursor = '0'
repeat
  local step = redis.call('HSCAN', nkey, cursor, 'COUNT', count)
  cursor = step[1]
  local fields = step[2]
  for i = 1, #fields, 2 do
    if removed < count then
      forget(node, fields[i], fields[i + 1], now)
      touched[fields[i + 1]] = true
      removed = removed + 1
    end
  end
until cursor == '0' or removed >= count
for identity in pairs(touched) do announce(identity, node, now) end
if redis.call('EXISTS', nkey) == 0 then
  redis.call('SREM', P .. 'nodes', node)
  redis.call('UNLINK', P .. 'sync:' .. node)
end
return removed
`;

/** ARGV: prefix, node, incarnation, ttl ms. → 1; 0: the lease expired; 2: another process holds it. */
const REFRESH = `
local key = ARGV[1] .. 'lease:' .. ARGV[2]
local lease = redis.call('GET', key)
if lease == ARGV[3] then
  redis.call('PEXPIRE', key, ARGV[4])
  return 1
end
if lease then return 2 end
return 0
`;

/** ARGV: prefix, seen ttl, identity. → { state, JSON array of live devices, last seen ms or '' }. Read only. */
const GET = `${PRELUDE}
local state, devices = live(ARGV[3], {})
local seen = ''
if state == 'offline' then seen = redis.call('GET', P .. 'seen:' .. ARGV[3]) or '' end
return { state, '[' .. table.concat(devices, ',') .. ']', seen }
`;

/** ARGV: prefix, seen ttl, then identities. → their states, in order (one lease check per node for all). Read only. */
const STATES = `${PRELUDE}
local alive = {}
local states = {}
for i = 3, #ARGV do
  local state = live(ARGV[i], alive)
  states[#states + 1] = state
end
return states
`;

export const SCRIPTS = {
  llPresenceDevice: DEVICE,
  llPresenceSync: SYNC,
  llPresenceSyncSweep: SYNC_SWEEP,
  llPresenceDrop: DROP,
  llPresenceRefresh: REFRESH,
  llPresenceGet: GET,
  llPresenceStates: STATES,
} as const;

type Arg = string | number;

/** The scripts as ioredis custom commands (defineCommand, numberOfKeys 0). */
export interface PresenceScripts {
  llPresenceDevice(...args: Arg[]): Promise<number>;
  llPresenceSync(...args: Arg[]): Promise<number>;
  llPresenceSyncSweep(...args: Arg[]): Promise<string>;
  llPresenceDrop(...args: Arg[]): Promise<number>;
  llPresenceRefresh(...args: Arg[]): Promise<number>;
  llPresenceGet(...args: Arg[]): Promise<[string, string, string]>;
  llPresenceStates(...args: Arg[]): Promise<string[]>;
}
