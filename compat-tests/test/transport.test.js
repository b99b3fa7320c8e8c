'use strict';
// WebSocket transport: path check, query string, subprotocols, the Docker image's health check.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const WebSocket = require('ws');
const { useServer } = require('../lib/server');
const { RpcSocket } = require('../lib/rpc');
const { within } = require('../lib/util');

const server = useServer();

function closeOf(url, opts) {
  return within(
    5000,
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, opts);
      let opened = false;
      ws.on('open', () => {
        opened = true;
      });
      ws.on('close', (code, reason) => resolve({ opened, code, reason: reason.toString() }));
      ws.on('error', (e) => {
        if (!opened) reject(e);
      });
    }),
    `close of ${url}`,
  );
}

describe('transport', () => {
  it('a wrong path is closed with 1002 "Invalid path"', async () => {
    for (const p of ['/wrong', '/', '/kurento2', '/kurento/extra']) {
      const c = await closeOf(`ws://127.0.0.1:${server.port}${p}`);
      assert.equal(c.opened, true, `${p}: the handshake completes, then the server closes`);
      assert.equal(c.code, 1002, `${p}: close code`);
      assert.equal(c.reason, 'Invalid path', `${p}: close reason`);
    }
  });

  it('the query string is ignored (?access_token=x is accepted)', async () => {
    const sock = await RpcSocket.connect(`ws://127.0.0.1:${server.port}/kurento?access_token=x`);
    try {
      const r = await sock.call('ping', { interval: 5000 });
      assert.deepEqual(r, { jsonrpc: '2.0', id: 0, result: { value: 'pong' } });
      const pipe = await sock.create('MediaPipeline');
      await sock.ok('release', { object: pipe });
    } finally {
      await sock.close();
    }
  });

  it('no subprotocol is negotiated, and an offered one does not break the handshake', async () => {
    const plain = await RpcSocket.connect(server.url);
    assert.equal(plain.ws.protocol, '');
    await plain.ok('ping');
    await plain.close();
    // The ws library refuses a reply without the offered protocol, so accept either outcome of the
    // negotiation but require that the server did not crash and still serves plain clients.
    try {
      const offered = await RpcSocket.connect(server.url, { protocols: ['kurento'] });
      await offered.close();
    } catch {
      // a handshake refusal is acceptable
    }
    const again = await RpcSocket.connect(server.url);
    await again.ok('ping');
    await again.close();
  });

  it("the Docker image's health check gets an immediate HTTP 500", async () => {
    // kurento-docker kurento-media-server/healthchecker.sh: healthy iff curl's http_code is 500
    // (websocketpp's answer to an Upgrade request without Sec-WebSocket-Key).
    const { code, stdout } = await new Promise((resolve) => {
      execFile(
        'curl',
        [
          '-s',
          '-m',
          '5',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-N',
          '-H',
          'Connection: Upgrade',
          '-H',
          'Upgrade: websocket',
          '-H',
          `Host: 127.0.0.1:${server.port}`,
          '-H',
          'Origin: 127.0.0.1',
          `http://127.0.0.1:${server.port}/kurento`,
        ],
        (err, out) => resolve({ code: err ? err.code : 0, stdout: out }),
      );
    });
    assert.equal(code, 0, 'curl finished before its 5 s timeout');
    assert.equal(stdout, '500');
  });

  it('a plain HTTP GET gets an HTTP answer, not a hang', async () => {
    const res = await within(5000, fetch(`http://127.0.0.1:${server.port}/kurento`), 'plain GET');
    assert.ok(res.status >= 400, `status ${res.status}`);
    await res.arrayBuffer();
  });

  it('many sockets can be open at once', async () => {
    const socks = await Promise.all(Array.from({ length: 20 }, () => RpcSocket.connect(server.url)));
    const results = await Promise.all(socks.map((s) => s.ok('ping', { interval: 5000 })));
    for (const r of results) assert.equal(r.value, 'pong');
    await Promise.all(socks.map((s) => s.close()));
  });
});
