'use strict';
// subscribe / unsubscribe / onEvent delivery, through the clients (lazy subscribe on the first
// listener, unsubscribe when the last one goes) and over a raw socket (exact shapes, de-duplication).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { useServer } = require('../lib/server');
const { VERSIONS, connect, closeClient } = require('../lib/clients');
const { RpcSocket } = require('../lib/rpc');
const { UUID_RE, sleep, within, eventually, assertRpcError } = require('../lib/util');

const server = useServer();

// Quiet period used to assert that nothing (more) arrives. Events on loopback take milliseconds.
const QUIET_MS = 700;

function checkCommonEventData(data, type, source) {
  assert.equal(data.type, type);
  assert.equal(data.source, source);
  assert.equal(typeof data.timestamp, 'string', 'timestamp is a string');
  assert.match(data.timestamp, /^\d+$/);
  assert.equal(typeof data.timestampMillis, 'string', 'timestampMillis is a string');
  assert.match(data.timestampMillis, /^\d+$/);
  const secs = Number(data.timestamp);
  const ms = Number(data.timestampMillis);
  assert.ok(Math.abs(secs - Date.now() / 1000) < 120, `timestamp ${secs} is in seconds`);
  assert.ok(Math.abs(ms - Date.now()) < 120000, `timestampMillis ${ms} is in ms`);
  assert.ok(Array.isArray(data.tags));
}

for (const v of VERSIONS) {
  describe(v.name, () => {
    let client;
    before(async () => {
      client = await connect(v.pkg, server.url);
    });
    after(() => closeClient(client));

    it('ElementConnected is delivered when a PassThrough is connected to another element', async () => {
      const pipeline = await client.create('MediaPipeline');
      try {
        const a = await pipeline.create('PassThrough');
        const b = await pipeline.create('PassThrough');
        const events = [];
        a.on('ElementConnected', (e) => events.push(e));
        await a.getName(); // requests are sent in order: the subscribe went out before this call
        await a.connect(b, 'VIDEO');
        await eventually(() => events.length > 0, 5000, 'ElementConnected');
        await sleep(QUIET_MS);
        assert.equal(events.length, 1, 'one event for one connection');
        const e = events[0];
        checkCommonEventData(e, 'ElementConnected', a.id);
        assert.equal(e.sink, b.id);
        assert.equal(e.mediaType, 'VIDEO');
        assert.equal(e.sourceMediaDescription, 'default');
        assert.equal(e.sinkMediaDescription, 'default');
        assert.deepEqual(e.tags, []);
      } finally {
        await pipeline.release();
      }
    });

    it('an event reaches each of two listeners exactly once', async () => {
      const pipeline = await client.create('MediaPipeline');
      try {
        const a = await pipeline.create('PassThrough');
        const b = await pipeline.create('PassThrough');
        let first = 0;
        let second = 0;
        a.on('ElementConnected', () => first++);
        a.on('ElementConnected', () => second++);
        await a.getName();
        await a.connect(b, 'AUDIO');
        await eventually(() => first > 0 && second > 0, 5000, 'ElementConnected');
        await sleep(QUIET_MS);
        assert.equal(first, 1);
        assert.equal(second, 1);
      } finally {
        await pipeline.release();
      }
    });

    it('after the last listener is removed (unsubscribe) no more events arrive', async () => {
      const pipeline = await client.create('MediaPipeline');
      const watcher = await connect(v.pkg, server.url);
      try {
        const a = await pipeline.create('PassThrough');
        const b = await pipeline.create('PassThrough');
        const mine = [];
        const listener = (e) => mine.push(e);
        a.on('ElementConnected', listener);
        // Control: another session subscribed to the same object keeps getting events.
        const aSeenByWatcher = await watcher.getMediaobjectById(a.id);
        const theirs = [];
        aSeenByWatcher.on('ElementConnected', (e) => theirs.push(e));
        await a.getName();
        await aSeenByWatcher.getName();
        await a.connect(b, 'VIDEO');
        await eventually(() => mine.length === 1 && theirs.length === 1, 5000, 'first events');

        a.removeListener('ElementConnected', listener);
        await a.getName(); // the unsubscribe is sent before this call
        await a.connect(b, 'AUDIO');
        await eventually(() => theirs.length === 2, 5000, 'control event');
        await sleep(QUIET_MS);
        assert.equal(mine.length, 1, 'no event after unsubscribe');
      } finally {
        await pipeline.release();
        await closeClient(watcher);
      }
    });

    it('ObjectCreated / ObjectDestroyed on the ServerManager', async () => {
      const manager = await client.getServerManager();
      const created = [];
      const destroyed = [];
      manager.on('ObjectCreated', (e) => created.push(e));
      manager.on('ObjectDestroyed', (e) => destroyed.push(e));
      await manager.getCpuCount();
      const pipeline = await client.create('MediaPipeline');
      const el = await pipeline.create('PassThrough');
      await eventually(
        () => created.some((e) => e.object === pipeline.id) && created.some((e) => e.object === el.id),
        5000,
        'ObjectCreated for pipeline and element',
      );
      const ev = created.find((e) => e.object === pipeline.id);
      assert.equal(ev.source, 'manager_ServerManager');
      assert.equal(typeof ev.timestamp, 'string');
      await pipeline.release();
      await eventually(
        () =>
          destroyed.some((e) => e.objectId === pipeline.id) && destroyed.some((e) => e.objectId === el.id),
        5000,
        'ObjectDestroyed for pipeline and its child',
      );
      const dv = destroyed.find((e) => e.objectId === el.id);
      assert.equal(dv.source, 'manager_ServerManager');
      manager.removeAllListeners('ObjectCreated');
      manager.removeAllListeners('ObjectDestroyed');
    });

    it('subscribing to an event the class does not declare is refused by the client', () => {
      // The generated classes check names locally; this documents why the server only ever sees
      // declared names from these clients.
      return client.create('MediaPipeline').then(async (pipeline) => {
        const el = await pipeline.create('PassThrough');
        assert.throws(() => el.on('IceCandidateFound', () => {}), SyntaxError);
        await pipeline.release();
      });
    });
  });
}

describe('raw subscribe/unsubscribe', () => {
  let sock;
  let other;
  let pipeline;
  before(async () => {
    sock = await RpcSocket.connect(server.url);
    other = await RpcSocket.connect(server.url);
    pipeline = await sock.create('MediaPipeline');
  });
  after(async () => {
    await sock.ok('release', { object: pipeline });
    await sock.close();
    await other.close();
  });

  it('onEvent has the documented shape and no id', async () => {
    const a = await sock.create('PassThrough', { mediaPipeline: pipeline });
    const b = await sock.create('PassThrough', { mediaPipeline: pipeline });
    const sub = await sock.ok('subscribe', { object: a, type: 'ElementConnected' });
    assert.match(sub.value, UUID_RE, 'subscription id is a UUID');
    assert.equal(sub.sessionId, sock.sessionId);
    await sock.invoke(a, 'connect', { sink: b, mediaType: 'DATA' });
    const ev = await sock.waitForEvent((e) => e.params.value.object === a);
    assert.deepEqual(Object.keys(ev).sort(), ['jsonrpc', 'method', 'params']);
    assert.equal(ev.jsonrpc, '2.0');
    assert.deepEqual(Object.keys(ev.params), ['value']);
    assert.deepEqual(Object.keys(ev.params.value).sort(), ['data', 'object', 'type']);
    assert.equal(ev.params.value.type, 'ElementConnected');
    checkCommonEventData(ev.params.value.data, 'ElementConnected', a);
    assert.equal(ev.params.value.data.mediaType, 'DATA');
    const un = await sock.ok('unsubscribe', { object: a, subscription: sub.value });
    assert.deepEqual(un, { sessionId: sock.sessionId }, 'unsubscribe result has only sessionId');
  });

  it('two subscriptions of one session to the same event deliver each event once', async () => {
    const a = await sock.create('PassThrough', { mediaPipeline: pipeline });
    const b = await sock.create('PassThrough', { mediaPipeline: pipeline });
    const s1 = await sock.ok('subscribe', { object: a, type: 'ElementConnected' });
    const s2 = await sock.ok('subscribe', { object: a, type: 'ElementConnected' });
    assert.notEqual(s1.value, s2.value, 'each subscribe returns a new id');
    // A second session subscribed to the same object gets its own copy.
    await other.ok('describe', { object: a });
    await other.ok('subscribe', { object: a, type: 'ElementConnected' });
    await sock.invoke(a, 'connect', { sink: b, mediaType: 'VIDEO' });
    await sock.waitForEvent((e) => e.params.value.object === a);
    await other.waitForEvent((e) => e.params.value.object === a);
    await sleep(QUIET_MS);
    assert.equal(sock.events.filter((e) => e.params.value.object === a).length, 1, 'no duplicate delivery');
    assert.equal(other.events.filter((e) => e.params.value.object === a).length, 1);
  });

  it('events stop after unsubscribe; unsubscribe of unknown ids never fails', async () => {
    const a = await sock.create('PassThrough', { mediaPipeline: pipeline });
    const b = await sock.create('PassThrough', { mediaPipeline: pipeline });
    const sub = await sock.ok('subscribe', { object: a, type: 'ElementConnected' });
    await sock.ok('unsubscribe', { object: a, subscription: sub.value });
    // Control subscription on the sink side: b connecting somewhere proves events still flow.
    await sock.ok('subscribe', { object: b, type: 'ElementConnected' });
    await sock.invoke(a, 'connect', { sink: b, mediaType: 'VIDEO' });
    await sock.invoke(b, 'connect', { sink: a, mediaType: 'VIDEO' });
    await sock.waitForEvent((e) => e.params.value.object === b);
    await sleep(QUIET_MS);
    assert.equal(sock.events.filter((e) => e.params.value.object === a).length, 0);
    const un = await sock.ok('unsubscribe', { object: a, subscription: 'no-such-subscription' });
    assert.equal(un.sessionId, sock.sessionId);
  });

  it('unknown event names are refused with 40106', async () => {
    const a = await sock.create('PassThrough', { mediaPipeline: pipeline });
    const resp = await sock.call('subscribe', { object: a, type: 'IceCandidateFound' });
    assertRpcError(resp, 40106, 'MEDIA_OBJECT_EVENT_NOT_SUPPORTED');
    const resp2 = await sock.call('subscribe', { object: a, type: 'elementconnected' });
    assertRpcError(resp2, 40106, 'MEDIA_OBJECT_EVENT_NOT_SUPPORTED');
  });

  it('deprecated 6.x aliases are accepted on the right classes', async () => {
    const w = await sock.create('WebRtcEndpoint', { mediaPipeline: pipeline });
    for (const type of [
      'OnIceCandidate',
      'IceCandidateFound',
      'OnIceGatheringDone',
      'IceGatheringDone',
      'IceComponentStateChange',
      'IceComponentStateChanged',
      'OnIceComponentStateChanged',
      'DataChannelOpen',
      'DataChannelOpened',
      'OnDataChannelOpened',
      'MediaFlowInStateChange',
      'MediaFlowInStateChanged',
      'MediaFlowOutStateChange',
      'MediaFlowOutStateChanged',
      'NewCandidatePairSelected',
      'MediaStateChanged',
      'ConnectionStateChanged',
      'MediaSessionStarted',
      'Error',
    ]) {
      const r = await sock.call('subscribe', { object: w, type });
      assert.ok(r.result, `subscribe ${type}: ${JSON.stringify(r.error)}`);
    }
    const srv = await sock.call('subscribe', { object: 'manager_ServerManager', type: 'ObjectCreated' });
    assert.ok(srv.result, 'ServerManager ObjectCreated');
  });

  it('the second session received nothing besides its own responses and events', async () => {
    await within(2000, other.ok('ping'));
    const stray = other.unmatched.filter((m) => !(m && m.result && m.result.value === 'pong'));
    assert.deepEqual(stray, [], 'no unmatched messages on the second socket');
  });
});
