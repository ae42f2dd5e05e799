-- PGET from Lua with redis-lua (Debian's lua-redis, for Lua 5.1 to 5.3): the lease / PSET / WAIT
-- cycle of docs/pget.md. redis-lua has no call for an arbitrary command; `redis.command(name)`
-- makes one, added to `redis.commands` before connecting (or to a client afterwards).
--
-- Run by CTest as `with_servers lua5.1 pget_example.lua` (tests/clients/CMakeLists.txt):
-- with_servers starts a redis-server and a puppy-proxy and exports PUPPY_PROXY_PORT. Exits
-- non-zero with a message on the first mismatch.
local redis = require 'redis'
local unpack = unpack or table.unpack -- Lua 5.1, 5.2+

for _, name in ipairs { 'pget', 'pset', 'prelease', 'pinvalidate' } do
  redis.commands[name] = redis.command(name)
end
-- Reads the next reply without sending anything: with the client's own sender,
-- `client.requests.multibulk`, a request is written now and its reply read later (WAIT below).
redis.commands.receive = redis.command('receive', { request = function() end })

local function check(ok, what)
  if ok then return end
  io.stderr:write('pget_example.lua: FAILED: ', what, '\n')
  os.exit(1)
end

local port = os.getenv('PUPPY_PROXY_PORT')
check(port, 'PUPPY_PROXY_PORT is set (run under with_servers)')
local function connect() return redis.connect('127.0.0.1', port) end -- no read timeout by default
local client = connect()

local last = {} -- the replies of the last cached() call, for the checks below

-- The value of key: fresh or stale as it is; on a lease, computed by compute() and stored.
-- A nil in a reply is a hole in its table, hence the explicit unpack(reply, 1, 3).
local function cached(client, key, compute)
  local state, value, token = unpack(client:pget(key, 60, 5, 'WAIT', 5000), 1, 3)
  last = { state = state, value = value, token = token }
  if state == 'lease' then
    local ok, result = pcall(compute)
    if not ok then
      last.released = client:prelease(key, token) -- the next reader gets the lease
      error(result, 0)
    end
    value = result
    last.stored = client:pset(key, token, value, 60, 5)
  end
  return value
end

-- Lua 5.1 has no getpid; Linux tells it in /proc/self/stat.
local pid = io.open('/proc/self/stat'):read('*n')
local key = 'pget-example:lua:' .. pid
local computed = 0
local function compute(v) return function() computed = computed + 1; return v end end
local function got()
  local parts = {}
  for _, k in ipairs { 'state', 'value', 'token', 'stored', 'released' } do
    parts[#parts + 1] = k .. '=' .. tostring(last[k])
  end
  return '(got ' .. table.concat(parts, ', ') .. ')'
end

-- A cold key: this caller gets the lease (no value, a 32-hex token), computes and stores.
local value = cached(client, key, compute('v1'))
check(value == 'v1' and computed == 1, 'first call computes v1 ' .. got())
check(last.state == 'lease' and last.value == nil, 'first PGET answers lease, nil ' .. got())
check(#last.token == 32 and last.token:match('^%x+$'), 'the token is 32 hex characters ' .. got())
check(last.stored == 1, 'PSET answers 1 ' .. got())

-- Fresh: the value without computing.
value = cached(client, key, compute('v2'))
check(value == 'v1' and computed == 1 and last.state == 'fresh', 'second call is fresh v1 ' .. got())

-- Invalidated: the next caller gets the lease with the old value, and computes again.
check(client:pinvalidate(key) == 1, 'PINVALIDATE answers 1')
value = cached(client, key, compute('v2'))
check(last.state == 'lease' and last.value == 'v1', 'after PINVALIDATE: lease with old v1 ' .. got())
check(value == 'v2' and computed == 2 and last.stored == 1, 'v2 computed and stored ' .. got())

-- A compute that fails gives the lease back (PRELEASE), so the next call gets it again.
check(client:pinvalidate(key) == 1, 'PINVALIDATE answers 1')
local ok, err = pcall(cached, client, key, function() error('backend down', 0) end)
check(not ok and err == 'backend down', "the compute's own error is re-raised (got " .. tostring(err) .. ')')
check(last.state == 'lease' and last.released == 1, 'failed compute: PRELEASE answers 1 ' .. got())
value = cached(client, key, compute('v3'))
check(last.state == 'lease' and value == 'v3', 'after PRELEASE the next call gets the lease ' .. got())

-- WAIT: Lua has no threads, but a second connection can write its request now and read the reply
-- after this one's PSET.
local key2 = key .. ':wait'
local state, _, token = unpack(client:pget(key2, 60, 5), 1, 3)
check(state == 'lease', 'plain PGET on a cold key answers lease (got ' .. tostring(state) .. ')')
local waiter = connect()
waiter.requests.multibulk(waiter, 'PGET', key2, 60, 5, 'WAIT', 5000)
-- Whether the waiter's PGET reaches the proxy before or after this PSET, it answers fresh w1:
-- before, it waits and the PSET's publish wakes it; after, the value is there at once.
check(client:pset(key2, token, 'w1', 60, 5) == 1, 'PSET for the waiter answers 1')
local reply = waiter:receive()
check(reply[1] == 'fresh' and reply[2] == 'w1' and reply[3] == nil,
      'the waiter gets fresh w1 (got ' .. tostring(reply[1]) .. ', ' .. tostring(reply[2]) .. ')')

print('pget_example.lua: all checks passed')
