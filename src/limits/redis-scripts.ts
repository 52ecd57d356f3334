/**
 * Lua scripts for the Redis limit store. Each runs atomically on the server, so a check and its
 * increment can never interleave with another replica's. Amounts are sent as decimal strings;
 * numbers come back as strings too, because Redis truncates Lua numbers to integers in replies.
 */

/**
 * KEYS: counter_1..counter_n, reservation record.
 * ARGV: record_ttl_ms, then per counter: amount, limit, enforce (1|0), counter_ttl_ms.
 * Reply: {1, used_after_1..n} or {0, failed_position, used_1..n} (nothing changed).
 */
export const RESERVE_SCRIPT = `
local n = #KEYS - 1
local used = {}
for i = 1, n do
  used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
for i = 1, n do
  local base = 1 + (i - 1) * 4
  if ARGV[base + 3] == '1' and used[i] + tonumber(ARGV[base + 1]) > tonumber(ARGV[base + 2]) then
    local reply = {0, i}
    for j = 1, n do reply[j + 2] = tostring(used[j]) end
    return reply
  end
end
local reply = {1}
local record = KEYS[n + 1]
for i = 1, n do
  local base = 1 + (i - 1) * 4
  local after = redis.call('INCRBYFLOAT', KEYS[i], ARGV[base + 1])
  redis.call('PEXPIRE', KEYS[i], ARGV[base + 4])
  redis.call('HINCRBYFLOAT', record, KEYS[i], ARGV[base + 1])
  reply[i + 1] = after
end
redis.call('PEXPIRE', record, ARGV[1])
return reply
`;

/**
 * KEYS: reservation record, counter_1..counter_n.
 * ARGV: actual_1..actual_n ('' = unknown, keep the reserved amount).
 * Reply: 1 when the record existed (and is now consumed), 0 otherwise (nothing changed).
 */
export const RECONCILE_SCRIPT = `
local record = KEYS[1]
if redis.call('EXISTS', record) == 0 then return 0 end
for i = 2, #KEYS do
  local actual = ARGV[i - 1]
  if actual ~= '' then
    local reserved = redis.call('HGET', record, KEYS[i])
    if reserved and redis.call('EXISTS', KEYS[i]) == 1 then
      local after = tonumber(redis.call('INCRBYFLOAT', KEYS[i], tostring(tonumber(actual) - tonumber(reserved))))
      if after < 0 then redis.call('SET', KEYS[i], '0', 'KEEPTTL') end
    end
  end
end
redis.call('DEL', record)
return 1
`;

/**
 * KEYS: counter. ARGV: want, debt, limit, counter_ttl_ms.
 * Reply: {granted, used_after}. The debt is added whatever the limit; the grant is
 * min(want, limit - used) and never negative, so grants alone never take the counter over the limit.
 */
/**
 * Lease mode, graceful close: hands back a replica's unspent share (ARGV[1], a positive amount)
 * of the window counter KEYS[1]. Only an existing counter (the window has not ended) changes, its
 * TTL kept, and it never goes below 0.
 */
export const GIVE_BACK_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return '0' end
local used = tonumber(redis.call('INCRBYFLOAT', KEYS[1], '-' .. ARGV[1]))
if used < 0 then redis.call('SET', KEYS[1], '0', 'KEEPTTL') used = 0 end
return tostring(used)
`;

export const LEASE_SCRIPT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local debt = tonumber(ARGV[2])
if debt > 0 then used = tonumber(redis.call('INCRBYFLOAT', KEYS[1], ARGV[2])) end
local room = tonumber(ARGV[3]) - used
local granted = tonumber(ARGV[1])
if room < granted then granted = room end
if granted < 0 then granted = 0 end
if granted > 0 then used = tonumber(redis.call('INCRBYFLOAT', KEYS[1], tostring(granted))) end
if debt > 0 or granted > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return {tostring(granted), tostring(used)}
`;
