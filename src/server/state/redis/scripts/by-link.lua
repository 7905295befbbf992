-- KEYS: link. ARGV: record key prefix.
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('HGET', ARGV[1] .. id, 'd')
