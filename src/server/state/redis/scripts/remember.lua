-- Follows lib-charge.lua: charges first, then K: all nonces, this service's. A: service:nonce, nonce, until, now,
-- maxPerService, maxEntries. Returns 1 new, 0 seen, -1 the service is at its quota, -2 the cache is full,
-- or {position, tokens} of a refused charge (then the nonce is not stored).
local refused, held = charge()
if refused > 0 then return {refused, tostring(held)} end
local now = tonumber(A[4])
redis.call('ZREMRANGEBYSCORE', K[2], '-inf', now)
if redis.call('ZSCORE', K[2], A[2]) then return 0 end
if redis.call('ZCARD', K[2]) >= tonumber(A[5]) then return -1 end
redis.call('ZREMRANGEBYSCORE', K[1], '-inf', now)
if redis.call('ZCARD', K[1]) >= tonumber(A[6]) then return -2 end
redis.call('ZADD', K[2], A[3], A[2])
redis.call('PEXPIREAT', K[2], A[3])
redis.call('ZADD', K[1], A[3], A[1])
redis.call('PEXPIREAT', K[1], A[3])
return 1
