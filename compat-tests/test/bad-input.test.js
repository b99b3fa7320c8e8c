'use strict';
// Bad input over a raw socket. Every case gets the JSON-RPC error KMS gives; afterwards the same
// connection still answers, a second concurrently connected session saw nothing of it, and the
// server process is still alive.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { useServer } = require('../lib/server');
const { RpcSocket } = require('../lib/rpc');
const { assertRpcError, within, sleep } = require('../lib/util');

const server = useServer();

/** Sends a raw frame and waits for the next unmatched message (responses with id null etc.). */
async function rawExchange(sock, frame, opts) {
  const before = sock.unmatched.length;
  await sock.sendRaw(frame, opts);
  await sock._waitFor(() => sock.unmatched.length > before, 5000, `reply to ${String(frame).slice(0, 80)}`);
  return sock.unmatched.splice(before, 1)[0];
}

describe('bad input', () => {
  let sock;
  let bystander;
  let bystanderPipeline;
  let pipeline;

  before(async () => {
    sock = await RpcSocket.connect(server.url);
    bystander = await RpcSocket.connect(server.url);
    bystanderPipeline = await bystander.create('MediaPipeline');
    pipeline = await sock.create('MediaPipeline');
  });

  after(async () => {
    await sock.close();
    await bystander.close();
  });

  it('malformed JSON → -32700 with id null', async () => {
    const msg = await rawExchange(sock, '{"jsonrpc":"2.0","method":"ping","id":1');
    assert.equal(msg.id, null);
    assert.equal(msg.jsonrpc, '2.0');
    assert.equal(msg.error.code, -32700);
  });

  it('jsonrpc "1.0" → -32600 with id null', async () => {
    const msg = await rawExchange(sock, JSON.stringify({ jsonrpc: '1.0', method: 'ping', id: 2 }));
    assert.equal(msg.id, null);
    assert.equal(msg.error.code, -32600);
  });

  it('a JSON array (batch) → -32600 with id null', async () => {
    const msg = await rawExchange(
      sock,
      JSON.stringify([
        { jsonrpc: '2.0', method: 'ping', id: 3 },
        { jsonrpc: '2.0', method: 'ping', id: 4 },
      ]),
    );
    assert.equal(msg.id, null);
    assert.equal(msg.error.code, -32600);
  });

  it('non-object JSON values and a missing method → -32600', async () => {
    for (const frame of ['42', '"ping"', 'null', 'true', JSON.stringify({ jsonrpc: '2.0', id: 5 })]) {
      const msg = await rawExchange(sock, frame);
      assert.equal(msg.error.code, -32600, `frame ${frame}`);
    }
  });

  it('unknown method → -32601 "Method not found."', async () => {
    const resp = await sock.call('createMediaPipeline', {});
    assertRpcError(resp, -32601);
    assert.equal(resp.error.message, 'Method not found.');
    assert.equal(resp.error.data, undefined);
  });

  it('missing params → -32602', async () => {
    for (const method of ['create', 'invoke', 'subscribe', 'unsubscribe', 'release', 'describe', 'transaction']) {
      const resp = await sock.sendRequest({ jsonrpc: '2.0', method, id: sock.nextId++ });
      assertRpcError(resp, -32602, 'INVALID_PARAMS');
      assert.equal(resp.error.message, "'params' is required");
    }
  });

  it('missing or wrongly typed required params → -32000', async () => {
    let resp = await sock.call('create', {});
    assertRpcError(resp, -32000);
    assert.equal(resp.error.message, "'type' parameter is required");
    resp = await sock.call('create', { type: 5 });
    assertRpcError(resp, -32000);
    assert.equal(resp.error.message, "'type' parameter should be a string");
    resp = await sock.call('invoke', { object: pipeline });
    assertRpcError(resp, -32000);
    assert.equal(resp.error.message, "'operation' parameter is required");
    resp = await sock.call('invoke', { object: ['x'], operation: 'getName' });
    assertRpcError(resp, -32000);
    resp = await sock.call('transaction', { operations: 'nope' });
    assertRpcError(resp, -32000);
    resp = await sock.call('subscribe', { object: pipeline });
    assertRpcError(resp, -32000);
  });

  it('wrongly typed operation / constructor params → 40001 MARSHALL_ERROR', async () => {
    const webrtc = await sock.create('WebRtcEndpoint', { mediaPipeline: pipeline });
    let resp = await sock.call('invoke', {
      object: webrtc,
      operation: 'setMaxVideoRecvBandwidth',
      operationParams: { maxVideoRecvBandwidth: 'lots' },
    });
    assertRpcError(resp, 40001, 'MARSHALL_ERROR');
    resp = await sock.call('invoke', { object: webrtc, operation: 'setName', operationParams: { name: { a: 1 } } });
    assertRpcError(resp, 40001, 'MARSHALL_ERROR');
    resp = await sock.call('create', {
      type: 'PlayerEndpoint',
      constructorParams: { mediaPipeline: pipeline, uri: { not: 'a string' } },
    });
    assertRpcError(resp, 40001, 'MARSHALL_ERROR');
    resp = await sock.call('create', {
      type: 'RecorderEndpoint',
      constructorParams: { mediaPipeline: pipeline, uri: 'file:///tmp/x.webm', mediaProfile: 'NOT_A_PROFILE' },
    });
    assertRpcError(resp, 40001, 'MARSHALL_ERROR');
    resp = await sock.call('invoke', {
      object: webrtc,
      operation: 'connect',
      operationParams: { sink: webrtc, mediaType: 'SMELL' },
    });
    assertRpcError(resp, 40001, 'MARSHALL_ERROR');
    // A required constructor param that is missing.
    resp = await sock.call('create', { type: 'PassThrough', constructorParams: {} });
    assertRpcError(resp, 40001, 'MARSHALL_ERROR');
    resp = await sock.call('create', { type: 'GStreamerFilter', constructorParams: { mediaPipeline: pipeline } });
    assertRpcError(resp, 40001, 'MARSHALL_ERROR');
  });

  it('unknown object → 40101', async () => {
    const ghost = '0f0f0f0f-0000-4000-8000-000000000000_kurento.MediaPipeline';
    const resp = await sock.call('invoke', { object: ghost, operation: 'getName' });
    assertRpcError(resp, 40101, 'MEDIA_OBJECT_NOT_FOUND');
    assert.equal(resp.error.message, `Object '${ghost}' not found`);
    assertRpcError(await sock.call('describe', { object: ghost }), 40101, 'MEDIA_OBJECT_NOT_FOUND');
    assertRpcError(await sock.call('subscribe', { object: ghost, type: 'Error' }), 40101, 'MEDIA_OBJECT_NOT_FOUND');
    assertRpcError(
      await sock.call('create', { type: 'PassThrough', constructorParams: { mediaPipeline: ghost } }),
      40101,
      'MEDIA_OBJECT_NOT_FOUND',
    );
  });

  it('unknown or abstract factory → 40108', async () => {
    for (const type of ['NoSuchElement', 'MediaElement', 'ServerManager', 'kurento.Nope']) {
      const resp = await sock.call('create', { type, constructorParams: { mediaPipeline: pipeline } });
      assertRpcError(resp, 40108, 'MEDIA_OBJECT_NOT_AVAILABLE');
      assert.equal(resp.error.message, `Factory '${type}' not found`);
    }
    // Qualified names are registered too.
    const id = await sock.create('kurento.PassThrough', { mediaPipeline: pipeline });
    assert.match(id, /_kurento\.PassThrough$/);
  });

  it('unknown operation → 40008', async () => {
    const resp = await sock.call('invoke', { object: pipeline, operation: 'fly' });
    assertRpcError(resp, 40008, 'MALFORMED_TRANSACTION');
    assert.match(resp.error.message, /^Method 'fly' with \d+ parameters not found$/);
    // Setters exist only for writable properties.
    const ro = await sock.call('invoke', {
      object: pipeline,
      operation: 'setCreationTime',
      operationParams: { creationTime: 1 },
    });
    assertRpcError(ro, 40008, 'MALFORMED_TRANSACTION');
  });

  it('unknown event → 40106', async () => {
    const resp = await sock.call('subscribe', { object: pipeline, type: 'Explosion' });
    assertRpcError(resp, 40106, 'MEDIA_OBJECT_EVENT_NOT_SUPPORTED');
  });

  it('release of an unknown id is not an error', async () => {
    const r = await sock.ok('release', { object: 'never-existed_kurento.MediaPipeline' });
    assert.deepEqual(Object.keys(r), ['sessionId']);
  });

  it('a 1 MB request is processed', async () => {
    const padding = 'x'.repeat(1024 * 1024);
    const r = await sock.call('ping', { interval: 5000, padding });
    assert.equal(r.result.value, 'pong');
  });

  it('a binary frame does not break the connection', async () => {
    await sock.sendRaw(Buffer.from([0, 1, 2, 3, 0xff, 0xfe]), { binary: true });
    await sock.sendRaw(Buffer.from(JSON.stringify({ jsonrpc: '2.0', method: 'ping', id: 'bin' })), {
      binary: true,
    });
    await sleep(300);
    const r = await sock.call('ping');
    assert.equal(r.result.value, 'pong');
  });

  it('a huge frame (48 MB) on another socket does not take the server down', async () => {
    const big = await RpcSocket.connect(server.url);
    const huge = `{"jsonrpc":"2.0","method":"ping","id":1,"params":{"p":"${'y'.repeat(48 * 1024 * 1024)}"}}`;
    const outcome = await within(
      30000,
      Promise.race([
        big.sendRaw(huge).then(
          () => big._waitFor(() => big.unmatched.length > 0 || big.closeInfo, 20000, 'reply or close'),
          () => 'send failed',
        ),
        big.closed,
      ]),
      'huge frame handling',
    ).catch(() => 'no reaction');
    assert.notEqual(outcome, 'no reaction', 'the server answers or closes, it does not hang');
    await big.terminate();
    await sleep(500);
    assert.ok(server.alive(), 'server process still running');
    const fresh = await RpcSocket.connect(server.url);
    try {
      assert.equal((await fresh.ok('ping')).value, 'pong', 'a new connection is served');
    } finally {
      await fresh.close();
    }
  });

  it('request ids are echoed verbatim (0, strings, large numbers)', async () => {
    for (const id of [0, 'abc', 9007199254740991, -1]) {
      const r = await sock.sendRequest({ jsonrpc: '2.0', method: 'ping', id });
      assert.equal(r.id, id);
      assert.equal(r.result.value, 'pong');
    }
  });

  it('afterwards: the connection still answers ping, with its sessionId', async () => {
    const r = await sock.call('ping');
    assert.deepEqual(r.result, { sessionId: sock.sessionId, value: 'pong' });
    assert.equal(await sock.invoke(pipeline, 'getName'), pipeline);
  });

  it('afterwards: the concurrent session keeps working and saw no stray messages', async () => {
    assert.equal(await bystander.invoke(bystanderPipeline, 'getName'), bystanderPipeline);
    const r = await within(5000, bystander.call('ping'));
    assert.equal(r.result.value, 'pong');
    assert.deepEqual(bystander.unmatched, [], 'no unexpected messages');
    assert.deepEqual(bystander.events, [], 'no events');
    assert.equal(bystander.ws.readyState, WebSocket.OPEN);
  });

  it('afterwards: the server process is alive', () => {
    assert.ok(server.alive(), 'server process still running (no panic)');
  });
});
