'use strict';
// A group call through a Composite, end to end: the way Kurento's group-call applications use a
// Composite (lib/apps/composite-call.js: one MediaPipeline, one Composite; per participant a
// WebRtcEndpoint and a HubPort from composite.createHubPort(), connected both ways), on the
// published kurento-client (6.18 and 7.x); every participant in its own tab of one headless
// Chromium (published kurento-utils, WebRtcPeerSendrecv, fake camera and microphone); our
// kurento-media-server in between.
//
// Pass criteria, for every participant:
// - its remote <video> decodes the mix: 640×480 (the Composite's output size), and the decoded
//   frames (inbound-rtp framesDecoded and getVideoPlaybackQuality) keep rising;
// - it hears the others: inbound audio packets and bytes keep rising, and so does the audio's
//   energy (inbound-rtp totalAudioEnergy) and the loud windows an AnalyserNode on the received
//   track sees (Chromium's fake microphone beeps; each port gets the others' mix);
// - the mix is KMS's grid of all cameras: every tile of grid(n) shows the fake camera's green
//   picture and moves, the rest of the frame is black.
// Then one participant leaves (its WebRtcEndpoint and HubPort are released): the remaining ones
// still decode, hear each other and see the grid of the remaining cameras. Then everybody leaves
// and the application releases the pipeline.

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
const TILE_MARGIN = 12; // pixels left out at each tile's edge (scaling blurs them)
const MIN_GREEN = 0.5; // of a tile's pixels: the fake camera's picture is green all over
const MIN_BLACK = 0.9; // of the frame outside the tiles
const MIN_MOVE = 20; // sum over the 8×6 block means of |Δ green| between two probes of a tile

/** KMS's Composite grid for n inputs: ceil(√n) columns, as many rows as needed, row by row. */
function grid(n) {
  if (n === 0) return [];
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const w = Math.floor(WIDTH / cols);
  const h = Math.floor(HEIGHT / rows);
  return Array.from({ length: n }, (_, i) => ({ x: (i % cols) * w, y: Math.floor(i / cols) * h, w, h }));
}

/** The probe rects for n inputs: each tile's inside, and the cells of the grid no input fills. */
function probeRects(n) {
  const tiles = grid(n);
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const inset = (t) => ({ x0: t.x + TILE_MARGIN, y0: t.y + TILE_MARGIN, x1: t.x + t.w - TILE_MARGIN, y1: t.y + t.h - TILE_MARGIN });
  const empty = [];
  if (tiles.length) {
    const { w, h } = tiles[0];
    for (let i = n; i < cols * rows; i++) empty.push(inset({ x: (i % cols) * w, y: Math.floor(i / cols) * h, w, h }));
  }
  return { tiles: tiles.map(inset), empty };
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
 * Every one of `parts` sees KMS's grid of n cameras: each tile green and moving, the cells no
 * input fills black. Polls until that holds for everybody (the layout changes, and a new input
 * needs its first keyframe); on failure writes the frames to /tmp.
 */
async function expectGrid(parts, n, stage, tag) {
  const rects = probeRects(n);
  const all = [...rects.tiles, ...rects.empty];
  const state = parts.map(() => ({ prev: null, moved: rects.tiles.map(() => false), last: null }));
  const ok = (i) => {
    const s = state[i];
    if (!s.last) return false;
    const tiles = s.last.slice(0, rects.tiles.length);
    const empty = s.last.slice(rects.tiles.length);
    return tiles.every((t) => t.green >= MIN_GREEN) && empty.every((e) => e.black >= MIN_BLACK) && s.moved.every(Boolean);
  };
  try {
    await waitFor(
      `${stage}: grid of ${n} moving camera tiles in every participant's mix`,
      async () => {
        for (let i = 0; i < parts.length; i++) {
          if (ok(i)) continue;
          const probe = await parts[i].page.evaluate((r) => window.testGrid(r), all);
          const s = state[i];
          if (!probe) continue;
          if (s.prev) {
            rects.tiles.forEach((_, k) => {
              const diff = probe[k].signature.reduce((sum, v, j) => sum + Math.abs(v - s.prev[k].signature[j]), 0);
              if (diff >= MIN_MOVE && probe[k].green >= MIN_GREEN) s.moved[k] = true;
            });
          }
          s.prev = probe;
          s.last = probe;
        }
        return parts.every((_, i) => ok(i));
      },
      { timeoutMs: 15000, intervalMs: 300 },
    );
  } catch (err) {
    const files = [];
    for (let i = 0; i < parts.length; i++) {
      const f = await snapshot(parts[i].page, `/tmp/composite-call-${tag}-${parts[i].label.replace(/\W+/g, '')}.png`);
      if (f) files.push(f);
    }
    const detail = parts.map(({ label }, i) => ({
      label,
      ok: ok(i),
      moved: state[i].moved,
      tiles: state[i].last && state[i].last.slice(0, rects.tiles.length).map((t) => ({ green: +t.green.toFixed(2), black: +t.black.toFixed(2) })),
      empty: state[i].last && state[i].last.slice(rects.tiles.length).map((t) => ({ green: +t.green.toFixed(2), black: +t.black.toFixed(2) })),
    }));
    throw new Error(`${err.message.split(' (last:')[0]}; expected tiles ${JSON.stringify(rects)}; probes ${JSON.stringify(detail)}; frames written to ${files.join(', ') || '(none)'}`);
  }
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
      for (let i = 0; i < n; i++) {
        const page = await openPage(stack, 'composite-call.html');
        const label = `participant ${i + 1}`;
        await page.click('#join');
        await waitJoined(page, label);
        parts.push({ page, label });
      }
      lap(`${n} joined`);
      const created = (await pipelineIds(observer)).filter((id) => !before.includes(id));
      assert.equal(created.length, 1, 'the room is one MediaPipeline');
      const pipelineId = created[0];
      assert.equal(app.room && app.room.pipeline.id, pipelineId, "the application's pipeline");
      assert.deepEqual(await elementsOf(observer, pipelineId), expectedElements(n), 'the room with everybody in');

      // Everybody decodes the mix, hears the others, and sees every camera in the grid.
      await expectMix(parts, `${n} in the call`);
      lap('media checked');
      await expectGrid(parts, n, `${n} in the call`, `${tag}-${n}`);
      lap('grid checked');

      // One leaves: its endpoint and its port are released; the others carry on.
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
      if (rest.length > 1) {
        await expectMix(rest, `after ${leaver.label} left`);
      } else {
        // Alone: the mix still comes (its own camera), nobody to hear.
        const a = await pageStats(rest[0].page);
        await sleep(1500);
        const b = await pageStats(rest[0].page);
        assert.ok(b.stats.framesDecoded > a.stats.framesDecoded, `${rest[0].label} alone: framesDecoded stopped rising`);
      }
      lap('media checked after the leave');
      await expectGrid(rest, n - 1, `after ${leaver.label} left`, `${tag}-${n - 1}`);
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

