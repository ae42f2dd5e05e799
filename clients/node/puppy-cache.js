// puppy-cache: django-puppy-cache's one-call `pget(key, compute, timeout, update_time)` on top of
// puppy-proxy's PGET family (see docs/pget.md and clients/README.md), for ioredis 5.
//
//   const Redis = require('ioredis');
//   const { PuppyCache } = require('./puppy-cache');
//   const cache = new PuppyCache(new Redis(6380), { timeout: 300, updateTime: 30 });
//   const value = await cache.get('report:42', () => buildReportBuffer(42));
//
// One get() is one PGET (plus PSET or PRELEASE when this caller regenerates):
//   fresh / stale: resolves to the stored value (a stale one at once, while someone else
//     regenerates it).
//   lease: awaits compute(), stores the result with PSET and resolves to it (also when the PSET is
//     refused because the lease was lost meanwhile). If compute() (or encode) throws, the lease is
//     given back with PRELEASE (BACKOFF when a back-off is configured) and get() rejects with
//     compute's error.
//   miss (no value, someone else regenerates it): PGET ... WAIT is sent on a separate connection
//     (see below), so the proxy holds it until the value is published and answers fresh; if the
//     lease holder gives up or vanishes meanwhile, this caller gets the lease and regenerates. If
//     the wait runs out (or a back-off with no value is in force), onMiss decides: 'raise'
//     (default) rejects with PuppyCacheMiss; 'compute' resolves to compute()'s result, unstored.
//
// Why a separate connection for waiting: ioredis multiplexes every command of a client on one
// connection, and a waiting PGET holds back the requests sent after it on its connection (like
// BLPOP). A PSET on the same connection, the one that would end the wait, would be stuck behind
// it. So the first PGET never waits; only a `miss` is retried with WAIT on a small pool of
// connections made with redis.duplicate(), one waiting PGET per connection at a time. Call
// close() to disconnect them.
'use strict';

// The longest a cold-miss WAIT lasts unless waitMs says otherwise (it is also at most
// updateTime * 1000, the proxy's limit, and stays below the client's commandTimeout).
const DEFAULT_MAX_WAIT_MS = 30_000;
const STATES = new Set(['fresh', 'stale', 'lease', 'miss']);

class PuppyCacheError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PuppyCacheError';
  }
}

// No value, someone else holds the lease (or regeneration is backing off), and the wait ran out.
class PuppyCacheMiss extends PuppyCacheError {
  constructor(key, waitedMs) {
    super(`puppy cache miss for ${JSON.stringify(String(key))}: no value, another client is ` +
          `regenerating it or regeneration is backing off, and the wait (${waitedMs} ms) ran out`);
    this.name = 'PuppyCacheMiss';
    this.code = 'PUPPY_CACHE_MISS';
    this.key = key;
    this.waitedMs = waitedMs;
  }
}

function wholeNumber(name, value, min, unit) {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be whole ${unit}, at least ${min}; got ${String(value)}`);
  }
  return value;
}

function defaultEncode(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const type = value === null ? 'null' : typeof value === 'object' ? value.constructor?.name : typeof value;
  throw new TypeError(`compute() returned ${type}; puppy-cache stores Buffers ` +
                      '(pass encode/decode options to store other types)');
}

const identity = (value) => value;

class PuppyCache {
  // redis: an ioredis client connected to puppy-proxy. Options:
  //   timeout (300): seconds a value stays fresh. updateTime (30): seconds a lease holder has to
  //     regenerate (the data key lives timeout + 2 * updateTime).
  //   waitMs (null): how long a cold miss waits for another client's regeneration. null:
  //     min(updateTime * 1000, DEFAULT_MAX_WAIT_MS); 0: no wait. Always capped at
  //     updateTime * 1000 and below the client's commandTimeout.
  //   beta (null): XFetch early refresh factor (PGET BETA).
  //   backoff (0): seconds of stale-if-error after compute() fails (PRELEASE BACKOFF).
  //   onMiss ('raise'): 'raise' (PuppyCacheMiss) or 'compute' (compute without storing).
  //   encode / decode: value -> Buffer before PSET, Buffer -> value after PGET. By default values
  //     are Buffers (a Uint8Array is accepted; anything else is a TypeError).
  //   maxWaitConnections (8): at most this many waiting PGETs at once; more callers queue for a
  //     connection within their own wait time.
  constructor(redis, options = {}) {
    const {
      timeout = 300, updateTime = 30, waitMs = null, beta = null, backoff = 0,
      onMiss = 'raise', encode = null, decode = null, maxWaitConnections = 8,
    } = options;
    if (!redis || typeof redis.callBuffer !== 'function') {
      throw new TypeError('PuppyCache needs an ioredis client (with call/callBuffer)');
    }
    this.redis = redis;
    this.timeout = wholeNumber('timeout', timeout, 1, 'seconds');
    this.updateTime = wholeNumber('updateTime', updateTime, 1, 'seconds');
    this.waitMs = waitMs === null ? null : wholeNumber('waitMs', waitMs, 0, 'milliseconds');
    if (beta !== null && !(typeof beta === 'number' && Number.isFinite(beta) && beta > 0)) {
      throw new RangeError(`beta must be null or a positive number; got ${String(beta)}`);
    }
    this.beta = beta;
    this.backoff = backoff === null ? 0 : wholeNumber('backoff', backoff, 0, 'seconds');
    if (onMiss !== 'raise' && onMiss !== 'compute') {
      throw new RangeError(`onMiss must be 'raise' or 'compute'; got ${String(onMiss)}`);
    }
    this.onMiss = onMiss;
    this.encode = encode || defaultEncode;
    this.decode = decode || identity;
    this.maxWaitConnections = wholeNumber('maxWaitConnections', maxWaitConnections, 1, 'connections');
    this._idle = [];   // wait connections not in use
    this._open = 0;    // wait connections open (idle or in use)
    this._queue = [];  // callers waiting for a wait connection: {resolve, timer}
    this._closed = false;
  }

  // The value of key: cached (fresh or stale), or compute()'d and stored by this caller if it
  // holds the lease. opts: {timeout, updateTime, backoff}, defaulting to the constructor's.
  async get(key, compute, opts = {}) {
    return (await this.getResult(key, compute, opts)).value;
  }

  // Like get(), but resolves to {value, state, stored}: state is the PGET answer that decided
  // ('fresh', 'stale', 'lease' when this caller computed, 'miss' when it computed without a lease
  // with onMiss 'compute'); stored is, for 'lease', whether PSET stored the value, else null.
  async getResult(key, compute, opts = {}) {
    if (typeof compute !== 'function') throw new TypeError('compute must be a function');
    const timeout = opts.timeout == null ? this.timeout : wholeNumber('timeout', opts.timeout, 1, 'seconds');
    const updateTime = opts.updateTime == null ? this.updateTime
      : wholeNumber('updateTime', opts.updateTime, 1, 'seconds');
    const backoff = opts.backoff == null ? this.backoff : wholeNumber('backoff', opts.backoff, 0, 'seconds');
    const waitMs = this.effectiveWaitMs(updateTime);

    const args = [key, timeout, updateTime];
    if (this.beta !== null) args.push('BETA', String(this.beta));
    let reply = await this._pget(this.redis, args);
    if (reply.state === 'miss' && waitMs > 0) reply = await this._wait(key, timeout, updateTime, waitMs);

    switch (reply.state) {
      case 'fresh':
      case 'stale':
        return { value: this.decode(reply.value), state: reply.state, stored: null };
      case 'lease':
        return this._regenerate(key, reply.token, compute, timeout, updateTime, backoff);
      default:
        if (this.onMiss === 'compute') return { value: await compute(), state: 'miss', stored: null };
        throw new PuppyCacheMiss(key, waitMs);
    }
  }

  // PINVALIDATE: marks the value stale (the next get() regenerates it, others keep getting the
  // old value meanwhile) and cancels a regeneration in flight. Resolves to true if a value existed.
  async invalidate(key) {
    return Number(await this.redis.call('PINVALIDATE', key)) === 1;
  }

  // The WAIT a cold miss uses for this updateTime (0: none).
  effectiveWaitMs(updateTime = this.updateTime) {
    let wait = Math.min(this.waitMs === null ? DEFAULT_MAX_WAIT_MS : this.waitMs, updateTime * 1000);
    const commandTimeout = this.redis.options && this.redis.options.commandTimeout;
    if (typeof commandTimeout === 'number' && commandTimeout > 0) {
      // Leave the reply time to arrive: a second, or half the timeout if that is shorter.
      wait = Math.min(wait, commandTimeout - Math.min(1000, Math.floor(commandTimeout / 2)));
    }
    return Math.max(0, Math.floor(wait));
  }

  // Disconnects the wait connections (the given client is left alone). Waits in flight finish
  // first; afterwards a get() that would have to wait rejects with PuppyCacheError.
  async close() {
    this._closed = true;
    for (const entry of this._queue.splice(0)) {
      clearTimeout(entry.timer);
      entry.resolve(null);
    }
    const idle = this._idle.splice(0);
    this._open -= idle.length;
    await Promise.all(idle.map((conn) => this._disconnect(conn)));
  }

  // -- internals ----------------------------------------------------------------------------

  async _pget(conn, args) {
    const reply = await conn.callBuffer('PGET', ...args);
    if (!Array.isArray(reply) || reply.length !== 3 || !Buffer.isBuffer(reply[0])) {
      throw new PuppyCacheError(`unexpected PGET reply ${JSON.stringify(reply)} (is this puppy-proxy?)`);
    }
    const [stateBuffer, value, token] = reply;
    const state = stateBuffer.toString('latin1');
    if (!STATES.has(state) || ((state === 'fresh' || state === 'stale') && value === null) ||
        (state === 'lease' && !token)) {
      throw new PuppyCacheError(`unexpected PGET reply ${JSON.stringify(reply)}`);
    }
    return { state, value, token };
  }

  async _regenerate(key, token, compute, timeout, updateTime, backoff) {
    let value;
    let data;
    try {
      value = await compute();
      data = this.encode(value);
    } catch (error) {
      await this._releaseLease(key, token, backoff, error);
      throw error;
    }
    const stored = Number(await this.redis.call('PSET', key, token, data, timeout, updateTime)) === 1;
    return { value, state: 'lease', stored };
  }

  async _releaseLease(key, token, backoff, error) {
    const args = backoff > 0 ? [key, token, 'BACKOFF', backoff] : [key, token];
    try {
      await this.redis.call('PRELEASE', ...args);
    } catch (releaseError) {
      // The lease then lapses by itself after updateTime; the caller sees compute's error.
      if (error && typeof error === 'object') error.puppyReleaseError = releaseError;
    }
  }

  // PGET ... WAIT on a wait connection, within waitMs from now. A caller that gets no connection
  // before its wait runs out looks once more without waiting.
  async _wait(key, timeout, updateTime, waitMs) {
    if (this._closed) throw new PuppyCacheError('PuppyCache is closed: it cannot wait for a value');
    const deadline = Date.now() + waitMs;
    const conn = await this._acquire(waitMs);
    const remaining = deadline - Date.now();
    if (!conn || remaining <= 0) {
      if (conn) this._giveBack(conn, true);
      return this._pget(this.redis, [key, timeout, updateTime]);
    }
    let healthy = false;
    try {
      const reply = await this._pget(conn, [key, timeout, updateTime, 'WAIT', remaining]);
      healthy = true;
      return reply;
    } finally {
      this._giveBack(conn, healthy);
    }
  }

  _acquire(withinMs) {
    if (this._idle.length > 0) return Promise.resolve(this._idle.pop());
    if (this._open < this.maxWaitConnections) return Promise.resolve(this._connect());
    return new Promise((resolve) => {
      const entry = { resolve, timer: null };
      entry.timer = setTimeout(() => {
        const i = this._queue.indexOf(entry);
        if (i >= 0) this._queue.splice(i, 1);
        resolve(null);
      }, withinMs);
      this._queue.push(entry);
    });
  }

  _connect() {
    this._open += 1;
    const conn = this.redis.duplicate();
    conn.on('error', () => {}); // errors surface through the rejected commands
    return conn;
  }

  _giveBack(conn, healthy) {
    if (!healthy || this._closed) {
      this._open -= 1;
      this._disconnect(conn);
      if (!this._closed && this._queue.length > 0) this._handTo(this._queue.shift(), this._connect());
    } else if (this._queue.length > 0) {
      this._handTo(this._queue.shift(), conn);
    } else {
      this._idle.push(conn);
    }
  }

  _handTo(entry, conn) {
    clearTimeout(entry.timer);
    entry.resolve(conn);
  }

  _disconnect(conn) {
    if (conn.status === 'end') return Promise.resolve();
    return new Promise((resolve) => {
      conn.once('end', resolve);
      conn.disconnect();
    });
  }
}

module.exports = { PuppyCache, PuppyCacheError, PuppyCacheMiss, DEFAULT_MAX_WAIT_MS };
