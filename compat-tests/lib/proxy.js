'use strict';
// A loopback TCP proxy in front of the server. `cut()` destroys every live connection (both halves),
// which looks to the client exactly like a dropped network link, while the server keeps running.
// `cutOnNextSend()` does the same in the middle of the client's next request: either before the
// server sees it, or after the server got it but before its response reaches the client.

const net = require('node:net');

class TcpProxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.pairs = new Set();
    this.accepted = 0;
    this.server = net.createServer((client) => this._onClient(client));
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this);
      });
    });
  }

  url(pathAndQuery = '/kurento') {
    return `ws://127.0.0.1:${this.port}${pathAndQuery}`;
  }

  _onClient(client) {
    this.accepted++;
    const upstream = net.connect({ port: this.targetPort, host: '127.0.0.1' });
    const pair = { client, upstream };
    this.pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    // Plain forwarding, except while a mid-request cut is armed (see cutOnNextSend).
    client.on('data', (chunk) => {
      const trap = this.trap;
      if (trap && trap.pair === pair) return;
      if (!trap || trap.pair) {
        upstream.write(chunk);
        return;
      }
      trap.pair = pair;
      if (trap.deliver) upstream.write(chunk);
      // The server gets a moment to read (and answer) the request; the answer is then lost.
      setTimeout(() => {
        drop();
        this.trap = null;
        trap.done(chunk.length);
      }, trap.deliver ? 200 : 0);
    });
    upstream.on('data', (chunk) => {
      if (this.trap && this.trap.pair === pair) return;
      client.write(chunk);
    });
  }

  /**
   * Arms a one-shot cut: the next bytes any client sends are forwarded to the server (`deliver`)
   * or dropped, every later byte of that connection in either direction is discarded, and the
   * connection is destroyed. Resolves with the size of the intercepted chunk once it is cut.
   */
  cutOnNextSend({ deliver }) {
    return new Promise((resolve) => {
      this.trap = { deliver, pair: null, done: resolve };
    });
  }

  /** Number of currently open client connections. */
  get live() {
    return this.pairs.size;
  }

  /** Abruptly drops every live connection. */
  cut() {
    const n = this.pairs.size;
    for (const { client, upstream } of [...this.pairs]) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    return n;
  }

  close() {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

module.exports = { TcpProxy };
