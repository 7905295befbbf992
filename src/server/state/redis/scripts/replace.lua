-- KEYS: record, code, live, link, changes, held. ARGV: expected, json, version, pending, id, channel, linkId, and
-- for a hold ('' for none) its bytes and bound, then how the change is announced (PUBLISH, or SPUBLISH in a Cluster). Answers 1 replaced, 0 the version moved on, -1 the hold would
-- pass its bound (nothing written). A hold is kept in the held hash under the HELD_BUCKET_MS step in which
-- the record goes (a little late, never early); steps gone by are dropped as the hash is read.
-- The step, in ms, in which bytes held are let go: the held hash has a field per step.
local HELD_BUCKET_MS = 10000
-- How long the list of recent changes keeps an entry, in ms: it covers a re-check that ran late.
local CHANGES_KEEP_MS = 10000
local v = redis.call('HGET', KEYS[1], 'v')
if not v or v ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ARGV[8] ~= '' then
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local held, all = 0, redis.call('HGETALL', KEYS[6])
  for i = 1, #all, 2 do
    if tonumber(all[i]) * HELD_BUCKET_MS <= ms then redis.call('HDEL', KEYS[6], all[i])
    else held = held + tonumber(all[i + 1]) end
  end
  if held + tonumber(ARGV[8]) > tonumber(ARGV[9]) then return -1 end
  local gone = ms + math.max(ttl, 0)
  redis.call('HINCRBY', KEYS[6], math.ceil(gone / HELD_BUCKET_MS), ARGV[8])
  if redis.call('PTTL', KEYS[6]) < gone - ms + HELD_BUCKET_MS then redis.call('PEXPIRE', KEYS[6], gone - ms + HELD_BUCKET_MS) end
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'd', ARGV[2])
if ARGV[4] == '0' then
  if redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
  redis.call('ZREM', KEYS[3], ARGV[5])
  local groups = redis.call('HGET', KEYS[1], 'g')
  if groups then
    for group in string.gmatch(groups, '[^\n]+') do redis.call('ZREM', group, ARGV[5]) end
    redis.call('HDEL', KEYS[1], 'g')
  end
end
if ARGV[7] ~= '' and ttl > 0 then redis.call('SET', KEYS[4], ARGV[5], 'PX', ttl) end
if ARGV[3] ~= ARGV[1] then
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[5], ms, ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', ms - CHANGES_KEEP_MS)
  redis.call('PEXPIRE', KEYS[5], CHANGES_KEEP_MS)
  redis.call(ARGV[10], ARGV[6], ARGV[5])
end
return 1
