<?php
// PGET from PHP with phpredis (Debian's php-redis): the lease / PSET / WAIT cycle of
// docs/pget.md through the client's generic command call, `$redis->rawCommand(...)`.
//
// Run by CTest as `with_servers php pget_example.php` (tests/clients/CMakeLists.txt): with_servers
// starts a redis-server and a puppy-proxy and exports PUPPY_PROXY_PORT. Exits non-zero with a
// message on the first mismatch. The WAIT part forks (pcntl, part of Debian's php-cli).
declare(strict_types=1);

function check(bool $ok, string $what): void {
    if (!$ok) {
        fwrite(STDERR, "pget_example.php: FAILED: $what\n");
        exit(1);
    }
}

$port = (int) getenv('PUPPY_PROXY_PORT');
check($port > 0, 'PUPPY_PROXY_PORT is set (run under with_servers)');
function connect(int $port): Redis {
    $redis = new Redis();
    $redis->connect('127.0.0.1', $port, 5.0, null, 0, 10.0); // the read timeout outlasts WAIT
    return $redis;
}
$redis = connect($port);

$last = []; // the replies of the last cached() call, for the checks below

// The value of $key: fresh or stale as it is; on a lease, computed by $compute and stored.
// phpredis answers a nil as false, and an error reply as false too (the text in getLastError()).
function cached(Redis $redis, string $key, callable $compute) {
    global $last;
    $reply = $redis->rawCommand('PGET', $key, 60, 5, 'WAIT', 5000);
    if (!is_array($reply)) throw new RuntimeException('PGET: ' . $redis->getLastError());
    [$state, $value, $token] = $reply;
    $last = ['state' => $state, 'value' => $value, 'token' => $token];
    if ($state === 'lease') {
        try {
            $value = $compute();
        } catch (Throwable $e) {
            $last['released'] = $redis->rawCommand('PRELEASE', $key, $token); // next reader gets the lease
            throw $e;
        }
        $last['stored'] = $redis->rawCommand('PSET', $key, $token, $value, 60, 5);
    }
    return $value;
}

$key = 'pget-example:php:' . getmypid();
$computed = 0;
// A compute that counts its calls and returns $v.
function compute(string $v): Closure {
    return function () use ($v) { $GLOBALS['computed']++; return $v; };
}
function got(): string { return '(got ' . json_encode($GLOBALS['last']) . ')'; }

// A cold key: this caller gets the lease (no value, a 32-hex token), computes and stores.
$value = cached($redis, $key, compute('v1'));
check($value === 'v1' && $computed === 1, "first call computes v1 (got $value, $computed computes)");
check($last['state'] === 'lease' && $last['value'] === false, 'first PGET answers lease, nil ' . got());
check(preg_match('/\A[0-9a-f]{32}\z/', $last['token']) === 1, 'the token is 32 hex characters ' . got());
check($last['stored'] === 1, 'PSET answers 1 ' . got());

// Fresh: the value without computing.
$value = cached($redis, $key, compute('v2'));
check($value === 'v1' && $computed === 1 && $last['state'] === 'fresh', 'second call is fresh v1 ' . got());

// Invalidated: the next caller gets the lease with the old value, and computes again.
check($redis->rawCommand('PINVALIDATE', $key) === 1, 'PINVALIDATE answers 1');
$value = cached($redis, $key, compute('v2'));
check($last['state'] === 'lease' && $last['value'] === 'v1', 'after PINVALIDATE: lease with old v1 ' . got());
check($value === 'v2' && $computed === 2 && $last['stored'] === 1, "v2 computed and stored (got $value)");

// A compute that fails gives the lease back (PRELEASE), so the next call gets it again.
check($redis->rawCommand('PINVALIDATE', $key) === 1, 'PINVALIDATE answers 1');
try {
    cached($redis, $key, function () { throw new RuntimeException('backend down'); });
    check(false, "the failing compute's error reaches the caller");
} catch (RuntimeException $e) {
    check($e->getMessage() === 'backend down', "the compute's own error is re-thrown (got {$e->getMessage()})");
}
check($last['state'] === 'lease' && $last['released'] === 1, 'failed compute: PRELEASE answers 1 ' . got());
$value = cached($redis, $key, compute('v3'));
check($last['state'] === 'lease' && $value === 'v3', 'after PRELEASE the next call gets the lease ' . got());

// WAIT: a forked child, on its own connection, waits on a cold key while this one holds its lease.
$key2 = "$key:wait";
[$state, , $token] = $redis->rawCommand('PGET', $key2, 60, 5);
check($state === 'lease', "plain PGET on a cold key answers lease (got $state)");
$pid = pcntl_fork();
check($pid >= 0, 'fork');
if ($pid === 0) {
    $reply = connect($port)->rawCommand('PGET', $key2, 60, 5, 'WAIT', 5000);
    if ($reply !== ['fresh', 'w1', false]) {
        fwrite(STDERR, 'pget_example.php: FAILED: the waiter gets fresh w1 (got ' . json_encode($reply) . ")\n");
        exit(1);
    }
    exit(0);
}
// Whether the waiter's PGET reaches the proxy before or after this PSET, it answers fresh w1:
// before, it waits and the PSET's publish wakes it; after, the value is there at once.
check($redis->rawCommand('PSET', $key2, $token, 'w1', 60, 5) === 1, 'PSET for the waiter answers 1');
pcntl_waitpid($pid, $status);
check(pcntl_wifexited($status) && pcntl_wexitstatus($status) === 0, 'the waiter (child process) succeeded');

echo "pget_example.php: all checks passed\n";
