'use strict';
// KMS's optional modules (chroma, crowddetector, platedetector, pointerdetector) through the
// unmodified clients and their published module packages: the strict start-up finds them in
// getInfo, their filters are created under qualified names and described back, their methods and
// properties answer as KMS's, bad input gets a Kurento error, and a ChromaFilter built with a
// `backgroundImage` keys a generated green-screen clip into a recording.
// (The four tutorials run in Chromium in browser/{chroma,crowddetector,platedetector,pointerdetector}.test.js.)

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { useServer } = require('../lib/server');
const { RpcSocket } = require('../lib/rpc');
const { VERSIONS, connect, closeClient, loadModule, load } = require('../lib/clients');
const { rejectsWithCode } = require('../lib/util');
const { ffmpeg, colourShare, COLOURS, magentaPng, decodedFrames, once } = require('../lib/media');

const server = useServer();
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-modules-'));
const MODULES = ['chroma', 'crowddetector', 'platedetector', 'pointerdetector'];
const SECONDS = 5;

let greenScreen;
before(() => {
  // 320×240 chroma green with a grey box in the middle, 30 fps.
  greenScreen = path.join(DIR, 'green.webm');
  ffmpeg('-f', 'lavfi', '-i', `color=c=0x00C040:s=320x240:r=30:d=${SECONDS}`,
    '-vf', 'drawbox=x=110:y=70:w=100:h=100:color=0x808080:t=fill,format=yuv420p',
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '800k', '-g', '30', greenScreen);
  magentaPng(path.join(DIR, 'background.png'), 64, 48);
});

for (const v of VERSIONS) {
  describe(`${v.name} optional modules`, () => {
    let client;
    let kurento;
    before(async () => {
      for (const m of MODULES) loadModule(v.pkg, m);
      kurento = load(v.pkg);
      // Strict start-up: the client checks that getInfo lists every registered module.
      client = await connect(v.pkg, server.url);
    });
    after(() => closeClient(client));

    const window = (type) => kurento.getComplexType(type)({ topRightCornerX: 5, topRightCornerY: 5, width: 30, height: 30 });

    it('getInfo lists the four modules with their factories, as KMS lists installed modules', async () => {
      const info = await (await client.getServerManager()).getInfo();
      const byName = Object.fromEntries(info.modules.map((m) => [m.name, m]));
      const factories = {
        chroma: ['ChromaFilter'],
        crowddetector: ['CrowdDetectorFilter'],
        platedetector: ['PlateDetectorFilter'],
        pointerdetector: ['PointerDetectorFilter'],
      };
      for (const [name, f] of Object.entries(factories)) {
        assert.ok(byName[name], `module ${name} in ${JSON.stringify(info.modules.map((m) => m.name))}`);
        assert.deepEqual(byName[name].factories, f);
        assert.match(byName[name].generationTime, /^[A-Z][a-z]{2} [ 0-9]\d \d{4} \d\d:\d\d:\d\d$/);
        assert.match(byName[name].version, /^\d+\.\d+\.\d+/);
      }
    });

    it('filters are created under qualified names and described back as their classes', async () => {
      const p = await client.create('MediaPipeline');
      try {
        const chroma = await p.create('chroma.ChromaFilter', { window: window('chroma.WindowParam') });
        const pointer = await p.create('pointerdetector.PointerDetectorFilter', { calibrationRegion: window('pointerdetector.WindowParam') });
        const plate = await p.create('platedetector.PlateDetectorFilter');
        const RelativePoint = kurento.getComplexType('crowddetector.RelativePoint');
        const crowd = await p.create('crowddetector.CrowdDetectorFilter', {
          rois: [kurento.getComplexType('crowddetector.RegionOfInterest')({
            id: 'roi1',
            points: [RelativePoint({ x: 0, y: 0 }), RelativePoint({ x: 0.5, y: 0 }), RelativePoint({ x: 0.5, y: 0.5 })],
            regionOfInterestConfig: kurento.getComplexType('crowddetector.RegionOfInterestConfig')({}),
          })],
        });
        for (const [obj, module, cls] of [[chroma, 'chroma', 'ChromaFilter'], [pointer, 'pointerdetector', 'PointerDetectorFilter'],
          [plate, 'platedetector', 'PlateDetectorFilter'], [crowd, 'crowddetector', 'CrowdDetectorFilter']]) {
          assert.ok(obj.id.endsWith(`_${module}.${cls}`), obj.id);
          const raw = await RpcSocket.connect(server.url);
          try {
            const d = await raw.ok('describe', { object: obj.id });
            assert.equal(d.type, cls);
            assert.equal(d.qualifiedType, `${module}.${cls}`);
            assert.deepEqual(d.hierarchy, ['kurento.Filter', 'kurento.MediaElement', 'kurento.MediaObject']);
          } finally {
            raw.close();
          }
          const again = await client.getMediaobjectById(obj.id);
          assert.equal(again.constructor.name, cls);
        }
      } finally {
        await p.release();
      }
    });

    it('methods and properties answer as KMS, and bad values get Kurento errors', async () => {
      const p = await client.create('MediaPipeline');
      try {
        const pointer = await p.create('pointerdetector.PointerDetectorFilter', {
          calibrationRegion: window('pointerdetector.WindowParam'),
          windows: [kurento.getComplexType('pointerdetector.PointerDetectorWindowMediaParam')({ id: 'w0', height: 50, width: 50, upperRightX: 500, upperRightY: 150 })],
        });
        const W = kurento.getComplexType('pointerdetector.PointerDetectorWindowMediaParam');
        await pointer.addWindow(W({ id: 'w1', height: 50, width: 50, upperRightX: 500, upperRightY: 250 }));
        await pointer.removeWindow('w0');
        await pointer.removeWindow('never-added'); // KMS only warns
        await pointer.trackColorFromCalibrationRegion();
        await pointer.clearWindows();

        const plate = await p.create('platedetector.PlateDetectorFilter');
        await plate.setPlateWidthPercentage(0.3);
        // (The 6.18 module packages report a failed call through console.trace before the
        // promise: errors are checked on the wire.)
        const raw = await RpcSocket.connect(server.url);
        const code = async (object, operation, operationParams) =>
          (await raw.call('invoke', { object, operation, operationParams })).error?.code;
        try {
          assert.equal(await code(plate.id, 'setPlateWidthPercentage', { plateWidthPercentage: 1.5 }), 40001);
        } finally {
          raw.close();
        }

        const RelativePoint = kurento.getComplexType('crowddetector.RelativePoint');
        const roi = (id, n) => kurento.getComplexType('crowddetector.RegionOfInterest')({
          id,
          points: [[0, 0], [1, 0], [1, 1], [0, 1]].slice(0, n).map(([x, y]) => RelativePoint({ x, y })),
          regionOfInterestConfig: kurento.getComplexType('crowddetector.RegionOfInterestConfig')({ occupancyLevelMin: 5 }),
        });
        const crowd = await p.create('crowddetector.CrowdDetectorFilter', { rois: [roi('a', 4)] });
        assert.equal(await crowd.getProcessingWidth(), 320, "KMS's default");
        await crowd.setProcessingWidth(640);
        assert.equal(await crowd.getProcessingWidth(), 640);
        const raw2 = await RpcSocket.connect(server.url);
        try {
          const resp = await raw2.call('invoke', { object: crowd.id, operation: 'setProcessingWidth', operationParams: { processingWidth: 100 } });
          assert.equal(resp.error?.code, 40001, 'processingWidth 100');
        } finally {
          raw2.close();
        }
        assert.equal(await crowd.getProcessingWidth(), 640);
        await rejectsWithCode(p.create('crowddetector.CrowdDetectorFilter', { rois: [roi('b', 2)] }), 40001, 'a two-point region');
      } finally {
        await p.release();
      }
    });

    it('hostile module params over the wire get clear errors and the session goes on', async () => {
      const raw = await RpcSocket.connect(server.url);
      try {
        const p = await raw.create('MediaPipeline');
        const bad = [
          ['ChromaFilter', { mediaPipeline: p }],
          ['ChromaFilter', { mediaPipeline: p, window: { topRightCornerX: 'x', topRightCornerY: 0, width: 1, height: 1 } }],
          ['PointerDetectorFilter', { mediaPipeline: p, calibrationRegion: 7 }],
          ['CrowdDetectorFilter', { mediaPipeline: p, rois: [{ id: 'r', points: 'nope', regionOfInterestConfig: {} }] }],
          ['CrowdDetectorFilter', { mediaPipeline: p, rois: [{ id: 'r', points: [{ x: 0, y: 0 }], regionOfInterestConfig: {}, __module__: 'kurento', __type__: 'RegionOfInterest' }] }],
          ['CrowdDetectorFilter', { mediaPipeline: p, rois: [{ id: 'r', points: Array(300).fill({ x: 0, y: 0 }), regionOfInterestConfig: {} }] }],
          ['CrowdDetectorFilter', { mediaPipeline: p, rois: Array(65).fill({ id: 'r', points: [{ x: 0, y: 0 }, { x: 1, y: 0 }, { x: 1, y: 1 }], regionOfInterestConfig: {} }) }],
          ['kurento.ChromaFilter', { mediaPipeline: p, window: { topRightCornerX: 0, topRightCornerY: 0, width: 1, height: 1 } }],
        ];
        for (const [type, params] of bad) {
          const resp = await raw.call('create', { type, constructorParams: params });
          assert.ok(resp.error && Number.isInteger(resp.error.code), `${type} ${JSON.stringify(params)}: ${JSON.stringify(resp)}`);
        }
        const ptr = await raw.create('PointerDetectorFilter', {
          mediaPipeline: p,
          calibrationRegion: { __module__: 'pointerdetector', __type__: 'WindowParam', topRightCornerX: 0, topRightCornerY: 0, width: 10, height: 10 },
        });
        for (const params of [{}, { window: { id: 'w', height: 'tall' } }, { window: { id: 'w', height: 1, width: 1, upperRightX: 0, upperRightY: 0, imageTransparency: 'x' } }]) {
          const resp = await raw.call('invoke', { object: ptr, operation: 'addWindow', operationParams: params });
          assert.ok(resp.error, `addWindow ${JSON.stringify(params)}`);
        }
        // An image that cannot be fetched: an Error event, the filter goes on.
        await raw.ok('subscribe', { object: ptr, type: 'Error' });
        await raw.invoke(ptr, 'addWindow', {
          window: { id: 'w', height: 10, width: 10, upperRightX: 0, upperRightY: 0, image: 'http://127.0.0.1:9/icon.png' },
        });
        const ev = await raw.waitForEvent((e) => e.params && e.params.value && e.params.value.type === 'Error', 10000);
        assert.equal(ev.params.value.data.type, 'INVALID_URI');
        await raw.invoke(ptr, 'removeWindow', { windowId: 'w' });
      } finally {
        raw.close();
      }
    });

    it('ChromaFilter with a backgroundImage keys the green backdrop out of a recording', async () => {
      const p = await client.create('MediaPipeline');
      const file = path.join(DIR, `v${v.major}-chroma.webm`);
      try {
        const player = await p.create('PlayerEndpoint', { uri: `file://${greenScreen}` });
        const filter = await p.create('chroma.ChromaFilter', {
          window: window('chroma.WindowParam'),
          backgroundImage: `file://${path.join(DIR, 'background.png')}`,
        });
        const recorder = await p.create('RecorderEndpoint', { uri: `file://${file}` });
        await player.connect(filter);
        await filter.connect(recorder);
        const eos = once(player, 'EndOfStream', (SECONDS + 8) * 1000, 'EndOfStream');
        await recorder.record();
        await player.play();
        await eos;
        await recorder.stopAndWait();
      } finally {
        await p.release();
      }
      // Calibration takes the first 60 frames (2 s); after it the backdrop is the background. The
      // last second is checked: a loaded machine may deliver the first frames late.
      const backdrop = { x: 10, y: 180, w: 80, h: 50 };
      const subject = { x: 130, y: 90, w: 60, h: 60 };
      const green = (r, g, b) => g > 150 && r < 80 && b < 120;
      const grey = (r, g, b) => Math.abs(r - 128) < 30 && Math.abs(g - 128) < 30 && Math.abs(b - 128) < 30;
      assert.ok(colourShare(file, 1, backdrop, green) > 0.9, 'during calibration the backdrop is still green');
      assert.ok(colourShare(file, SECONDS - 0.8, backdrop, COLOURS.magenta) > 0.9, 'after calibration the backdrop is the background');
      assert.ok(colourShare(file, SECONDS - 0.8, subject, grey) > 0.9, 'the subject stays');
      assert.ok(decodedFrames(file) >= SECONDS * 30 * 0.5);
    });
  });
}
