-- Follows lib-spend.lua. The start of a script that takes charges before its own work (see chargesFor in
-- ../buckets.ts): charge() takes one token from each of the first ARGV[1] KEYS, in order, and answers 0, or the
-- position of the first bucket that held under one token and what it held (the buckets before it stay spent).
-- The script's own keys and arguments follow the charges': it reads them from K and A.
local charged = tonumber(ARGV[1])
local function charge()
  if charged == 0 then return 0 end
  local now = clock()
  for i = 1, charged do
    local held = spend(KEYS[i], tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1]), 1, now)
    if held < 1 then return i, held end
  end
  return 0
end
-- Copied one by one: unpack refuses more than about 8,000 values, and a report may stand for more codes.
local K, A = {}, {}
for i = charged + 1, #KEYS do K[#K + 1] = KEYS[i] end
for i = 2 * charged + 2, #ARGV do A[#A + 1] = ARGV[i] end
