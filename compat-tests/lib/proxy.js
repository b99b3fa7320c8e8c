'use strict';
// A loopback TCP proxy in front of the server. `cut()` destroys every live connection (both halves),
// which looks to the client exactly like a dropped network link, while the server keeps running.

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
    client.pipe(upstream);
    upstream.pipe(client);
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
