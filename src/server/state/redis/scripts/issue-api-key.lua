-- KEYS: all, by digest, by id. ARGV: max, id, digest, fields...
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('SET', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[1], ARGV[2])
return 1
