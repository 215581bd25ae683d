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
// cookie.expires (X-Session-Expiry), touch() (an expiry refresh). Values
// JSON cannot hold (Buffer, Date) travel tagged (./values.js). A request
// without a valid token is passed to the error handlers with err.status
// 401. See docs/adapters.md.

const crypto = require('node:crypto');
const { verifier } = require('./token');
const values = require('./values');

const UPDATES = ['Flush', 'Delete', 'Set', 'Cycle-Key', 'Expiry'];
const EXPIRY_KEY = '_session_expiry';

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
    verify(joinedToken(req.headers, tokenHeader)).then((claims) => start(req, res, claims, base, next), (e) => {
      const err = new Error('caddy-session: missing or invalid session token');
      err.status = err.statusCode = 401;
      err.expose = true;
      err.code = 'CADDY_SESSION_INVALID';
      err.reason = e.message;
      next(err);
    });
  };
}

// joinedToken is the token header joined with X-Session-Part-2, -3, ...
// when Caddy split a long token over several header lines (the signature
// covers the whole, so a part missing or out of place fails verification).
function joinedToken(headers, name) {
  let token = headers[name];
  for (let i = 2; typeof token === 'string' && token !== ''; i++) {
    const part = headers[`${name}-part-${i}`];
    if (typeof part !== 'string' || part === '') break;
    token += part;
  }
  return token;
}

// start gives the request its session from verified claims.
function start(req, res, claims, base, next) {
  const data = values.untagTree(claims.data || {});
  const state = new State(req, claims, data);
  req.session = new Session(req, state, data, claims);
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
      let headers = {};
      try {
        headers = state.updates();
      } catch (e) {
        // A value no convention covers: nothing of the request is sent and
        // the status becomes 500, so Caddy keeps nothing. Not thrown: this
        // often runs in a callback (regenerate, save), where a throw would
        // end the process.
        if (!(e instanceof values.UnstorableValue)) throw e;
        console.error(e.message);
        args[0] = res.statusCode = 500;
        if (typeof args[1] === 'string') args[1] = 'Internal Server Error';
        sent = undefined;
      }
      for (const name of UPDATES) {
        res.removeHeader(`${base}-${name}`);
        if (headers[name] !== undefined) res.setHeader(`${base}-${name}`, headers[name]);
      }
      if (sent === '') sent = JSON.stringify(headers);
    }
    return writeHead.apply(this, args);
  };
  res.on('finish', () => {
    if (!sent) return; // headers never written, or the update failed
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

function sessionID(claims) {
  // The token's sid: opaque, stable for one session key, never the cookie.
  return typeof claims.sid === 'string' ? claims.sid : crypto.randomBytes(16).toString('base64url');
}

/** What this request did to the session, turned into update headers. */
class State {
  constructor(req, claims, data) {
    this.req = req;
    this.flush = false;
    this.touched = false;
    this.expiry = undefined; // seconds, 0 (browser close) or an RFC 3339 time
    // What the request started with, as it would be written back: a value
    // is sent only when its text changes.
    this.base = snapshot(data);
    this.custom = data[EXPIRY_KEY]; // Caddy's custom expiry, as Django keeps it
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
    if (this.expiry !== undefined) {
      h.Expiry = String(this.expiry);
    } else if (this.touched && !this.flush) {
      // touch(): the expiry counts again from now, as express-session's
      // rolling cookie: the session's own lifetime, or Caddy's cookie_age.
      // An absolute expiry (cookie.expires = date) cannot be moved by it.
      if (Number.isSafeInteger(this.custom) && this.custom >= 0) h.Expiry = String(this.custom);
      else if (this.custom === undefined) h.Expiry = 'default';
    }
    return h;
  }
}

/** The JSON text of each key's value, tagged; keys whose value is undefined are absent. */
function snapshot(data) {
  const out = new Map();
  for (const k of Object.keys(data)) {
    if (k === 'cookie') continue;
    let json;
    try {
      json = values.stringify(data[k]);
    } catch (e) {
      if (!(e instanceof values.UnstorableValue)) throw e;
      throw new values.UnstorableValue(`caddy-session: req.session[${JSON.stringify(k)}] cannot be stored (${e.message}); the session was not saved`);
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

// own sets a data property; a key named __proto__ stays data, never the prototype.
function own(obj, k, v) {
  Object.defineProperty(obj, k, { value: v, writable: true, enumerable: true, configurable: true });
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
    for (const k of Object.keys(data)) if (k !== 'cookie') own(this, k, data[k]); // `cookie` is reserved, as in express-session
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
    for (const [k, json] of this._state.base) own(this, k, values.untagTree(JSON.parse(json)));
    later(fn);
    return this;
  }

  /** The expiry counts again from now (X-Session-Expiry with the session's lifetime). */
  touch() {
    this._state.touched = true;
    return this;
  }

  /** express-session's touch() is resetMaxAge(): the same. */
  resetMaxAge() {
    return this.touch();
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
