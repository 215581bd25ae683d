'use strict';
// Values that are not JSON: the tags every caddy-session adapter reads and
// writes (docs/adapters.md, "Values that are not JSON"). A value that is
// plain JSON travels as itself; one JSON cannot hold travels as a one-key
// object whose key is a tag starting with a space, Flask's scheme:
//
//   Buffer, Uint8Array -> {" b": base64}        Date -> {" tm": RFC 3339, nanoseconds}
//   {" t": 1} (an object whose one key is a tag) -> {" di": {" t__": 1}}
//
// Read back: " b" a Buffer, " tm" and " d" (Flask's) a Date, " t" (a
// Python tuple) an array, " u", " m", " sym" a string; " di" unwrapped.
// A PHP object {" php": ...} is an object marked opaque, written back as it
// came; an object of the app's own whose one key is " php" is escaped like
// the others. Unknown tags stay plain objects.

const KNOWN_TAGS = new Set([' di', ' b', ' t', ' u', ' m', ' d', ' tm', ' sym', ' php']);
const OPAQUE = Symbol('caddy-session opaque');

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

class UnstorableValue extends TypeError {}

/** RFC 3339 in UTC with nine fractional digits, as the convention writes a time. */
function formatTime(date) {
  const iso = date.toISOString(); // 2026-12-05T07:00:00.123Z
  return iso.slice(0, -1) + '000000Z';
}

/** A Date from RFC 3339 text, to the millisecond; null when it is not one. */
function parseTime(text) {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const ms = (m[3] || '').padEnd(3, '0').slice(0, 3);
  const zone = m[4] === 'z' ? 'Z' : m[4];
  const d = new Date(`${m[1]}T${m[2]}.${ms}${zone}`);
  return Number.isNaN(d.valueOf()) ? null : d;
}

/**
 * The JSON-ready form of value: tags for what JSON cannot hold. Throws
 * UnstorableValue (with `where`, the path inside the value) for what no
 * convention covers: BigInt, NaN and Infinity, functions, symbols, Map,
 * Set, other typed arrays, cycles.
 */
function tag(value, where = '', seen = new Set()) {
  const fail = (what) => {
    throw new UnstorableValue(`${what}${where ? ` at ${where}` : ''}`);
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) fail(`${value} is not JSON`);
      return value;
    case 'undefined':
      return undefined;
    case 'bigint':
    case 'function':
    case 'symbol':
      fail(`a ${typeof value} has no JSON form`);
  }
  if (value === null) return null;
  if (value instanceof Uint8Array) return { ' b': Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (value instanceof Date) {
    if (Number.isNaN(value.valueOf())) fail('an invalid Date');
    return { ' tm': formatTime(value) };
  }
  if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet ||
      ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Promise) {
    fail(`a ${value.constructor.name} has no JSON form`);
  }
  if (seen.has(value)) fail('a cycle');
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      // As JSON.stringify: a hole or undefined in an array is null.
      return Array.from(value, (v, i) => {
        const t = tag(v, `${where}[${i}]`, seen);
        return t === undefined ? null : t;
      });
    }
    if (typeof value.toJSON === 'function') return tag(value.toJSON(), where, seen);
    if (value[OPAQUE]) return { ' php': tag(value[' php'], `${where}[" php"]`, seen) };
    const out = [];
    for (const k of Object.keys(value)) {
      const t = tag(value[k], `${where}.${k}`, seen);
      if (t !== undefined) out.push([k, t]); // as JSON.stringify: an undefined property is left out
    }
    if (out.length === 1 && KNOWN_TAGS.has(out[0][0])) {
      return { ' di': { [`${out[0][0]}__`]: out[0][1] } };
    }
    return Object.fromEntries(out);
  } finally {
    seen.delete(value);
  }
}

/** The JSON text of value with its tags; undefined for undefined. */
function stringify(value) {
  const t = tag(value);
  return t === undefined ? undefined : JSON.stringify(t);
}

/** One object whose children are already untagged, as its native value. */
function untag(obj) {
  const keys = Object.keys(obj);
  if (keys.length !== 1) return obj;
  const k = keys[0];
  const v = obj[k];
  switch (k) {
    case ' di':
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const inner = Object.keys(v);
        if (inner.length === 1 && inner[0].endsWith('__')) return Object.fromEntries([[inner[0].slice(0, -2), v[inner[0]]]]);
      }
      break;
    case ' b':
      if (typeof v === 'string' && BASE64.test(v)) return Buffer.from(v, 'base64');
      break;
    case ' t':
      if (Array.isArray(v)) return v;
      break;
    case ' u':
    case ' m':
    case ' sym':
      if (typeof v === 'string') return v;
      break;
    case ' d': {
      const d = typeof v === 'string' ? new Date(v) : null;
      if (d && !Number.isNaN(d.valueOf())) return d;
      break;
    }
    case ' tm': {
      const d = typeof v === 'string' ? parseTime(v) : null;
      if (d) return d;
      break;
    }
    case ' php':
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        // Another app's (PHP's, HMAC-keyed): kept as it came.
        Object.defineProperty(obj, OPAQUE, { value: true });
        return obj;
      }
      break;
  }
  return obj; // unknown or malformed: a plain object
}

/** value (parsed JSON) with every object, innermost first, untagged. */
function untagTree(value) {
  if (Array.isArray(value)) return value.map(untagTree);
  if (value !== null && typeof value === 'object') {
    // fromEntries: a "__proto__" key stays a plain property.
    return untag(Object.fromEntries(Object.keys(value).map((k) => [k, untagTree(value[k])])));
  }
  return value;
}

module.exports = { tag, stringify, untag, untagTree, formatTime, parseTime, UnstorableValue, KNOWN_TAGS };
