"""The read model's one command for many configs' states: a read-only Lua script that
returns every state hash (and, asked for, each history's newest events) in ONE reply.

A page of 50 configs read as 50 HGETALLs costs 50 commands to pack and 50 replies to parse
one by one (the read model's largest cost); as one script it is one command and one nested
reply, parsed by hiredis at once. It is run by EVALSHA on the read model's pipeline; Redis
without it (restarted, flushed) answers NOSCRIPT, and the caller loads it (``TEXT``) and
reads again.

KEYS: each config's state hash, each followed by its history list when ARGV[1] (the number
of newest events wanted) is above 0. Reply: per key, HGETALL's flat field / value list or
LRANGE's events, in KEYS order.
"""

from __future__ import annotations

import hashlib

TEXT = """
local n = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  if n > 0 and i % 2 == 0 then
    out[i] = redis.call('LRANGE', key, 0, n - 1)
  else
    out[i] = redis.call('HGETALL', key)
  end
end
return out
"""

SHA = hashlib.sha1(TEXT.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA1
