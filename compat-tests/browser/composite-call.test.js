'use strict';
// A group call through a Composite, end to end: the way Kurento's group-call applications use a
// Composite (lib/apps/composite-call.js: one MediaPipeline, one Composite; per participant a
// WebRtcEndpoint and a HubPort from composite.createHubPort(), connected both ways), on the
// published kurento-client (6.18 and 7.x); every participant in its own tab of one headless
// Chromium (published kurento-utils, WebRtcPeerSendrecv, fake camera and microphone); our
// kurento-media-server in between. All tabs share Chromium's one fake camera, so each page sends
// it with a band of its own colour over the bottom quarter (composite-call.html?mark=r,g,b):
// that tells whose camera is in which tile.
//
// Pass criteria:
// - The first participant, alone: its <video> decodes the 640×480 mix (its own camera, full
//   frame), audio RTP arrives but is silent (totalAudioEnergy 0, no beep in an AnalyserNode):
//   a port's mix has the others' audio, never its own.
// - Everybody in (4): for every participant, the remote <video> decodes the mix at 640×480 (the
//   Composite's output size) and its frames (inbound-rtp framesDecoded and
//   getVideoPlaybackQuality) keep rising; it hears the others: inbound audio packets and bytes
//   keep rising, and so do the audio's energy (inbound-rtp totalAudioEnergy) and the loud windows
//   of an AnalyserNode on the received track (Chromium's fake microphone beeps); and the mix is
//   KMS's grid: tile k shows the k-th participant's camera (green, moving, with its colour band;
//   KMS lays the ports out in creation order), grid cells no input fills are black.
// - Participant 2 leaves (its WebRtcEndpoint and HubPort are released): the remaining three
//   still decode, hear each other and see the grid of the remaining cameras, in order, with the
//   fourth cell black.
// - Everybody leaves; the application releases the pipeline with the last one.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const kurento = require('./lib/kurento');
const { startStack, openPage, pipelineIds } = require('./lib/stack');
const { createCompositeCallApp } = require('./lib/apps/composite-call');
const { waitFor, sleep } = require('./lib/procs');
const { withScenario, waitInPage, pageStats } = require('./lib/scenario');

// How many participants join, per client generation.
const PARTICIPANTS = { 'kurento-client-6': 4, 'kurento-client-7': 4 };
// Which one (0-based) leaves in the middle.
const LEAVER = 1;

const WIDTH = 640;
const HEIGHT = 480;
// Each participant sends the fake camera with a band of its own colour over the bottom quarter
// (the page's ?mark=): all tabs share one fake camera, so the band says whose picture a tile is.
const PALETTE = [
  { name: 'red', rgb: [220, 30, 30] },
  { name: 'blue', rgb: [30, 60, 230] },
  { name: 'magenta', rgb: [220, 40, 220] },
  { name: 'yellow', rgb: [230, 210, 30] },
];
const BAND = 0.25; // of the picture's height, at the bottom
const TILE_MARGIN = 10; // pixels left out at each edge of a probed area (scaling blurs them)
const MIN_GREEN = 0.5; // of a tile's camera part: the fake camera's picture is green all over
const MIN_BLACK = 0.9; // of the grid cells no input fills
const MAX_COLOUR_DISTANCE = 90; // between a band's mean colour and its participant's colour
const MIN_MOVE = 20; // sum over the 8×6 block means of |Δ green| between two probes of a tile

/** KMS's Composite grid for n inputs: ceil(√n) columns, as many rows as needed, row by row. */
function grid(n) {
  if (n === 0) return [];
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const w = Math.floor(WIDTH / cols);
  const h = Math.floor(HEIGHT / rows);
  return Array.from({ length: cols * rows }, (_, i) => ({ x: (i % cols) * w, y: Math.floor(i / cols) * h, w, h }));
}

const inset = (x0, y0, x1, y1) => ({
  x0: Math.round(x0 + TILE_MARGIN),
  y0: Math.round(y0 + TILE_MARGIN),
  x1: Math.round(x1 - TILE_MARGIN),
  y1: Math.round(y1 - TILE_MARGIN),
});

/**
 * The probed areas for n inputs: of each tile, the camera picture (top) and the colour band
 * (bottom); and the cells of the grid no input fills.
 */
function probeRects(n) {
  const cells = grid(n);
  const tiles = cells.slice(0, n).map((t) => ({
    camera: inset(t.x, t.y, t.x + t.w, t.y + t.h * (1 - BAND)),
    band: inset(t.x, t.y + t.h * (1 - BAND), t.x + t.w, t.y + t.h),
  }));
  const empty = cells.slice(n).map((t) => inset(t.x, t.y, t.x + t.w, t.y + t.h));
  return { tiles, empty };
}

function colourDistance(a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** The palette entry nearest to an RGB mean, if it is near enough. */
function colourOf(rgb) {
  let best = null;
  for (const c of PALETTE) {
    const d = colourDistance(rgb, c.rgb);
    if (!best || d < best.d) best = { name: c.name, d };
  }
  return best && best.d <= MAX_COLOUR_DISTANCE ? best.name : null;
}

async function waitJoined(page, label) {
  await waitInPage(
    page,
    () => window.testState.answerApplied || window.testState.errors.length > 0 || window.testState.rejections.length > 0,
    `${label}: SDP answer applied`,
    30000,
  );
  const st = await page.evaluate(() => window.testState);
  assert.deepEqual(st.errors, [], `${label}: page errors`);
  assert.deepEqual(st.rejections, [], `${label}: join rejected`);
  assert.ok(st.answerApplied, `${label}: SDP answer not applied`);
}

/** Elements of the pipeline by class, as the server reports them (HubPorts are the Composite's children). */
async function elementsOf(observer, pipelineId) {
  const manager = await observer.getServerManager();
  const pipeline = (await manager.getPipelines()).find((p) => p.id === pipelineId);
  if (!pipeline) return null;
  const kind = (o) => String(o.id).split('.').pop();
  const count = (list) => list.reduce((acc, o) => ({ ...acc, [kind(o)]: (acc[kind(o)] || 0) + 1 }), {});
  const children = await pipeline.getChildren();
  const composite = children.find((c) => kind(c) === 'Composite');
  return { pipeline: count(children), composite: composite ? count(await composite.getChildren()) : null };
}

function expectedElements(n) {
  return { pipeline: { Composite: 1, WebRtcEndpoint: n }, composite: n ? { HubPort: n } : {} };
}

async function snapshot(page, file) {
  const url = await page.evaluate(() => window.testSnapshot()).catch(() => null);
  if (!url) return null;
  fs.writeFileSync(file, Buffer.from(url.slice(url.indexOf(',') + 1), 'base64'));
  return file;
}

const brief = (s) =>
  s && {
    size: `${s.remoteVideo.videoWidth}x${s.remoteVideo.videoHeight}`,
    frame: `${s.stats.frameWidth}x${s.stats.frameHeight}`,
    framesDecoded: s.stats.framesDecoded,
    totalVideoFrames: s.playback && s.playback.totalVideoFrames,
    audioPackets: s.stats.audioPacketsReceived,
    audioBytes: s.stats.audioBytesReceived,
    audioEnergy: s.stats.totalAudioEnergy,
    analyser: s.analyser,
    connectionState: s.connectionState,
  };

/**
 * Every one of `parts` ({ page, label }) decodes the 640×480 mix and hears the others: waits for
 * the first frames and audio, then checks that video frames, audio packets and bytes, the audio
 * energy and the analyser's loud windows all rise over two seconds.
 */
async function expectMix(parts, stage) {
  await Promise.all(
    parts.map(({ page, label }) =>
      waitFor(
        `${label} (${stage}): 640x480 mix decoded, audio with energy`,
        async () => {
          const s = await pageStats(page);
          return s &&
            s.remoteVideo.videoWidth === WIDTH &&
            s.remoteVideo.videoHeight === HEIGHT &&
            s.stats.framesDecoded > 0 &&
            s.stats.audioPacketsReceived > 0 &&
            s.stats.totalAudioEnergy > 0 &&
            s.analyser.loudWindows > 0
            ? s
            : false;
        },
        { timeoutMs: 25000, intervalMs: 250 },
      ).catch(async (err) => {
        throw new Error(`${err.message}; last stats ${JSON.stringify(brief(await pageStats(page).catch(() => null)))}`);
      }),
    ),
  );
  const first = await Promise.all(parts.map(({ page }) => pageStats(page)));
  await sleep(2000);
  const second = await Promise.all(parts.map(({ page }) => pageStats(page)));
  parts.forEach(({ label }, i) => {
    const a = first[i];
    const b = second[i];
    const what = `${label} (${stage}): ${JSON.stringify(brief(a))} → ${JSON.stringify(brief(b))}`;
    assert.equal(b.remoteVideo.videoWidth, WIDTH, `${what}: remote <video> width`);
    assert.equal(b.remoteVideo.videoHeight, HEIGHT, `${what}: remote <video> height`);
    assert.equal(b.stats.videoCodec, 'video/VP8', `${what}: the mix is VP8`);
    assert.ok(b.stats.framesDecoded > a.stats.framesDecoded, `${what}: framesDecoded must keep rising`);
    if (a.playback && b.playback) {
      assert.ok(b.playback.totalVideoFrames > a.playback.totalVideoFrames, `${what}: <video> frames must keep rising`);
    }
    assert.ok(b.stats.audioPacketsReceived > a.stats.audioPacketsReceived, `${what}: audio packets must keep rising`);
    assert.ok(b.stats.audioBytesReceived > a.stats.audioBytesReceived, `${what}: audio bytes must keep rising`);
    assert.ok(b.stats.totalAudioEnergy > a.stats.totalAudioEnergy, `${what}: the audio is silent (totalAudioEnergy flat)`);
    assert.ok(b.analyser.loudWindows > a.analyser.loudWindows, `${what}: the analyser hears no beep`);
  });
  return second;
}

/**
 * Every one of `viewers` ({ page, label }) sees KMS's grid of the cameras of `members` (the
 * participants in the call, in the order their HubPorts were created, each with its `colour`):
 * tile k shows the green, moving fake camera with members[k]'s colour band, and the grid cells no
 * input fills are black. Polls until that holds for everybody (the layout changes, and a new
 * input needs its first keyframe); on failure writes the frames to /tmp.
 */
async function expectGrid(viewers, members, stage, tag) {
  const n = members.length;
  const rects = probeRects(n);
  const areas = [...rects.tiles.flatMap((t) => [t.camera, t.band]), ...rects.empty];
  const state = viewers.map(() => ({ prev: null, moved: rects.tiles.map(() => false), last: null }));
  const expected = members.map((m) => m.colour.name);
  const read = (probe) => ({
    tiles: rects.tiles.map((_, k) => ({ camera: probe[2 * k], band: probe[2 * k + 1] })),
    empty: probe.slice(2 * n),
  });
  const ok = (i) => {
    const s = state[i];
    if (!s.last) return false;
    const { tiles, empty } = read(s.last);
    return (
      tiles.every((t, k) => t.camera.green >= MIN_GREEN && colourOf(t.band.mean) === expected[k]) &&
      empty.every((e) => e.black >= MIN_BLACK) &&
      s.moved.every(Boolean)
    );
  };
  const started = Date.now();
  try {
    await waitFor(
      `${stage}: every viewer's mix is the grid of ${expected.join(', ')} (moving cameras, the rest black)`,
      async () => {
        for (let i = 0; i < viewers.length; i++) {
          if (ok(i)) continue;
          const probe = await viewers[i].page.evaluate((r) => window.testGrid(r), areas);
          if (!probe) continue;
          const s = state[i];
          if (s.prev) {
            const now = read(probe).tiles;
            const before = read(s.prev).tiles;
            now.forEach((t, k) => {
              const diff = t.camera.signature.reduce((sum, v, j) => sum + Math.abs(v - before[k].camera.signature[j]), 0);
              if (diff >= MIN_MOVE && t.camera.green >= MIN_GREEN) s.moved[k] = true;
            });
          }
          s.prev = probe;
          s.last = probe;
        }
        return viewers.every((_, i) => ok(i));
      },
      { timeoutMs: 15000, intervalMs: 300 },
    );
  } catch (err) {
    const files = [];
    for (const v of viewers) {
      const f = await snapshot(v.page, `/tmp/composite-call-${tag}-${v.label.replace(/\W+/g, '')}.png`);
      if (f) files.push(f);
    }
    const detail = viewers.map(({ label }, i) => {
      const last = state[i].last && read(state[i].last);
      return {
        label,
        ok: ok(i),
        moved: state[i].moved,
        tiles: last && last.tiles.map((t) => ({ cameraGreen: +t.camera.green.toFixed(2), band: t.band.mean, bandColour: colourOf(t.band.mean) })),
        empty: last && last.empty.map((e) => ({ black: +e.black.toFixed(2), mean: e.mean })),
      };
    });
    throw new Error(
      `${err.message.split(' (last:')[0]}; probed areas ${JSON.stringify(rects)}; probes ${JSON.stringify(detail)}; ` +
        `frames written to ${files.join(', ') || '(none)'}`,
    );
  }
  if (process.env.BROWSER_TEST_SHOW_LOGS) {
    for (const v of viewers) await snapshot(v.page, `/tmp/composite-call-${tag}-${v.label.replace(/\W+/g, '')}.png`);
  }
  return Date.now() - started;
}

/**
 * A participant alone in the call: it decodes the mix (its own camera, full frame) and gets
 * audio RTP, but hears nothing: a port's mix has the others' audio, never its own.
 */
async function expectAlone(part, stage) {
  const first = await waitFor(
    `${part.label} (${stage}): 640x480 mix decoded, audio packets`,
    async () => {
      const s = await pageStats(part.page);
      return s && s.remoteVideo.videoWidth === WIDTH && s.remoteVideo.videoHeight === HEIGHT && s.stats.framesDecoded > 0 && s.stats.audioPacketsReceived > 0
        ? s
        : false;
    },
    { timeoutMs: 25000, intervalMs: 250 },
  );
  await sleep(2000);
  const b = await pageStats(part.page);
  const what = `${part.label} (${stage}): ${JSON.stringify(brief(first))} → ${JSON.stringify(brief(b))}`;
  assert.ok(b.stats.framesDecoded > first.stats.framesDecoded, `${what}: framesDecoded must keep rising`);
  assert.ok(b.stats.audioPacketsReceived > first.stats.audioPacketsReceived, `${what}: audio packets must keep coming`);
  assert.equal(b.analyser.loudWindows, 0, `${what}: alone in the call, it hears something (its own microphone?)`);
  assert.ok(b.stats.totalAudioEnergy < 1e-6, `${what}: alone in the call, its audio is not silent (its own microphone?)`);
}

for (const pkg of kurento.CLIENTS) {
  const n = PARTICIPANTS[pkg];
  const title = `composite-call: ${n}-way group call through a Composite [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}]`;
  const tag = `v${kurento.version(pkg).split('.')[0]}`;
  test(title, { timeout: 120000 }, () =>
    withScenario(title, { timeoutMs: 100000 }, async (sc) => {
      const t0 = Date.now();
      const lap = (what) => process.stdout.write(`${title}: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      const stack = await startStack(sc, { pkg, createApp: createCompositeCallApp });
      const { server, observer, app } = stack;
      const before = await pipelineIds(observer);
      lap('stack up');

      const parts = [];
      const joinOne = async (i) => {
        const colour = PALETTE[i % PALETTE.length];
        const page = await openPage(stack, 'composite-call.html', { mark: colour.rgb.join(',') });
        const part = { page, label: `participant ${i + 1} (${colour.name})`, colour };
        await page.click('#join');
        await waitJoined(page, part.label);
        parts.push(part);
        return part;
      };

      // The first one alone: its own camera fills the mix, and it hears nobody, not itself.
      const first = await joinOne(0);
      const created = (await pipelineIds(observer)).filter((id) => !before.includes(id));
      assert.equal(created.length, 1, 'the room is one MediaPipeline');
      const pipelineId = created[0];
      assert.equal(app.room && app.room.pipeline.id, pipelineId, "the application's pipeline");
      assert.deepEqual(await elementsOf(observer, pipelineId), expectedElements(1), 'the room with one participant');
      await expectAlone(first, 'alone');
      await expectGrid([first], [first], 'alone', `${tag}-1`);
      lap('first participant checked alone');

      for (let i = 1; i < n; i++) await joinOne(i);
      lap(`${n} joined`);
      assert.deepEqual(await elementsOf(observer, pipelineId), expectedElements(n), 'the room with everybody in');

      // Everybody decodes the mix, hears the others, and sees every camera in the grid.
      await expectMix(parts, `${n} in the call`);
      lap('media checked');
      await expectGrid(parts, parts, `${n} in the call`, `${tag}-${n}`);
      lap('grid checked');

      // One leaves: its endpoint and its port are released; the others carry on, in a grid of
      // the remaining cameras (KMS lays the ports out in the order they were created).
      const leaver = parts[LEAVER];
      await leaver.page.click('#leave');
      const rest = parts.filter((p) => p !== leaver);
      await waitFor(
        `${leaver.label}'s WebRtcEndpoint and HubPort released`,
        async () => JSON.stringify(await elementsOf(observer, pipelineId)) === JSON.stringify(expectedElements(n - 1)),
        { timeoutMs: 10000 },
      ).catch(async (err) => {
        throw new Error(`${err.message}: ${JSON.stringify(await elementsOf(observer, pipelineId))}`);
      });
      lap(`${leaver.label} left`);
      if (rest.length > 1) await expectMix(rest, `after ${leaver.label} left`);
      else await expectAlone(rest[0], `alone after ${leaver.label} left`);
      lap('media checked after the leave');
      await expectGrid(rest, rest, `after ${leaver.label} left`, `${tag}-${n - 1}`);
      lap('grid checked after the leave');
      for (const { page, label } of parts) {
        const st = await page.evaluate(() => window.testState);
        assert.deepEqual(st.errors, [], `${label}: page errors`);
      }

      // Everybody leaves; the application releases the room's pipeline with the last one.
      for (const { page } of rest) await page.click('#leave');
      await waitFor('the pipeline released after the last participant left', async () => !(await pipelineIds(observer)).includes(pipelineId), {
        timeoutMs: 10000,
      });
      assert.deepEqual(await pipelineIds(observer), before, 'pipelines after everybody left');
      assert.deepEqual(app.errors, [], 'application server errors');
      assert.ok(server.alive(), 'media server died');
      lap('done');
    }));
}
