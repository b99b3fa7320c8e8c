'use strict';
// Transcoding in the one2many tutorial (application logic unchanged): the presenter sends its fake
// camera as VP8 (the browser's default), and two viewers offer H.264 only (one2many-call.html
// ?videoCodec=H264, setCodecPreferences before the offer). The server must put ONE VP8→H.264
// transcoder behind the presenter, shared by both viewers: each viewer decodes H.264 (the codec
// its inbound-rtp video report points at), and the presenter's WebRtcEndpoint raises exactly one
// MediaTranscodingStateChanged {state: TRANSCODING, mediaType: VIDEO} and answers
// isMediaTranscoding('VIDEO') = true. Viewer 1 leaves: viewer 2 keeps decoding through the same
// transcoder. The last viewer leaves: the transcoder stops (NOT_TRANSCODING, isMediaTranscoding false).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const kurento = require('./lib/kurento');
const { startStack, openPage, pipelineIds, childCount } = require('./lib/stack');
const { createOne2ManyApp } = require('./lib/apps/one2many-call');
const { waitFor, sleep } = require('./lib/procs');
const { withScenario, waitInPage, pageStats, expectMediaFlowing, expectStillDecoding } = require('./lib/scenario');

const promisify = (obj, method, ...args) =>
  new Promise((resolve, reject) => obj[method](...args, (e, v) => (e ? reject(e) : resolve(v))));

async function waitAnswered(page, label) {
  await waitInPage(
    page,
    () => window.testState.answerApplied || window.testState.errors.length > 0 || window.testState.rejections.length > 0,
    `${label}: SDP answer applied`,
    30000,
  );
  const st = await page.evaluate(() => window.testState);
  assert.deepEqual(st.errors, [], `${label}: page errors`);
  assert.deepEqual(st.rejections, [], `${label}: rejected`);
  assert.ok(st.answerApplied, `${label}: SDP answer not applied`);
  return st;
}

// The inbound video codec in the viewer's getStats (the 'codec' entry its inbound-rtp video report
// references) must be H.264; it may take a moment to appear after the first frames.
async function expectInboundH264(page, label) {
  let last;
  await waitFor(
    `${label}: inbound video codec video/H264`,
    async () => {
      last = await pageStats(page);
      return last && last.stats.videoCodec === 'video/H264';
    },
    { timeoutMs: 10000, intervalMs: 250 },
  ).catch((e) => {
    throw new Error(`${e.message}; last stats: ${JSON.stringify(last)}`);
  });
  return last.stats;
}

for (const pkg of kurento.CLIENTS) {
  const title = `transcoding: VP8 presenter, 2 H.264-only viewers, one transcoder [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}]`;
  test(title, { timeout: 150000 }, () =>
    withScenario(title, { timeoutMs: 120000 }, async (sc) => {
      const stack = await startStack(sc, { pkg, createApp: createOne2ManyApp });
      const { server, observer, app } = stack;
      const before = await pipelineIds(observer);

      const presenter = await openPage(stack, 'one2many-call.html');
      await presenter.click('#call');
      await waitAnswered(presenter, 'presenter');
      const created = (await pipelineIds(observer)).filter((id) => !before.includes(id));
      assert.equal(created.length, 1, 'the presenter creates one MediaPipeline');
      const pipelineId = created[0];

      // Listen on the presenter's endpoint (the source) before any viewer exists.
      const source = app.presenter && app.presenter.webRtcEndpoint;
      assert.ok(source, 'the application holds the presenter WebRtcEndpoint');
      const events = [];
      source.on('MediaTranscodingStateChanged', (ev) => events.push({ state: ev.state, mediaType: ev.mediaType, binName: ev.binName }));
      // A round trip after the subscribe, and the state before any viewer: nothing is transcoded.
      assert.equal(await promisify(source, 'isMediaTranscoding', 'VIDEO'), false, 'isMediaTranscoding(VIDEO) before any viewer');

      const viewers = [];
      for (let i = 1; i <= 2; i++) {
        const v = await openPage(stack, 'one2many-call.html', { videoCodec: 'H264' });
        await v.click('#viewer');
        const st = await waitAnswered(v, `viewer ${i}`);
        assert.ok(st.videoCodecPreferences && st.videoCodecPreferences.length > 0, `viewer ${i}: codec preferences set`);
        assert.ok(
          st.offerVideoCodecs.length > 0 && st.offerVideoCodecs.every((c) => c === 'H264'),
          `viewer ${i}: the offer's video section carries H.264 only: ${JSON.stringify(st.offerVideoCodecs)}`,
        );
        viewers.push(v);
      }
      assert.equal(await childCount(observer, pipelineId), 3, 'presenter + 2 viewer WebRtcEndpoints');

      for (let i = 0; i < viewers.length; i++) {
        await expectMediaFlowing(viewers[i], `viewer ${i + 1}`);
        const stats = await expectInboundH264(viewers[i], `viewer ${i + 1}`);
        assert.ok(stats.frameWidth > 0, `viewer ${i + 1}: decoded H.264 frames have a width`);
      }
      const p = await pageStats(presenter);
      assert.equal(p.stats.videoCodecSent, 'video/VP8', `the presenter sends VP8: ${JSON.stringify(p.stats)}`);

      // One transcoder for both viewers: one TRANSCODING event for VIDEO, none for AUDIO (Opus
      // reaches the viewers as it is).
      await waitFor('MediaTranscodingStateChanged TRANSCODING on the presenter endpoint', () => events.length > 0, {
        timeoutMs: 5000,
      }).catch(() => {
        throw new Error(`no MediaTranscodingStateChanged on the presenter endpoint: ${JSON.stringify(events)}`);
      });
      await sleep(500); // a second (wrong) event would have arrived by now
      assert.deepEqual(
        events.map((e) => [e.state, e.mediaType]),
        [['TRANSCODING', 'VIDEO']],
        `exactly one MediaTranscodingStateChanged TRANSCODING/VIDEO: ${JSON.stringify(events)}`,
      );
      assert.equal(await promisify(source, 'isMediaTranscoding', 'VIDEO'), true, 'isMediaTranscoding(VIDEO) on the presenter');
      assert.equal(await promisify(source, 'isMediaTranscoding', 'AUDIO'), false, 'isMediaTranscoding(AUDIO) on the presenter');

      // Viewer 1 leaves: the shared transcoder keeps feeding viewer 2.
      await viewers[0].click('#terminate');
      await waitFor('viewer 1 endpoint released', async () => (await childCount(observer, pipelineId)) === 2, {
        timeoutMs: 10000,
      });
      await expectStillDecoding(viewers[1], 'viewer 2 after viewer 1 left');
      assert.equal((await expectInboundH264(viewers[1], 'viewer 2 after viewer 1 left')).videoCodec, 'video/H264');
      assert.equal(events.length, 1, `no state change while viewer 2 still needs H.264: ${JSON.stringify(events)}`);
      assert.equal(await promisify(source, 'isMediaTranscoding', 'VIDEO'), true, 'still transcoding for viewer 2');

      // The last viewer leaves: the transcoder stops.
      await viewers[1].click('#terminate');
      await waitFor('viewer 2 endpoint released', async () => (await childCount(observer, pipelineId)) === 1, {
        timeoutMs: 10000,
      });
      await waitFor('MediaTranscodingStateChanged NOT_TRANSCODING after the last viewer left', () => events.length > 1, {
        timeoutMs: 5000,
      }).catch(() => {
        throw new Error(`no NOT_TRANSCODING after the last viewer left: ${JSON.stringify(events)}`);
      });
      assert.deepEqual(
        events.map((e) => [e.state, e.mediaType]),
        [
          ['TRANSCODING', 'VIDEO'],
          ['NOT_TRANSCODING', 'VIDEO'],
        ],
      );
      assert.equal(await promisify(source, 'isMediaTranscoding', 'VIDEO'), false, 'isMediaTranscoding(VIDEO) with no viewer');

      await presenter.click('#terminate');
      await waitFor('the pipeline released after the presenter stopped', async () => {
        const ids = await pipelineIds(observer);
        return !ids.includes(pipelineId);
      }, { timeoutMs: 10000 });
      assert.deepEqual(app.errors, [], 'application server errors');
      assert.ok(server.alive(), 'media server died');
    }));
}
