-- Follows lib-spend.lua. KEYS: bucket. ARGV: perSecond, burst, cost.
return tostring(spend(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), clock()))
