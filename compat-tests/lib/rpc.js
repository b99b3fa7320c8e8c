'use strict';
// A raw JSON-RPC 2.0 client over `ws`, used to talk to the server exactly as the spec shows, without
// kurento-client in between. Responses are matched by id; everything else (notifications, stray
// messages) is collected so tests can assert on what arrived.

const WebSocket = require('ws');

class RpcSocket {
  constructor(ws) {
    this.ws = ws;
    this.nextId = 0;
    this.pending = new Map();
    this.events = []; // onEvent notifications, in arrival order
    this.unmatched = []; // anything that is neither an awaited response nor an onEvent
    this.raw = []; // every text frame received, as strings
    this.waiters = [];
    this.sessionId = undefined;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const { reject } of this.pending.values()) {
          reject(new Error(`socket closed (${code}) while waiting for a response`));
        }
        this.pending.clear();
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (data, isBinary) => this._onMessage(data, isBinary));
  }

  static connect(url, opts = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, opts);
      const sock = new RpcSocket(ws);
      ws.once('open', () => resolve(sock));
      ws.once('error', reject);
      ws.once('unexpected-response', (req, res) =>
        reject(new Error(`unexpected HTTP response ${res.statusCode}`)),
      );
    });
  }

  _onMessage(data, isBinary) {
    const text = data.toString();
    this.raw.push(isBinary ? { binary: text } : text);
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      this.unmatched.push({ unparsable: text });
      this._wake();
      return;
    }
    if (msg && msg.method === 'onEvent' && msg.id === undefined) {
      this.events.push(msg);
    } else if (msg && msg.id !== undefined && msg.id !== null && this.pending.has(msg.id)) {
      const { resolve } = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      resolve(msg);
    } else {
      this.unmatched.push(msg);
    }
    this._wake();
  }

  _wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Sends an arbitrary frame (string, Buffer or object) without tracking a response. */
  sendRaw(frame, opts) {
    const data = typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame);
    return new Promise((resolve, reject) => {
      this.ws.send(data, opts || {}, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Sends a full request object (must carry an id) and resolves with the whole response message.
   */
  sendRequest(request, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(request.id);
        reject(new Error(`no response to ${JSON.stringify(request).slice(0, 200)} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(request.id, {
        resolve: (msg) => {
          clearTimeout(timer);
          resolve(msg);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.sendRaw(request).catch((err) => {
        clearTimeout(timer);
        this.pending.delete(request.id);
        reject(err);
      });
    });
  }

  /**
   * Builds and sends a request; `params === undefined` omits the member. Adds the socket's known
   * sessionId unless `opts.noSession`. Resolves with the full response message.
   */
  async call(method, params, opts = {}) {
    const id = opts.id !== undefined ? opts.id : this.nextId++;
    const req = { jsonrpc: '2.0', method };
    if (params !== undefined) {
      req.params = { ...params };
      if (!opts.noSession && this.sessionId && req.params.sessionId === undefined) {
        req.params.sessionId = this.sessionId;
      }
    }
    req.id = id;
    const resp = await this.sendRequest(req, opts.timeoutMs);
    if (resp.result && typeof resp.result.sessionId === 'string' && resp.result.value !== 'pong') {
      this.sessionId = resp.result.sessionId;
    }
    return resp;
  }

  /** Like call() but throws on an error response and returns `result`. */
  async ok(method, params, opts) {
    const resp = await this.call(method, params, opts);
    if (resp.error) {
      const err = new Error(`${method} failed: ${JSON.stringify(resp.error)}`);
      err.rpcError = resp.error;
      throw err;
    }
    return resp.result;
  }

  async create(type, constructorParams, opts) {
    const params = { type };
    if (constructorParams !== undefined) params.constructorParams = constructorParams;
    return (await this.ok('create', params, opts)).value;
  }

  async invoke(object, operation, operationParams) {
    const params = { object, operation };
    if (operationParams !== undefined) params.operationParams = operationParams;
    return (await this.ok('invoke', params)).value;
  }

  /** Resolves when `pred(event)` holds for a received onEvent (already received ones included). */
  waitForEvent(pred, timeoutMs = 5000) {
    return this._waitFor(() => this.events.find(pred), timeoutMs, 'event');
  }

  _waitFor(check, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const tick = () => {
        const found = check();
        if (found) return resolve(found);
        if (Date.now() >= deadline) return reject(new Error(`timed out waiting for ${what}`));
        const timer = setTimeout(tick, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          tick();
        });
      };
      tick();
    });
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close();
    }
    return this.closed;
  }

  terminate() {
    this.ws.terminate();
    return this.closed;
  }
}

module.exports = { RpcSocket };
