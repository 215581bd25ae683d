'use strict';
// A small app written for express-session's req.session and nothing else.
// It runs unchanged on express-session's memory store and behind Caddy's
// `session` handler: the only difference is the adapter line below.
//
//   node app.js PORT                      express-session, MemoryStore
//   CADDY_SESSION=1 SESSION_SECRET=... node app.js PORT   behind Caddy
//
//   GET  /            count visits: {"visits": n, "user": name|null}
//   POST /login       user=<name>[&remember=1]: regenerate(), 302 to /;
//                     remember keeps the cookie for 30 days
//   POST /logout      destroy(), 302 to /
//   GET  /put?k=&v=   req.session[k] = v (an integer)
//   POST /set         merge a JSON object into req.session
//   GET  /dump        the session's data as JSON
//   POST /typed       req.session.typed = values JSON cannot hold (a Buffer,
//                     a Date)
//   GET  /typed       req.session.typed, each value as [type name, value]

const express = require('express');
const session = require('express-session');
const caddySession = require('..');

const REMEMBER_MS = 30 * 86400 * 1000;
const app = express();

// The adapter line:
app.use(process.env.CADDY_SESSION ? caddySession() : session({ secret: 'native-only-secret', resave: false, saveUninitialized: false }));

app.get('/', (req, res) => {
  req.session.visits = (req.session.visits || 0) + 1;
  res.json({ visits: req.session.visits, user: req.session.user ?? null });
});

app.post('/login', express.urlencoded({ extended: false }), (req, res, next) => {
  const user = req.body.user;
  if (!user) return res.status(400).json({ error: 'user is required' });
  // express-session's README: regenerate against session fixation, then save.
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = user;
    if (req.body.remember) req.session.cookie.maxAge = REMEMBER_MS;
    req.session.save((err) => {
      if (err) return next(err);
      res.redirect('/');
    });
  });
});

app.post('/logout', (req, res, next) => {
  req.session.destroy((err) => {
    if (err) return next(err);
    res.redirect('/');
  });
});

app.get('/put', (req, res) => {
  req.session[String(req.query.k)] = Number.parseInt(req.query.v, 10);
  res.json({ ok: true });
});

app.post('/set', express.json(), (req, res) => {
  Object.assign(req.session, req.body);
  res.json({ ok: true });
});

app.get('/dump', (req, res) => {
  const { cookie, ...data } = req.session;
  res.json(data);
});

app.post('/typed', (req, res) => {
  req.session.typed = { bytes: Buffer.from('00ff62696e', 'hex'), list: [1, 'two'], when: new Date('2026-12-05T07:00:00.123Z') };
  res.json({ ok: true });
});

// describe is [type name, value as JSON can show it].
function describe(v) {
  if (Buffer.isBuffer(v)) return ['Buffer', v.toString('hex')];
  if (v instanceof Date) return ['Date', v.toISOString()];
  if (Array.isArray(v)) return ['Array', v.map(describe)];
  if (v !== null && typeof v === 'object') return ['Object', Object.fromEntries(Object.entries(v).map(([k, x]) => [k, describe(x)]))];
  return [v === null ? 'null' : typeof v, v ?? null];
}

app.get('/typed', (req, res) => {
  res.json(describe(req.session.typed));
});

const port = Number(process.argv[2] || process.env.PORT || 3000);
app.listen(port, '127.0.0.1', () => console.error(`example: listening on 127.0.0.1:${port}`));
