-- KEYS: token, tokens, services, service. ARGV: digest, now, max services, id, name, key.
-- Spends the token and enrolls in one step: two instances given the same token enroll once.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return 'BAD_TOKEN' end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[3]) then return 'FULL' end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[4], 'id', ARGV[4], 'name', ARGV[5], 'key', ARGV[6], 'createdAt', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[4])
return 'OK'
