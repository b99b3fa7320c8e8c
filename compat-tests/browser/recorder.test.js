'use strict';
// kurento-tutorial-js/kurento-recorder (hello-world recording) end to end: the tutorial's
// kurento-client calls on the published kurento-client (6.18 and 7.x), its page on the published
// kurento-utils in headless Chromium, and our kurento-media-server in between.
//   1. Record: the fake camera goes to a WebRtcEndpoint that loops back to the page and feeds a
//      RecorderEndpoint (WEBM or MP4 profile); ~4 s after the recorder's Recording event the
//      application calls stopAndWait() and releases the pipeline.
//   2. The file: ffprobe must find the profile's streams, a duration within 15% of the recorded
//      time, and decode more than 60 video frames.
//   3. Play: a PlayerEndpoint of that file feeds a new WebRtcEndpoint; the page (recvonly) must
//      decode the played video and receive its audio, and the player must raise EndOfStream.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { promisify } = require('node:util');
const kurento = require('./lib/kurento');
const { startStack, openPage } = require('./lib/stack');
const { createRecorderApp } = require('./lib/apps/recorder');
const { sleep, tempDir, waitFor } = require('./lib/procs');
const { withScenario, waitInPage, expectMediaFlowing } = require('./lib/scenario');

const RECORD_MS = 4000;
const MIN_FRAMES = 60;

const PROFILES = [
  { mediaProfile: 'WEBM', ext: 'webm', streams: { video: 'vp8', audio: 'opus' } },
  { mediaProfile: 'MP4', ext: 'mp4', streams: { video: 'h264', audio: 'aac' } },
  { mediaProfile: 'MKV', ext: 'mkv', streams: { video: 'vp8', audio: 'opus' } },
];

async function ffprobe(...args) {
  const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', ...args]);
  return stdout;
}

/** ffprobe's view of a file: codec name by stream type, and the format's duration in seconds. */
async function probe(file) {
  const j = JSON.parse(
    await ffprobe('-show_entries', 'stream=codec_type,codec_name,start_time:format=duration', '-of', 'json', file),
  );
  const streams = {};
  const start = {};
  for (const s of j.streams || []) {
    streams[s.codec_type] = s.codec_name;
    start[s.codec_type] = Number(s.start_time);
  }
  return { streams, start, duration: Number(j.format && j.format.duration) };
}

/** Video frames ffmpeg decodes from the file. */
async function decodedFrames(file) {
  const out = await ffprobe(
    '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file,
  );
  return Number(String(out).trim().split(/\s+/)[0]);
}

async function pipelinesBackTo(observer, baseline, what) {
  await waitFor(
    `pipeline count back to ${baseline} after ${what}`,
    async () => (await kurento.pipelineCount(observer)) === baseline,
    { timeoutMs: 10000 },
  );
}

async function noPageErrors(page, what) {
  const state = await page.evaluate(() => window.testState);
  assert.deepEqual(state.errors, [], `errors in the page ${what}`);
}

for (const pkg of kurento.CLIENTS) {
  for (const profile of PROFILES) {
    const title = `recorder ${profile.mediaProfile}: record the loopback, probe the file, play it back [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}]`;
    test(title, { timeout: 90000 }, () =>
      withScenario(title, { timeoutMs: 60000 }, async (sc) => {
        const dir = tempDir('kms-recorder-');
        sc.defer('temp dir', () => fs.rmSync(dir, { recursive: true, force: true }));
        const file = path.join(dir, `recording.${profile.ext}`);
        const stack = await startStack(sc, {
          pkg,
          createApp: ({ kurentoPkg, wsUri }) =>
            createRecorderApp({ kurentoPkg, wsUri, fileUri: `file://${file}`, mediaProfile: profile.mediaProfile }),
        });
        const { server, observer, app } = stack;
        const baseline = await kurento.pipelineCount(observer);
        const page = await openPage(stack, 'recorder.html');

        // 1. Record the loopback.
        await page.click('#start');
        await waitInPage(
          page,
          () => window.testState.state === 'started' || window.testState.errors.length > 0,
          'startResponse (SDP answer) applied',
        );
        await noPageErrors(page, 'after start');
        assert.equal(await kurento.pipelineCount(observer), baseline + 1, 'start must create one MediaPipeline');
        await expectMediaFlowing(page, 'remote video of the loopback while recording');
        const [recording] = app.recordings;
        assert.ok(recording, 'the application created no RecorderEndpoint');
        await waitFor('the RecorderEndpoint Recording event', () => recording.recordingAt, { timeoutMs: 10000 });
        await sleep(recording.recordingAt + RECORD_MS - Date.now());
        await page.click('#stop');
        await waitInPage(
          page,
          () => window.testState.state === 'stopped' || window.testState.errors.length > 0,
          'stopAndWait() returned and the pipeline released',
        );
        await noPageErrors(page, 'after stop');
        await pipelinesBackTo(observer, baseline, 'the recording');
        assert.deepEqual(app.errors, [], 'application errors while recording');

        // 2. The file.
        const recorded = (recording.stopAt - recording.recordingAt) / 1000;
        assert.ok(fs.existsSync(file), `no recording at ${file}`);
        const p = await probe(file);
        assert.deepEqual(p.streams, profile.streams, `streams of the ${profile.mediaProfile} recording: ${JSON.stringify(p)}`);
        assert.ok(
          Math.abs(p.duration - recorded) <= recorded * 0.15,
          `ffprobe duration ${p.duration} s, recorded ${recorded} s (Recording event to stopAndWait)`,
        );
        const frames = await decodedFrames(file);
        assert.ok(frames > MIN_FRAMES, `ffmpeg decoded ${frames} video frames, want > ${MIN_FRAMES}`);
        // Audio and video start together: the file begins at the first keyframe.
        const skew = Math.abs(p.start.audio - p.start.video);
        assert.ok(skew < 0.04, `audio/video start skew ${Math.round(skew * 1000)} ms: ${JSON.stringify(p.start)}`);
        process.stdout.write(`${title}: recorded ${recorded} s, file ${p.duration} s, skew ${Math.round(skew * 1000)} ms, ${frames} frames\n`);

        // 3. Play the file back to the page.
        await page.click('#play');
        await waitInPage(
          page,
          () => window.testState.state === 'playing' || window.testState.errors.length > 0,
          'playResponse (SDP answer) applied',
        );
        await noPageErrors(page, 'after play');
        assert.equal(await kurento.pipelineCount(observer), baseline + 1, 'play must create one MediaPipeline');
        const played = await expectMediaFlowing(page, 'remote video of the played recording');
        await waitInPage(
          page,
          () => window.testState.playEnded || window.testState.errors.length > 0,
          'the PlayerEndpoint EndOfStream event',
          (p.duration + 10) * 1000,
        );
        await noPageErrors(page, 'after the end of the playback');
        const [playback] = app.playbacks;
        assert.ok(playback && playback.endOfStreamAt, 'the application saw no EndOfStream');
        await pipelinesBackTo(observer, baseline, 'EndOfStream');
        await page.click('#stop');
        assert.deepEqual(app.errors, [], 'application errors');
        assert.ok(server.alive(), 'media server died');
        process.stdout.write(
          `${title}: recorded ${recorded.toFixed(2)} s → ${JSON.stringify(p.streams)} ${p.duration.toFixed(2)} s, ` +
            `${frames} frames; played back in ${((playback.endOfStreamAt - playback.playAt) / 1000).toFixed(2)} s, ` +
            `${played.stats.framesDecoded} frames decoded by the page (${played.stats.videoCodec})\n`,
        );
      }));
  }
}
