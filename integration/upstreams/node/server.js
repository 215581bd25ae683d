'use strict';
// Reference upstream for caddy-session: Node's http module + jsonwebtoken.
//
// Caddy's `session` handler sits in front of this app. On every request it
// sends the session as one signed header, `X-Session: <JWT>` (HS256, keyed
// with the same secret Caddy has), and it reads the app's changes back from
// response headers such as `X-Session-Set: {"visits": 3}`. The app never
// touches a cookie or a session store.
//
// Run it:  npm ci && SESSION_SECRET=... node server.js [PORT]   (or env PORT)
//
// Settings (environment); the algorithm is pinned by which key is given:
//   SESSION_SECRET      HS256 (Caddy's default), verified with jsonwebtoken
//   SESSION_JWKS_URL    EdDSA (Caddy's token_alg EdDSA), verified with jose
//                       (jsonwebtoken 9 has no EdDSA) against the JWKS at
//                       Caddy's jwks_path: keys picked by kid, the set cached
//                       and fetched again when a kid is unknown (rotation)
//   SESSION_PUBLIC_KEY  EdDSA with one PEM public key instead of the JWKS
//   SESSION_AUDIENCE    when set, a token whose aud is not this is refused
//
// Routes (the same in the Python and PHP examples):
//   GET  /                 count visits; answer JSON {visits, user, new}
//   POST /login            user=<name> -> log in; new session key; 302 to /
//   POST /logout           end the session (flush); 302 to /
//   POST /expiry?seconds=N set_expiry(N); 0 means "until the browser closes"
//   POST /set              body (a JSON object) is stored as-is
//   GET  /token            the verified token's payload, byte for byte
// Without a valid token every route answers 401.

const http = require('node:http');
const jwt = require('jsonwebtoken');

const PORT = Number(process.argv[2] || process.env.PORT || 8000);
const MAX_BODY = 64 * 1024;
const AUDIENCE = process.env.SESSION_AUDIENCE || undefined;

// verifyToken returns the claims of a valid token, or throws. Each setting
// pins its one algorithm, whatever the token's header says ("none", or
// HS256 keyed with a public key, are refused); exp is required and checked,
// aud when SESSION_AUDIENCE is set.
let verifyToken;
if (process.env.SESSION_JWKS_URL || process.env.SESSION_PUBLIC_KEY) {
  const jose = import('jose'); // an ES module
  const key = jose.then((j) => (process.env.SESSION_JWKS_URL
    // cooldownDuration 0: a new kid (a rotation) is fetched at once, as
    // PyJWKClient does; cacheMaxAge follows Caddy's Cache-Control.
    ? j.createRemoteJWKSet(new URL(process.env.SESSION_JWKS_URL), { cooldownDuration: 0, cacheMaxAge: 300000 })
    : j.importSPKI(process.env.SESSION_PUBLIC_KEY, 'EdDSA')));
  key.catch((err) => {
    console.error('node-upstream: SESSION_PUBLIC_KEY:', err.message);
    process.exit(1);
  });
  verifyToken = async (token) => {
    const { payload } = await (await jose).jwtVerify(token, await key,
      { algorithms: ['EdDSA'], audience: AUDIENCE, requiredClaims: ['exp', 'iat'] });
    return payload;
  };
} else if (process.env.SESSION_SECRET) {
  const secret = process.env.SESSION_SECRET;
  verifyToken = async (token) => jwt.verify(token, secret, { algorithms: ['HS256'], audience: AUDIENCE });
} else {
  console.error('node-upstream: set SESSION_SECRET (HS256), or SESSION_JWKS_URL or SESSION_PUBLIC_KEY (EdDSA)');
  process.exit(1);
}

// verifySession returns {claims, token} for a valid X-Session header, or
// null.
async function verifySession(req) {
  const token = req.headers['x-session'];
  if (typeof token !== 'string' || token === '') return null;
  try {
    return { claims: await verifyToken(token), token };
  } catch (err) {
    console.error('node-upstream: token refused:', err.message);
    return null;
  }
}

function reply(res, status, obj, headers = {}) {
  const body = obj === null ? '' : JSON.stringify(obj);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json' });
  res.end(body);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://upstream');
  const body = await readBody(req);
  if (body === null) return reply(res, 413, { error: 'body too large' }, { Connection: 'close' });
  const session = await verifySession(req);
  if (!session) return reply(res, 401, { error: 'missing or invalid X-Session token' });
  const { claims, token } = session;
  const data = claims.data || {};
  const route = `${req.method} ${url.pathname}`;

  if (route === 'GET /') {
    const visits = (Number(data.visits) || 0) + 1;
    // Django: request.session["visits"] = visits
    return reply(res, 200, { visits, user: data.user ?? null, new: claims.new },
      { 'X-Session-Set': JSON.stringify({ visits }) });
  }

  if (route === 'POST /login') {
    const form = new URLSearchParams(body.toString('utf8'));
    const user = form.get('user') || url.searchParams.get('user');
    if (!user) return reply(res, 400, { error: 'user is required' });
    // Django's login(): store the user, then cycle_key() so that a session
    // id fixed before login is worthless afterwards. JSON.stringify would
    // keep non-ASCII raw, and Node refuses header characters above U+00FF:
    // escape them as \uXXXX, which is the same JSON.
    const set = JSON.stringify({ user }).replace(/[\u007f-\uffff]/g,
      (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
    return reply(res, 302, null, { Location: '/', 'X-Session-Set': set, 'X-Session-Cycle-Key': '1' });
  }

  if (route === 'POST /logout') {
    // Django's logout(): session.flush() deletes data and key.
    return reply(res, 302, null, { Location: '/', 'X-Session-Flush': '1' });
  }

  if (route === 'POST /expiry') {
    const seconds = url.searchParams.get('seconds') || '';
    if (!/^[0-9]+$/.test(seconds)) return reply(res, 400, { error: 'seconds must be a non-negative integer' });
    const n = Number(seconds);
    // set_expiry(n) alone does not modify the session; the Set does.
    return reply(res, 200, { expiry: n },
      { 'X-Session-Expiry': String(n), 'X-Session-Set': JSON.stringify({ expiry_set: n }) });
  }

  if (route === 'POST /set') {
    let ok = false;
    try {
      const v = JSON.parse(body.toString('utf8'));
      ok = v !== null && typeof v === 'object' && !Array.isArray(v);
    } catch {}
    if (!ok || /[\r\n\0]/.test(body.toString('latin1'))) {
      return reply(res, 400, { error: 'body must be a one-line JSON object' });
    }
    // Node writes header strings as Latin-1, one byte per character: the
    // body decoded as Latin-1 goes out byte for byte (raw UTF-8 included).
    return reply(res, 200, { ok: true }, { 'X-Session-Set': body.toString('latin1') });
  }

  if (route === 'GET /token') {
    // jsonwebtoken has verified the token; now show the payload's exact
    // JSON text (JSON.parse would round 9007199254740993).
    const payload = Buffer.from(token.split('.')[1], 'base64url');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
    return res.end(payload);
  }

  return reply(res, 404, { error: 'not found' });
}

http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error('node-upstream:', err);
    if (!res.headersSent) reply(res, 500, { error: 'internal error' });
    else res.destroy();
  });
}).listen(PORT, '127.0.0.1', () => {
  console.error(`node-upstream: listening on 127.0.0.1:${PORT}`);
});
