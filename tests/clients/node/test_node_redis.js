// PGET from Node with node-redis v4 (npm's `redis`): the lease / PSET / WAIT cycle of
// docs/pget.md through the client's generic command call, client.sendCommand([...]) (arguments
// as strings).
//
// Run by CTest as `with_servers node test_node_redis.js` (tests/clients/CMakeLists.txt):
// with_servers starts a redis-server and a puppy-proxy and exports PUPPY_PROXY_PORT. `redis` is
// pinned by package-lock.json (`npm ci` here, done by scripts/install-deps.sh). Exits non-zero
// with a message on the first mismatch.
'use strict';

const assert = require('node:assert/strict');

let createClient;
try {
  ({ createClient } = require('redis'));
} catch (e) {
  console.error(`cannot load redis (${e.message}); run \`npm ci\` in ${__dirname} ` +
                '(scripts/install-deps.sh does it)');
  process.exit(1);
}

let last = {}; // the replies of the last cached() call, for the checks below

// The value of key: fresh or stale as it is; on a lease, computed by compute() and stored.
// node-redis sends every command of a client on one connection, so a PGET that waits holds back
// the client's other commands meanwhile (as any blocking command does).
async function cached(client, key, compute) {
  let [state, value, token] = await client.sendCommand(['PGET', key, '60', '5', 'WAIT', '5000']);
  last = { state, value, token };
  if (state === 'lease') {
    try {
      value = await compute();
    } catch (e) {
      last.released = await client.sendCommand(['PRELEASE', key, token]); // next reader gets the lease
      throw e;
    }
    last.stored = await client.sendCommand(['PSET', key, token, value, '60', '5']);
  }
  return value;
}

async function main() {
  const port = Number(process.env.PUPPY_PROXY_PORT);
  assert.ok(port > 0, 'PUPPY_PROXY_PORT is set (run under with_servers)');
  const client = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
  client.on('error', () => {}); // errors surface through the rejected commands
  await client.connect();

  const key = `pget-example:node-redis:${process.pid}`;
  let computed = 0;
  const compute = (v) => async () => { computed += 1; return v; };

  // A cold key: this caller gets the lease (no value, a 32-hex token), computes and stores.
  let value = await cached(client, key, compute('v1'));
  assert.equal(value, 'v1', 'first call computes v1');
  assert.equal(computed, 1, 'first call computes once');
  assert.equal(last.state, 'lease', 'first PGET answers lease');
  assert.equal(last.value, null, 'first PGET answers a nil value');
  assert.match(last.token, /^[0-9a-f]{32}$/, 'the token is 32 hex characters');
  assert.equal(last.stored, 1, 'PSET answers 1');

  // Fresh: the value without computing.
  value = await cached(client, key, compute('v2'));
  assert.deepEqual([last.state, value, computed], ['fresh', 'v1', 1], 'second call is fresh v1');

  // Invalidated: the next caller gets the lease with the old value, and computes again.
  assert.equal(await client.sendCommand(['PINVALIDATE', key]), 1, 'PINVALIDATE answers 1');
  value = await cached(client, key, compute('v2'));
  assert.deepEqual([last.state, last.value], ['lease', 'v1'], 'after PINVALIDATE: lease with old v1');
  assert.deepEqual([value, computed, last.stored], ['v2', 2, 1], 'v2 computed and stored');

  // A compute that fails gives the lease back (PRELEASE), so the next call gets it again.
  assert.equal(await client.sendCommand(['PINVALIDATE', key]), 1, 'PINVALIDATE answers 1');
  await assert.rejects(cached(client, key, async () => { throw new Error('backend down'); }),
                       /backend down/, "the compute's own error is re-thrown");
  assert.deepEqual([last.state, last.released], ['lease', 1], 'failed compute: PRELEASE answers 1');
  value = await cached(client, key, compute('v3'));
  assert.deepEqual([last.state, value], ['lease', 'v3'], 'after PRELEASE the next call gets the lease');

  // WAIT: a second connection (duplicate()) waits on a cold key while this one holds its lease.
  const key2 = `${key}:wait`;
  const [state, , token] = await client.sendCommand(['PGET', key2, '60', '5']);
  assert.equal(state, 'lease', 'plain PGET on a cold key answers lease');
  const waiter = client.duplicate();
  waiter.on('error', () => {});
  await waiter.connect();
  const waiting = waiter.sendCommand(['PGET', key2, '60', '5', 'WAIT', '5000']); // not awaited yet
  // Whether the waiter's PGET reaches the proxy before or after this PSET, it answers fresh w1:
  // before, it waits and the PSET's publish wakes it; after, the value is there at once.
  assert.equal(await client.sendCommand(['PSET', key2, token, 'w1', '60', '5']), 1,
               'PSET for the waiter answers 1');
  assert.deepEqual(await waiting, ['fresh', 'w1', null], 'the waiter gets fresh w1');

  await Promise.all([client.quit(), waiter.quit()]);
  console.log('test_node_redis.js: all checks passed');
}

main().catch((e) => {
  console.error(`test_node_redis.js: FAILED: ${e.message}`); // an assertion's shows got and expected
  process.exit(1);
});
