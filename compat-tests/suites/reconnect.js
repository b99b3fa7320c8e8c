'use strict';
// Reconnection: the client re-opens its socket by itself and sends `connect {sessionId}`.
// - link drop (through a TCP proxy that cuts live connections): the server still knows the session,
//   answers with the same sessionId, and objects + subscriptions keep working on the new socket;
// - server restart: the session is unknown, 40007 → reconnected(false), and new objects can be made.
// Also the session garbage collector (objects of an abandoned session go away; bound ones stay).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { useServer, KmsServer } = require('../lib/server');
const { TcpProxy } = require('../lib/proxy');
const { VERSIONS, runRawSuites, connect, closeClient } = require('../lib/clients');
const { RpcSocket } = require('../lib/rpc');
const { UUID_RE, sleep, within, eventually, rejectsWithCode, assertRpcError, viaCallback } = require('../lib/util');

const server = useServer();

function nextReconnected(client, ms = 20000) {
  return within(ms, new Promise((resolve) => client.once('reconnected', resolve)), 'reconnected event');
}

for (const v of VERSIONS) {
  describe(v.name, () => {
    let proxy;
    before(async () => {
      proxy = await new TcpProxy(server.port).listen();
    });
    after(() => proxy.close());

    it('after a dropped link the client reconnects to the same session and objects still work', async () => {
      const client = await connect(v.pkg, proxy.url());
      try {
        const sessionId = client.sessionId;
        const pipeline = await client.create('MediaPipeline');
        const a = await pipeline.create('PassThrough');
        const b = await pipeline.create('PassThrough');
        await a.setName('before-drop');
        const events = [];
        a.on('ElementConnected', (e) => events.push(e));
        await a.getName();

        const acceptedBefore = proxy.accepted;
        const reconnected = nextReconnected(client);
        assert.equal(proxy.cut(), 1, 'one live connection was cut');
        const sameSession = await reconnected;
        assert.equal(sameSession, true, 'connect {sessionId} succeeded: reconnected(true)');
        assert.ok(proxy.accepted > acceptedBefore, 'the client opened a new connection');
        assert.equal(client.sessionId, sessionId, 'the session id did not change');

        assert.equal(await a.getName(), 'before-drop', 'objects survive the drop');
        await a.connect(b, 'VIDEO');
        await eventually(() => events.length === 1, 5000, 'event on the new socket');
        assert.equal(events[0].sink, b.id);
        const c = await pipeline.create('PassThrough');
        assert.ok(c.id.startsWith(pipeline.id));
        await pipeline.release();
      } finally {
        await closeClient(client);
      }
    });

    // Socket killed in the middle of a request: the client reconnects (`connect` keeps the session)
    // and, with max_retries, sends the same message again (same id, same sessionId). Whether the
    // server never saw the first copy or already ran it, the work must happen exactly once: KMS's
    // request cache answers the retry of a request it already ran.
    for (const deliver of [false, true]) {
      const when = deliver ? 'after the server ran it (response lost)' : 'before the server read it';
      it(`a create cut ${when} is retried after reconnect and runs once`, async () => {
        const client = await connect(v.pkg, proxy.url(), { max_retries: 4, request_timeout: 2500 });
        try {
          const pipeline = await client.create('MediaPipeline');
          const reconnected = nextReconnected(client);
          const cut = proxy.cutOnNextSend({ deliver });
          const created = pipeline.create('PassThrough');
          assert.ok((await within(5000, cut, 'cut')) > 0, 'the create request was intercepted');
          assert.equal(await reconnected, true, 'same session after the cut');
          const el = await within(30000, created, 'retried create');
          const children = await pipeline.getChildren();
          assert.deepEqual(children.map((c) => c.id), [el.id], 'exactly one element was created');
          assert.equal(await el.getName(), el.id);
          await pipeline.release();
        } finally {
          await closeClient(client);
        }
      });
    }

    it('a transaction cut after the server ran it is answered once: no duplicate objects', async () => {
      const client = await connect(v.pkg, proxy.url(), { max_retries: 4, request_timeout: 2500 });
      try {
        const pipeline = await client.create('MediaPipeline');
        const reconnected = nextReconnected(client);
        const tx = client.beginTransaction();
        const a = pipeline.create(tx, 'PassThrough');
        const b = pipeline.create(tx, 'PassThrough');
        const cut = proxy.cutOnNextSend({ deliver: true });
        const committed = tx.commit();
        assert.ok((await within(5000, cut, 'cut')) > 0, 'the transaction was intercepted');
        assert.equal(await reconnected, true);
        await within(30000, Promise.resolve(committed), 'retried transaction');
        const [ea, eb] = [await a, await b];
        const children = await pipeline.getChildren();
        assert.deepEqual(children.map((c) => c.id).sort(), [ea.id, eb.id].sort(), 'two elements, not four');
        await pipeline.release();
      } finally {
        await closeClient(client);
      }
    });

    it('survives several drops in a row', async () => {
      const client = await connect(v.pkg, proxy.url());
      try {
        const pipeline = await client.create('MediaPipeline');
        for (let i = 0; i < 3; i++) {
          const reconnected = nextReconnected(client);
          proxy.cut();
          assert.equal(await reconnected, true, `drop ${i}`);
          await pipeline.setName(`round-${i}`);
          assert.equal(await pipeline.getName(), `round-${i}`);
        }
        await pipeline.release();
      } finally {
        await closeClient(client);
      }
    });
  });
}

describe('server restart', () => {
  for (const v of VERSIONS) {
    it(`${v.name}: reconnect after a restart gets 40007, reconnected(false), then works again`, async () => {
      const restartable = new KmsServer();
      await restartable.start();
      let client;
      try {
        client = await connect(v.pkg, restartable.url);
        const pipeline = await client.create('MediaPipeline');
        const reconnected = nextReconnected(client, 30000);
        await restartable.restart();
        assert.equal(await reconnected, false, 'INVALID_SESSION path: reconnected(false)');
        assert.ok(restartable.exits.length >= 1, 'the first server process really exited');
        await rejectsWithCode(viaCallback(pipeline, 'getName'), 40101, 'old object on the new server');
        const fresh = await client.create('MediaPipeline');
        const el = await fresh.create('WebRtcEndpoint');
        assert.equal(await el.getName(), el.id);
        await fresh.release();
      } catch (e) {
        process.stderr.write(`server log:\n${restartable.log()}\n`);
        throw e;
      } finally {
        await closeClient(client);
        await restartable.stop();
        restartable.cleanup();
      }
    });
  }
});

if (runRawSuites()) {
  describe('raw connect', () => {
    let sock;
    before(async () => {
      sock = await RpcSocket.connect(server.url);
    });
    after(() => sock.close());

    it('connect without params returns a fresh sessionId and the serverId', async () => {
      const r1 = await sock.ok('connect', undefined);
      assert.match(r1.sessionId, UUID_RE);
      assert.match(r1.serverId, UUID_RE);
      const other = await RpcSocket.connect(server.url);
      try {
        const r2 = await other.ok('connect', undefined);
        assert.notEqual(r2.sessionId, r1.sessionId);
        assert.equal(r2.serverId, r1.serverId, 'serverId is per process');
      } finally {
        await other.close();
      }
    });

    it('connect with a known session returns it; with an unknown one fails with 40007', async () => {
      const s = await RpcSocket.connect(server.url);
      const pipe = await s.create('MediaPipeline');
      const sid = s.sessionId;
      await s.close();
      const again = await RpcSocket.connect(server.url);
      try {
        const r = await again.ok('connect', { sessionId: sid });
        assert.equal(r.sessionId, sid);
        assert.match(r.serverId, UUID_RE);
        const resp = await again.call('connect', { sessionId: '7d4c0e1a-0000-4000-8000-00000000dead' });
        assertRpcError(resp, 40007, 'INVALID_SESSION');
        assert.equal(resp.error.message, 'Invalid session');
        await again.ok('release', { object: pipe, sessionId: sid });
      } finally {
        await again.close();
      }
    });

    it('events of a session follow it to the socket that sent connect', async () => {
      const s1 = await RpcSocket.connect(server.url);
      const pipe = await s1.create('MediaPipeline');
      const a = await s1.create('PassThrough', { mediaPipeline: pipe });
      const b = await s1.create('PassThrough', { mediaPipeline: pipe });
      await s1.ok('subscribe', { object: a, type: 'ElementConnected' });
      const sid = s1.sessionId;
      await s1.terminate();
      const s2 = await RpcSocket.connect(server.url);
      try {
        await s2.ok('connect', { sessionId: sid });
        s2.sessionId = sid;
        await s2.invoke(a, 'connect', { sink: b, mediaType: 'AUDIO' });
        const ev = await s2.waitForEvent((e) => e.params.value.object === a);
        assert.equal(ev.params.value.type, 'ElementConnected');
        await s2.ok('release', { object: pipe });
      } finally {
        await s2.close();
      }
    });
  });
}

if (runRawSuites()) {
  describe('garbage collection of abandoned sessions', () => {
    const gcServer = new KmsServer({ garbageCollectorPeriod: 1 });
    before(() => gcServer.start());
    after(async () => {
      await gcServer.stop();
      gcServer.cleanup();
    });

    it('objects of a session without a socket are released after a few GC periods', async () => {
      const s = await RpcSocket.connect(gcServer.url);
      const pipe = await s.create('MediaPipeline');
      await s.close();
      const probe = await RpcSocket.connect(gcServer.url);
      try {
        assert.ok((await probe.invoke('manager_ServerManager', 'getPipelines')).includes(pipe));
        await eventually(
          // Asking the ServerManager does not reference the pipeline from the probe's session.
          async () => {
            const pipelines = await probe.invoke('manager_ServerManager', 'getPipelines');
            return !pipelines.includes(pipe);
          },
          10000,
          'pipeline collected',
        );
      } finally {
        await probe.close();
      }
    });

    it('objects of a session whose socket stays open are kept', async () => {
      const s = await RpcSocket.connect(gcServer.url);
      try {
        const pipe = await s.create('MediaPipeline');
        await sleep(4500);
        assert.equal(await s.invoke(pipe, 'getName'), pipe);
      } finally {
        await s.close();
      }
    });
  });
}
