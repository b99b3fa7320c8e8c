'use strict';
// kurento-tutorial-node/kurento-crowddetector end to end: the tutorial's application logic on the
// published kurento-client (6.18 and 7.x) with the published kurento-module-crowddetector (6.18.0,
// one copy per client generation), the tutorial's page on the published kurento-utils in headless
// Chromium, and our kurento-media-server in between: WebRtcEndpoint → CrowdDetectorFilter {rois:
// [roi1 = the top-left quarter, occupancy levels 10/35/65 %, 5 frames to an event]} →
// WebRtcEndpoint, and the filter's events forwarded to the page.
//
// Chromium's fake camera plays a generated 7 s loop: a static plain light-grey backdrop, and a dark
// checkerboard box (128×96, 40 % of the ROI's width and height, 16 % of its area; the texture makes
// its inside change as it moves) that moves back and forth inside the ROI, pausing 2 s at each end.
// KMS's filter raises CrowdDetectorOccupancy for an ROI once the share of it covered by moving or
// stopped objects has been at a new level (1..3, thresholds 10/35/65 %) for 5 frames in a row.
//
// The tutorial's page expects the events as 'CrowdDetectorOccupancy' etc. while its server sends
// 'crowdDetectorOccupancy' etc., so on the page they land in the default case ("Unrecognized
// message", an error in the console); this is kept as it is, and the test counts those errors as
// the page having received the events.
//
// Passes only when the application gets a CrowdDetectorOccupancy for roi1 with occupancyLevel ≥ 1
// and a numeric occupancyPercentage, the page gets the forwarded crowdDetectorOccupancy message for
// roi1, the page raises no errors other than those "Unrecognized message crowdDetector…", and the
// remote video keeps decoding.
//
// Needs ffmpeg (the clip is cached under compat-tests/.cache/crowddetector/).

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const kurento = require('./lib/kurento');
const { startStack, openPage, pipelineIds, startLoopback, expectLoopbackMedia, stopLoopback } = require('./lib/stack');
const { createCrowdDetectorApp } = require('./lib/apps/crowddetector');
const { REPO_ROOT, waitFor } = require('./lib/procs');
const { withScenario, waitInPage, expectStillDecoding, dumpSnapshots } = require('./lib/scenario');
const { cached, ffmpeg, motionExpr } = require('../lib/media');

const CACHE = path.join(REPO_ROOT, 'compat-tests', '.cache', 'crowddetector');

const CAMERA = { width: 640, height: 480, fps: 30 };
const BACKDROP_COLOUR = '0xB4B4B4';
// roi1 of the tutorial, RelativePoint (0,0)..(0.5,0.5): the top-left quarter, in camera pixels.
const ROI = { x: 0, y: 0, width: CAMERA.width / 2, height: CAMERA.height / 2 };
// The box: 40 % of the ROI's width and height, a checkerboard of SQUARE px squares.
const BOX = { width: 128, height: 96, square: 16, y: 72 };
// Its x (left edge) over one loop: [time (s), x]; it stays inside the ROI.
const PATH = [
  [0, 16],
  [2, 16],
  [3.5, 176],
  [5.5, 176],
  [7, 16],
];
const LOOP_S = PATH[PATH.length - 1][0];

const EVENT_TIMEOUT_MS = 30000;
const UNRECOGNIZED = /^Unrecognized message crowdDetector(Direction|Fluidity|Occupancy)$/;

const DUMP = { remote: '/tmp/crowddetector-frame.png', local: '/tmp/crowddetector-local.png' };

// ---- media the test generates (cached) ---------------------------------------------------------

/** The fake camera: the checkerboard box moving along PATH inside the ROI, one loop of y4m. */
function cameraClip() {
  const { width: W, height: H, fps } = CAMERA;
  const { width: bw, height: bh, square: q } = BOX;
  const name = `crowd-box-${W}x${H}-${fps}fps-${LOOP_S}s.y4m`;
  return cached(path.join(CACHE, name), (out) =>
    ffmpeg(
      '-f', 'lavfi', '-i', `color=c=${BACKDROP_COLOUR}:s=${W}x${H}:r=${fps}:d=${LOOP_S}`,
      '-f', 'lavfi', '-i', `color=c=black:s=${bw}x${bh}:r=${fps}:d=${LOOP_S}`,
      '-filter_complex',
      `[1:v]format=gray,geq=lum='if(mod(floor(X/${q})+floor(Y/${q}),2),80,16)',format=yuv420p[box];` +
        `[0:v][box]overlay=x='${motionExpr(PATH)}':y=${BOX.y}:eval=frame:shortest=1,format=yuv420p`,
      '-frames:v', String(fps * LOOP_S), '-f', 'yuv4mpegpipe', out,
    ),
  );
}

/** The clip's geometry, checked before anything runs: the box stays inside the ROI. */
function checkPath() {
  for (const [, x] of PATH) {
    assert.ok(x >= ROI.x && x + BOX.width <= ROI.x + ROI.width, `the box leaves the ROI at x=${x}`);
  }
  assert.ok(BOX.y >= ROI.y && BOX.y + BOX.height <= ROI.y + ROI.height, 'the box leaves the ROI vertically');
}

// ---- the test ----------------------------------------------------------------------------------

let media = null;

before(async () => {
  checkPath();
  media = { clip: await cameraClip() };
  process.stdout.write(`crowddetector media: ${media.clip}; box ${JSON.stringify(BOX)} along x ${JSON.stringify(PATH)}; roi ${JSON.stringify(ROI)}\n`);
}, { timeout: 180000 });

for (const pkg of kurento.CLIENTS) {
  const modulePkg = kurento.modulePackage(pkg, 'crowddetector');
  const title = `crowddetector [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}, ${modulePkg} = ${kurento.version(modulePkg)}]`;
  test(title, { timeout: 110000 }, () =>
    withScenario(title, { timeoutMs: 90000 }, async (sc) => {
      const stack = await startStack(sc, {
        pkg,
        browser: { fakeVideoFile: media.clip },
        createApp: ({ kurentoPkg, wsUri }) => createCrowdDetectorApp({ kurentoPkg, wsUri }),
      });
      const { server, app } = stack;
      sc.report('application events', () => app.events.map((e) => `${e.at} ${e.type} ${JSON.stringify(e.data)}`).join('\n'));
      const pipelinesBefore = await pipelineIds(stack.observer);
      const page = await openPage(stack, 'crowddetector.html');

      const pipelineId = await startLoopback(stack, page, {
        pipelinesBefore,
        elements: 2,
        what: 'a WebRtcEndpoint and a CrowdDetectorFilter',
        ignoreErrors: UNRECOGNIZED,
      });
      await expectLoopbackMedia(stack, page, 'remote video through the CrowdDetectorFilter');

      // The application: an occupancy event for roi1 at level 1 or more.
      const isOccupied = (d) => d && d.roiID === 'roi1' && d.occupancyLevel >= 1;
      let occupancy;
      try {
        occupancy = await waitFor(
          'CrowdDetectorOccupancy for roi1 with occupancyLevel >= 1 in the application',
          () => app.events.find((e) => e.type === 'CrowdDetectorOccupancy' && isOccupied(e.data)) || false,
          { timeoutMs: EVENT_TIMEOUT_MS, intervalMs: 250 },
        );
      } catch (err) {
        const files = await dumpSnapshots(page, DUMP);
        err.message = `${err.message.split(' (last:')[0]}; events so far: ${JSON.stringify(app.events.map((e) => [e.type, e.data]))}; frames written to ${files.join(', ') || '(none)'}`;
        throw err;
      }
      const d = occupancy.data;
      process.stdout.write(`${title}: ${app.events.length} event(s); first occupancy ≥ 1: ${JSON.stringify(d)}\n`);
      assert.ok(Number.isInteger(d.occupancyLevel) && d.occupancyLevel <= 3, `occupancyLevel must be 1..3: ${JSON.stringify(d)}`);
      assert.ok(
        typeof d.occupancyPercentage === 'number' && d.occupancyPercentage > 0 && d.occupancyPercentage <= 100,
        `occupancyPercentage must be a percentage: ${JSON.stringify(d)}`,
      );
      for (const e of app.events) {
        assert.equal(e.data.roiID, 'roi1', `every event is for the tutorial's only ROI: ${JSON.stringify(e)}`);
      }

      // The page: the forwarded message (which the tutorial's page does not recognise).
      await waitInPage(
        page,
        () =>
          window.testState.filterEvents.some(
            (m) => m.id === 'crowdDetectorOccupancy' && m.event_data && m.event_data.roiID === 'roi1' && m.event_data.occupancyLevel >= 1,
          ),
        'the forwarded crowdDetectorOccupancy message for roi1 in the page',
        10000,
      );
      const state = await page.evaluate(() => window.testState);
      assert.deepEqual(state.errors.filter((e) => !UNRECOGNIZED.test(e)), [], 'errors in the page');
      assert.ok(
        state.errors.includes('Unrecognized message crowdDetectorOccupancy'),
        `the tutorial's page reports the event as unrecognised: ${JSON.stringify(state.errors)}`,
      );
      if (process.env.BROWSER_TEST_SHOW_LOGS) await dumpSnapshots(page, DUMP);

      await expectStillDecoding(page, 'remote video with the crowd detector');
      assert.ok(server.alive(), 'media server died');

      await stopLoopback(stack, page, pipelineId);
    }));
}
