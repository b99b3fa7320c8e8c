'use strict';
// kurento-tutorial-node/kurento-magic-mirror end to end: the tutorial's application logic on the
// published kurento-client (6.18 and 7.x), the tutorial's page on the published kurento-utils in
// headless Chromium, and our kurento-media-server in between: WebRtcEndpoint → FaceOverlayFilter →
// WebRtcEndpoint, with setOverlayedImage(<app>/img/mario-wings.png, -0.35, -1.2, 1.6, 1.6).
//
// Chromium's fake camera plays a clip of a real face: NASA's portrait of astronaut Eileen Collins
// (public domain), taken from scikit-image's sample data (skimage/data/astronaut.png in the
// scikit-image 0.22.0 wheel on PyPI), stretched to 640×480. The overlay image is generated too: a
// 200×120 RGBA PNG, opaque #FF00FF inside a fully transparent 20-pixel border. Passes only when
// the remote <video> decodes the loopback AND the magenta is where KMS's geometry puts it above the
// face (overlay = face.x + offsetX·face.w, face.y + offsetY·face.h, 1.6·face.w × 1.6·face.h), not on
// the face, not in the raw camera picture, and with the transparent border showing the camera
// picture (alpha respected).
//
// Needs ffmpeg/ffprobe, python3 with pip (one download of the wheel, cached under
// compat-tests/.cache/magic-mirror/), and optionally GStreamer's opencv `facedetect` (used to
// measure the face box in the clip; without it the box measured when this test was written is used).

const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { promisify } = require('node:util');
const kurento = require('./lib/kurento');
const { startStack, openPage, pipelineIds, childCount } = require('./lib/stack');
const { createMagicMirrorApp } = require('./lib/apps/magic-mirror');
const { REPO_ROOT, sleep, waitFor } = require('./lib/procs');
const { withScenario, waitInPage, expectMediaFlowing, dumpSnapshots } = require('./lib/scenario');

const run = promisify(execFile);
const CACHE = path.join(REPO_ROOT, 'compat-tests', '.cache', 'magic-mirror');

// The camera clip.
const { astronautPng, cached } = require('../lib/media'); // NASA's public-domain portrait, cached

const CAMERA = { width: 640, height: 480, fps: 30, seconds: 3 };
// Where GStreamer's opencv facedetect (default haarcascade_frontalface_default) finds the face in
// astronaut.png stretched to 640×480; used when facedetect is not installed.
const MEASURED_FACE = { x: 217, y: 48, width: 119, height: 119 };
// The tutorial's setOverlayedImage arguments.
const OVERLAY = { offsetXPercent: -0.35, offsetYPercent: -1.2, widthPercent: 1.6, heightPercent: 1.6 };
// The generated overlay image: opaque magenta body inside a fully transparent border.
const IMAGE = { width: 200, height: 120, border: 20 };
// How far a detector's face box may wander from the measured one (fraction of the face width),
// taken off every side of the expected magenta body before it is checked.
const MARGIN = 0.15;

const DUMP_REMOTE = '/tmp/magic-mirror-frame.png';
const DUMP_LOCAL = '/tmp/magic-mirror-local.png';

// ---- media the test generates (cached) ---------------------------------------------------------

/** The fake camera: astronaut.png stretched to 640×480, CAMERA.seconds of 30 fps y4m (looped by Chromium). */
async function cameraClip(png) {
  const name = `astronaut-${CAMERA.width}x${CAMERA.height}-${CAMERA.fps}fps-${CAMERA.seconds}s.y4m`;
  return cached(path.join(CACHE, name), (out) =>
    run('ffmpeg', [
      '-v', 'error', '-y', '-loop', '1', '-framerate', String(CAMERA.fps), '-i', png,
      '-vf', `scale=${CAMERA.width}:${CAMERA.height},setsar=1,format=yuv420p`,
      '-t', String(CAMERA.seconds), '-f', 'yuv4mpegpipe', out,
    ]),
  );
}

/** mario-wings.png: IMAGE.width×IMAGE.height RGBA, opaque #FF00FF body, fully transparent border. */
async function overlayPng() {
  const file = await cached(path.join(CACHE, 'mario-wings.png'), (out) => {
    const b = IMAGE.border;
    return run('ffmpeg', [
      '-v', 'error', '-y', '-f', 'lavfi',
      '-i', `color=c=magenta:s=${IMAGE.width - 2 * b}x${IMAGE.height - 2 * b},format=rgba`,
      '-vf', `pad=${IMAGE.width}:${IMAGE.height}:${b}:${b}:color=0x00000000,format=rgba`,
      '-frames:v', '1', out,
    ]);
  });
  // What the check relies on: an alpha channel, a transparent corner, an opaque magenta centre.
  const { stdout } = await run('ffprobe', [
    '-v', 'error', '-show_entries', 'stream=width,height,pix_fmt', '-of', 'json', file,
  ]);
  const s = JSON.parse(stdout).streams[0];
  assert.deepEqual(
    { width: s.width, height: s.height, pix_fmt: s.pix_fmt },
    { width: IMAGE.width, height: IMAGE.height, pix_fmt: 'rgba' },
    `${file} is not the expected RGBA image`,
  );
  const { stdout: raw } = await run(
    'ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgba', '-'],
    { encoding: 'buffer', maxBuffer: 16 << 20 },
  );
  const px = (x, y) => [...raw.subarray((y * IMAGE.width + x) * 4, (y * IMAGE.width + x) * 4 + 4)];
  assert.deepEqual(px(0, 0), [0, 0, 0, 0], 'corner of the overlay image must be fully transparent');
  assert.deepEqual(px(IMAGE.width / 2, IMAGE.height / 2), [255, 0, 255, 255], 'centre must be opaque #FF00FF');
  return file;
}

/**
 * The face box in the clip, measured with GStreamer's opencv facedetect when it is installed
 * (cached as JSON), else MEASURED_FACE.
 */
async function faceInClip(clip) {
  const json = path.join(CACHE, `${path.basename(clip, '.y4m')}.face.json`);
  if (fs.existsSync(json)) return JSON.parse(fs.readFileSync(json, 'utf8'));
  let out = '';
  try {
    const r = await run(
      'gst-launch-1.0',
      ['-m', 'filesrc', `location=${clip}`, '!', 'decodebin', '!', 'videoconvert', '!',
        'facedetect', 'display=false', '!', 'fakesink'],
      { timeout: 30000, maxBuffer: 64 << 20 },
    );
    out = r.stdout;
  } catch (e) {
    out = String((e && e.stdout) || '');
  }
  // Messages look like: faces=(structure){ "face\,\ x\=\(uint\)217\,\ y\=\(uint\)48\,…" }
  const m = /face, x=\(uint\)(\d+), y=\(uint\)(\d+), width=\(uint\)(\d+), height=\(uint\)(\d+)/.exec(
    out.replace(/\\/g, ''),
  );
  if (!m) return { ...MEASURED_FACE, source: 'measured when the test was written (facedetect not available)' };
  const face = { x: +m[1], y: +m[2], width: +m[3], height: +m[4], source: 'GStreamer facedetect on the clip' };
  fs.writeFileSync(json, JSON.stringify(face));
  return face;
}

// ---- the geometry ------------------------------------------------------------------------------

/**
 * Where the server must draw the image, in camera coordinates, as KMS's FaceOverlayFilter does:
 * x = face.x + offsetX·face.w, y = face.y + offsetY·face.h, w = widthPercent·face.w,
 * h = heightPercent·face.h, the image scaled to w×h and clipped by the frame.
 */
function expectedGeometry(face) {
  const { width: W, height: H } = CAMERA;
  const overlay = {
    x: face.x + OVERLAY.offsetXPercent * face.width,
    y: face.y + OVERLAY.offsetYPercent * face.height,
    w: OVERLAY.widthPercent * face.width,
    h: OVERLAY.heightPercent * face.height,
  };
  const sx = overlay.w / IMAGE.width;
  const sy = overlay.h / IMAGE.height;
  const body = {
    x0: overlay.x + IMAGE.border * sx,
    x1: overlay.x + (IMAGE.width - IMAGE.border) * sx,
    y0: overlay.y + IMAGE.border * sy,
    y1: overlay.y + (IMAGE.height - IMAGE.border) * sy,
  };
  const m = MARGIN * face.width;
  const clamp = (r) => ({
    x0: Math.max(0, r.x0),
    y0: Math.max(0, r.y0),
    x1: Math.min(W, r.x1),
    y1: Math.min(H, r.y1),
  });
  // The visible part of the body, less the margin (none at a frame edge: the body goes on past it).
  const probe = clamp({
    x0: body.x0 + m,
    x1: body.x1 - m,
    y0: body.y0 < 0 ? 0 : body.y0 + m,
    y1: body.y1 > H ? H : body.y1 - m,
  });
  assert.ok(
    probe.x1 - probe.x0 >= 20 && probe.y1 - probe.y0 >= 20,
    `the expected overlay is (almost) outside the camera frame: ${JSON.stringify({ face, overlay, body, probe })}`,
  );
  // The face itself, below the wings: the image goes above it, so no magenta there.
  const belowFace = clamp({
    x0: face.x,
    x1: face.x + face.width,
    y0: face.y + 0.4 * face.height,
    y1: face.y + face.height,
  });
  const search = clamp({
    x0: overlay.x - face.width / 2,
    x1: overlay.x + overlay.w + face.width / 2,
    y0: overlay.y - face.height / 2,
    y1: overlay.y + overlay.h + face.height / 2,
  });
  // Bands just outside the magenta box, inside the transparent border (border·scale wide, ~19 px
  // here): `gap` skips the blurred edge, and gap + depth stays within 3/4 of the border (the box
  // is a 2nd..98th percentile one, a few pixels inside the real edge).
  const borderPx = Math.min(IMAGE.border * sx, IMAGE.border * sy);
  const gap = 4;
  const band = { gap, depth: Math.max(4, Math.floor(borderPx * 0.75) - gap - 3) };
  return {
    width: W,
    height: H,
    face,
    overlay,
    body,
    regions: { probe, belowFace },
    search,
    band,
    minBoxPixels: 200,
  };
}

// ---- pass criteria -----------------------------------------------------------------------------

const MIN_PROBE_MAGENTA = 0.5; // of the expected body's pixels, in the frame that came back
const MAX_FACE_MAGENTA = 0.05; // of the face's lower part
const MAX_LOCAL_MAGENTA = 0.01; // of the same regions, in the raw camera picture
const MAX_LOCAL_FRAME_MAGENTA = 300; // pixels, in the whole raw camera frame
const MAX_BAND_DIFF = 40; // mean |remote − camera| per channel in the transparent border
const MAX_BAND_MAGENTA = 0.1;
const MAX_BAND_BLACK = 0.2;

function overlayVisible(probe) {
  const r = probe && probe.remote;
  return !!r && r.regions.probe.fraction >= MIN_PROBE_MAGENTA && r.regions.belowFace.fraction <= MAX_FACE_MAGENTA;
}

/**
 * What is wrong with a probe whose overlay is visible (overlayVisible), beyond that: [] when the
 * raw camera picture has no magenta (it is the server that drew it), and just outside the magenta
 * box (the image's transparent border) the remote frame shows the camera picture; an overlay
 * drawn without its alpha channel would paint that border black.
 */
function probeProblems(probe) {
  const problems = [];
  if (!probe.local) return ['the local preview shows no frame'];
  if (probe.local.regions.probe.fraction > MAX_LOCAL_MAGENTA || probe.local.frameMagenta > MAX_LOCAL_FRAME_MAGENTA) {
    problems.push('the raw camera picture already has magenta');
  }
  if (!probe.bands) return [...problems, 'no magenta box in the remote frame'];
  const checked = Object.entries(probe.bands).filter(([, b]) => b.pixels >= 50); // others: clipped by the frame
  for (const [side, b] of checked) {
    if (b.meanDiff > MAX_BAND_DIFF || b.magentaFraction > MAX_BAND_MAGENTA || b.blackFraction > MAX_BAND_BLACK) {
      problems.push(`transparent border (${side} of the magenta) does not show the camera picture: ${JSON.stringify(b)}`);
    }
  }
  if (checked.length < 2) problems.push('transparent border not checked on at least two sides');
  return problems;
}

function brief(probe) {
  const f = (info) =>
    info && {
      size: `${info.videoWidth}x${info.videoHeight}`,
      probe: `${info.regions.probe.magenta}/${info.regions.probe.pixels}`,
      belowFace: `${info.regions.belowFace.magenta}/${info.regions.belowFace.pixels}`,
      frameMagenta: info.frameMagenta,
      box: info.box,
    };
  return JSON.stringify({ remote: f(probe && probe.remote), local: f(probe && probe.local), bands: probe && probe.bands });
}

function dumpFrames(page) {
  return dumpSnapshots(page, { remote: DUMP_REMOTE, local: DUMP_LOCAL });
}

module.exports = { expectedGeometry, overlayVisible, probeProblems }; // for a self-check of the probe

// ---- the test ----------------------------------------------------------------------------------

let media = null;

before(async () => {
  const astronaut = await astronautPng();
  const clip = await cameraClip(astronaut);
  const wings = await overlayPng();
  const face = await faceInClip(clip);
  media = { clip, wings, face, geometry: expectedGeometry(face) };
  const g = media.geometry;
  process.stdout.write(
    `magic-mirror media: ${clip}; face ${JSON.stringify(face)}; overlay expected at ` +
      `x ${g.overlay.x.toFixed(0)}..${(g.overlay.x + g.overlay.w).toFixed(0)}, ` +
      `y ${g.overlay.y.toFixed(0)}..${(g.overlay.y + g.overlay.h).toFixed(0)}; magenta probe ${JSON.stringify(g.regions.probe)}\n`,
  );
}, { timeout: 180000 });

for (const pkg of kurento.CLIENTS) {
  const title = `magic-mirror [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}]`;
  test(title, { timeout: 110000 }, () =>
    withScenario(title, { timeoutMs: 90000 }, async (sc) => {
      const geom = media.geometry;
      const stack = await startStack(sc, {
        pkg,
        browser: { fakeVideoFile: media.clip },
        createApp: ({ kurentoPkg, wsUri }) =>
          createMagicMirrorApp({ kurentoPkg, wsUri, overlayImageFile: media.wings }),
      });
      const { server, observer, app, web } = stack;
      sc.report('web server requests', () => web.requests.join('\n'));
      const pipelinesBefore = await pipelineIds(observer);
      const page = await openPage(stack, 'magic-mirror.html');

      await page.click('#start');
      await waitInPage(
        page,
        () => window.testState.state === 'started' || window.testState.errors.length > 0,
        'startResponse (SDP answer) applied',
      );
      const afterAnswer = await page.evaluate(() => window.testState);
      assert.deepEqual(afterAnswer.errors, [], 'errors in the page after start');
      const created = (await pipelineIds(observer)).filter((id) => !pipelinesBefore.includes(id));
      assert.equal(created.length, 1, 'start must create one MediaPipeline');
      assert.equal(await childCount(observer, created[0]), 2, 'the pipeline holds a WebRtcEndpoint and a FaceOverlayFilter');
      assert.deepEqual(app.overlayUris, [`http://127.0.0.1:${web.port}${app.overlayPath}`], 'setOverlayedImage URI');

      // The loopback through the filter: video decoded (and the audio, which the filter passes).
      try {
        await expectMediaFlowing(page, 'remote video through the FaceOverlayFilter');
      } catch (err) {
        if (!server.alive()) err.message += `; the media server died: ${JSON.stringify(server.proc.exitInfo)} (see its log)`;
        throw err;
      }
      const state = await page.evaluate(() => window.testState);
      assert.deepEqual(state.errors, [], 'errors in the page');

      // The overlay: the face detector needs some frames; the magenta must then be there.
      let last = null;
      const started = Date.now();
      let probe;
      try {
        probe = await waitFor(
          'magenta overlay above the face in the remote video',
          async () => {
            last = await page.evaluate((g) => window.testOverlayProbe(g), geom);
            return overlayVisible(last) ? last : false;
          },
          { timeoutMs: 20000, intervalMs: 250 },
        );
      } catch (err) {
        const files = await dumpFrames(page);
        throw new Error(
          `${err.message.split(' (last:')[0]}; expected magenta in ${JSON.stringify(geom.regions.probe)} ` +
            `(face ${JSON.stringify(geom.face)}); last probe ${brief(last)}; ` +
            `overlay image requests: ${web.requests.filter((r) => r.endsWith(app.overlayPath)).length}; frames written to ${files.join(', ') || '(none)'}`,
        );
      }
      const detail = brief(probe);
      process.stdout.write(`${title}: overlay seen after ${Date.now() - started} ms: ${detail}\n`);
      if (process.env.BROWSER_TEST_SHOW_LOGS) await dumpFrames(page);

      try {
        // The server fetched the image from the application's web server.
        assert.ok(
          web.requests.includes(`GET ${app.overlayPath}`),
          `the media server never fetched ${app.overlayPath}: ${JSON.stringify(web.requests)}`,
        );
        // The raw camera picture has no magenta, and the image's transparent border shows the camera.
        const problems = probeProblems(probe);
        assert.deepEqual(problems, [], `overlay pixels: ${detail}`);
      } catch (err) {
        const files = await dumpFrames(page);
        err.message += `; frames written to ${files.join(', ') || '(none)'}`;
        throw err;
      }
      // Still decoding with the overlay on.
      const a = await page.evaluate(() => window.testStats());
      await sleep(1200);
      const b = await page.evaluate(() => window.testStats());
      assert.ok(b.stats.framesDecoded > a.stats.framesDecoded, 'framesDecoded stopped rising with the overlay on');
      assert.ok(server.alive(), 'media server died');

      await page.click('#stop');
      await waitFor(
        'the pipeline released after stop',
        async () => !(await pipelineIds(observer)).includes(created[0]),
        { timeoutMs: 10000 },
      );
      assert.deepEqual(app.errors, [], 'application server errors');
      assert.ok(server.alive(), 'media server died');
    }));
}
