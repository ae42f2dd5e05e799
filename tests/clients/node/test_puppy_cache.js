// clients/node/puppy-cache.js against a real puppy-proxy.
//
// Run by CTest as `with_servers node --test ... test_puppy_cache.js` (see
// tests/clients/CMakeLists.txt): `with_servers` starts a redis-server and a puppy-proxy in front of
// it and exports their ports as PUPPY_REDIS_PORT and PUPPY_PROXY_PORT. Uses only node:test and
// node:assert; ioredis comes from this directory's node_modules (`npm ci`, done by
// scripts/install-deps.sh).
//
// Redis is looked at directly (PUPPY_REDIS_PORT) to check what was stored and with which TTLs, and
// to force staleness by deleting the status key `puppy:<key>`.
'use strict';

const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

let Redis;
try {
  Redis = require('ioredis');
} catch (e) {
  console.error(`cannot load ioredis (${e.message}); run \`npm ci\` in ${__dirname} ` +
                '(scripts/install-deps.sh does it)');
  process.exit(1);
}
const { PuppyCache, PuppyCacheError, PuppyCacheMiss, DEFAULT_MAX_WAIT_MS } =
  require(path.join(__dirname, '..', '..', '..', 'clients', 'node', 'puppy-cache.js'));

function port(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set; run this through with_servers (see tests/clients/CMakeLists.txt)`);
    process.exit(1);
  }
  return Number(value);
}

const PROXY_PORT = port('PUPPY_PROXY_PORT');
const REDIS_PORT = port('PUPPY_REDIS_PORT');
const HOST = '127.0.0.1';
const TEST_TIMEOUT = 60_000;

// Every connection and cache a test opens, closed in after() so that the process can exit.
const clients = [];
const caches = [];

function connect(portNumber, options = {}) {
  const client = new Redis({
    host: HOST,
    port: portNumber,
    connectTimeout: 10_000,
    // Bounded, so that a proxy that never answers fails the test instead of hanging it.
    commandTimeout: 30_000,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    ...options,
  });
  client.on('error', () => {});
  clients.push(client);
  return client;
}

function close(client) {
  if (client.status === 'end') return Promise.resolve();
  return new Promise((resolve) => {
    client.once('end', resolve);
    client.disconnect();
  });
}

function newCache(client, options) {
  const cache = new PuppyCache(client, options);
  caches.push(cache);
  return cache;
}

let r; // through the proxy
let d; // directly to Redis
let key;
let status;
let keyCounter = 0;

before(async () => {
  r = connect(PROXY_PORT);
  d = connect(REDIS_PORT);
  await Promise.all([r.ping(), d.ping()]);
});

beforeEach(async () => {
  await d.flushall();
  keyCounter += 1;
  key = `key${keyCounter}`;
  status = `puppy:${key}`;
});

after(async () => {
  await Promise.all(caches.map((c) => c.close()));
  await Promise.all(clients.map(close));
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const B = (s) => Buffer.from(s);

function t(name, fn) {
  test(name, { timeout: TEST_TIMEOUT }, fn);
}

// A compute function that counts its calls and resolves to fixed bytes, optionally after a delay
// or after the test opens its gate, or throws.
function counter(value = B('computed'), { delay = 0, gated = false, error = null } = {}) {
  let open;
  const gate = new Promise((resolve) => { open = resolve; });
  const fn = async () => {
    fn.calls += 1;
    if (gated) await gate;
    if (delay) await sleep(delay);
    if (error) throw error;
    return value;
  };
  fn.calls = 0;
  fn.open = open;
  return fn;
}

const neverCalled = () => { throw new Error('compute must not be called'); };

async function makeStale(k = key) {
  assert.equal(await d.del(`puppy:${k}`), 1);
}

// Takes the lease by hand, as another client would; returns its token.
async function holdLease(client = r, updateTime = 30) {
  const [state, , token] = await client.call('PGET', key, 300, updateTime);
  assert.equal(state, 'lease');
  return token;
}

async function assertTtl(k, expectedMs, toleranceMs = 1500) {
  const pttl = await d.pttl(k);
  assert.ok(pttl <= expectedMs && pttl > expectedMs - toleranceMs,
            `PTTL ${k} = ${pttl}, expected ${expectedMs} (-${toleranceMs})`);
}

async function waitUntilGone(k, ms) {
  const deadline = Date.now() + ms;
  while (await d.exists(k)) {
    assert.ok(Date.now() < deadline, `${k} still exists after ${ms} ms`);
    await sleep(50);
  }
}

const result = (value, state, stored) => ({ value, state, stored });

// --- cold miss -----------------------------------------------------------------------------------

t('cold miss computes once and stores', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  const compute = counter(B('v1'));
  assert.deepEqual(await cache.getResult(key, compute), result(B('v1'), 'lease', true));
  assert.equal(compute.calls, 1);
  assert.deepEqual(await d.getBuffer(key), B('v1'));
  assert.match(await d.get(status), /^current:\d+:\d+$/);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await cache.getResult(key, neverCalled), result(B('v1'), 'fresh', null));
  }
  assert.deepEqual(await cache.get(key, neverCalled), B('v1'));
});

t('20 concurrent cold callers on one connection: compute exactly once, all get the value', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  const compute = counter(B('shared value'), { delay: 300 });
  const got = await Promise.all(Array.from({ length: 20 }, () => cache.getResult(key, compute)));
  assert.equal(compute.calls, 1);
  assert.deepEqual(got.map((g) => g.state).sort(), [...Array(19).fill('fresh'), 'lease']);
  for (const g of got) assert.deepEqual(g.value, B('shared value'));
  assert.deepEqual(got.filter((g) => g.state === 'lease').map((g) => g.stored), [true]);
  assert.deepEqual(await d.getBuffer(key), B('shared value'));
});

t('20 concurrent cold callers on 20 clients: compute exactly once', async () => {
  const compute = counter(B('from one'), { delay: 200 });
  const all = Array.from({ length: 20 }, () => newCache(connect(PROXY_PORT), { timeout: 60, updateTime: 5 }));
  const got = await Promise.all(all.map((cache) => cache.get(key, compute)));
  assert.equal(compute.calls, 1);
  assert.deepEqual(got, Array(20).fill(B('from one')));
});

t('a pool of one wait connection serves many waiters', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5, maxWaitConnections: 1 });
  const compute = counter(B('v'), { delay: 200 });
  const got = await Promise.all(Array.from({ length: 6 }, () => cache.get(key, compute)));
  assert.equal(compute.calls, 1);
  assert.deepEqual(got, Array(6).fill(B('v')));
});

t('binary values round-trip', async () => {
  const binary = Buffer.concat([Buffer.from([...Array(256).keys()]), B('\r\n\0')]);
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  assert.deepEqual(await cache.get(key, async () => new Uint8Array(binary)), new Uint8Array(binary));
  assert.deepEqual(await d.getBuffer(key), binary);
  assert.deepEqual(await cache.getResult(key, neverCalled), result(binary, 'fresh', null));
});

// --- stale ---------------------------------------------------------------------------------------

t('stale: the old value at once while exactly one caller recomputes', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 10 });
  assert.deepEqual(await cache.get(key, async () => B('old')), B('old'));
  await makeStale();

  const compute = counter(B('new'), { gated: true });
  const settled = [];
  const calls = Array.from({ length: 20 }, () => cache.getResult(key, compute)
    .then((g) => { settled.push(g); return g; }));
  // While the one regeneration is blocked, the 19 others have all returned the old value.
  const deadline = Date.now() + 10_000;
  while (settled.length < 19 && Date.now() < deadline) await sleep(10);
  assert.equal(compute.calls, 1);
  assert.deepEqual(settled, Array(19).fill(result(B('old'), 'stale', null)));
  assert.deepEqual(await d.getBuffer(key), B('old'));
  assert.match(await d.get(status), /^lease:/);
  assert.deepEqual(await cache.getResult(key, neverCalled), result(B('old'), 'stale', null));

  compute.open();
  const got = await Promise.all(calls);
  assert.equal(compute.calls, 1);
  assert.deepEqual(got.filter((g) => g.state === 'lease'), [result(B('new'), 'lease', true)]);
  assert.deepEqual(await d.getBuffer(key), B('new'));
  assert.deepEqual(await cache.getResult(key, neverCalled), result(B('new'), 'fresh', null));
});

// --- compute failing -----------------------------------------------------------------------------

t('compute throwing releases the lease on a cold key: the next caller gets it at once', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  const failing = counter(null, { error: new Error('backend down') });
  await assert.rejects(cache.get(key, failing), /backend down/);
  assert.equal(failing.calls, 1);
  assert.equal(await d.get(status), null);
  assert.equal(await d.get(key), null);
  const compute = counter(B('recovered'));
  const start = Date.now();
  assert.deepEqual(await cache.getResult(key, compute), result(B('recovered'), 'lease', true));
  assert.ok(Date.now() - start < 1000, `took ${Date.now() - start} ms`);
  assert.equal(compute.calls, 1);
});

t('compute throwing releases the lease on a stale key', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  await cache.get(key, async () => B('old'));
  await makeStale();
  await assert.rejects(cache.get(key, () => { throw new TypeError('sync failure'); }), TypeError);
  const compute = counter(B('new'));
  assert.deepEqual(await cache.getResult(key, compute), result(B('new'), 'lease', true));
  assert.equal(compute.calls, 1);
});

t('with backoff: callers get the stale value and compute is not called until it ends', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5, backoff: 2 });
  await cache.get(key, async () => B('old'));
  await makeStale();
  await assert.rejects(cache.get(key, counter(null, { error: new Error('backend down') })), /backend down/);
  assert.match(await d.get(status), /^backoff/);
  await assertTtl(status, 2000);

  const compute = counter(B('new'));
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(await cache.getResult(key, compute), result(B('old'), 'stale', null));
  }
  const got = await Promise.all(Array.from({ length: 10 }, () => cache.getResult(key, compute)));
  assert.deepEqual(got, Array(10).fill(result(B('old'), 'stale', null)));
  assert.equal(compute.calls, 0);

  await waitUntilGone(status, 4000);
  assert.deepEqual(await cache.getResult(key, compute), result(B('new'), 'lease', true));
  assert.equal(compute.calls, 1);
});

t('per-call backoff overrides the default', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5, backoff: 30 });
  await cache.get(key, async () => B('old'));
  await makeStale();
  await assert.rejects(cache.get(key, counter(null, { error: new Error('x') }), { backoff: 0 }));
  assert.equal(await d.get(status), null);
  await assert.rejects(cache.get(key, counter(null, { error: new Error('x') }), { backoff: 3 }));
  await assertTtl(status, 3000);
});

t('backoff without a value: PuppyCacheMiss after the wait; onMiss compute does not store', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5, backoff: 3, waitMs: 300 });
  await assert.rejects(cache.get(key, counter(null, { error: new Error('backend down') })));
  const start = Date.now();
  await assert.rejects(cache.get(key, neverCalled), (e) => {
    assert.ok(e instanceof PuppyCacheMiss && e instanceof PuppyCacheError);
    assert.equal(e.code, 'PUPPY_CACHE_MISS');
    assert.equal(e.key, key);
    assert.equal(e.waitedMs, 300);
    return true;
  });
  const waited = Date.now() - start;
  assert.ok(waited >= 250 && waited < 2000, `waited ${waited} ms`);

  const fallback = newCache(r, { timeout: 60, updateTime: 5, waitMs: 0, onMiss: 'compute' });
  const compute = counter(B('unstored'));
  assert.deepEqual(await fallback.getResult(key, compute), result(B('unstored'), 'miss', null));
  assert.equal(compute.calls, 1);
  assert.equal(await d.get(key), null);
  assert.match(await d.get(status), /^backoff/);
});

t('encode failing (not a Buffer) releases the lease', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  await assert.rejects(cache.get(key, async () => 'not a buffer'), /returned string.*encode/);
  assert.equal(await d.get(status), null);
  assert.deepEqual(await cache.getResult(key, async () => B('ok')), result(B('ok'), 'lease', true));
});

// --- miss and waiting ----------------------------------------------------------------------------

t('miss after the wait rejects and does not compute', async () => {
  const token = await holdLease();
  const cache = newCache(r, { timeout: 60, updateTime: 30, waitMs: 400 });
  const start = Date.now();
  await assert.rejects(cache.get(key, neverCalled), PuppyCacheMiss);
  assert.ok(Date.now() - start >= 350);
  assert.equal(await r.call('PSET', key, token, 'theirs', 60, 30), 1);
  assert.deepEqual(await cache.getResult(key, neverCalled), result(B('theirs'), 'fresh', null));
});

t('miss with onMiss compute returns the value without storing it', async () => {
  const token = await holdLease();
  const cache = newCache(r, { timeout: 60, updateTime: 30, waitMs: 0, onMiss: 'compute' });
  const compute = counter(B('mine'));
  assert.deepEqual(await cache.getResult(key, compute), result(B('mine'), 'miss', null));
  assert.equal(compute.calls, 1);
  assert.equal(await d.get(key), null);
  assert.equal((await d.get(status)).split(':')[1], token);
});

t('a waiter gets the value published on its own client connection', async () => {
  // The PSET goes through the very client the waiting cache uses: the wait must not block it.
  const token = await holdLease();
  const cache = newCache(r, { timeout: 60, updateTime: 30 });
  let settled = false;
  const waiting = cache.getResult(key, neverCalled).finally(() => { settled = true; });
  await sleep(300);
  assert.equal(settled, false, 'the waiter must still be waiting');
  assert.equal(await r.call('PSET', key, token, 'published', 60, 30), 1);
  assert.deepEqual(await waiting, result(B('published'), 'fresh', null));
});

t('a waiter takes over a lease that ran out', async () => {
  await holdLease(r, 1); // the other client's lease lasts 1 s; this caller may wait up to 2 s
  const cache = newCache(r, { timeout: 60, updateTime: 2 });
  const compute = counter(B('taken over'));
  const start = Date.now();
  assert.deepEqual(await cache.getResult(key, compute), result(B('taken over'), 'lease', true));
  assert.ok(Date.now() - start < 1800, `took ${Date.now() - start} ms`);
  assert.equal(compute.calls, 1);
});

t('a waiter takes over a released lease', async () => {
  const token = await holdLease();
  const cache = newCache(r, { timeout: 60, updateTime: 30 });
  const compute = counter(B('after release'));
  const waiting = cache.getResult(key, compute);
  await sleep(300);
  assert.equal(await r.call('PRELEASE', key, token), 1);
  assert.deepEqual(await waiting, result(B('after release'), 'lease', true));
});

t('the wait is capped by updateTime, the default maximum and commandTimeout', async () => {
  const plain = connect(PROXY_PORT, { commandTimeout: undefined });
  const w = (client, options, updateTime) => newCache(client, options).effectiveWaitMs(updateTime);
  assert.equal(w(plain, { updateTime: 5 }), 5000);
  assert.equal(w(plain, { updateTime: 60 }), DEFAULT_MAX_WAIT_MS);
  assert.equal(DEFAULT_MAX_WAIT_MS, 30000);
  assert.equal(w(plain, { updateTime: 60, waitMs: 45000 }), 45000);
  assert.equal(w(plain, { updateTime: 5, waitMs: 9000 }), 5000);
  assert.equal(w(plain, { updateTime: 5, waitMs: 0 }), 0);
  assert.equal(w(plain, { updateTime: 5 }, 2), 2000);
  assert.equal(w(r, { updateTime: 60, waitMs: 45000 }), 29000); // commandTimeout 30 s
  assert.equal(w(connect(PROXY_PORT, { commandTimeout: 1500 }), { updateTime: 5 }), 750);
});

t('the wait stays below commandTimeout', async () => {
  await holdLease();
  const cache = newCache(connect(PROXY_PORT, { commandTimeout: 1500 }), { timeout: 60, updateTime: 30 });
  const start = Date.now();
  await assert.rejects(cache.get(key, neverCalled), (e) => e instanceof PuppyCacheMiss && e.waitedMs === 750);
  assert.ok(Date.now() - start < 1400, `took ${Date.now() - start} ms`);
});

// --- invalidate ----------------------------------------------------------------------------------

t('invalidate', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  assert.equal(await cache.invalidate(key), false);
  await cache.get(key, async () => B('v1'));
  assert.equal(await cache.invalidate(key), true);
  assert.deepEqual(await d.getBuffer(key), B('v1')); // kept, now stale
  assert.equal(await d.get(status), null);
  const compute = counter(B('v2'));
  assert.deepEqual(await cache.getResult(key, compute), result(B('v2'), 'lease', true));
  assert.equal(compute.calls, 1);
  assert.deepEqual(await cache.getResult(key, neverCalled), result(B('v2'), 'fresh', null));
});

t('invalidate during regeneration: PSET refused, the computed value still returned', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  await cache.get(key, async () => B('old'));
  await makeStale();
  const compute = async () => {
    assert.equal(await cache.invalidate(key), true);
    return B('computed from outdated data');
  };
  assert.deepEqual(await cache.getResult(key, compute), result(B('computed from outdated data'), 'lease', false));
  assert.deepEqual(await d.getBuffer(key), B('old'));
  const again = counter(B('current'));
  assert.deepEqual(await cache.getResult(key, again), result(B('current'), 'lease', true));
  assert.equal(again.calls, 1);
});

// --- timeouts ------------------------------------------------------------------------------------

t('per-call timeouts are passed through', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  await cache.get(key, async () => B('v'), { timeout: 100, updateTime: 7 });
  await assertTtl(key, (100 + 2 * 7) * 1000);
  await assertTtl(status, 100 * 1000);
});

t('default timeouts come from the constructor, else 300/30', async () => {
  await newCache(r, { timeout: 50, updateTime: 4 }).get(key, async () => B('v'));
  await assertTtl(key, (50 + 2 * 4) * 1000);
  await assertTtl(status, 50 * 1000);
  await newCache(r).get('other', async () => B('v'));
  await assertTtl('other', (300 + 2 * 30) * 1000);
});

t("the regenerating caller's timeouts are used", async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5 });
  await cache.get(key, async () => B('old'));
  await makeStale();
  await cache.get(key, async () => B('new'), { timeout: 20, updateTime: 3 });
  await assertTtl(key, (20 + 2 * 3) * 1000);
});

t('the lease lasts updateTime', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 9 });
  await cache.get(key, async () => {
    await assertTtl(status, 9000);
    return B('v');
  });
});

t('invalid times are refused before anything is sent', async () => {
  const cache = newCache(r);
  for (const opts of [{ timeout: 0 }, { timeout: 1.5 }, { updateTime: -1 }, { timeout: '30' },
    { backoff: -1 }]) {
    await assert.rejects(cache.get(key, neverCalled, opts), RangeError, JSON.stringify(opts));
  }
  for (const opts of [{ timeout: 0 }, { waitMs: -1 }, { beta: 0 }, { beta: NaN },
    { onMiss: 'ignore' }, { maxWaitConnections: 0 }]) {
    assert.throws(() => new PuppyCache(r, opts), RangeError, JSON.stringify(opts));
  }
  assert.throws(() => new PuppyCache(null), TypeError);
  assert.deepEqual(await d.keys('*'), []);
});

// --- hooks, beta, errors -------------------------------------------------------------------------

t('encode/decode hooks', async () => {
  const cache = newCache(r, {
    timeout: 60, updateTime: 5, encode: (s) => Buffer.from(s, 'utf8'), decode: (b) => b.toString('utf8'),
  });
  assert.equal(await cache.get(key, async () => 'héllo'), 'héllo');
  assert.deepEqual(await d.getBuffer(key), Buffer.from('héllo', 'utf8'));
  assert.deepEqual(await cache.getResult(key, neverCalled), result('héllo', 'fresh', null));
});

t('beta is sent and accepted', async () => {
  const cache = newCache(r, { timeout: 60, updateTime: 5, beta: 1.5 });
  assert.deepEqual(await cache.getResult(key, async () => B('v')), result(B('v'), 'lease', true));
  assert.deepEqual(await cache.getResult(key, neverCalled), result(B('v'), 'fresh', null));
});

t('not a proxy: a clear error', async () => {
  const cache = newCache(d, { timeout: 60, updateTime: 5 });
  await assert.rejects(cache.get(key, neverCalled), /unknown command/);
});

t('close() disconnects the wait connections', async () => {
  const client = connect(PROXY_PORT);
  const cache = new PuppyCache(client, { timeout: 60, updateTime: 5 });
  const compute = counter(B('v'), { delay: 200 });
  await Promise.all(Array.from({ length: 3 }, () => cache.get(key, compute)));
  assert.equal(cache._open, 2);
  await cache.close();
  assert.equal(cache._open, 0);
  assert.deepEqual(await cache.get(key, neverCalled), B('v')); // a fresh value needs no wait
  assert.equal((await r.call('PGET', 'cold', 60, 5))[0], 'lease'); // someone else regenerates it
  await assert.rejects(cache.get('cold', neverCalled), (e) => e instanceof PuppyCacheError && /closed/.test(e.message));
});
