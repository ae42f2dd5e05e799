# PGET from Ruby with redis-rb (Debian's ruby-redis): the lease / PSET / WAIT cycle of
# docs/pget.md through the client's generic command call, `redis.call(...)`.
#
# Run by CTest as `with_servers ruby pget_example.rb` (tests/clients/CMakeLists.txt): with_servers
# starts a redis-server and a puppy-proxy and exports PUPPY_PROXY_PORT. Exits non-zero with a
# message on the first mismatch.
require "redis"

def check(ok, what)
  return if ok
  warn "pget_example.rb: FAILED: #{what}"
  exit 1
end

port = Integer(ENV.fetch("PUPPY_PROXY_PORT") { abort "PUPPY_PROXY_PORT is not set; run under with_servers" })
# The read timeout must outlast WAIT (redis-rb's default is 5 s).
def connect(port) = Redis.new(host: "127.0.0.1", port: port, read_timeout: 10)
redis = connect(port)

$last = {} # the replies of the last cached() call, for the checks below

# The value of key: fresh or stale as it is; on a lease, computed by the block and stored.
def cached(redis, key)
  state, value, token = redis.call("PGET", key, 60, 5, "WAIT", 5000)
  $last = { state: state, value: value, token: token }
  if state == "lease"
    begin
      value = yield
    rescue StandardError
      $last[:released] = redis.call("PRELEASE", key, token) # the next reader gets the lease
      raise
    end
    $last[:stored] = redis.call("PSET", key, token, value, 60, 5)
  end
  value
end

key = "pget-example:ruby:#{Process.pid}"
computed = 0

# A cold key: this caller gets the lease (no value, a 32-hex token), computes and stores.
value = cached(redis, key) { computed += 1; "v1" }
check(value == "v1" && computed == 1, "first call computes v1 (got #{value.inspect}, #{computed} computes)")
check($last[:state] == "lease" && $last[:value].nil?, "first PGET answers lease, nil (got #{$last})")
check($last[:token].match?(/\A\h{32}\z/), "the token is 32 hex characters (got #{$last[:token].inspect})")
check($last[:stored] == 1, "PSET answers 1 (got #{$last[:stored].inspect})")

# Fresh: the value without computing.
value = cached(redis, key) { computed += 1; "v2" }
check(value == "v1" && computed == 1 && $last[:state] == "fresh", "second call is fresh v1 (got #{$last})")

# Invalidated: the next caller gets the lease with the old value, and computes again.
check(redis.call("PINVALIDATE", key) == 1, "PINVALIDATE answers 1")
value = cached(redis, key) { computed += 1; "v2" }
check($last[:state] == "lease" && $last[:value] == "v1", "after PINVALIDATE: lease with old v1 (got #{$last})")
check(value == "v2" && computed == 2 && $last[:stored] == 1, "v2 computed and stored (got #{value.inspect})")

# A compute that fails gives the lease back (PRELEASE), so the next call gets it again.
check(redis.call("PINVALIDATE", key) == 1, "PINVALIDATE answers 1")
begin
  cached(redis, key) { raise "backend down" }
  check(false, "the failing compute's error reaches the caller")
rescue RuntimeError => e
  check(e.message == "backend down", "the compute's own error is re-raised (got #{e.message})")
end
check($last[:state] == "lease" && $last[:released] == 1, "failed compute: PRELEASE answers 1 (got #{$last})")
value = cached(redis, key) { computed += 1; "v3" }
check($last[:state] == "lease" && value == "v3", "after PRELEASE the next call gets the lease (got #{$last})")

# WAIT: a second connection, in a thread, waits on a cold key while this one holds its lease.
key2 = "#{key}:wait"
state, _, token = redis.call("PGET", key2, 60, 5)
check(state == "lease", "plain PGET on a cold key answers lease (got #{state.inspect})")
waiter = Thread.new { connect(port).call("PGET", key2, 60, 5, "WAIT", 5000) }
# Whether the waiter's PGET reaches the proxy before or after this PSET, it answers fresh w1:
# before, it waits and the PSET's publish wakes it; after, the value is there at once.
check(redis.call("PSET", key2, token, "w1", 60, 5) == 1, "PSET for the waiter answers 1")
reply = waiter.value
check(reply == ["fresh", "w1", nil], "the waiter gets fresh w1 (got #{reply.inspect})")

puts "pget_example.rb: all checks passed"
