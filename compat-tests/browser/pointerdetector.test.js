'use strict';
// kurento-tutorial-node/kurento-pointerdetector end to end: the tutorial's application logic on the
// published kurento-client (6.18 and 7.x) with the published kurento-module-pointerdetector (6.18.0,
// one copy per client generation), the tutorial's page on the published kurento-utils in headless
// Chromium, and our kurento-media-server in between: WebRtcEndpoint → PointerDetectorFilter
// {calibrationRegion 5,5 30×30} → WebRtcEndpoint, addWindow(window0: 50×50 at 500,150) and
// addWindow(window1: 50×50 at 500,250) (KMS's topRightCorner/upperRight names mean the top-left
// corner), the page's Calibrate → trackColorFromCalibrationRegion().
//
// Chromium's fake camera plays a generated 7 s loop on a plain mid-grey backdrop: a saturated blue
// disc (radius 12) rests at the centre of the calibration region (20,20) for 2.5 s, moves in 1 s
// into window0 (centre 525,175), stays 1 s, moves down into window1 (525,275) in 0.5 s, stays 1 s,
// and goes back to the corner in 1 s. KMS's filter, on trackColorFromCalibrationRegion, learns the
// colour in the calibration region from the last frame (saturated pixels only), then tracks the
// largest blob of that colour: WindowIn(id) when the pointer enters a window, WindowOut(id) when it
// leaves all windows; the pointer is drawn as a filled red disc (radius 10).
//
// Calibrating: the test watches the local preview for the disc arriving at the corner (the start
// of a loop), waits until the remote video shows it there too (so the server has had such frames),
// and presses Calibrate 0.8 s after the arrival, well inside the 2.5 s rest. If no "Window in
// detected in window0" follows within the loop, the calibration missed (the frame the server used
// was not a resting one): the test presses Calibrate again at the next rest, at most
// CALIBRATION_ATTEMPTS times in all.
//
// Passes only when, after the calibration, the page's console shows the tutorial's "Window in
// detected in window0", "Window in detected in window1" and "Window out detected in …" lines (the
// application got the matching WindowIn / WindowOut events), the remote video shows the red pointer
// on the disc at rest, and the video keeps decoding.
//
// Needs ffmpeg (the clip is cached under compat-tests/.cache/pointerdetector/).

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const kurento = require('./lib/kurento');
const { startStack, openPage, pipelineIds, startLoopback, expectLoopbackMedia, stopLoopback } = require('./lib/stack');
const { createPointerDetectorApp } = require('./lib/apps/pointerdetector');
const { REPO_ROOT, sleep, waitFor } = require('./lib/procs');
const {
  withScenario,
  expectStillDecoding,
  dumpSnapshots,
  pageStats,
  consoleLines,
  waitForConsoleLine,
} = require('./lib/scenario');
const { cached, ffmpeg, motionExpr } = require('../lib/media');

const CACHE = path.join(REPO_ROOT, 'compat-tests', '.cache', 'pointerdetector');

const CAMERA = { width: 640, height: 480, fps: 30 };
const BACKDROP_COLOUR = '0x808080';
const DISC = { radius: 12, colour: '0x0000FF' };
// The tutorial's calibration region and windows, as x, y (top-left corner), width, height.
const CALIBRATION = { x: 5, y: 5, width: 30, height: 30 };
const WINDOWS = {
  window0: { x: 500, y: 150, width: 50, height: 50 },
  window1: { x: 500, y: 250, width: 50, height: 50 },
};
const centre = (r) => [r.x + r.width / 2, r.y + r.height / 2];
const REST = centre(CALIBRATION); // (20, 20)
// The disc's path: [time (s), [x, y] of its centre]; the clip is one loop of it.
const PATH = [
  [0, REST],
  [2.5, REST],
  [3.5, centre(WINDOWS.window0)],
  [4.5, centre(WINDOWS.window0)],
  [5.0, centre(WINDOWS.window1)],
  [6.0, centre(WINDOWS.window1)],
  [7.0, REST],
];
const LOOP_S = PATH[PATH.length - 1][0];
const REST_S = PATH[1][0];

// A square inside the disc at rest (and inside the red pointer KMS draws there, radius 10).
const CORNER = { x0: REST[0] - 6, x1: REST[0] + 6, y0: REST[1] - 6, y1: REST[1] + 6 };
const GEOM = { width: CAMERA.width, height: CAMERA.height, regions: { corner: CORNER } };

const MIN_DISC = 0.8; // blue share of CORNER while the disc rests there
const MIN_POINTER = 0.5; // red share of CORNER in the remote video, once the filter tracks the disc
const CALIBRATE_AFTER_ARRIVAL_MS = 800;
const CALIBRATION_ATTEMPTS = 3;
const LOOP_MS = LOOP_S * 1000;

const DUMP = { remote: '/tmp/pointerdetector-frame.png', local: '/tmp/pointerdetector-local.png' };

// ---- media the test generates (cached) ---------------------------------------------------------

/** The fake camera: the blue disc along PATH over a grey backdrop, one loop of y4m. */
function cameraClip() {
  const { width: W, height: H, fps } = CAMERA;
  const r = DISC.radius;
  const d = 2 * r + 1;
  const name = `blue-disc-${W}x${H}-${fps}fps-${LOOP_S}s.y4m`;
  const x = motionExpr(PATH.map(([t, p]) => [t, p[0] - r]));
  const y = motionExpr(PATH.map(([t, p]) => [t, p[1] - r]));
  return cached(path.join(CACHE, name), (out) =>
    ffmpeg(
      '-f', 'lavfi', '-i', `color=c=${BACKDROP_COLOUR}:s=${W}x${H}:r=${fps}:d=${LOOP_S}`,
      '-f', 'lavfi', '-i', `color=c=${DISC.colour}:s=${d}x${d}:r=${fps}:d=${LOOP_S}`,
      '-filter_complex',
      `[1:v]format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='255*lte(hypot(X-${r},Y-${r}),${r})'[disc];` +
        `[0:v][disc]overlay=x='${x}':y='${y}':eval=frame:shortest=1,format=yuv420p`,
      '-frames:v', String(fps * LOOP_S), '-f', 'yuv4mpegpipe', out,
    ),
  );
}

/** The clip's geometry, checked before anything runs: the disc fits the calibration region at rest and each window at its stops. */
function checkPath() {
  const inside = (p, rect, margin) =>
    p[0] - margin >= rect.x && p[0] + margin <= rect.x + rect.width && p[1] - margin >= rect.y && p[1] + margin <= rect.y + rect.height;
  assert.ok(inside(REST, CALIBRATION, DISC.radius), 'the disc at rest must fit inside the calibration region');
  for (const [id, w] of Object.entries(WINDOWS)) {
    assert.ok(PATH.some(([, p]) => inside(p, w, DISC.radius)), `the disc must stop inside ${id}`);
  }
}

// ---- helpers -----------------------------------------------------------------------------------

const probe = (page) => page.evaluate((g) => window.testProbe(g), GEOM);
const discAt = (side) => !!side && side.regions.corner.fractions.blue >= MIN_DISC;
const pointerAt = (side) => !!side && side.regions.corner.fractions.red >= MIN_POINTER;

/**
 * Waits for the disc to arrive at the corner in the local preview (a frame without it, then one
 * with it: the start of a rest), then for the remote video to show it resting there too (blue, or
 * the red pointer over it), so the server has had such frames. Returns { arrival (the page's
 * Date.now() of the local arrival), remote (true once the remote video showed it, false if it did
 * not within the rest) }.
 */
async function waitForRest(page) {
  let seenAway = false;
  const arrival = await waitFor(
    'the disc arriving at the calibration region in the local preview',
    async () => {
      const p = await probe(page);
      if (!p.local) return false;
      if (!discAt(p.local)) {
        seenAway = true;
        return false;
      }
      return seenAway ? p.at : false;
    },
    { timeoutMs: LOOP_MS + 3000, intervalMs: 50 },
  );
  const remote = await waitFor(
    'the disc resting at the calibration region in the remote video',
    async () => {
      const p = await probe(page);
      const f = p.remote && p.remote.regions.corner.fractions;
      return !!f && f.blue + f.red >= MIN_DISC;
    },
    { timeoutMs: REST_S * 1000 - CALIBRATE_AFTER_ARRIVAL_MS, intervalMs: 50 },
  ).catch(() => false);
  return { arrival, remote };
}

// ---- the test ----------------------------------------------------------------------------------

let media = null;

before(async () => {
  checkPath();
  media = { clip: await cameraClip() };
  process.stdout.write(`pointerdetector media: ${media.clip}; path ${JSON.stringify(PATH)}; windows ${JSON.stringify(WINDOWS)}\n`);
}, { timeout: 180000 });

for (const pkg of kurento.CLIENTS) {
  const modulePkg = kurento.modulePackage(pkg, 'pointerdetector');
  const title = `pointerdetector [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}, ${modulePkg} = ${kurento.version(modulePkg)}]`;
  test(title, { timeout: 150000 }, () =>
    withScenario(title, { timeoutMs: 130000 }, async (sc) => {
      const stack = await startStack(sc, {
        pkg,
        browser: { fakeVideoFile: media.clip },
        createApp: ({ kurentoPkg, wsUri }) => createPointerDetectorApp({ kurentoPkg, wsUri }),
      });
      const { server, app, browser } = stack;
      sc.report('application events', () => app.events.map((e) => `${e.at} ${e.type} ${JSON.stringify(e.data)}`).join('\n'));
      sc.report('calibrations', () => JSON.stringify(app.calibrations));
      const pipelinesBefore = await pipelineIds(stack.observer);
      const page = await openPage(stack, 'pointerdetector.html');

      const pipelineId = await startLoopback(stack, page, {
        pipelinesBefore,
        elements: 2,
        what: 'a WebRtcEndpoint and a PointerDetectorFilter',
      });
      await expectLoopbackMedia(stack, page, 'remote video through the PointerDetectorFilter');
      const state = await page.evaluate(() => window.testState);
      assert.deepEqual(state.errors, [], 'errors in the page');
      // Not an assertion: what the server is sent (the windows are in pixels of a 640×480 picture).
      const sent = await pageStats(page);
      process.stdout.write(
        `${title}: camera sent as ${sent.stats.videoFrameSizeSent}, degradationPreference ${state.degradationPreference}\n`,
      );

      const failWith = async (err, extra = '') => {
        const files = await dumpSnapshots(page, DUMP);
        const stats = await pageStats(page).catch(() => null);
        err.message +=
          `${extra}; camera sent as ${stats && stats.stats.videoFrameSizeSent}; application events ` +
          `${JSON.stringify(app.events.map((e) => [e.type, e.data.windowId]))}; calibrations ${JSON.stringify(app.calibrations)}; ` +
          `frames written to ${files.join(', ') || '(none)'}`;
        throw err;
      };

      // Calibrate while the disc rests in the calibration region; again at the next rest if the
      // pointer then never reaches window0.
      let calibratedAt = null;
      let from = 0;
      const attempts = [];
      for (let attempt = 1; attempt <= CALIBRATION_ATTEMPTS && calibratedAt === null; attempt++) {
        let rest;
        try {
          rest = await waitForRest(page);
        } catch (err) {
          await failWith(err, ` (calibration attempt ${attempt})`);
        }
        if (!rest.remote) {
          // The remote video lags by more than the rest: no frame at rest may have reached the server yet.
          attempts.push({ attempt, skipped: 'the remote video did not show the disc at rest in time' });
          process.stdout.write(`${title}: calibration attempt ${attempt} skipped: the remote video lags\n`);
          continue;
        }
        const wait = rest.arrival + CALIBRATE_AFTER_ARRIVAL_MS - (await page.evaluate(() => Date.now()));
        if (wait > 0) await sleep(wait);
        const atClick = await probe(page);
        from = consoleLines(browser).length;
        await page.click('#calibrate');
        const clickedAt = Date.now();
        attempts.push({ attempt, localDiscAtClick: discAt(atClick.local), remoteAtClick: atClick.remote && atClick.remote.regions.corner.fractions });
        try {
          await waitForConsoleLine(browser, /Window in detected in window0$/, `WindowIn window0 after calibration attempt ${attempt}`, {
            from,
            timeoutMs: LOOP_MS + 2000,
          });
          calibratedAt = clickedAt;
        } catch {
          process.stdout.write(`${title}: calibration attempt ${attempt} was not followed by WindowIn window0; ${JSON.stringify(attempts[attempts.length - 1])}\n`);
        }
      }
      if (calibratedAt === null) {
        await failWith(
          new Error(`no "Window in detected in window0" after ${CALIBRATION_ATTEMPTS} calibrations at rest: ${JSON.stringify(attempts)}`),
        );
      }
      process.stdout.write(`${title}: calibrated at attempt ${attempts.length}: ${JSON.stringify(attempts[attempts.length - 1])}\n`);

      // The rest of the loop: down into window1, then out of the windows back to the corner.
      try {
        await waitForConsoleLine(browser, /Window in detected in window1$/, 'WindowIn window1 after window0', { from, timeoutMs: LOOP_MS + 2000 });
        await waitForConsoleLine(browser, /Window out detected in \S+$/, 'WindowOut after the calibration', { from, timeoutMs: LOOP_MS + 2000 });
        // The application got the events the page logged, with the tutorial's window ids.
        const after = app.events.filter((e) => e.at >= calibratedAt);
        const ins = after.filter((e) => e.type === 'WindowIn').map((e) => e.data.windowId);
        assert.ok(ins.includes('window0') && ins.includes('window1'), `WindowIn events: ${JSON.stringify(ins)}`);
        assert.ok(
          ins.indexOf('window1', ins.indexOf('window0')) > ins.indexOf('window0'),
          `WindowIn window1 must follow WindowIn window0 (the disc's path): ${JSON.stringify(ins)}`,
        );
        const outs = after.filter((e) => e.type === 'WindowOut').map((e) => e.data.windowId);
        assert.ok(outs.length >= 1 && outs.every((id) => id in WINDOWS), `WindowOut events: ${JSON.stringify(outs)}`);
        const pageEvents = (await page.evaluate(() => window.testState.filterEvents)).map((m) => `${m.id} ${m.roiId}`);
        assert.ok(pageEvents.includes('WindowIn window0') && pageEvents.includes('WindowIn window1'), `page messages: ${JSON.stringify(pageEvents)}`);

        // The pointer KMS draws: a red disc on the tracked one, seen at the next rest.
        let last = null;
        await waitFor(
          'the red pointer over the disc at rest in the remote video',
          async () => {
            last = await probe(page);
            return discAt(last.local) && pointerAt(last.remote);
          },
          { timeoutMs: LOOP_MS + 2000, intervalMs: 100 },
        ).catch((err) => {
          throw new Error(`${err.message.split(' (last:')[0]}; last probe of ${JSON.stringify(CORNER)}: ${JSON.stringify(last)}`);
        });
      } catch (err) {
        await failWith(err);
      }
      if (process.env.BROWSER_TEST_SHOW_LOGS) await dumpSnapshots(page, DUMP);

      await expectStillDecoding(page, 'remote video after the windows');
      assert.deepEqual(app.calibrations.filter((c) => c.error), [], 'trackColorFromCalibrationRegion errors');
      assert.ok(server.alive(), 'media server died');

      await stopLoopback(stack, page, pipelineId);
    }));
}
