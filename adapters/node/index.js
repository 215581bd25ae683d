'use strict';
// caddy-session adapter for Connect and Express: express-session's
// `req.session`, kept by Caddy's `session` handler instead of a store.
//
//   const caddySession = require('caddy-session-adapter');
//   app.use(caddySession());            // instead of app.use(session({...}))
//
// Every request must come through Caddy, which sends the session as a
// signed token (`X-Session: <JWT>`). The middleware verifies it (HS256
// pinned, exp required, the secret from SESSION_SECRET; or EdDSA pinned,
// the public keys from Caddy's JWKS at SESSION_JWKS_URL or from
// SESSION_PUBLIC_KEY; aud checked against SESSION_AUDIENCE when set) and gives the data
// as `req.session`. When the response headers go out it answers only what
// the request changed, as update headers: keys set (X-Session-Set), keys
// deleted (X-Session-Delete), regenerate() and destroy() (X-Session-Flush:
// express-session's regenerate drops the data too), cookie.maxAge and
// cookie.expires (X-Session-Expiry). A request without a valid token is
// passed to the error handlers with err.status 401. See docs/adapters.md.

const crypto = require('node:crypto');
const jwt = require('jsonwebtoken');

const UPDATES = ['Flush', 'Delete', 'Set', 'Cycle-Key', 'Expiry'];

/**
 * @param {object} [options]
 * @param {string} [options.secret]    Caddy's `secret` (HS256); default process.env.SESSION_SECRET
 * @param {string} [options.jwksUrl]   the URL of Caddy's `jwks_path` (EdDSA); default process.env.SESSION_JWKS_URL
 * @param {string} [options.publicKey] a PEM public key (EdDSA); default process.env.SESSION_PUBLIC_KEY
 * @param {string} [options.audience]  Caddy's `audience` for this app; default process.env.SESSION_AUDIENCE
 * @param {string} [options.header]    Caddy's `header`; default 'X-Session'
 */
function caddySession(options = {}) {
  const verify = verifier(options);
  const base = options.header || 'X-Session';
  const tokenHeader = base.toLowerCase();

  return function caddySessionMiddleware(req, res, next) {
    if (req.session) return next(); // mounted twice
    verify(req.headers[tokenHeader]).then((claims) => start(req, res, claims, base, next), (e) => {
      const err = new Error('caddy-session: missing or invalid session token');
      err.status = err.statusCode = 401;
      err.expose = true;
      err.code = 'CADDY_SESSION_INVALID';
      err.reason = e.message;
      next(err);
    });
  };
}

// start gives the request its session from verified claims.
function start(req, res, claims, base, next) {
  const state = new State(req, claims);
  req.session = new Session(req, state, claims.data || {}, claims);
  req.sessionID = sessionID(claims);
  req.sessionClaims = claims; // the verified token: new, sid, expires_at, store_error, ...

  // Set the update headers just before the response headers go out
  // (res.end and res.write reach writeHead too), as express-session
  // saves there.
  let sent = null;
  const writeHead = res.writeHead;
  res.writeHead = function caddySessionWriteHead(...args) {
    if (sent === null) {
      sent = '';
      const headers = state.updates(); // throws before setting anything
      for (const name of UPDATES) {
        res.removeHeader(`${base}-${name}`);
        if (headers[name] !== undefined) res.setHeader(`${base}-${name}`, headers[name]);
      }
      sent = JSON.stringify(headers);
    }
    return writeHead.apply(this, args);
  };
  res.on('finish', () => {
    let now;
    try {
      now = JSON.stringify(state.updates());
    } catch {
      return;
    }
    if (sent !== null && now !== sent) {
      console.error('caddy-session: the session changed after the response headers were sent; that change is lost');
    }
  });
  next();
}

/**
 * The token verifier for options: one algorithm, pinned by the key given,
 * never the token's own choice. A key given as an option is used alone;
 * otherwise the environment's, where a JWKS URL or public key wins over
 * SESSION_SECRET. HS256 uses jsonwebtoken; EdDSA uses jose (jsonwebtoken 9
 * has no EdDSA), the JWKS fetched again at once when a kid is unknown (a
 * key rotation) and kept 5 minutes otherwise, as Caddy's Cache-Control says.
 */
function verifier(options) {
  let { secret, jwksUrl, publicKey } = options;
  if (!secret && !jwksUrl && !publicKey) {
    jwksUrl = process.env.SESSION_JWKS_URL;
    publicKey = process.env.SESSION_PUBLIC_KEY;
    if (!jwksUrl && !publicKey) secret = process.env.SESSION_SECRET;
  }
  const audience = options.audience || process.env.SESSION_AUDIENCE || undefined;
  const checked = (claims) => {
    if (typeof claims.exp !== 'number' || claims.data === null || typeof claims.data !== 'object' || Array.isArray(claims.data)) {
      throw new Error('session token without exp or data');
    }
    return claims;
  };
  const present = (token) => {
    if (typeof token !== 'string' || token === '') {
      throw new Error("no session token: the request did not come through Caddy's session handler");
    }
  };
  if (jwksUrl || publicKey) {
    const jose = import('jose'); // an ES module
    const key = jose.then((j) => (jwksUrl
      ? j.createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 0, cacheMaxAge: 300000 })
      : j.importSPKI(publicKey, 'EdDSA')));
    key.catch(() => {}); // reported on each request
    return async (token) => {
      present(token);
      const { payload } = await (await jose).jwtVerify(token, await key, { algorithms: ['EdDSA'], audience, requiredClaims: ['exp'] });
      return checked(payload);
    };
  }
  if (!secret) {
    throw new Error('caddy-session: no key: set SESSION_SECRET (HS256), or SESSION_JWKS_URL or SESSION_PUBLIC_KEY (EdDSA), or pass { secret }, { jwksUrl } or { publicKey }');
  }
  return async (token) => {
    present(token);
    return checked(jwt.verify(token, secret, { algorithms: ['HS256'], audience }));
  };
}

function sessionID(claims) {
  // The token's sid: opaque, stable for one session key, never the cookie.
  return typeof claims.sid === 'string' ? claims.sid : crypto.randomBytes(16).toString('base64url');
}

/** What this request did to the session, turned into update headers. */
class State {
  constructor(req, claims) {
    this.req = req;
    this.flush = false;
    this.expiry = undefined; // seconds, 0 (browser close) or an RFC 3339 time
    this.base = snapshot(claims.data || {});
  }

  updates() {
    const current = this.req.session instanceof Session ? this.req.session : null;
    const now = current ? snapshot(current) : new Map();
    const set = [];
    for (const [k, json] of now) {
      if (this.base.get(k) !== json) set.push(`${JSON.stringify(k)}:${json}`);
    }
    const del = [...this.base.keys()].filter((k) => !now.has(k));
    const h = {};
    if (this.flush) h.Flush = '1';
    if (del.length) h.Delete = ascii(JSON.stringify(del));
    if (set.length) h.Set = ascii(`{${set.join(',')}}`);
    if (this.expiry !== undefined) h.Expiry = String(this.expiry);
    return h;
  }
}

/** The JSON text of each key's value; keys whose value JSON drops (undefined, functions) are absent. */
function snapshot(data) {
  const out = new Map();
  for (const k of Object.keys(data)) {
    if (k === 'cookie') continue;
    let json;
    try {
      json = JSON.stringify(data[k]);
    } catch (e) {
      throw new TypeError(`caddy-session: req.session.${k} cannot be stored as JSON (${e.message}); the session was not saved`);
    }
    if (json !== undefined) out.set(k, json);
  }
  return out;
}

// Header values must be Latin-1 in Node: escape the rest as \uXXXX, which
// is the same JSON.
function ascii(json) {
  return json.replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function later(fn, err) {
  if (typeof fn === 'function') process.nextTick(fn, err || null);
}

/** express-session's Session: the data are its own properties. */
class Session {
  constructor(req, state, data, claims) {
    Object.defineProperty(this, 'req', { value: req });
    Object.defineProperty(this, '_state', { value: state });
    Object.defineProperty(this, 'id', { get: () => req.sessionID, enumerable: false });
    this.cookie = new Cookie(state, claims);
    for (const k of Object.keys(data)) if (k !== 'cookie') this[k] = data[k]; // `cookie` is reserved, as in express-session
  }

  /** A new, empty session under a new key (express-session: destroy, then generate). */
  regenerate(fn) {
    const state = this._state;
    state.flush = true;
    state.base = new Map();
    this.req.sessionID = crypto.randomBytes(16).toString('base64url');
    this.req.session = new Session(this.req, state, {}, { browser_close: this.cookie.expires === null });
    later(fn);
  }

  /** Data and key gone (Django's flush); req.session is removed, as in express-session. */
  destroy(fn) {
    const state = this._state;
    state.flush = true;
    state.base = new Map();
    delete this.req.session;
    later(fn);
  }

  /** Changes go out with the response headers; nothing to do now. */
  save(fn) {
    later(fn);
    return this;
  }

  /** Back to the data the request came with: there is no store to read again. */
  reload(fn) {
    for (const k of Object.keys(this)) if (k !== 'cookie') delete this[k];
    for (const [k, json] of this._state.base) this[k] = JSON.parse(json);
    later(fn);
    return this;
  }

  touch() {
    return this;
  }

  resetMaxAge() {
    return this;
  }
}

/** express-session's Cookie, as far as the session's life goes; the rest is Caddy's config. */
class Cookie {
  constructor(state, claims) {
    Object.defineProperty(this, '_state', { value: state });
    const at = typeof claims.expires_at === 'number' && !claims.browser_close ? new Date(claims.expires_at * 1000) : null;
    Object.defineProperty(this, '_expires', { value: at, writable: true });
    this.originalMaxAge = at ? at.valueOf() - Date.now() : null;
  }

  get expires() {
    return this._expires;
  }

  set expires(date) {
    if (date != null && !(date instanceof Date)) throw new TypeError('cookie.expires must be a Date or null');
    this._expires = date || null;
    this.originalMaxAge = this.maxAge;
    // Django's set_expiry(datetime), or 0: until the browser closes.
    this._state.expiry = date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : 0;
  }

  get maxAge() {
    return this._expires ? this._expires.valueOf() - Date.now() : null;
  }

  set maxAge(ms) {
    if (ms != null && typeof ms !== 'number') throw new TypeError('cookie.maxAge must be a number of milliseconds or null');
    this._expires = ms == null ? null : new Date(Date.now() + ms);
    this.originalMaxAge = ms == null ? null : ms;
    this._state.expiry = ms == null ? 0 : Math.max(0, Math.round(ms / 1000));
  }

  toJSON() {
    return { originalMaxAge: this.originalMaxAge, expires: this._expires };
  }
}

module.exports = caddySession;
module.exports.caddySession = caddySession;
module.exports.Session = Session;
