-- A bucket refilled to `now` (ms, the Redis clock, so instances with skewed clocks agree) gives `cost` tokens
-- when it holds at least one, and answers what it held. It is one string, "tokens at" (two commands a spend,
-- where a hash took three), and expires once it would be full again: an absent bucket reads as full. Its time is
-- written with 14 digits (tostring), so to a tenth of a millisecond, rounded either way: a spend moments later may
-- read a time after its own, which must refill nothing rather than take a sliver of a token (a refusal too many).
local function spend(key, rate, burst, cost, now)
  local b = redis.call('GET', key)
  local tokens = burst
  if b then
    local held, at = string.match(b, '^(%S+) (%S+)$')
    if held then tokens = math.min(burst, tonumber(held) + math.max(0, now - tonumber(at)) / 1000 * rate) end
  end
  if cost > 0 and tokens >= 1 then
    local left = tokens - cost
    redis.call('SET', key, tostring(left) .. ' ' .. tostring(now), 'PX', math.ceil((burst - left) / rate * 1000) + 1000)
  end
  return tokens
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
