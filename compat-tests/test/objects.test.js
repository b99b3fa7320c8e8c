'use strict';
// Object life cycle through the unmodified clients: create/release of every creatable class, names,
// tags, creationTime, and the describe round trips the client relies on to build proxies.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { useServer } = require('../lib/server');
const { VERSIONS, connect, closeClient } = require('../lib/clients');
const { PIPELINE_ID_RE, childIdRe, rejectsWithCode, viaCallback } = require('../lib/util');

const server = useServer();

// Every concrete class created from a pipeline, with the constructor params it needs.
const PIPELINE_CHILDREN = [
  ['PassThrough'],
  ['AlphaBlending'],
  ['Composite'],
  ['Dispatcher'],
  ['DispatcherOneToMany'],
  ['HttpPostEndpoint'],
  ['Mixer'],
  ['PlayerEndpoint', { uri: 'file:///tmp/kms-compat-does-not-exist.webm' }],
  ['RecorderEndpoint', { uri: 'file:///tmp/kms-compat-recording.webm' }],
  ['RtpEndpoint'],
  ['WebRtcEndpoint'],
  ['FaceOverlayFilter'],
  ['GStreamerFilter', { command: 'videoflip method=horizontal-flip' }],
  ['ImageOverlayFilter'],
  ['ZBarFilter'],
];

for (const v of VERSIONS) {
  describe(v.name, () => {
    let client;
    let manager;
    before(async () => {
      client = await connect(v.pkg, server.url);
      manager = await client.getServerManager();
    });
    after(() => closeClient(client));

    it('creates and releases a pipeline and every creatable element', async () => {
      const baseline = (await manager.getPipelines()).length;
      const pipeline = await client.create('MediaPipeline');
      assert.match(pipeline.id, PIPELINE_ID_RE);
      assert.equal((await manager.getPipelines()).length, baseline + 1);

      const created = [];
      for (const [type, params] of PIPELINE_CHILDREN) {
        const el = await pipeline.create(type, params);
        assert.match(el.id, childIdRe(pipeline.id, type), `${type} id format`);
        assert.equal(el.constructor.name, type);
        created.push(el);
      }
      const composite = created.find((e) => e.constructor.name === 'Composite');
      const port = await composite.createHubPort();
      assert.match(port.id, childIdRe(composite.id, 'HubPort'), 'a HubPort is a child of its hub');
      created.push(port);

      // Each created object answers a call (it really exists on the server).
      for (const el of created) {
        assert.equal(await el.getName(), el.id, `default name of ${el.id} is its id`);
      }
      const gst = created.find((e) => e.constructor.name === 'GStreamerFilter');
      assert.equal(await gst.getCommand(), 'videoflip method=horizontal-flip');
      const player = created.find((e) => e.constructor.name === 'PlayerEndpoint');
      assert.equal(await player.getUri(), 'file:///tmp/kms-compat-does-not-exist.webm');

      // Releasing one element leaves the others alone.
      const pass = created.shift();
      await pass.release();
      const second = await connect(v.pkg, server.url);
      try {
        await rejectsWithCode(second.getMediaobjectById(pass.id), 40101, 'released element');
        const stillThere = await second.getMediaobjectById(created[0].id);
        assert.equal(stillThere.id, created[0].id);
      } finally {
        await closeClient(second);
      }

      await pipeline.release();
      assert.equal((await manager.getPipelines()).length, baseline, 'pipeline count back to baseline');

      // Releasing the pipeline destroyed every child, hub ports included.
      const third = await connect(v.pkg, server.url);
      try {
        for (const el of [pipeline, ...created]) {
          await rejectsWithCode(third.getMediaobjectById(el.id), 40101, `describe of released ${el.id}`);
        }
      } finally {
        await closeClient(third);
      }
    });

    it('a call on a released object fails with 40101 (ReferenceError)', async () => {
      const pipeline = await client.create('MediaPipeline');
      const el = await pipeline.create('PassThrough');
      await pipeline.release();
      const err = await rejectsWithCode(viaCallback(el, 'getName'), 40101, 'getName after release');
      assert.ok(err instanceof ReferenceError, 'client maps 40101 to ReferenceError');
    });

    it('name, tags and creationTime', async () => {
      const pipeline = await client.create('MediaPipeline');
      try {
        const el = await pipeline.create('WebRtcEndpoint');
        assert.equal(await el.getName(), el.id);
        await el.setName('my-endpoint');
        assert.equal(await el.getName(), 'my-endpoint');
        await pipeline.setName('my-pipeline');
        assert.equal(await pipeline.getName(), 'my-pipeline');

        assert.deepEqual(await el.getTags(), []);
        await el.addTag('room', 'lobby');
        await el.addTag('user', 'alice');
        assert.equal(await el.getTag('room'), 'lobby');
        const tags = (await el.getTags()).map((t) => ({ key: t.key, value: t.value }));
        tags.sort((a, b) => a.key.localeCompare(b.key));
        assert.deepEqual(tags, [
          { key: 'room', value: 'lobby' },
          { key: 'user', value: 'alice' },
        ]);
        await el.addTag('room', 'hall');
        assert.equal(await el.getTag('room'), 'hall', 'addTag overwrites an existing key');
        await el.removeTag('room');
        const err = await rejectsWithCode(viaCallback(el, 'getTag', 'room'), 40110, 'getTag of a removed key');
        assert.equal(err.data && err.data.type, 'MEDIA_OBJECT_TAG_KEY_NOT_FOUND');
        await rejectsWithCode(viaCallback(el, 'getTag', 'never-set'), 40110, 'getTag of a missing key');
        await viaCallback(el, 'removeTag', 'never-set'); // removing a missing tag is not an error

        const now = Math.floor(Date.now() / 1000);
        const created = await el.getCreationTime();
        assert.ok(Number.isInteger(created), `creationTime ${created} is an integer`);
        assert.ok(Math.abs(created - now) < 120, `creationTime ${created} is in Unix seconds (now ${now})`);

        assert.equal(await el.getSendTagsInEvents(), false);
        await el.setSendTagsInEvents(true);
        assert.equal(await el.getSendTagsInEvents(), true);
      } finally {
        await pipeline.release();
      }
    });

    it('sendTagsInEvents puts the tags into event data', async () => {
      const pipeline = await client.create('MediaPipeline');
      try {
        const a = await pipeline.create('PassThrough');
        const b = await pipeline.create('PassThrough');
        await a.addTag('k', 'v');
        await a.setSendTagsInEvents(true);
        const got = new Promise((resolve) => a.once('ElementConnected', resolve));
        await a.getName(); // the subscribe above is sent before this call
        await a.connect(b);
        const event = await Promise.race([
          got,
          new Promise((_, reject) => setTimeout(() => reject(new Error('no ElementConnected')), 5000)),
        ]);
        const tags = event.tags.map((t) => ({ key: t.key, value: t.value }));
        assert.deepEqual(tags, [{ key: 'k', value: 'v' }]);
      } finally {
        await pipeline.release();
      }
    });

    it('describe round trips: getMediaPipeline, getParent, getChildren', async () => {
      const pipeline = await client.create('MediaPipeline');
      try {
        const webrtc = await pipeline.create('WebRtcEndpoint');
        const composite = await pipeline.create('Composite');
        const port = await composite.createHubPort();

        const mp = await webrtc.getMediaPipeline();
        assert.equal(mp.id, pipeline.id);
        assert.equal((await port.getMediaPipeline()).id, pipeline.id);
        assert.equal((await pipeline.getMediaPipeline()).id, pipeline.id, "a pipeline's pipeline is itself");

        assert.equal((await webrtc.getParent()).id, pipeline.id);
        assert.equal((await port.getParent()).id, composite.id, "a HubPort's parent is its hub");

        const children = await pipeline.getChildren();
        assert.deepEqual(children.map((c) => c.id).sort(), [webrtc.id, composite.id].sort());
        const hubChildren = await composite.getChildren();
        assert.deepEqual(hubChildren.map((c) => c.id), [port.id]);
        assert.deepEqual(await webrtc.getChildren(), []);
      } finally {
        await pipeline.release();
      }
    });

    it('a second client adopts objects by id (describe builds the right proxy classes)', async () => {
      const pipeline = await client.create('MediaPipeline');
      const other = await connect(v.pkg, server.url);
      try {
        const webrtc = await pipeline.create('WebRtcEndpoint');
        await webrtc.setName('shared');
        const composite = await pipeline.create('Composite');
        const port = await composite.createHubPort();

        const p2 = await other.getMediaobjectById(pipeline.id);
        assert.equal(p2.constructor.name, 'MediaPipeline');
        assert.equal(p2.id, pipeline.id);
        const w2 = await other.getMediaobjectById(webrtc.id);
        assert.equal(w2.constructor.name, 'WebRtcEndpoint');
        assert.equal(await w2.getName(), 'shared');
        const h2 = await other.getMediaobjectById(port.id);
        assert.equal(h2.constructor.name, 'HubPort');

        // The adopting client can use the object like its creator.
        await w2.setName('renamed-by-other');
        assert.equal(await webrtc.getName(), 'renamed-by-other');
        const children = await p2.getChildren();
        assert.equal(children.length, 2);
        for (const c of children) {
          assert.ok(['WebRtcEndpoint', 'Composite'].includes(c.constructor.name), c.constructor.name);
        }

        await rejectsWithCode(
          other.getMediaobjectById(`${pipeline.id}/00000000-0000-4000-8000-000000000000_kurento.PassThrough`),
          40101,
          'unknown id',
        );
      } finally {
        await pipeline.release();
        await closeClient(other);
      }
    });

    it('connect/disconnect and connection queries between elements', async () => {
      const pipeline = await client.create('MediaPipeline');
      try {
        const a = await pipeline.create('PassThrough');
        const b = await pipeline.create('PassThrough');
        await a.connect(b);
        const sinks = await a.getSinkConnections();
        assert.ok(sinks.length >= 1, 'a has sink connections');
        for (const c of sinks) {
          assert.equal(c.source.id, a.id);
          assert.equal(c.sink.id, b.id);
        }
        assert.deepEqual(
          [...new Set(sinks.map((c) => c.type))].sort(),
          ['AUDIO', 'DATA', 'VIDEO'],
          'connect without mediaType connects AUDIO, VIDEO and DATA',
        );
        const sources = await b.getSourceConnections('VIDEO');
        assert.equal(sources.length, 1);
        assert.equal(sources[0].source.id, a.id);
        await a.disconnect(b);
        assert.deepEqual(await a.getSinkConnections(), []);
        await a.connect(b, 'AUDIO');
        const audioOnly = await a.getSinkConnections();
        assert.deepEqual(audioOnly.map((c) => c.type), ['AUDIO']);
      } finally {
        await pipeline.release();
      }
    });
  });
}
