-- Follows lib-charge.lua: charges first, then K: code keys. A: record key prefix. Answers the position of a refused
-- charge (0 for none) and what it held, then the records the codes name (the caller checks they are live).
-- Codes are read a thousand at a time: a Lua call takes at most a few thousand arguments.
local refused, held = charge()
if refused > 0 then return {refused, tostring(held)} end
local out = {0, ''}
for from = 1, #K, 1000 do
  local ids = redis.call('MGET', unpack(K, from, math.min(from + 999, #K)))
  for i = 1, #ids do
    if ids[i] then
      local d = redis.call('HGET', A[1] .. ids[i], 'd')
      if d then out[#out + 1] = d end
    end
  end
end
return out
