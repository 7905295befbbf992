-- Follows lib-spend.lua. Inserts, as many as came in one turn of the event loop (one script run and one round trip for all of them;
-- each is still one atomic step, in order). ARGV[1] is their number; then, for each, its charges' keys in
-- KEYS and ARGV: their count, then per charge its rate and burst (see buckets.ts); then KEYS record, code,
-- live, and ARGV id, json, expiresAt, retainUntil, now, prune (1 or 0), the live index's expiry ('' to leave
-- it), the live-session cap ('' for none), the number of quota groups G and each one's bound, with the G groups'
-- keys after live in KEYS (each a sorted set of its sessions by expiry). Answers one result per insert: 1
-- inserted, 0 the code is live, -1 the cap is reached, -1-g quota g is full, or 'position:tokens' of a refused
-- charge; a refused insert writes nothing but the charges taken before. A report finds a session by its code key alone (FIND): an insert writes the record,
-- the code and one entry of the live index, which is pruned of expired entries on one insert in PRUNE_EVERY;
-- its expiry is moved on only when this instance has not moved it far enough yet.
local clocked
local out, k, a = {}, 1, 2
for n = 1, tonumber(ARGV[1]) do
  local result
  for i = 1, tonumber(ARGV[a]) do
    if not result then
      clocked = clocked or clock()
      local held = spend(KEYS[k], tonumber(ARGV[a + 2 * i - 1]), tonumber(ARGV[a + 2 * i]), 1, clocked)
      if held < 1 then result = i .. ':' .. tostring(held) end
    end
    k = k + 1
  end
  a = a + 1 + 2 * tonumber(ARGV[a])
  local record, code, live = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local id, exp, now, cap, groups = ARGV[a], ARGV[a + 2], tonumber(ARGV[a + 4]), ARGV[a + 7], tonumber(ARGV[a + 8])
  if not result and cap ~= '' and redis.call('ZCOUNT', live, '(' .. now, '+inf') >= tonumber(cap) then result = -1 end
  if not result then
    for g = 1, groups do
      if redis.call('ZCOUNT', KEYS[k + 2 + g], '(' .. now, '+inf') >= tonumber(ARGV[a + 8 + g]) then
        result = -1 - g
        break
      end
    end
  end
  if not result then
    if not redis.call('SET', code, id, 'NX', 'PXAT', exp) then result = 0
    else
      redis.call('HSET', record, 'v', 0, 'd', ARGV[a + 1])
      if groups > 0 then redis.call('HSET', record, 'g', table.concat(KEYS, '\n', k + 3, k + 2 + groups)) end
      redis.call('PEXPIREAT', record, ARGV[a + 3])
      if ARGV[a + 5] == '1' then redis.call('ZREMRANGEBYSCORE', live, '-inf', now) end
      redis.call('ZADD', live, exp, id)
      local expiry = ARGV[a + 6]
      if expiry ~= '' and redis.call('PTTL', live) < tonumber(expiry) - now then redis.call('PEXPIREAT', live, expiry) end
      for g = 1, groups do
        local group = KEYS[k + 2 + g]
        if ARGV[a + 5] == '1' then redis.call('ZREMRANGEBYSCORE', group, '-inf', now) end
        redis.call('ZADD', group, exp, id)
        if redis.call('PTTL', group) < tonumber(exp) - now then redis.call('PEXPIREAT', group, tonumber(exp) + 1000) end
      end
      result = 1
    end
  end
  out[n] = result
  k, a = k + 3 + groups, a + 9 + groups
end
return out
