'use strict';
// Verifies Caddy's session token with node:crypto alone, so that the
// package has no runtime dependency and `npm install <path>/adapters/node`
// works from any app folder (npm links a folder without installing its
// dependencies). One algorithm, pinned by the key given, never the token's
// own choice: HS256 with the secret (HMAC compared in constant time), or
// EdDSA (Ed25519) with a PEM public key or the JWKS Caddy serves.

const crypto = require('node:crypto');

const B64URL = /^[A-Za-z0-9_-]*$/;
const JWKS_MAX_AGE_MS = 300000; // Caddy's Cache-Control: max-age=300

function b64url(part, what) {
  if (typeof part !== 'string' || !B64URL.test(part)) throw new Error(`malformed token: ${what} is not base64url`);
  return Buffer.from(part, 'base64url');
}

function json(part, what) {
  let v;
  try {
    v = JSON.parse(b64url(part, what).toString('utf8'));
  } catch (e) {
    throw new Error(`malformed token: ${what} is not JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`malformed token: ${what} is not an object`);
  return v;
}

/** The Ed25519 public keys of a JWKS document, by kid. */
function jwksKeys(doc) {
  const keys = new Map();
  for (const jwk of Array.isArray(doc && doc.keys) ? doc.keys : []) {
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || (jwk.alg && jwk.alg !== 'EdDSA') || (jwk.use && jwk.use !== 'sig')) continue;
    try {
      keys.set(jwk.kid, crypto.createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' }));
    } catch {
      // a key Node cannot read is no key
    }
  }
  return keys;
}

/** Keys from Caddy's jwks_path: kept 5 minutes, fetched again at once for an unknown kid (a rotation). */
function remoteKeys(url) {
  let keys = new Map();
  let fetched = 0;
  let pending = null;
  const refresh = () => {
    pending = pending || (async () => {
      try {
        const resp = await fetch(url, { headers: { accept: 'application/jwk-set+json, application/json' } });
        if (!resp.ok) throw new Error(`JWKS ${url}: status ${resp.status}`);
        keys = jwksKeys(await resp.json());
        fetched = Date.now();
      } finally {
        pending = null;
      }
    })();
    return pending;
  };
  return async (kid) => {
    if (Date.now() - fetched > JWKS_MAX_AGE_MS || (kid !== undefined && !keys.has(kid))) await refresh();
    if (kid === undefined && keys.size === 1) return keys.values().next().value;
    const key = keys.get(kid);
    if (!key) throw new Error('no key in the JWKS for the token\'s kid');
    return key;
  };
}

/**
 * verifier(options) is an async function from a token to its verified
 * claims; it throws an Error saying why a token is refused.
 */
function verifier(options) {
  let { secret, jwksUrl, publicKey } = options;
  if (!secret && !jwksUrl && !publicKey) {
    jwksUrl = process.env.SESSION_JWKS_URL;
    publicKey = process.env.SESSION_PUBLIC_KEY;
    if (!jwksUrl && !publicKey) secret = process.env.SESSION_SECRET;
  }
  const audience = options.audience || process.env.SESSION_AUDIENCE || undefined;
  let alg;
  let keyFor;
  if (jwksUrl || publicKey) {
    alg = 'EdDSA';
    if (jwksUrl) {
      keyFor = remoteKeys(new URL(jwksUrl));
    } else {
      const key = crypto.createPublicKey(publicKey);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error('caddy-session: SESSION_PUBLIC_KEY is not an Ed25519 public key');
      keyFor = async () => key;
    }
  } else if (secret) {
    alg = 'HS256';
  } else {
    throw new Error('caddy-session: no key: set SESSION_SECRET (HS256), or SESSION_JWKS_URL or SESSION_PUBLIC_KEY (EdDSA), or pass { secret }, { jwksUrl } or { publicKey }');
  }

  return async (token) => {
    if (typeof token !== 'string' || token === '') {
      throw new Error("no session token: the request did not come through Caddy's session handler");
    }
    const parts = token.split('.');
    if (parts.length !== 3) throw new Error('malformed token');
    const header = json(parts[0], 'header');
    if (header.alg !== alg) throw new Error(`token algorithm ${JSON.stringify(header.alg)} is not the pinned ${alg}`);
    if (header.crit !== undefined) throw new Error('token has critical header parameters');
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const sig = b64url(parts[2], 'signature');
    let ok;
    if (alg === 'HS256') {
      const want = crypto.createHmac('sha256', secret).update(signed).digest();
      ok = sig.length === want.length && crypto.timingSafeEqual(sig, want);
    } else {
      ok = crypto.verify(null, signed, await keyFor(header.kid), sig);
    }
    if (!ok) throw new Error('invalid signature');

    const claims = json(parts[1], 'payload');
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number') throw new Error('token without exp');
    if (now >= claims.exp) throw new Error('token expired');
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > now)) throw new Error('token not yet valid');
    if (claims.iat !== undefined && typeof claims.iat !== 'number') throw new Error('token iat is not a number');
    if (audience !== undefined) {
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!aud.includes(audience)) throw new Error('token for another audience');
    }
    if (claims.data === null || typeof claims.data !== 'object' || Array.isArray(claims.data)) {
      throw new Error('token without data');
    }
    return claims;
  };
}

module.exports = { verifier };
