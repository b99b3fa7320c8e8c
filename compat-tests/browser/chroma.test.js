'use strict';
// kurento-tutorial-node/kurento-chroma end to end: the tutorial's application logic on the published
// kurento-client (6.18 and 7.x) with the published kurento-module-chroma of the same generation,
// the tutorial's page on the published kurento-utils in headless Chromium, and our
// kurento-media-server in between: WebRtcEndpoint → ChromaFilter {window 5,5 30×30} →
// WebRtcEndpoint, with setBackground(<app>/img/mario.jpg).
//
// Chromium's fake camera plays a generated clip: a pure green (#00FF00) backdrop with NASA's
// portrait of astronaut Eileen Collins (public domain, lib/media.js astronautPng) scaled to 240×240
// in the middle. The background image is generated too: 640×480, solid #FF00FF, JPEG. KMS's
// ChromaFilter learns the key colour inside its window during the first 60 frames (drawing a 1-px
// blue box), then replaces every pixel of that colour with the background's pixel at the same place
// (the background stretched to the frame). Passes only when the remote <video> decodes the loopback
// and, after the calibration, the former green backdrop is magenta all around the subject while the
// subject is not (it still shows the camera picture), and the raw camera picture has no magenta.
//
// Needs ffmpeg/ffprobe and python3 with pip (one download of the scikit-image wheel for the
// portrait, shared with magic-mirror; clips cached under compat-tests/.cache/chroma/).

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const kurento = require('./lib/kurento');
const { startStack, openPage, pipelineIds, startLoopback, expectLoopbackMedia, stopLoopback } = require('./lib/stack');
const { createChromaApp } = require('./lib/apps/chroma');
const { REPO_ROOT, waitFor } = require('./lib/procs');
const { withScenario, expectStillDecoding, dumpSnapshots } = require('./lib/scenario');
const { astronautPng, cached, ffmpeg } = require('../lib/media');

const CACHE = path.join(REPO_ROOT, 'compat-tests', '.cache', 'chroma');

const CAMERA = { width: 640, height: 480, fps: 30, seconds: 3 };
const KEY_COLOUR = '0x00FF00';
// The subject: the portrait, SUBJECT.size square, its top-left corner at (x, y).
const SUBJECT = { x: 200, y: 120, size: 240 };
// The tutorial's ChromaFilter window (topRightCornerX/Y are KMS's names for the top-left corner).
const WINDOW = { x: 5, y: 5, width: 30, height: 30 };
const BACKGROUND = { width: 640, height: 480, colour: '0xFF00FF' };

// Probed regions, in camera pixels: four bands of the green backdrop around the subject (away
// from the calibration window's corner and 20 px from the subject, where VP8 blurs the edge), the
// subject less a 20 px margin, and the whole frame.
const M = 20;
const REGIONS = {
  left: { x0: 2 * M, x1: SUBJECT.x - M, y0: SUBJECT.y + M, y1: SUBJECT.y + SUBJECT.size - M },
  right: { x0: SUBJECT.x + SUBJECT.size + M, x1: CAMERA.width - M, y0: SUBJECT.y + M, y1: SUBJECT.y + SUBJECT.size - M },
  top: { x0: SUBJECT.x + M, x1: SUBJECT.x + SUBJECT.size - M, y0: WINDOW.y + WINDOW.height + M / 2, y1: SUBJECT.y - M },
  bottom: { x0: SUBJECT.x + M, x1: SUBJECT.x + SUBJECT.size - M, y0: SUBJECT.y + SUBJECT.size + M, y1: CAMERA.height - M },
  subject: { x0: SUBJECT.x + M, x1: SUBJECT.x + SUBJECT.size - M, y0: SUBJECT.y + M, y1: SUBJECT.y + SUBJECT.size - M },
  frame: { x0: 0, x1: CAMERA.width, y0: 0, y1: CAMERA.height },
};
const BACKDROP = ['left', 'right', 'top', 'bottom'];
const GEOM = { width: CAMERA.width, height: CAMERA.height, regions: REGIONS };

// ---- pass criteria -----------------------------------------------------------------------------

const MIN_LOCAL_GREEN = 0.9; // of each backdrop band, in the raw camera picture (the clip itself)
const MIN_KEYED_MAGENTA = 0.7; // of each backdrop band, in the frame that came back
const MAX_KEYED_GREEN = 0.1; // of each backdrop band, in the frame that came back
const MAX_SUBJECT_MAGENTA = 0.05; // of the subject, in the frame that came back
const MAX_SUBJECT_DIFF = 40; // mean |remote − camera| per channel over the subject
const MAX_LOCAL_MAGENTA = 0.001; // of the whole raw camera frame

const CALIBRATION_TIMEOUT_MS = 20000; // 60 frames at 30 fps are 2 s; a loaded machine is slower

const DUMP = { remote: '/tmp/chroma-frame.png', local: '/tmp/chroma-local.png' };

// ---- media the test generates (cached) ---------------------------------------------------------

/** The fake camera: green backdrop, the portrait in the middle; CAMERA.seconds of y4m (looped by Chromium). */
function cameraClip(png) {
  const { width: W, height: H, fps, seconds } = CAMERA;
  const name = `green-astronaut-${W}x${H}-${fps}fps-${seconds}s.y4m`;
  return cached(path.join(CACHE, name), (out) =>
    ffmpeg(
      '-f', 'lavfi', '-i', `color=c=${KEY_COLOUR}:s=${W}x${H}:r=${fps}:d=${seconds}`,
      '-loop', '1', '-i', png,
      '-filter_complex',
      `[1:v]scale=${SUBJECT.size}:${SUBJECT.size},setsar=1[s];[0:v][s]overlay=${SUBJECT.x}:${SUBJECT.y}:shortest=1,format=yuv420p`,
      '-frames:v', String(fps * seconds), '-f', 'yuv4mpegpipe', out,
    ),
  );
}

/** mario.jpg: BACKGROUND.width×height, solid magenta. Checked: a JPEG of that size, magenta inside. */
async function backgroundJpeg() {
  const { width: W, height: H, colour } = BACKGROUND;
  const file = await cached(path.join(CACHE, `mario-${W}x${H}-magenta.jpg`), (out) =>
    ffmpeg('-f', 'lavfi', '-i', `color=c=${colour}:s=${W}x${H}`, '-frames:v', '1', '-q:v', '2', '-f', 'image2', '-c:v', 'mjpeg', out),
  );
  const s = JSON.parse(
    execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', file]),
  ).streams[0];
  assert.deepEqual({ codec: s.codec_name, width: s.width, height: s.height }, { codec: 'mjpeg', width: W, height: H }, `${file} is not the expected JPEG`);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-vf', `crop=2:2:${W / 2}:${H / 2}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 20 });
  assert.ok(raw[0] > 240 && raw[1] < 15 && raw[2] > 240, `${file} is not magenta: ${[...raw.subarray(0, 3)]}`);
  return file;
}

// ---- checks ------------------------------------------------------------------------------------

/** The backdrop bands came back keyed: magenta, no longer green. */
function keyed(probe) {
  const r = probe && probe.remote;
  return !!r && BACKDROP.every((b) => r.regions[b].fractions.magenta >= MIN_KEYED_MAGENTA && r.regions[b].fractions.green <= MAX_KEYED_GREEN);
}

/** What is wrong with a keyed probe, beyond that: [] when the subject and the camera picture are right. */
function probeProblems(probe) {
  const problems = [];
  const { remote, local, diff } = probe;
  if (!local) return ['the local preview shows no frame'];
  for (const b of BACKDROP) {
    if (local.regions[b].fractions.green < MIN_LOCAL_GREEN) problems.push(`the camera's backdrop (${b}) is not green: the clip is wrong`);
  }
  if (local.regions.frame.fractions.magenta > MAX_LOCAL_MAGENTA) problems.push('the raw camera picture already has magenta');
  if (remote.regions.subject.fractions.magenta > MAX_SUBJECT_MAGENTA) problems.push('the subject was keyed too (magenta on the portrait)');
  if (!(diff.subject <= MAX_SUBJECT_DIFF)) problems.push(`the subject does not show the camera picture (mean difference ${diff.subject})`);
  return problems;
}

function brief(probe) {
  const side = (s) =>
    s &&
    Object.fromEntries(
      Object.entries(s.regions).map(([name, r]) => [
        name,
        `magenta ${r.fractions.magenta.toFixed(2)} green ${r.fractions.green.toFixed(2)} mean ${r.mean.join(',')}`,
      ]),
    );
  return JSON.stringify({
    remote: probe && probe.remote && { size: `${probe.remote.videoWidth}x${probe.remote.videoHeight}`, ...side(probe.remote) },
    local: probe && side(probe.local),
    diff: probe && probe.diff,
  });
}

// ---- the test ----------------------------------------------------------------------------------

let media = null;

before(async () => {
  const astronaut = await astronautPng();
  media = { clip: await cameraClip(astronaut), background: await backgroundJpeg() };
  process.stdout.write(`chroma media: ${media.clip}; background ${media.background}; regions ${JSON.stringify(REGIONS)}\n`);
}, { timeout: 180000 });

for (const pkg of kurento.CLIENTS) {
  const modulePkg = kurento.modulePackage(pkg, 'chroma');
  const title = `chroma [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}, ${modulePkg} = ${kurento.version(modulePkg)}]`;
  test(title, { timeout: 110000 }, () =>
    withScenario(title, { timeoutMs: 90000 }, async (sc) => {
      const stack = await startStack(sc, {
        pkg,
        browser: { fakeVideoFile: media.clip },
        createApp: ({ kurentoPkg, wsUri }) => createChromaApp({ kurentoPkg, wsUri, backgroundImageFile: media.background }),
      });
      const { server, app, web } = stack;
      sc.report('web server requests', () => web.requests.join('\n'));
      const pipelinesBefore = await pipelineIds(stack.observer);
      const page = await openPage(stack, 'chroma.html');

      const pipelineId = await startLoopback(stack, page, {
        pipelinesBefore,
        elements: 2,
        what: 'a WebRtcEndpoint and a ChromaFilter',
      });
      assert.deepEqual(app.backgroundUris, [`http://127.0.0.1:${web.port}${app.backgroundPath}`], 'setBackground URI');

      await expectLoopbackMedia(stack, page, 'remote video through the ChromaFilter');
      const state = await page.evaluate(() => window.testState);
      assert.deepEqual(state.errors, [], 'errors in the page');
      const first = await page.evaluate((g) => window.testProbe(g), GEOM);
      process.stdout.write(`${title}: first frames: ${brief(first)}\n`);

      // The calibration (60 frames), then the backdrop replaced by the background.
      let last = null;
      const started = Date.now();
      let probe;
      try {
        probe = await waitFor(
          'the green backdrop replaced by the magenta background in the remote video',
          async () => {
            last = await page.evaluate((g) => window.testProbe(g), GEOM);
            return keyed(last) ? last : false;
          },
          { timeoutMs: CALIBRATION_TIMEOUT_MS, intervalMs: 250 },
        );
      } catch (err) {
        const files = await dumpSnapshots(page, DUMP);
        throw new Error(
          `${err.message.split(' (last:')[0]}; expected ≥ ${MIN_KEYED_MAGENTA} magenta in ${JSON.stringify(BACKDROP.map((b) => REGIONS[b]))}; ` +
            `last probe ${brief(last)}; background image requests: ${web.requests.filter((r) => r.endsWith(app.backgroundPath)).length}; ` +
            `frames written to ${files.join(', ') || '(none)'}`,
        );
      }
      const detail = brief(probe);
      process.stdout.write(`${title}: backdrop keyed after ${Date.now() - started} ms: ${detail}\n`);
      if (process.env.BROWSER_TEST_SHOW_LOGS) await dumpSnapshots(page, DUMP);

      try {
        // The server fetched the background from the application's web server.
        assert.ok(
          web.requests.includes(`GET ${app.backgroundPath}`),
          `the media server never fetched ${app.backgroundPath}: ${JSON.stringify(web.requests)}`,
        );
        assert.deepEqual(probeProblems(probe), [], `chroma pixels: ${detail}`);
      } catch (err) {
        const files = await dumpSnapshots(page, DUMP);
        err.message += `; frames written to ${files.join(', ') || '(none)'}`;
        throw err;
      }
      // Still decoding with the background in.
      await expectStillDecoding(page, 'remote video with the background in');
      assert.ok(server.alive(), 'media server died');

      await stopLoopback(stack, page, pipelineId);
    }));
}
