/**
 * The Lua scripts of RedisPresenceStore (docs/spec/0014-presence.md §Stores). Every write is
 * one script, so concurrent nodes never see half an update, and each script ends by
 * *announcing*: it computes the identity's state over devices of nodes whose lease exists and,
 * when that differs from the state last announced (`state:<id>`), stores it and publishes the
 * change — in the same atomic step, so every node hears the changes in one order.
 *
 * Keys are built inside the scripts (from the prefix in ARGV[1]): one Redis, not Redis Cluster.
 * ARGV[1] is always the prefix. Device JSON is JSON.stringify({ sessionId, nodeId, state,
 * since, lastSeen? }), so `"state":"online"` appears in it exactly when the device is online.
 */

const PRELUDE = `
local P = ARGV[1]
local function live(identity)
  local all = redis.call('HGETALL', P .. 'id:' .. identity)
  local state = 'offline'
  local devices = {}
  local alive = {}
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
  local state, devices = live(identity)
  local previous = redis.call('GET', skey) or 'offline'
  if state == previous then return end
  if state == 'offline' then redis.call('DEL', skey) else redis.call('SET', skey, state) end
  redis.call('PUBLISH', P .. 'changes', '{"id":' .. cjson.encode(identity) .. ',"state":"' .. state ..
    '","previous":"' .. previous .. '","devices":[' .. table.concat(devices, ',') ..
    '],"nodeId":' .. cjson.encode(origin) .. ',"at":' .. now .. '}')
end
local function drop_node(node, now)
  local nkey = P .. 'node:' .. node
  local old = redis.call('HGETALL', nkey)
  redis.call('DEL', nkey)
  redis.call('SREM', P .. 'nodes', node)
  local touched = {}
  for i = 1, #old, 2 do
    redis.call('HDEL', P .. 'id:' .. old[i + 1], node .. '/' .. old[i])
    touched[old[i + 1]] = true
  end
  for identity in pairs(touched) do announce(identity, node, now) end
  return #old / 2
end
`;

/** ARGV: prefix, node, incarnation, identity, sessionId, device JSON ('' = remove), now. → 1, or 0: the lease is not ours. */
const DEVICE = `${PRELUDE}
local node, identity, sid, json = ARGV[2], ARGV[4], ARGV[5], ARGV[6]
if redis.call('GET', P .. 'lease:' .. node) ~= ARGV[3] then return 0 end
if json == '' then
  redis.call('HDEL', P .. 'node:' .. node, sid)
  redis.call('HDEL', P .. 'id:' .. identity, node .. '/' .. sid)
else
  redis.call('HSET', P .. 'node:' .. node, sid, identity)
  redis.call('HSET', P .. 'id:' .. identity, node .. '/' .. sid, json)
  redis.call('SADD', P .. 'nodes', node)
end
announce(identity, node, ARGV[7])
return 1
`;

/**
 * ARGV: prefix, node, incarnation, ttl ms, now, then (sessionId, identity, device JSON) per
 * device. Takes the lease and makes the node's records exactly these devices.
 */
const SYNC = `${PRELUDE}
local node, now = ARGV[2], ARGV[5]
redis.call('SET', P .. 'lease:' .. node, ARGV[3], 'PX', ARGV[4])
local nkey = P .. 'node:' .. node
local keep = {}
for i = 6, #ARGV, 3 do keep[ARGV[i]] = true end
local touched = {}
local old = redis.call('HGETALL', nkey)
for i = 1, #old, 2 do
  if not keep[old[i]] then
    redis.call('HDEL', nkey, old[i])
    redis.call('HDEL', P .. 'id:' .. old[i + 1], node .. '/' .. old[i])
    touched[old[i + 1]] = true
  end
end
for i = 6, #ARGV, 3 do
  redis.call('HSET', nkey, ARGV[i], ARGV[i + 1])
  redis.call('HSET', P .. 'id:' .. ARGV[i + 1], node .. '/' .. ARGV[i], ARGV[i + 2])
  touched[ARGV[i + 1]] = true
end
if #ARGV >= 6 then redis.call('SADD', P .. 'nodes', node) end
for identity in pairs(touched) do announce(identity, node, now) end
return 1
`;

/**
 * ARGV: prefix, node, incarnation ('' = sweep another node), now. A sweep removes a node's
 * records only if its lease is gone (checked here: it may have come back since the sweeper
 * looked); a leave (our own close) only if the lease is ours or gone, and deletes it.
 * → devices removed, or -1 when nothing was done.
 */
const DROP = `${PRELUDE}
local node, incarnation = ARGV[2], ARGV[3]
local lkey = P .. 'lease:' .. node
local lease = redis.call('GET', lkey)
if incarnation == '' then
  if lease then return -1 end
else
  if lease and lease ~= incarnation then return -1 end
  redis.call('DEL', lkey)
end
return drop_node(node, ARGV[4])
`;

/** ARGV: prefix, node, incarnation, ttl ms. → 1, or 0: the lease was lost (expired, or taken). */
const REFRESH = `
local key = ARGV[1] .. 'lease:' .. ARGV[2]
if redis.call('GET', key) == ARGV[3] then
  redis.call('PEXPIRE', key, ARGV[4])
  return 1
end
return 0
`;

/** ARGV: prefix, identity. → { state, JSON array of live devices }. Read only. */
const GET = `${PRELUDE}
local state, devices = live(ARGV[2])
return { state, '[' .. table.concat(devices, ',') .. ']' }
`;

export const SCRIPTS = {
  llPresenceDevice: DEVICE,
  llPresenceSync: SYNC,
  llPresenceDrop: DROP,
  llPresenceRefresh: REFRESH,
  llPresenceGet: GET,
} as const;

type Arg = string | number;

/** The scripts as ioredis custom commands (defineCommand, numberOfKeys 0). */
export interface PresenceScripts {
  llPresenceDevice(...args: Arg[]): Promise<number>;
  llPresenceSync(...args: Arg[]): Promise<number>;
  llPresenceDrop(...args: Arg[]): Promise<number>;
  llPresenceRefresh(...args: Arg[]): Promise<number>;
  llPresenceGet(...args: Arg[]): Promise<[string, string]>;
}
