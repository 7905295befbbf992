-- KEYS: record. ARGV: now. Marks it revoked once (the first time stays) and answers the record.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSETNX', KEYS[1], 'revokedAt', ARGV[1])
return redis.call('HGETALL', KEYS[1])
