-- KEYS: changes. ARGV: since (ms, Redis clock; 0 for none). Returns the Redis clock, then each id changed since
-- and when (ms, Redis clock).
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES')
table.insert(ids, 1, tostring(ms))
return ids
