'use strict';
// GStreamerFilter, ZBarFilter, FaceOverlayFilter and ImageOverlayFilter through the unmodified
// clients: a generated clip played through the filter into a recorder, and the recording checked
// for what the filter did (pixels, sizes, loudness, an overlay's colour where KMS's geometry puts
// it), or a QR-code clip raising CodeFound.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { useServer } = require('../lib/server');
const { RpcSocket } = require('../lib/rpc');
const { VERSIONS, connect, closeClient } = require('../lib/clients');
const { rejectsWithCode, viaCallback, sleep } = require('../lib/util');
const http = require('node:http');
const {
  ffmpeg, probe, decodedFrames, frameAt, psnrOf, maxVolume, magentaShare, magentaPng, astronautPng, once,
} = require('../lib/media');

const server = useServer();
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-filters-'));
const SECONDS = 3;
// Frames a filtered recording must decode: the clip has SECONDS * 30, and a loaded machine's
// encoders drop some (speed is measured in BENCHMARKS.md, not here).
const MIN_FRAMES = SECONDS * 30 * 0.5;

let clip;
let qr;
let face;
let png;
let notImage;
let imageServer;
let imageUrl;
// Where opencv's frontal-face cascade finds the astronaut's face in the 640×480 clip (measured
// with GStreamer's facedetect; detections jitter by a few pixels).
const FACE = { x: 217, y: 48, w: 119, h: 119 };
before(async () => {
  clip = path.join(DIR, 'in.webm');
  ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(SECONDS), '-pix_fmt', 'yuv420p', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '800k', '-g', '30',
    '-c:a', 'libopus', '-ac', '2', clip);
  const png = path.join(DIR, 'qr.png');
  execFileSync('qrencode', ['-o', png, '-s', '8', '-m', '4', 'kurento-rs QR test']);
  qr = path.join(DIR, 'qr.webm');
  ffmpeg('-loop', '1', '-i', png, '-t', String(SECONDS), '-r', '30', '-vf', 'scale=320:320,format=yuv420p', '-c:v', 'libvpx', '-deadline', 'realtime', '-b:v', '800k', qr);
  face = path.join(DIR, 'face.webm');
  ffmpeg('-loop', '1', '-i', astronautPng(), '-t', String(SECONDS), '-r', '30', '-vf', 'scale=640:480,format=yuv420p',
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1500k', '-g', '30', face);
  magentaPng(path.join(DIR, 'magenta.png'));
  notImage = path.join(DIR, 'not-an-image.png');
  fs.writeFileSync(notImage, '<html>this is not a PNG</html>');
  // The overlay image over http, as the magic-mirror tutorial serves it.
  imageServer = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'image/png' });
    res.end(fs.readFileSync(path.join(DIR, 'magenta.png')));
  });
  await new Promise((resolve) => imageServer.listen(0, '127.0.0.1', resolve));
  imageUrl = `http://127.0.0.1:${imageServer.address().port}/img/magenta.png`;
});
after(() => imageServer && imageServer.close());

for (const v of VERSIONS) {
  describe(`${v.name} filters`, () => {
    let client;
    before(async () => {
      client = await connect(v.pkg, server.url);
    });
    after(() => closeClient(client));

    /** Plays `uri` through `filter` (made by `make(pipeline)`) into a WEBM recorder; returns the file. */
    async function throughFilter(name, make, uri = `file://${clip}`) {
      const pipeline = await client.create('MediaPipeline');
      const file = path.join(DIR, `v${v.major}-${name}.webm`);
      const player = await pipeline.create('PlayerEndpoint', { uri });
      const filter = await make(pipeline);
      const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}` });
      await player.connect(filter);
      await filter.connect(recorder);
      const eos = once(player, 'EndOfStream', (SECONDS + 8) * 1000, `${name}: EndOfStream`);
      await recorder.record();
      await player.play();
      await eos;
      await recorder.stopAndWait();
      await pipeline.release();
      return file;
    }

    /** Collects an element's Error events. */
    function errorsOf(element) {
      const errors = [];
      element.on('Error', (e) => errors.push({ type: e.type, description: e.description, errorCode: e.errorCode }));
      return errors;
    }

    const gst = (command, filterType) => (p) => p.create('GStreamerFilter', filterType ? { command, filterType } : { command });

    it('videoflip mirrors the picture (the recording matches the source flipped, not the source)', async () => {
      const file = await throughFilter('videoflip', gst('videoflip method=horizontal-flip'));
      assert.deepEqual(probe(file).streams, { video: 'vp8', audio: 'opus' }, 'audio passes through the video filter');
      const flipped = psnrOf(file, clip, 'hflip');
      const straight = psnrOf(file, clip, 'null');
      assert.ok(flipped > straight + 5, `PSNR against the flipped source ${flipped} dB, against the source ${straight} dB`);
      assert.ok(decodedFrames(file) >= MIN_FRAMES);
    });

    if (v.major === 7) {
      const table = [
        ['videobalance saturation=0 (grey)', 'videobalance saturation=0', (f) => {
          const m = frameAt(f, 1.5, 320, 240);
          assert.ok(Math.abs(m.u - 128) < 3 && Math.abs(m.v - 128) < 3, `chroma means ${JSON.stringify(m)}`);
        }],
        ['coloreffects preset=sepia', 'coloreffects preset=sepia', (f) => {
          const m = frameAt(f, 1.5, 320, 240);
          assert.ok(m.u < 124 && m.v > 132, `sepia chroma means ${JSON.stringify(m)}`);
        }],
        ['videocrop', 'videocrop top=40 bottom=40', (f) => assert.equal(probe(f).size, '320x160')],
        ['textoverlay (magenta text)', 'textoverlay text=KMS font-desc="Sans Bold 48" color=0xFFFF00FF valignment=center halignment=center', (f) => {
          // testsrc has a magenta bar of its own: the text adds magenta around the centre.
          const centre = { x: 100, y: 90, w: 120, h: 60 };
          const added = magentaShare(f, 1.5, centre) - magentaShare(clip, 1.5, centre);
          assert.ok(added > 0.1, `magenta text in the centre: +${added}`);
        }],
        ['capsfilter with a scale', 'capsfilter caps=video/x-raw,width=160,height=120', (f) => assert.equal(probe(f).size, '160x120')],
      ];
      for (const [name, command, check] of table) {
        it(`GStreamerFilter '${name}' does what GStreamer does`, async () => {
          const file = await throughFilter(name.split(' ')[0], gst(command));
          check(file);
          assert.ok(decodedFrames(file) >= MIN_FRAMES, name);
        });
      }

      it('an AUDIO filter (volume=0) silences the audio and leaves the video alone', async () => {
        const file = await throughFilter('volume', gst('volume volume=0', 'AUDIO'));
        assert.deepEqual(probe(file).streams, { video: 'vp8', audio: 'opus' });
        assert.ok(maxVolume(file) < -60, `max volume ${maxVolume(file)} dB`);
        assert.ok(maxVolume(clip) > -30, 'the source is audible');
        assert.ok(psnrOf(file, clip) > 25, 'video unchanged');
      });
    }

    it('setElementProperty changes the running element, and wrong names or values answer KMS errors', async () => {
      const file = await throughFilter('set-property', async (p) => {
        const f = await p.create('GStreamerFilter', { command: 'videobalance' });
        await viaCallback(f, 'setElementProperty', 'saturation', '0');
        await rejectsWithCode(viaCallback(f, 'setElementProperty', 'no-such-property', '1'), 40001);
        await rejectsWithCode(viaCallback(f, 'setElementProperty', 'saturation', 'lots'), 40001);
        assert.equal(await f.getCommand(), 'videobalance');
        return f;
      });
      const m = frameAt(file, 1.5, 320, 240);
      assert.ok(Math.abs(m.u - 128) < 3 && Math.abs(m.v - 128) < 3, `chroma means ${JSON.stringify(m)}`);
    });

    it('a command that is not one element is refused at creation with MARSHALL_ERROR, as KMS', async () => {
      const pipeline = await client.create('MediaPipeline');
      for (const command of ['no-such-element-here', 'videoflip ! videobalance', 'videoflip method=sideways-not']) {
        await rejectsWithCode(pipeline.create('GStreamerFilter', { command }), 40001, command);
      }
      await pipeline.release();
    });

    it('ZBarFilter raises CodeFound once for a QR code in view', async () => {
      const codes = [];
      const file = await throughFilter('zbar', async (p) => {
        const z = await p.create('ZBarFilter');
        z.on('CodeFound', (e) => codes.push({ codeType: e.codeType, value: e.value }));
        return z;
      }, `file://${qr}`);
      await sleep(200);
      assert.deepEqual(codes, [{ codeType: 'QR-Code', value: 'kurento-rs QR test' }]);
      assert.ok(decodedFrames(file) > 30, 'the video goes on through the filter');
    });

    it('FaceOverlayFilter draws the image over the face with KMS geometry (image over http)', async () => {
      const inner = { x: FACE.x + 15, y: FACE.y + 15, w: FACE.w - 30, h: FACE.h - 30 };
      assert.ok(magentaShare(face, 1.5, inner) < 0.02, 'no magenta in the source');
      const file = await throughFilter('face', async (p) => {
        const f = await p.create('FaceOverlayFilter');
        await f.setOverlayedImage(imageUrl, 0, 0, 1, 1);
        return f;
      }, `file://${face}`);
      const share = magentaShare(file, 2, inner);
      assert.ok(share > 0.8, `magenta over the face: ${share}`);
      const beside = magentaShare(file, 2, { x: 10, y: 300, w: 150, h: 150 });
      assert.ok(beside < 0.02, `magenta away from the face: ${beside}`);
      assert.ok(decodedFrames(file) >= MIN_FRAMES, 'the video keeps its frame rate');
    });

    if (v.major === 7) {
      it('FaceOverlayFilter offsets are relative to the face (a positive Y moves down), zero sizes draw nothing', async () => {
        // Below the face, half its size: x + 0.25w, y + 1.2h.
        const file = await throughFilter('face-below', async (p) => {
          const f = await p.create('FaceOverlayFilter');
          await f.setOverlayedImage(imageUrl, 0.25, 1.2, 0.5, 0.5);
          return f;
        }, `file://${face}`);
        const below = { x: FACE.x + FACE.w * 0.25 + 8, y: FACE.y + FACE.h * 1.2 + 8, w: FACE.w * 0.5 - 16, h: FACE.h * 0.5 - 16 };
        for (const k of Object.keys(below)) below[k] = Math.round(below[k]);
        assert.ok(magentaShare(file, 2, below) > 0.8, `magenta below the face: ${magentaShare(file, 2, below)}`);
        const onFace = { x: FACE.x + 15, y: FACE.y + 15, w: FACE.w - 30, h: FACE.h - 30 };
        assert.ok(magentaShare(file, 2, onFace) < 0.05, 'nothing on the face itself');

        const none = await throughFilter('face-zero', async (p) => {
          const f = await p.create('FaceOverlayFilter');
          await f.setOverlayedImage(imageUrl, 0, 0, 0, 1);
          return f;
        }, `file://${face}`);
        assert.ok(magentaShare(none, 2, { x: 0, y: 0, w: 640, h: 480 }) < 0.01, 'a zero width draws nothing');
      });
    }

    it('FaceOverlayFilter with an unreachable or broken image: the call answers, an Error event says why, the video flows', async () => {
      for (const [name, uri] of [['refused', 'http://127.0.0.1:9/mario-wings.png'], ['not-image', `file://${notImage}`]]) {
        let errors;
        const started = Date.now();
        const file = await throughFilter(`face-${name}`, async (p) => {
          const f = await p.create('FaceOverlayFilter');
          errors = errorsOf(f);
          await f.setOverlayedImage(uri, 0, 0, 1, 1);
          return f;
        }, `file://${face}`);
        assert.equal(errors.length, 1, `${name}: one Error event: ${JSON.stringify(errors)}`);
        assert.equal(errors[0].type, 'INVALID_URI', name);
        assert.match(errors[0].description, /overlay image/, name);
        assert.ok(Date.now() - started < (SECONDS + 8) * 1000);
        assert.ok(decodedFrames(file) >= MIN_FRAMES, `${name}: the video flows without overlay`);
        assert.ok(magentaShare(file, 2, { x: 0, y: 0, w: 640, h: 480 }) < 0.01, name);
      }
    });

    // kurento-client (JS, 6.x and 7.x) cannot send addImage or removeImage: its serializeParams
    // replaces any operationParams object that has an `id` field by that id, so the server gets
    // `"operationParams": "<id>"`, which KMS and we refuse (the client only logs the error). The
    // Java client sends them intact; these tests send them as it does, on a socket of their own.
    async function addImage(f, id, uri, x, y, w, h, keepAspectRatio, center) {
      const raw = await RpcSocket.connect(server.url);
      try {
        await raw.invoke(f.id, 'addImage', {
          id, uri, offsetXPercent: x, offsetYPercent: y, widthPercent: w, heightPercent: h, keepAspectRatio, center,
        });
      } finally {
        raw.close();
      }
    }
    async function removeImage(f, id) {
      const raw = await RpcSocket.connect(server.url);
      try {
        await raw.invoke(f.id, 'removeImage', { id });
      } finally {
        raw.close();
      }
    }

    it('ImageOverlayFilter: addImage places images by fractions of the frame, removeImage takes one away', async () => {
      const magenta = path.join(DIR, 'magenta.png');
      let errors;
      const file = await throughFilter('image-overlay', async (p) => {
        const f = await p.create('ImageOverlayFilter');
        errors = errorsOf(f);
        await addImage(f, 'bottom-right', `file://${magenta}`, 0.5, 0.5, 0.25, 0.25, false, false);
        await addImage(f, 'top-left', magenta, 0, 0, 0.25, 0.25, false, false); // a plain path, as KMS accepts
        await addImage(f, 'broken', 'http://127.0.0.1:9/logo.png', 0.75, 0, 0.25, 0.25, false, false);
        await sleep(300);
        await removeImage(f, 'top-left');
        await removeImage(f, 'never-added');
        return f;
      });
      // The clip is 320×240: the image covers x 160-240, y 120-180.
      assert.ok(magentaShare(file, 1.5, { x: 165, y: 125, w: 70, h: 50 }) > 0.9, 'the image is where addImage put it');
      assert.ok(magentaShare(file, 1.5, { x: 5, y: 5, w: 70, h: 50 }) < 0.02, 'the removed image is gone');
      // Right of the box, on its rows: testsrc never has magenta there (its scrolling gradient
      // crosses the bottom-right corner in the first second, which a late start shifts to 1.5 s).
      assert.ok(magentaShare(file, 1.5, { x: 250, y: 130, w: 60, h: 40 }) < 0.02, 'nothing outside the box');
      assert.deepEqual(errors.map((e) => e.type), ['INVALID_URI'], 'the unreachable image raised one Error');
      assert.ok(decodedFrames(file) >= MIN_FRAMES);
    });

    if (v.major === 7) {
      it('ImageOverlayFilter keepAspectRatio fits the image inside its box and center centres it', async () => {
        const wide = magentaPng(path.join(DIR, 'wide.png'), 200, 50); // 4:1
        const file = await throughFilter('image-aspect', async (p) => {
          const f = await p.create('ImageOverlayFilter');
          // Box: x 0-160, y 0-120 of 320×240; a 4:1 image fits as 160×40, centred at y 40-80.
          await addImage(f, 'wide', `file://${wide}`, 0, 0, 0.5, 0.5, true, true);
          return f;
        });
        // (testsrc has a magenta bar of its own at x 80-120: the regions avoid it.)
        assert.ok(magentaShare(file, 1.5, { x: 10, y: 45, w: 60, h: 30 }) > 0.9, 'the centred band');
        assert.ok(magentaShare(file, 1.5, { x: 125, y: 45, w: 30, h: 30 }) > 0.9, 'the centred band, right part');
        assert.ok(magentaShare(file, 1.5, { x: 10, y: 5, w: 60, h: 30 }) < 0.02, 'above the band');
        assert.ok(magentaShare(file, 1.5, { x: 10, y: 85, w: 60, h: 30 }) < 0.02, 'below the band');
      });
    }
  });
}
