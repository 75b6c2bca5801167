"""Leases in Redis: a key holding its holder's id with a PX expiry.

One holder at a time: the scheduler's leadership and the recorder's flush lock use these two
scripts. Acquiring also renews a lease the caller already holds; releasing deletes it only
if the caller still holds it (never another holder's lease after ours ran out).
"""

from __future__ import annotations

# KEYS[1] lease; ARGV[1] holder id, ARGV[2] lease ms. 1 = held (acquired or renewed).
ACQUIRE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS[1] lease; ARGV[1] holder id. 1 = released.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
