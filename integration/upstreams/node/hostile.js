'use strict';
// Hostile upstream for integration/reliability_smuggling_test.go: Node's
// http module behind Caddy's reverse_proxy. Not an example app: a puppet.
//
//   ?do=echo            JSON {"headers": [[name, value], ...], "trailers":
//                       [[name, value], ...]}: req.rawHeaders and
//                       req.rawTrailers, names exactly as they arrived.
//   ?do=respond&spec=S  S is base64url JSON {"status": 200, "headers":
//                       [[name, value], ...], "trailers": [...], "hints":
//                       [...]}: sends a 103 Early Hints with the hints (and a
//                       Link) when there are any, then the status with
//                       exactly those headers (a flat array, so duplicates
//                       and spellings stay), then the trailers.
//
// Run: node hostile.js PORT

const http = require('node:http');

const PORT = Number(process.argv[2] || 8000);

function pairs(raw) {
  const out = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}

http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://upstream');
  for await (const chunk of req) void chunk; // trailers arrive at the end
  const what = url.searchParams.get('do');

  if (what === 'echo') {
    const body = JSON.stringify({ headers: pairs(req.rawHeaders), trailers: pairs(req.rawTrailers) });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(body);
  }

  if (what === 'respond') {
    const spec = JSON.parse(Buffer.from(url.searchParams.get('spec') || '', 'base64url').toString('utf8'));
    const hints = spec.hints || [];
    if (hints.length > 0) {
      const h = { link: '</hint.css>; rel=preload; as=style' };
      for (const [n, v] of hints) h[n] = v;
      res.writeEarlyHints(h);
    }
    const flat = [];
    for (const [n, v] of spec.headers || []) flat.push(n, v);
    flat.push('Content-Type', 'text/plain');
    res.writeHead(spec.status, flat);
    res.write('hostile upstream\n');
    if ((spec.trailers || []).length > 0) res.addTrailers(spec.trailers);
    return res.end();
  }

  res.writeHead(404);
  res.end();
}).listen(PORT, '127.0.0.1', () => {
  console.error(`node-hostile: listening on 127.0.0.1:${PORT}`);
});
