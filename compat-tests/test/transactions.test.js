'use strict';
// Transactions as kurento-client builds them (newref:<n> for objects created earlier in the batch),
// plus the raw wire shape of the `transaction` method and its error cases.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { useServer } = require('../lib/server');
const { VERSIONS, connect, closeClient } = require('../lib/clients');
const { RpcSocket } = require('../lib/rpc');
const { PIPELINE_ID_RE, childIdRe, rejectsWithCode, assertRpcError } = require('../lib/util');

const server = useServer();

function settle(promiseLike) {
  return Promise.resolve(promiseLike).then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  );
}

for (const v of VERSIONS) {
  describe(v.name, () => {
    let client;
    before(async () => {
      client = await connect(v.pkg, server.url);
    });
    after(() => closeClient(client));

    it('client.transaction(fn) creates a pipeline and elements in one request', async () => {
      let pipeline;
      let player;
      let recorder;
      const tx = client.transaction(function () {
        pipeline = this.create('MediaPipeline');
        player = pipeline.create('PlayerEndpoint', { uri: 'file:///tmp/kms-compat-in.webm' });
        recorder = pipeline.create('RecorderEndpoint', { uri: 'file:///tmp/kms-compat-out.webm' });
      });
      await tx;
      const p = await pipeline;
      const pl = await player;
      const rec = await recorder;
      try {
        assert.match(p.id, PIPELINE_ID_RE);
        assert.match(pl.id, childIdRe(p.id, 'PlayerEndpoint'));
        assert.match(rec.id, childIdRe(p.id, 'RecorderEndpoint'));
        assert.equal(await pl.getUri(), 'file:///tmp/kms-compat-in.webm');
        const children = await p.getChildren();
        assert.deepEqual(children.map((c) => c.id).sort(), [pl.id, rec.id].sort());
      } finally {
        await p.release();
      }
    });

    it('beginTransaction + commit with invokes on objects created in the same transaction', async () => {
      const tx = client.beginTransaction();
      const pipeline = client.create(tx, 'MediaPipeline');
      const a = pipeline.create(tx, 'PassThrough');
      const b = pipeline.create(tx, 'PassThrough');
      const setName = new Promise((resolve, reject) =>
        a.setName(tx, 'tx-named', (err) => (err ? reject(err) : resolve())),
      );
      // (MediaElement.connect cannot take a transaction: the generated code shifts `arguments` twice
      // and loses it, so only creates and plain invokes are batched here.)
      const tagged = new Promise((resolve, reject) =>
        b.addTag(tx, 'k', 'v', (err) => (err ? reject(err) : resolve())),
      );
      assert.equal(pipeline.id, undefined, 'nothing is sent before commit');
      await tx.commit();
      await setName;
      await tagged;
      const p = await pipeline;
      try {
        const pa = await a;
        const pb = await b;
        assert.equal(await pa.getName(), 'tx-named');
        assert.equal(await pb.getTag('k'), 'v');
        const children = await p.getChildren();
        assert.deepEqual(children.map((c) => c.id).sort(), [pa.id, pb.id].sort());
      } finally {
        await p.release();
      }
    });

    it('an error inside a transaction fails that operation and skips the following ones', async () => {
      const pipeline = await client.create('MediaPipeline');
      try {
        const tx = client.beginTransaction();
        const results = [];
        const op = (fn) =>
          results.push(new Promise((resolve) => fn((error, value) => resolve({ error, value }))));
        op((cb) => pipeline.addTag(tx, 'a', '1', cb));
        op((cb) => pipeline.getTag(tx, 'missing', cb));
        op((cb) => pipeline.setName(tx, 'never-applied', cb));
        await settle(tx.commit());
        const [first, second, third] = await Promise.all(results);
        assert.ok(!first.error, `addTag ok (${first.error && first.error.message})`);
        assert.ok(second.error, 'getTag of a missing key failed');
        assert.equal(second.error.code, 40110);
        assert.ok(third.error, 'operation after the failing one is not executed');
        assert.match(third.error.message, /not executed/i);
        assert.equal(await pipeline.getTag('a'), '1', 'operations before the failure were applied');
        assert.notEqual(await pipeline.getName(), 'never-applied');
      } finally {
        await pipeline.release();
      }
    });

    it('a create in a released pipeline inside a transaction rejects that proxy (40101)', async () => {
      const p = await client.create('MediaPipeline');
      await p.release();
      // A transaction referring to a released pipeline: the create fails with 40101.
      const tx2 = client.beginTransaction();
      // Only the callback sees the error: the proxy's own promise rejects with `undefined` here.
      const orphan = new Promise((resolve, reject) =>
        p.create(tx2, 'PassThrough', (err, obj) => (err ? reject(err) : resolve(obj))),
      );
      await settle(tx2.commit());
      await rejectsWithCode(orphan, 40101, 'create in a released pipeline');
    });
  });
}

describe('raw transaction requests', () => {
  let sock;
  before(async () => {
    sock = await RpcSocket.connect(server.url);
    await sock.ok('ping', { interval: 5000 });
  });
  after(() => sock.close());

  it('newref:<n> resolves to the id created by operation n', async () => {
    const result = await sock.ok('transaction', {
      object: 'ignored-by-the-server',
      operations: [
        { jsonrpc: '2.0', id: 0, method: 'create', params: { type: 'MediaPipeline', properties: {} } },
        {
          jsonrpc: '2.0',
          id: 1,
          method: 'create',
          params: { type: 'WebRtcEndpoint', constructorParams: { mediaPipeline: 'newref:0' }, properties: {} },
        },
        {
          jsonrpc: '2.0',
          id: 2,
          method: 'invoke',
          params: { object: 'newref:1', operation: 'setName', operationParams: { name: 'via-newref' } },
        },
        { jsonrpc: '2.0', id: 3, method: 'invoke', params: { object: 'newref:1', operation: 'getName' } },
      ],
    });
    const sid = result.sessionId;
    assert.equal(typeof sid, 'string');
    assert.equal(result.value.length, 4);
    result.value.forEach((r, i) => {
      assert.equal(r.jsonrpc, '2.0');
      assert.equal(r.id, i);
      assert.ok(r.result, `operation ${i} succeeded: ${JSON.stringify(r)}`);
      assert.equal(r.result.sessionId, sid);
    });
    const pipe = result.value[0].result.value;
    assert.match(pipe, PIPELINE_ID_RE);
    assert.match(result.value[1].result.value, childIdRe(pipe, 'WebRtcEndpoint'));
    assert.equal(result.value[2].result.value, null);
    assert.equal(result.value[3].result.value, 'via-newref');
    await sock.ok('release', { object: pipe });
  });

  it('operation ids must equal their index (40008)', async () => {
    const resp = await sock.call('transaction', {
      operations: [{ jsonrpc: '2.0', id: 5, method: 'create', params: { type: 'MediaPipeline' } }],
    });
    assertRpcError(resp, 40008, 'MALFORMED_TRANSACTION');
  });

  it('stops at the first failing operation', async () => {
    const result = await sock.ok('transaction', {
      operations: [
        { jsonrpc: '2.0', id: 0, method: 'create', params: { type: 'MediaPipeline' } },
        { jsonrpc: '2.0', id: 1, method: 'create', params: { type: 'NoSuchThing' } },
        { jsonrpc: '2.0', id: 2, method: 'create', params: { type: 'MediaPipeline' } },
      ],
    });
    assert.ok(result.value.length === 2, `two responses, got ${JSON.stringify(result.value)}`);
    assert.ok(result.value[0].result);
    assert.equal(result.value[1].id, 1);
    assert.equal(result.value[1].error.code, 40108);
    await sock.ok('release', { object: result.value[0].result.value });
  });

  it('newref outside a transaction fails with 40109', async () => {
    const resp = await sock.call('invoke', { object: 'newref:0', operation: 'getName' });
    assertRpcError(resp, 40109, 'MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT');
  });
});
