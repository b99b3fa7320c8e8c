'use strict';
// The tutorials' web tier in one small Node server on 127.0.0.1: static pages (plus the kurento-utils
// bundle as /js/kurento-utils.js) and the application's signalling WebSocket.

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { WebSocketServer } = require('ws');
const { kurentoUtilsBundle } = require('./bundle');

const STATIC_DIR = path.join(__dirname, 'static');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

/**
 * @param {object|null} app an application from lib/apps/* ({ path, onConnection(ws, req), close() },
 *   optionally `files`: { '/url/path': '/absolute/file' } served besides lib/static, e.g. images the
 *   test generates), or null for pages that need no signalling (the harness self-check).
 */
async function startWebServer(app) {
  const bundle = await kurentoUtilsBundle();
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    requests.push(`${req.method} ${url.pathname}`);
    let file;
    if (url.pathname === '/js/kurento-utils.js') file = bundle;
    else if (app && app.files && Object.prototype.hasOwnProperty.call(app.files, url.pathname)) {
      file = app.files[url.pathname];
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    } else {
      const rel = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
      file = path.join(STATIC_DIR, path.normalize(rel));
      if (!file.startsWith(STATIC_DIR + path.sep)) file = null;
    }
    if (!file || !fs.existsSync(file)) {
      res.writeHead(404);
      return res.end('not found');
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      'cache-control': 'no-store',
    });
    fs.createReadStream(file).pipe(res);
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  let wss = null;
  if (app) {
    wss = new WebSocketServer({ server, path: app.path });
    wss.on('connection', (ws, req) => app.onConnection(ws, req));
  }
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    /** "METHOD /path" of every HTTP request served so far (pages, scripts, app files). */
    requests,
    url: (page, query = {}) => {
      const qs = new URLSearchParams(
        Object.fromEntries(
          Object.entries(query).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
        ),
      ).toString();
      return `http://127.0.0.1:${port}/${page}${qs ? `?${qs}` : ''}`;
    },
    async close() {
      if (wss) {
        for (const c of wss.clients) c.terminate();
        wss.close();
      }
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
      if (app) await app.close();
    },
  };
}

module.exports = { startWebServer };
