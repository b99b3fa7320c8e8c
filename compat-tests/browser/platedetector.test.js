'use strict';
// kurento-tutorial-node/kurento-platedetector end to end: the tutorial's application logic on the
// published kurento-client (6.18 and 7.x) with the published kurento-module-platedetector (6.18.0,
// one copy per client generation), the tutorial's page on the published kurento-utils in headless
// Chromium, and our kurento-media-server in between: WebRtcEndpoint → PlateDetectorFilter (no
// parameters) → WebRtcEndpoint, and PlateDetected forwarded to the page, which logs "License plate
// detected <plate>".
//
// Chromium's fake camera plays a generated static clip: a dark-grey backdrop with a lighter grey
// "car", and on it a white plate, 180×40 (0.28 of the frame's width, near the filter's default
// plateWidthPercentage 0.25) with a 2-px black border and "1234 BCD" in black DejaVu Sans Bold
// (font size 30: capitals 22 px high, the text 159 px wide). KMS's filter finds a white,
// plate-shaped bright region of about that width, reads it with OCR, and raises PlateDetected with
// its Spanish formatting: the modern plate "1234 BCD" is reported as "--1234BCD"; it fires once a
// read is stable over a few frames, and never twice in a row for the same plate.
//
// Passes only when the page's console shows the tutorial's "License plate detected --1234BCD" (the
// application got PlateDetected {plate: '--1234BCD'} and the page the forwarded plateDetected),
// no two consecutive PlateDetected carry the same plate, and the remote video keeps decoding.
//
// Needs ffmpeg with drawtext (libfreetype) and the DejaVu fonts (fonts-dejavu-core); the clip is
// cached under compat-tests/.cache/platedetector/.

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const kurento = require('./lib/kurento');
const { startStack, openPage, pipelineIds, startLoopback, expectLoopbackMedia, stopLoopback } = require('./lib/stack');
const { createPlateDetectorApp } = require('./lib/apps/platedetector');
const { REPO_ROOT, sleep } = require('./lib/procs');
const { withScenario, expectStillDecoding, dumpSnapshots, pageStats, waitForConsoleLine } = require('./lib/scenario');
const { cached, ffmpeg } = require('../lib/media');

const CACHE = path.join(REPO_ROOT, 'compat-tests', '.cache', 'platedetector');
const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';

const CAMERA = { width: 640, height: 480, fps: 30, seconds: 2 };
const BACKDROP_COLOUR = '0x383838';
const CAR = { x: 120, y: 160, width: 400, height: 260, colour: '0x505050' };
const PLATE = { x: 230, y: 330, width: 180, height: 40, border: 2, text: '1234 BCD', fontSize: 30 };
// What KMS reports for it (Spanish modern format: two dashes, the digits, the letters).
const EXPECTED_PLATE = '--1234BCD';

const DETECTION_TIMEOUT_MS = 40000; // OCR on a loaded 2-core machine
const NO_REPEAT_MS = 3000; // watched after the detection: the same plate is not reported again

const DUMP = { remote: '/tmp/platedetector-frame.png', local: '/tmp/platedetector-local.png' };

// ---- media the test generates (cached) ---------------------------------------------------------

/** The fake camera: the plate on the car, static, CAMERA.seconds of y4m (looped by Chromium). */
function cameraClip() {
  if (!fs.existsSync(FONT)) throw new Error(`${FONT} not found (Debian/Ubuntu: fonts-dejavu-core)`);
  const { width: W, height: H, fps, seconds } = CAMERA;
  const p = PLATE;
  const name = `plate-${p.text.replace(/\s+/g, '_')}-${W}x${H}-${fps}fps-${seconds}s.y4m`;
  const box = (r, colour, t) => `drawbox=x=${r.x}:y=${r.y}:w=${r.width}:h=${r.height}:color=${colour}:t=${t}`;
  return cached(path.join(CACHE, name), (out) =>
    ffmpeg(
      '-f', 'lavfi', '-i', `color=c=${BACKDROP_COLOUR}:s=${W}x${H}:r=${fps}:d=${seconds}`,
      '-vf',
      [
        box(CAR, CAR.colour, 'fill'),
        box(p, 'white', 'fill'),
        box(p, 'black', p.border),
        `drawtext=fontfile=${FONT}:text='${p.text}':fontsize=${p.fontSize}:fontcolor=black:` +
          `x=${p.x}+(${p.width}-text_w)/2:y=${p.y}+(${p.height}-text_h)/2`,
        'format=yuv420p',
      ].join(','),
      '-frames:v', String(fps * seconds), '-f', 'yuv4mpegpipe', out,
    ),
  );
}

// ---- the test ----------------------------------------------------------------------------------

let media = null;

before(async () => {
  media = { clip: await cameraClip() };
  process.stdout.write(`platedetector media: ${media.clip}; plate ${JSON.stringify(PLATE)}, expected as ${EXPECTED_PLATE}\n`);
}, { timeout: 180000 });

for (const pkg of kurento.CLIENTS) {
  const modulePkg = kurento.modulePackage(pkg, 'platedetector');
  const title = `platedetector [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}, ${modulePkg} = ${kurento.version(modulePkg)}]`;
  test(title, { timeout: 110000 }, () =>
    withScenario(title, { timeoutMs: 90000 }, async (sc) => {
      const stack = await startStack(sc, {
        pkg,
        browser: { fakeVideoFile: media.clip },
        createApp: ({ kurentoPkg, wsUri }) => createPlateDetectorApp({ kurentoPkg, wsUri }),
      });
      const { server, app, browser } = stack;
      sc.report('application events', () => app.events.map((e) => `${e.at} ${e.type} ${JSON.stringify(e.data)}`).join('\n'));
      const pipelinesBefore = await pipelineIds(stack.observer);
      const page = await openPage(stack, 'platedetector.html');

      const pipelineId = await startLoopback(stack, page, {
        pipelinesBefore,
        elements: 2,
        what: 'a WebRtcEndpoint and a PlateDetectorFilter',
      });
      await expectLoopbackMedia(stack, page, 'remote video through the PlateDetectorFilter');

      const started = Date.now();
      try {
        await waitForConsoleLine(browser, new RegExp(`License plate detected ${EXPECTED_PLATE}$`), `PlateDetected ${EXPECTED_PLATE}`, {
          timeoutMs: DETECTION_TIMEOUT_MS,
        });
      } catch (err) {
        const files = await dumpSnapshots(page, DUMP);
        const stats = await pageStats(page).catch(() => null);
        err.message =
          `${err.message.split(' (last:')[0]}; plates reported so far: ${JSON.stringify(app.events.map((e) => e.data.plate))}; ` +
          `camera sent as ${stats && stats.stats.videoFrameSizeSent}; frames written to ${files.join(', ') || '(none)'}`;
        throw err;
      }
      process.stdout.write(`${title}: "${EXPECTED_PLATE}" logged ${Date.now() - started} ms after the media started\n`);
      if (process.env.BROWSER_TEST_SHOW_LOGS) await dumpSnapshots(page, DUMP);

      // What the application got, and the page.
      const plates = () => app.events.filter((e) => e.type === 'PlateDetected').map((e) => e.data.plate);
      assert.ok(plates().includes(EXPECTED_PLATE), `PlateDetected in the application: ${JSON.stringify(plates())}`);
      const pageMessages = await page.evaluate(() => window.testState.filterEvents);
      assert.ok(
        pageMessages.some((m) => m.id === 'plateDetected' && m.data && m.data.plate === EXPECTED_PLATE),
        `plateDetected in the page: ${JSON.stringify(pageMessages)}`,
      );
      const state = await page.evaluate(() => window.testState);
      assert.deepEqual(state.errors, [], 'errors in the page');

      // The plate stays in view: no second report of it in a row.
      await sleep(NO_REPEAT_MS);
      const seen = plates();
      const repeats = seen.filter((p, i) => i > 0 && p === seen[i - 1]);
      assert.deepEqual(repeats, [], `the same plate reported twice in a row: ${JSON.stringify(seen)}`);

      await expectStillDecoding(page, 'remote video with the plate detector');
      assert.ok(server.alive(), 'media server died');

      await stopLoopback(stack, page, pipelineId);
    }));
}
