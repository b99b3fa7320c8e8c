'use strict';
// Composite, Mixer and AlphaBlending through the unmodified clients: generated clips of one
// colour each played into hub ports, a port's output recorded, and the recording checked for
// where each colour is (KMS's grid, the blend, the routed video) and what is heard (each port
// hears the others' audio, never its own). Ports are released while the hub runs.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { useServer } = require('../lib/server');
const { VERSIONS, connect, closeClient } = require('../lib/clients');
const { sleep } = require('../lib/util');
const { ffmpeg, probe, colourShare, COLOURS, maxVolume, decodedFrames } = require('../lib/media');

const server = useServer();
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-hubs-'));
const SECONDS = 20; // longer than any recording: players never end during a test

let red;
let blue;
before(() => {
  // Red with a tone, blue in silence: what a recording hears tells whose audio reached it.
  red = path.join(DIR, 'red.webm');
  ffmpeg('-f', 'lavfi', '-i', 'color=c=red:size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(SECONDS), '-pix_fmt', 'yuv420p', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-g', '30',
    '-c:a', 'libopus', '-ac', '2', red);
  blue = path.join(DIR, 'blue.webm');
  ffmpeg('-f', 'lavfi', '-i', 'color=c=blue:size=320x240:rate=30', '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=stereo',
    '-t', String(SECONDS), '-pix_fmt', 'yuv420p', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-g', '30',
    '-c:a', 'libopus', blue);
});

const area = (x, y, w, h) => ({ x, y, w, h });
// Inner parts of the 640×480 mix's halves and quadrants (borders left out: scaling blurs them).
const LEFT = area(40, 60, 240, 360);
const RIGHT = area(360, 60, 240, 360);
const TOP_LEFT = area(30, 30, 260, 180);
const BOTTOM_RIGHT = area(350, 270, 260, 180);

for (const v of VERSIONS) {
  describe(`${v.name} mixing hubs`, () => {
    let client;
    before(async () => {
      client = await connect(v.pkg, server.url);
    });
    after(() => closeClient(client));

    /**
     * A HubPort as createHubPort returns it, once created. Awaited, a kurento-client object (a
     * thenable) resolves to a copy that is not a MediaObject, and a method taking a HubPort
     * (setMaster, Mixer.connect...) then sends the copy's fields instead of its id, which KMS
     * refuses (40001); so the port travels wrapped.
     */
    const createHubPort = (hub) => new Promise((resolve, reject) => {
      const port = hub.createHubPort((error) => (error ? reject(error) : resolve({ port })));
    });

    /** A hub in a new pipeline with a port per clip (played into it) and a port recorded. */
    async function hubWith(type, clips) {
      const pipeline = await client.create('MediaPipeline');
      const hub = await pipeline.create(type);
      const inputs = [];
      for (const clip of clips) {
        const player = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}` });
        const { port } = await createHubPort(hub);
        await player.connect(port);
        inputs.push({ player, port });
      }
      const { port: out } = await createHubPort(hub);
      return { pipeline, hub, inputs, out };
    }

    async function record(pipeline, port, name) {
      const file = path.join(DIR, `v${v.major}-${name}.webm`);
      const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}` });
      await port.connect(recorder);
      await recorder.record();
      return { file, recorder };
    }

    const play = (inputs) => Promise.all(inputs.map((i) => i.player.play()));
    const share = (file, t, region, colour) => colourShare(file, t, region, COLOURS[colour]);

    it('Composite tiles the inputs in KMS grid, each port hears the others, and a port leaving re-tiles', async () => {
      const { pipeline, hub, inputs, out } = await hubWith('Composite', [red, blue]);
      const all = await record(pipeline, out, 'composite');
      const own = await record(pipeline, inputs[0].port, 'composite-own'); // red's own port: the mix without red's audio
      await play(inputs);
      await sleep(3000);
      // Blue's port goes away while the hub runs: red fills the frame.
      await inputs[1].port.release();
      await inputs[1].player.release();
      await sleep(3000);
      await all.recorder.stopAndWait();
      await own.recorder.stopAndWait();
      const p = probe(all.file);
      assert.deepEqual(p.streams, { video: 'vp8', audio: 'opus' });
      assert.equal(p.size, '640x480');
      assert.ok(share(all.file, 1.5, LEFT, 'red') > 0.9, `red on the left: ${share(all.file, 1.5, LEFT, 'red')}`);
      assert.ok(share(all.file, 1.5, RIGHT, 'blue') > 0.9, `blue on the right: ${share(all.file, 1.5, RIGHT, 'blue')}`);
      const end = p.duration - 0.5;
      assert.ok(share(all.file, end, RIGHT, 'red') > 0.9, `red over the whole frame after blue left: ${share(all.file, end, RIGHT, 'red')}`);
      assert.ok(maxVolume(all.file) > -30, `the recorded port hears red's tone: ${maxVolume(all.file)} dB`);
      assert.ok(maxVolume(own.file) < -50, `red's own port does not hear red: ${maxVolume(own.file)} dB`);
      assert.ok(share(own.file, 1.5, RIGHT, 'blue') > 0.9, 'every port gets the whole grid');
      assert.ok(decodedFrames(all.file) >= 6 * 15 * 0.7, `frames: ${decodedFrames(all.file)}`);
      await hub.release();
      await pipeline.release();
    });

    if (v.major === 7) {
      it('Mixer routes video between port pairs as it is and mixes the audio connected to a port', async () => {
        const { pipeline, hub, inputs, out } = await hubWith('Mixer', [red, blue]);
        await hub.connect('VIDEO', inputs[1].port, out);
        await hub.connect('AUDIO', inputs[0].port, out);
        const rec = await record(pipeline, out, 'mixer');
        await play(inputs);
        await sleep(3000);
        await rec.recorder.stopAndWait();
        const p = probe(rec.file);
        assert.deepEqual(p.streams, { video: 'vp8', audio: 'opus' }, JSON.stringify(p));
        assert.equal(p.size, '320x240', 'the routed video is the source, not a mix');
        const mid = p.duration / 2;
        assert.ok(share(rec.file, mid, area(20, 20, 280, 200), 'blue') > 0.9,
          `blue routed to the sink port: ${share(rec.file, mid, area(20, 20, 280, 200), 'blue')} at ${mid} s of ${p.duration}`);
        assert.ok(maxVolume(rec.file) > -30, `red's audio mixed into the sink port: ${maxVolume(rec.file)} dB`);
        await hub.disconnect('AUDIO', inputs[0].port, out);
        await hub.disconnect('VIDEO', inputs[1].port, out);
        await pipeline.release();
      });

      it('AlphaBlending blends each input where setPortProperties puts it over the master', async () => {
        const { pipeline, hub, inputs, out } = await hubWith('AlphaBlending', [red, blue]);
        await hub.setMaster(inputs[0].port, 1);
        await hub.setPortProperties(0.5, 0.5, 2, 0.5, 0.5, inputs[1].port);
        const rec = await record(pipeline, out, 'alpha');
        await play(inputs);
        await sleep(3000);
        await rec.recorder.stopAndWait();
        const p = probe(rec.file);
        assert.equal(p.size, '640x480');
        const mid = p.duration / 2;
        assert.ok(share(rec.file, mid, TOP_LEFT, 'red') > 0.9, 'the master fills the frame');
        assert.ok(share(rec.file, mid, BOTTOM_RIGHT, 'blue') > 0.9, `blue in the bottom-right quarter: ${share(rec.file, mid, BOTTOM_RIGHT, 'blue')}`);
        await pipeline.release();
      });

      it('a hub with ports created and released repeatedly while it runs keeps mixing', async () => {
        const { pipeline, hub, inputs, out } = await hubWith('Composite', [red]);
        const rec = await record(pipeline, out, 'churn');
        await play(inputs);
        for (let i = 0; i < 5; i++) {
          const player = await pipeline.create('PlayerEndpoint', { uri: `file://${blue}` });
          const { port } = await createHubPort(hub);
          await player.connect(port);
          await player.play();
          await sleep(400);
          await port.release();
          await player.release();
        }
        await sleep(1500);
        await rec.recorder.stopAndWait();
        const p = probe(rec.file);
        const end = p.duration - 0.5;
        assert.ok(share(rec.file, end, RIGHT, 'red') > 0.9, `red alone again at the end: ${share(rec.file, end, RIGHT, 'red')} red, ${share(rec.file, end, RIGHT, 'blue')} blue at ${end} s`);
        assert.ok(maxVolume(rec.file) > -30, `still mixing audio: ${maxVolume(rec.file)} dB`);
        await pipeline.release();
      });
    }
  });
}
