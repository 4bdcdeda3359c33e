/**
 * Lua scripts, registered with ioredis `defineCommand` (EVALSHA, falling back
 * to EVAL once per connection when the server lost its script cache).
 * Each runs atomically on the server; every key it touches shares the
 * namespace's hash tag (see keys.ts), so it stays valid on Redis Cluster.
 */
import { BOOKKEEPING_HEADERS, RETRY_HEADERS, Wire } from "@omnibus/core/adapter"
import type { Redis } from "ioredis"

/** A Lua string literal. */
const luaString = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`

/** A Lua table literal used as a set: { ['a'] = true, ... }. */
const luaSet = (names: Iterable<string>): string => `{ ${[...names].map((n) => `[${luaString(n)}] = true`).join(", ")} }`

/** Ids per HMGET / HSET of the dedup hash (Lua's unpack() stops at ~8000 values). */
const DEDUP_SLICE = 1_000

/** AMQP topic matching, the same dynamic programming as core's `matches()`. */
const MATCH = `
local function split(s, sep)
  local out = {}
  for w in string.gmatch(s, '[^' .. sep .. ']+') do out[#out + 1] = w end
  return out
end
local function match(p, k)
  local n = #k
  local reach = {}
  for j = 0, n do reach[j] = false end
  reach[0] = true
  for i = 1, #p do
    local w = p[i]
    local nxt = {}
    if w == '#' then
      local any = false
      for j = 0, n do
        any = any or reach[j]
        nxt[j] = any
      end
    else
      nxt[0] = false
      for j = 1, n do nxt[j] = reach[j - 1] and (w == '*' or w == k[j]) end
    end
    reach = nxt
  end
  return reach[n]
end
-- Cheap pre-check on the raw strings: a pattern without wildcards matches only
-- itself; otherwise the key must start with the words before the first
-- wildcard. Returns true/false when decided, nil when the DP must decide.
local function quick(p, rk)
  local s = string.find(p, '[*#]')
  if not s then return p == rk end
  if s > 1 then
    local l = s - 2
    if string.sub(rk, 1, l) ~= string.sub(p, 1, l) then return false end
    local c = string.sub(rk, l + 1, l + 1)
    if c ~= '.' and c ~= '' then return false end
  end
  return nil
end
local function matchKey(p, rk, key)
  local q = quick(p, rk)
  if q ~= nil then return q end
  return match(split(p, '.'), key)
end
`

const NOW = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

/**
 * Failure metadata and retry bookkeeping (core's BOOKKEEPING_HEADERS, so the
 * Lua table never drifts from the wire schema): stripped when a message is
 * copied back into a group.
 */
const BOOKKEEPING = `
local BOOKKEEPING = ${luaSet(BOOKKEEPING_HEADERS)}
-- fields: flat array; the first pair is always the payload, kept whatever its name.
local function strip(fields, drop)
  local out = { fields[1], fields[2] }
  for i = 3, #fields, 2 do
    if not drop[fields[i]] then
      out[#out + 1] = fields[i]
      out[#out + 1] = fields[i + 1]
    end
  end
  return out
end
`

/**
 * Batched routing: one call routes a chunk of messages. KEYS[1] bindings hash.
 * ARGV: base, dedup window ms (0 = off), then per message: message id,
 * routing key, n (the number of field/value items), the n items.
 * The bindings are read once per call, and the list of matching group streams
 * is computed once per distinct routing key within the call. Each message
 * runs in its own pcall: a failure (say a WRONGTYPE on a group key, or more
 * fields than unpack takes) stops that message only, like an error of a
 * one-message script, and the others go on. Returns one item per message, in
 * order: the number of group streams written, -1 when the id was already
 * published within the window, or the error text of a failed message.
 *
 * Dedup: the ids published in window number b (server time / window) are
 * fields of one hash, `ids:<b>`, which expires at the end of window b + 1.
 * A call looks its ids up in windows b and b - 1 (one HMGET each) and adds
 * the ids it wrote with one HSET: three commands per call instead of a key
 * with its own expiry per message, which cost as much server time as the
 * XADD it guards (bench/src/redis-cpu.ts). An id is remembered for at least the window
 * (at most twice it). Only a message written to all its groups is
 * remembered: one that failed part way is written again when published again.
 */
export const ROUTE = `${MATCH}
local base, window = ARGV[1], tonumber(ARGV[2])
local argc = #ARGV
local seen, fresh, bucket = {}, {}, nil
if window > 0 then
  local t = redis.call('TIME')
  bucket = math.floor((tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) / window)
  local ids = {}
  local i = 3
  while i <= argc do
    ids[#ids + 1] = ARGV[i]
    i = i + 3 + tonumber(ARGV[i + 2])
  end
  for b = bucket - 1, bucket do
    for first = 1, #ids, ${DEDUP_SLICE} do
      local last = math.min(#ids, first + ${DEDUP_SLICE - 1})
      local found = redis.call('HMGET', base .. 'ids:' .. b, unpack(ids, first, last))
      for k = first, last do
        if found[k - first + 1] then seen[ids[k]] = true end
      end
    end
  end
end
local b = redis.call('HGETALL', KEYS[1])
local groups = {}
for i = 1, #b, 2 do
  local ps = {}
  for p in string.gmatch(b[i + 1], '[^ ]+') do ps[#ps + 1] = p end
  groups[#groups + 1] = { base .. 'g:' .. b[i], ps }
end
local cache = {}
local function targets(rk)
  local t = cache[rk]
  if t then return t end
  t = {}
  local key = split(rk, '.')
  for _, g in ipairs(groups) do
    for _, p in ipairs(g[2]) do
      if matchKey(p, rk, key) then
        t[#t + 1] = g[1]
        break
      end
    end
  end
  cache[rk] = t
  return t
end
local function route(id, rk, first, last)
  if seen[id] then return -1 end
  local t = targets(rk)
  for _, s in ipairs(t) do redis.call('XADD', s, '*', unpack(ARGV, first, last)) end
  if bucket then
    seen[id] = true
    fresh[#fresh + 1] = id
  end
  return #t
end
local out = {}
local i = 3
while i <= argc do
  local n = tonumber(ARGV[i + 2])
  local ok, r = pcall(route, ARGV[i], ARGV[i + 1], i + 3, i + 2 + n)
  if ok then
    out[#out + 1] = r
  else
    if type(r) == 'table' then r = r.err end
    out[#out + 1] = tostring(r)
  end
  i = i + 3 + n
end
if #fresh > 0 then
  local key = base .. 'ids:' .. bucket
  for first = 1, #fresh, ${DEDUP_SLICE} do
    local args = {}
    for k = first, math.min(#fresh, first + ${DEDUP_SLICE - 1}) do
      args[#args + 1] = fresh[k]
      args[#args + 1] = '1'
    end
    redis.call('HSET', key, unpack(args))
  end
  redis.call('PEXPIREAT', key, (bucket + 2) * window)
end
return out
`

/** Test hook: KEYS none; ARGV pattern, key. Returns 1 when the Lua matcher matches. */
export const MATCH_ONLY = `${MATCH}
local a = match(split(ARGV[1], '.'), split(ARGV[2], '.'))
local b = matchKey(ARGV[1], ARGV[2], split(ARGV[2], '.'))
if a ~= b then return redis.error_reply('quick check disagrees with the DP') end
return a and 1 or 0
`

/** KEYS[1] bindings, KEYS[2] group stream. ARGV: group, space-joined patterns. */
export const DECLARE = `
local r = redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[1], '0', 'MKSTREAM')
if type(r) == 'table' and r.err and not string.find(r.err, 'BUSYGROUP') then return r end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`

/** KEYS: bindings, group stream, waiting, due, dead letters. ARGV: group. */
export const REMOVE_GROUP = `
redis.call('HDEL', KEYS[1], ARGV[1])
return redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
`

/**
 * KEYS[1] group stream. ARGV: group, entry ids (a batch of acks: one call, not
 * one per message). Acks and deletes them together. Returns the number deleted.
 */
export const ACK = `
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
`

/**
 * Crash redelivery. KEYS[1] group stream. ARGV: group, consumer, min idle ms,
 * count, cursor. XAUTOCLAIM does not report delivery counts, so XPENDING
 * reads each claimed entry's count in the same atomic step.
 * Returns {next cursor, {{id, fields, times delivered}...}}.
 */
export const CLAIM = `
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[5], 'COUNT', ARGV[4])
local out = {}
for _, e in ipairs(r[2]) do
  if e[2] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    local count = 1
    if p[1] then count = p[1][4] end
    out[#out + 1] = { e[1], e[2], count }
  end
end
return { r[1], out }
`

/**
 * Delayed retry. KEYS: group stream, waiting stream, due zset. ARGV: group,
 * entry id, delay ms, next attempt, first failure ms. The entry is copied with
 * the new attempt header into the waiting stream (or straight back into the
 * group when the delay is 0), then acked and deleted. Returns 1 if it existed.
 */
export const RETRY = `${NOW}${BOOKKEEPING}
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #e > 0 then
  local out = strip(e[1][2], ${luaSet(RETRY_HEADERS)})
  out[#out + 1] = ${luaString(Wire.attempt)}
  out[#out + 1] = ARGV[4]
  out[#out + 1] = ${luaString(Wire.firstFailure)}
  out[#out + 1] = ARGV[5]
  -- ARGV[6..]: metadata the consumer filled in for a foreign entry (id, routing key, timestamp)
  for i = 6, #ARGV do out[#out + 1] = ARGV[i] end
  local delay = tonumber(ARGV[3])
  if delay <= 0 then
    redis.call('XADD', KEYS[1], '*', unpack(out))
  else
    local id = redis.call('XADD', KEYS[2], '*', unpack(out))
    redis.call('ZADD', KEYS[3], now() + delay, id)
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return #e
`

/**
 * Moves due retries back into the group. KEYS: group stream, waiting, due.
 * ARGV: limit. Returns {moved, ms until the next due entry or -1}.
 */
export const PROMOTE = `${NOW}
local t = now()
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', t, 'LIMIT', 0, ARGV[1])
for _, id in ipairs(ids) do
  local e = redis.call('XRANGE', KEYS[2], id, id)
  if #e > 0 then redis.call('XADD', KEYS[1], '*', unpack(e[1][2])) end
  redis.call('XDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
local nxt = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local wait = -1
if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - t) end
return { #ids, wait }
`

/**
 * KEYS: group stream, dead-letter stream. ARGV: group, entry id, then the
 * failure metadata pairs. Copies payload and headers with the metadata into
 * the dead-letter stream, then acks and deletes. Returns 1 if it existed.
 */
export const DEAD_LETTER = `${BOOKKEEPING}
local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if #e > 0 then
  local out = strip(e[1][2], BOOKKEEPING)
  for i = 3, #ARGV do out[#out + 1] = ARGV[i] end
  redis.call('XADD', KEYS[2], '*', unpack(out))
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return #e
`

/**
 * Replay. KEYS: dead-letter stream, group stream. ARGV: entry ids. Copies each
 * back without failure metadata (attempt reset) and deletes it. Returns the count.
 */
export const REPLAY = `${BOOKKEEPING}
local n = 0
for i = 1, #ARGV do
  local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #e > 0 then
    redis.call('XADD', KEYS[2], '*', unpack(strip(e[1][2], BOOKKEEPING)))
    redis.call('XDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`

/** KEYS[1] group stream. ARGV: group, consumer. Deletes the consumer only when it owns nothing. */
export const DROP_CONSUMER = `
local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if type(p) ~= 'table' or p.err or #p > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
`

/**
 * RPC send of one or more requests to one method. KEYS: servers zset, request
 * queue. ARGV: queue ttl ms, then the request frames. Returns 0 (nothing sent)
 * when no server holds a live lease, else the number of frames queued.
 */
export const RPC_SEND = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now())
if redis.call('ZCARD', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], unpack(ARGV, 2))
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return #ARGV - 1
`

/** RPC replies to one requester. KEYS[1] its reply list. ARGV: list ttl ms, then the reply frames. */
export const RPC_REPLY = `
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1
`

/** KEYS[1] servers zset. ARGV: server id, lease ms. */
export const RPC_HEARTBEAT = `${NOW}
redis.call('ZADD', KEYS[1], now() + tonumber(ARGV[2]), ARGV[1])
return 1
`

/** KEYS[1] idempotency key. ARGV: lease ms. */
export const IDEM_CLAIM = `
if redis.call('SET', KEYS[1], 'in-progress', 'NX', 'PX', ARGV[1]) then return 'acquired' end
local v = redis.call('GET', KEYS[1])
if v == 'done' then return 'done' end
if v == false then
  redis.call('SET', KEYS[1], 'in-progress', 'PX', ARGV[1])
  return 'acquired'
end
return 'in-progress'
`

/** KEYS[1] idempotency key. */
export const IDEM_RELEASE = `
if redis.call('GET', KEYS[1]) == 'in-progress' then return redis.call('DEL', KEYS[1]) end
return 0
`

type Arg = string | Buffer | number
type Call = (...args: Array<Arg>) => Promise<unknown>

/** The script commands as registered on a client (and on its pipelines). */
export interface ScriptCommands {
  omnibusRoute: Call
  omnibusMatch: Call
  omnibusDeclare: Call
  omnibusRemoveGroup: Call
  omnibusAck: Call
  omnibusClaim: Call
  omnibusClaimBuffer: Call
  omnibusRetry: Call
  omnibusPromote: Call
  omnibusDeadLetter: Call
  omnibusReplay: Call
  omnibusDropConsumer: Call
  omnibusRpcSend: Call
  omnibusRpcReply: Call
  omnibusRpcHeartbeat: Call
  omnibusIdemClaim: Call
  omnibusIdemRelease: Call
}

const DEFINITIONS: ReadonlyArray<readonly [keyof ScriptCommands, string, number]> = [
  ["omnibusRoute", ROUTE, 1],
  ["omnibusMatch", MATCH_ONLY, 0],
  ["omnibusDeclare", DECLARE, 2],
  ["omnibusRemoveGroup", REMOVE_GROUP, 6],
  ["omnibusAck", ACK, 1],
  ["omnibusClaim", CLAIM, 1],
  ["omnibusRetry", RETRY, 3],
  ["omnibusPromote", PROMOTE, 3],
  ["omnibusDeadLetter", DEAD_LETTER, 2],
  ["omnibusReplay", REPLAY, 2],
  ["omnibusDropConsumer", DROP_CONSUMER, 1],
  ["omnibusRpcSend", RPC_SEND, 2],
  ["omnibusRpcReply", RPC_REPLY, 1],
  ["omnibusRpcHeartbeat", RPC_HEARTBEAT, 1],
  ["omnibusIdemClaim", IDEM_CLAIM, 1],
  ["omnibusIdemRelease", IDEM_RELEASE, 1],
]

export type ScriptedRedis = Redis & ScriptCommands

/** Registers the scripts on a client; its pipelines inherit them. */
export const withScripts = (client: Redis): ScriptedRedis => {
  for (const [name, lua, numberOfKeys] of DEFINITIONS) {
    if (!(name in client)) client.defineCommand(name, { lua, numberOfKeys })
  }
  return client as ScriptedRedis
}
