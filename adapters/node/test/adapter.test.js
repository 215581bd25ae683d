'use strict';
// The adapter in process, behind a real Express app on an ephemeral port:
// the token checks, the exact update headers each req.session call
// produces, when they are made, and the value tags.
//
//   cd adapters/node && node --test

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const express = require('express');
const jwt = require('jsonwebtoken');
const caddySession = require('..');
const values = require('../values');

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';

function token(data = {}, { secret = SECRET, ttl = 60, ...claims } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ data, iat: now, exp: now + ttl, new: Object.keys(data).length === 0, ...claims }, secret, { algorithm: 'HS256', noTimestamp: true });
}

function edToken(privateKey, kid, data = {}, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = enc({ alg: 'EdDSA', typ: 'JWT', ...(kid ? { kid } : {}) });
  const body = enc({ data, iat: now, exp: now + 60, ...claims });
  const sig = crypto.sign(null, Buffer.from(`${head}.${body}`), privateKey).toString('base64url');
  return `${head}.${body}.${sig}`;
}

const servers = [];
after(() => {
  for (const s of servers) {
    s.close();
    s.closeAllConnections();
  }
});

/** Starts an http server for handler on an ephemeral port; its base URL. */
async function serve(handler) {
  const server = http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${server.address().port}`;
}

/** The session update headers of a response, in the order the adapter names them. */
function updates(resp) {
  const out = [];
  for (const name of ['Flush', 'Delete', 'Set', 'Cycle-Key', 'Expiry']) {
    const v = resp.headers.get(`x-session-${name}`);
    if (v !== null) out.push([`X-Session-${name}`, v]);
  }
  return out;
}

/** console.error's lines while fn runs. */
async function capturingErrors(fn) {
  const lines = [];
  const orig = console.error;
  console.error = (...args) => lines.push(args.join(' '));
  try {
    return { result: await fn(), lines };
  } finally {
    console.error = orig;
  }
}

/** An Express app with the adapter whose route /do runs action(req, res) and then answers "ok". */
async function appDoing(options = { secret: SECRET }) {
  const app = express();
  app.use(caddySession(options));
  let action = () => {};
  app.get('/do', (req, res, next) => {
    try {
      if (action(req, res, next) !== 'answered') res.send('ok');
    } catch (e) {
      next(e);
    }
  });
  app.get('/dump', (req, res) => {
    const out = {};
    for (const k of Object.keys(req.session)) {
      if (k === 'cookie') continue;
      const v = req.session[k];
      out[k] = { type: Buffer.isBuffer(v) ? 'Buffer' : v instanceof Date ? 'Date' : Array.isArray(v) ? 'Array' : typeof v, json: JSON.stringify(values.tag(v)) };
    }
    res.json(out);
  });
  app.use((err, req, res, next) => {
    res.status(err.status || 500).send(err.message);
  });
  const base = await serve(app);
  return {
    base,
    async run(fn, data, claims) {
      action = fn;
      return fetch(`${base}/do`, { headers: { 'x-session': token(data, claims) } });
    },
  };
}

describe('tokens', () => {
  let base;
  let reached = false;
  before(async () => {
    const app = express();
    app.use(caddySession({ secret: SECRET, audience: 'node-app' }));
    app.get('/', (req, res) => {
      reached = true;
      req.session.k = 1;
      res.send('ok');
    });
    app.use((err, req, res, next) => res.status(err.status).send(err.code));
    base = await serve(app);
  });

  const refused = async (headers) => {
    reached = false;
    const resp = await fetch(base, { headers });
    assert.equal(resp.status, 401);
    assert.equal(await resp.text(), 'CADDY_SESSION_INVALID');
    assert.deepEqual(updates(resp), []);
    assert.equal(reached, false, 'the route ran on a refused token');
  };

  test('missing', () => refused({}));
  test('forged', () => refused({ 'x-session': token({ user: 'x' }, { secret: 'another-secret-of-at-least-32-bytes!', aud: 'node-app' }) }));
  test('expired', () => refused({ 'x-session': token({ user: 'x' }, { ttl: -120, aud: 'node-app' }) }));
  test('wrong audience', () => refused({ 'x-session': token({ user: 'x' }, { aud: 'php-app' }) }));
  test('no audience', () => refused({ 'x-session': token({ user: 'x' }) }));
  test('alg none', () => {
    const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    return refused({ 'x-session': `${enc({ alg: 'none' })}.${enc({ data: {}, exp: 4102444800, aud: 'node-app' })}.` });
  });
  test('payload swapped under a valid signature', () => {
    const [h, , s] = token({ user: 'alice' }, { aud: 'node-app' }).split('.');
    const p = Buffer.from(JSON.stringify({ data: { user: 'mallory' }, exp: 4102444800, aud: 'node-app' })).toString('base64url');
    return refused({ 'x-session': `${h}.${p}.${s}` });
  });
  test('a token in parts', async () => {
    // Caddy splits a long token over X-Session, X-Session-Part-2, -3, ...
    const tok = token({ big: 'x'.repeat(300) }, { aud: 'node-app' });
    const [a, b, c] = [tok.slice(0, 100), tok.slice(100, 250), tok.slice(250)];
    const resp = await fetch(base, { headers: { 'x-session': a, 'x-session-part-2': b, 'x-session-part-3': c } });
    assert.equal(resp.status, 200);
    await refused({ 'x-session': a, 'x-session-part-3': c });
    await refused({ 'x-session': a, 'x-session-part-2': c, 'x-session-part-3': b });
  });
  test('valid', async () => {
    const resp = await fetch(base, { headers: { 'x-session': token({}, { aud: 'node-app' }) } });
    assert.equal(resp.status, 200);
    assert.deepEqual(updates(resp), [['X-Session-Set', '{"k":1}']]);
  });

  test('EdDSA: public key and JWKS, rotation, key confusion', async () => {
    const one = crypto.generateKeyPairSync('ed25519');
    const two = crypto.generateKeyPairSync('ed25519');
    const jwk = (k, kid) => ({ ...k.publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' });
    let published = [jwk(one, 'one')];
    const jwksUrl = await serve((req, res) => {
      res.setHeader('content-type', 'application/jwk-set+json');
      res.end(JSON.stringify({ keys: published }));
    });
    const pem = one.publicKey.export({ format: 'pem', type: 'spki' });
    for (const options of [{ publicKey: pem }, { jwksUrl }]) {
      const app = express();
      app.use(caddySession(options));
      app.get('/', (req, res) => res.send('ok'));
      app.use((err, req, res, next) => res.status(err.status).end());
      const url = await serve(app);
      const status = async (tok) => (await fetch(url, { headers: { 'x-session': tok } })).status;
      assert.equal(await status(edToken(one.privateKey, 'one')), 200);
      assert.equal(await status(edToken(two.privateKey, 'one')), 401, 'another key under the same kid');
      assert.equal(await status(token({})), 401, 'HS256 with the secret when EdDSA is pinned');
      assert.equal(await status(token({}, { secret: pem })), 401, 'HS256 keyed with the public key');
      if (options.jwksUrl) {
        assert.equal(await status(edToken(two.privateKey, 'two')), 401, 'a kid the JWKS does not have');
        published = [jwk(two, 'two'), jwk(one, 'one')]; // a rotation: fetched again for the unknown kid
        assert.equal(await status(edToken(two.privateKey, 'two')), 200);
      }
    }
  });
});

describe('update headers', () => {
  let app;
  before(async () => {
    app = await appDoing();
  });
  const start = { user: 'alice', n: 1, cart: [1, 2] };
  const cases = [
    ['read only', (req) => void req.session.user, []],
    ['set', (req) => { req.session.k = 'v'; }, [['X-Session-Set', '{"k":"v"}']]],
    ['the same value', (req) => { req.session.n = 1; }, []],
    ['change in place', (req) => { req.session.cart.push(3); }, [['X-Session-Set', '{"cart":[1,2,3]}']]],
    ['non-ASCII', (req) => { req.session.name = 'zoë'; }, [['X-Session-Set', '{"name":"zo\\u00eb"}']]],
    ['delete', (req) => { delete req.session.n; }, [['X-Session-Delete', '["n"]']]],
    ['set to undefined', (req) => { req.session.n = undefined; }, [['X-Session-Delete', '["n"]']]],
    ['regenerate', (req, res) => {
      req.session.regenerate(() => {
        req.session.user = 'bob';
        res.send('ok');
      });
      return 'answered';
    }, [['X-Session-Flush', '1'], ['X-Session-Set', '{"user":"bob"}']]],
    ['destroy', (req, res) => {
      req.session.destroy(() => res.send('ok'));
      return 'answered';
    }, [['X-Session-Flush', '1']]],
    ['save', (req, res) => {
      req.session.k = 2;
      req.session.save(() => res.send('ok'));
      return 'answered';
    }, [['X-Session-Set', '{"k":2}']]],
    ['reload', (req, res) => {
      req.session.n = 5;
      req.session.reload(() => res.send('ok'));
      return 'answered';
    }, []],
    ['cookie.maxAge', (req) => { req.session.cookie.maxAge = 30 * 86400 * 1000; }, [['X-Session-Expiry', '2592000']]],
    ['cookie.maxAge null', (req) => { req.session.cookie.maxAge = null; }, [['X-Session-Expiry', '0']]],
    ['cookie.expires', (req) => { req.session.cookie.expires = new Date('2030-01-02T03:04:05Z'); }, [['X-Session-Expiry', '2030-01-02T03:04:05Z']]],
    ['touch', (req) => { req.session.touch(); }, [['X-Session-Expiry', 'default']]],
    ['resetMaxAge', (req) => { req.session.resetMaxAge(); }, [['X-Session-Expiry', 'default']]],
    ['touch, then maxAge', (req) => { req.session.touch(); req.session.cookie.maxAge = 60000; }, [['X-Session-Expiry', '60']]],
  ];
  for (const [name, action, want] of cases) {
    test(name, async () => {
      const resp = await app.run(action, start);
      assert.equal(resp.status, 200);
      assert.deepEqual(updates(resp), want);
    });
  }
  test('touch keeps a custom lifetime', async () => {
    const resp = await app.run((req) => { req.session.touch(); }, { ...start, _session_expiry: 3600 });
    assert.deepEqual(updates(resp), [['X-Session-Expiry', '3600']]);
  });
  test('touch cannot move an absolute expiry', async () => {
    const resp = await app.run((req) => { req.session.touch(); }, { ...start, _session_expiry: '2030-01-02T03:04:05Z' });
    assert.deepEqual(updates(resp), []);
  });
  test('headers the app set are replaced', async () => {
    const resp = await app.run((req, res) => {
      res.setHeader('X-Session-Set', '{"admin":true}');
      res.setHeader('x-session-flush', '1');
      req.session.k = 1;
    }, {});
    assert.deepEqual(updates(resp), [['X-Session-Set', '{"k":1}']]);
  });
});

describe('when the update is made', () => {
  let app;
  before(async () => {
    app = await appDoing();
  });
  test('a change in the callback of an async step, before res.end, is sent', async () => {
    const resp = await app.run((req, res) => {
      setImmediate(() => {
        req.session.later = true;
        res.end('ok');
      });
      return 'answered';
    }, {});
    assert.deepEqual(updates(resp), [['X-Session-Set', '{"later":true}']]);
  });
  test('a change after the headers left is logged, not sent', async () => {
    const { result: resp, lines } = await capturingErrors(async () => {
      const r = await app.run((req, res) => {
        res.write('first');
        req.session.late = true;
        res.end('second');
        return 'answered';
      }, {});
      await r.text();
      return r;
    });
    assert.deepEqual(updates(resp), []);
    assert.match(lines.join('\n'), /changed after the response headers were sent/);
  });
});

describe('values', () => {
  let app;
  before(async () => {
    app = await appDoing();
  });

  test('written tagged', async () => {
    const cases = [
      ['Buffer', Buffer.from([0, 255, 98]), '{" b":"AP9i"}'],
      ['Uint8Array', new Uint8Array([1, 2]), '{" b":"AQI="}'],
      ['Date', new Date('2026-12-05T07:00:00.123Z'), '{" tm":"2026-12-05T07:00:00.123000000Z"}'],
      ['an object whose key is a tag', { ' t': [1] }, '{" di":{" t__":[1]}}'],
      ['nested', { a: [Buffer.from('x'), new Date(0)] }, '{"a":[{" b":"eA=="},{" tm":"1970-01-01T00:00:00.000000000Z"}]}'],
    ];
    for (const [name, value, wire] of cases) {
      const resp = await app.run((req) => { req.session.v = value; }, {});
      assert.deepEqual(updates(resp), [['X-Session-Set', `{"v":${wire}}`]], name);
    }
  });

  test('every tag read as its native type, and left alone', async () => {
    const data = {
      b: { ' b': 'AP9i' },
      t: { ' t': [1, 'a'] },
      u: { ' u': '9f0c3c1e-4d2a-4b7e-8f00-0123456789ab' },
      m: { ' m': '<b>x</b>' },
      d: { ' d': 'Wed, 21 Oct 2015 07:28:00 GMT' },
      tm: { ' tm': '2026-12-05T08:00:00.123456789+01:00' },
      sym: { ' sym': 'admin' },
      php: { ' php': { c: 'Cart', s: { ' b': 'AAE=' }, h: 'ab' } },
      di: { ' di': { ' t__': 'not a tuple' } },
      unknown: { ' zz': 1 },
      malformed: { ' b': '***' },
    };
    const resp = await fetch(`${app.base}/dump`, { headers: { 'x-session': token(data) } });
    assert.deepEqual(updates(resp), [], 'values read and left alone are sent again');
    const got = await resp.json();
    const want = {
      b: ['Buffer', '{" b":"AP9i"}'],
      t: ['Array', '[1,"a"]'],
      u: ['string', '"9f0c3c1e-4d2a-4b7e-8f00-0123456789ab"'],
      m: ['string', '"<b>x</b>"'],
      d: ['Date', '{" tm":"2015-10-21T07:28:00.000000000Z"}'],
      tm: ['Date', '{" tm":"2026-12-05T07:00:00.123000000Z"}'],
      sym: ['string', '"admin"'],
      php: ['object', '{" php":{"c":"Cart","s":{" b":"AAE="},"h":"ab"}}'],
      di: ['object', '{" di":{" t__":"not a tuple"}}'],
      unknown: ['object', '{" zz":1}'],
      malformed: ['object', '{" di":{" b__":"***"}}'],
    };
    for (const [k, [type, json]] of Object.entries(want)) {
      assert.deepEqual([got[k].type, got[k].json], [type, json], k);
    }
  });

  test('a round trip gives the same value', async () => {
    const value = { buf: Buffer.from([1, 2, 3]), when: new Date('2026-01-02T03:04:05.678Z'), list: [1, { ' sym': 'x' }] };
    const resp = await app.run((req) => { req.session.v = value; }, {});
    const sent = JSON.parse(updates(resp)[0][1]);
    let back;
    await app.run((req) => { back = req.session.v; }, sent);
    assert.deepEqual(back, { buf: Buffer.from([1, 2, 3]), when: new Date('2026-01-02T03:04:05.678Z'), list: [1, { ' sym': 'x' }] });
  });

  test('a value no convention covers: 500, nothing sent, the key named', async () => {
    for (const [name, value] of [['big', 1n], ['nan', NaN], ['inf', Infinity], ['map', new Map()], ['fn', () => 1], ['set', new Set([1])]]) {
      const { result: resp, lines } = await capturingErrors(() => app.run((req) => {
        req.session.fine = 'changed';
        req.session[name] = value;
      }, { ok: 1 }));
      assert.equal(resp.status, 500, name);
      assert.deepEqual(updates(resp), [], name);
      assert.match(lines.join('\n'), new RegExp(`req\\.session\\["${name}"\\] cannot be stored`), name);
    }
  });

  test('a value no convention covers, in a callback: 500, and the process lives', async () => {
    const { result: resp } = await capturingErrors(() => app.run((req, res) => {
      req.session.regenerate(() => {
        req.session.big = 1n;
        res.redirect('/');
      });
      return 'answered';
    }, {}));
    assert.equal(resp.status, 500);
    assert.deepEqual(updates(resp), []);
    const again = await app.run((req) => { req.session.k = 1; }, {});
    assert.equal(again.status, 200);
  });

  test('a PHP object goes back as it came; an object of the app\'s own is escaped', async () => {
    const php = { ' php': { c: 'Cart', s: { ' b': 'AAE=' }, h: 'ab' } };
    const resp = await app.run((req) => {
      req.session.copies = [req.session.p, req.session.p];
      req.session.mine = { ' php': "an object of the app's own" };
    }, { p: php });
    assert.deepEqual(JSON.parse(updates(resp)[0][1]), { copies: [php, php], mine: { ' di': { ' php__': "an object of the app's own" } } });
  });

  test('a cycle', () => {
    const v = {};
    v.self = v;
    assert.throws(() => values.stringify(v), /a cycle at \.self/);
  });
});
