'use strict';
// PlayerEndpoint and RecorderEndpoint through the unmodified clients, on media files the test makes
// with ffmpeg and checks with ffprobe (a recording passes only when ffprobe reads the streams the
// profile holds and ffmpeg decodes its frames). A player feeds a recorder in one pipeline, so the
// whole path (demux, RTP into the graph, paced output, depayload, mux) is exercised without peers.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const dgram = require('node:dgram');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { useServer, KmsServer } = require('../lib/server');
const { VERSIONS, connect, closeClient } = require('../lib/clients');
const { sleep, within, rejectsWithCode, viaCallback } = require('../lib/util');
const { ffmpeg, probe, decodedFrames, once } = require('../lib/media');

const server = useServer({ metrics: true });
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-player-recorder-'));
const SECONDS = 4;
const FPS = 30;

/** The test media: a moving test pattern with a tone, 320x240@30, SECONDS long. */
function makeMedia() {
  const src = ['-f', 'lavfi', '-i', `testsrc=size=320x240:rate=${FPS}`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(SECONDS), '-pix_fmt', 'yuv420p'];
  const webm = path.join(DIR, 'in.webm');
  ffmpeg(...src, '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '600k', '-g', String(FPS), '-c:a', 'libopus', '-ac', '2', webm);
  const mp4 = path.join(DIR, 'in.mp4');
  ffmpeg(...src, '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-g', String(FPS), '-c:a', 'aac', mp4);
  const videoOnly = path.join(DIR, 'video-only.webm');
  ffmpeg('-f', 'lavfi', '-i', `testsrc=size=320x240:rate=${FPS}`, '-t', String(SECONDS), '-pix_fmt', 'yuv420p', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '600k', '-g', String(FPS), videoOnly);
  const audioOnly = path.join(DIR, 'audio-only.webm');
  ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(SECONDS), '-c:a', 'libopus', '-ac', '2', audioOnly);
  const text = path.join(DIR, 'not-media.webm');
  fs.writeFileSync(text, 'this is not a media file\n'.repeat(200));
  return { webm, mp4, videoOnly, audioOnly, text };
}

let media;
before(() => {
  media = makeMedia();
});

for (const v of VERSIONS) {
  describe(`${v.name} PlayerEndpoint and RecorderEndpoint`, () => {
    let client;
    let pipeline;
    before(async () => {
      client = await connect(v.pkg, server.url);
    });
    after(async () => {
      closeClient(client);
    });

    /** Plays `uri` into a recorder of `profile` until the player's EndOfStream; returns the file. */
    async function playIntoRecorder(uri, profile, { useEncodedMedia = false, name } = {}) {
      pipeline = await client.create('MediaPipeline');
      const out = path.join(DIR, `v${v.major}`, `${name || profile}.rec`);
      const player = await pipeline.create('PlayerEndpoint', { uri, useEncodedMedia });
      const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${out}`, mediaProfile: profile });
      await player.connect(recorder);
      const states = [];
      recorder.on('UriEndpointStateChanged', (e) => states.push(e.state));
      const recording = once(recorder, 'Recording', 8000, `${profile}: Recording`);
      const eos = once(player, 'EndOfStream', (SECONDS + 8) * 1000, `${profile}: EndOfStream`);
      const errors = [];
      player.on('Error', (e) => errors.push(e));
      recorder.on('Error', (e) => errors.push(e));
      await recorder.record();
      await player.play();
      await recording;
      await eos;
      const stopped = once(recorder, 'Stopped', 12000, `${profile}: Stopped`);
      await within(12000, recorder.stopAndWait(), `${profile}: stopAndWait`);
      await stopped;
      assert.deepEqual(errors, [], `${profile}: no Error events`);
      assert.deepEqual(states, ['START', 'STOP'], `${profile}: UriEndpointStateChanged`);
      await pipeline.release();
      return out;
    }

    it('records a played WEBM file as received: VP8 + Opus, the played duration, every frame decodable', async () => {
      const file = await playIntoRecorder(`file://${media.webm}`, 'WEBM');
      const p = probe(file);
      assert.deepEqual(p.streams, { video: 'vp8', audio: 'opus' }, JSON.stringify(p));
      assert.ok(Math.abs(p.duration - SECONDS) < 0.4, `duration ${p.duration} s, played ${SECONDS} s`);
      // The file's audio and video start together (they were played together).
      const skew = Math.abs(p.start.audio - p.start.video);
      assert.ok(skew < 0.04, `audio/video skew ${skew * 1000} ms: ${JSON.stringify(p.start)}`);
      // Seekable: ffmpeg decodes from the middle.
      execFileSync('ffmpeg', ['-v', 'error', '-ss', '2', '-i', file, '-frames:v', '5', '-f', 'null', '-']);
      const frames = decodedFrames(file);
      assert.ok(frames >= SECONDS * FPS * 0.9, `decoded ${frames} frames of ${SECONDS * FPS}`);
    });

    if (v.major === 7) {
      // One client generation covers the profile table; the wire calls are the same.
      const table = [
        ['MP4', { video: 'h264', audio: 'aac' }],
        ['MKV', { video: 'vp8', audio: 'opus' }],
        ['FLV', { video: 'h264', audio: 'aac' }],
        ['WEBM_AUDIO_ONLY', { audio: 'opus' }],
        ['WEBM_VIDEO_ONLY', { video: 'vp8' }],
        ['MKV_VIDEO_ONLY', { video: 'vp8' }],
        ['MP4_AUDIO_ONLY', { audio: 'aac' }],
        ['MP4_VIDEO_ONLY', { video: 'h264' }],
        ['JPEG_VIDEO_ONLY', { video: 'mjpeg' }],
      ];
      for (const [profile, streams] of table) {
        it(`records the ${profile} profile: ${JSON.stringify(streams)}`, async () => {
          const file = await playIntoRecorder(`file://${media.webm}`, profile);
          const p = probe(file);
          assert.deepEqual(p.streams, streams, JSON.stringify(p));
          if (streams.video) {
            const frames = decodedFrames(file);
            assert.ok(frames >= SECONDS * FPS * 0.8, `${profile}: decoded ${frames} frames`);
          }
        });
      }

      it('a recording whose audio comes 3 s after its video still has both streams', async () => {
        // The streams of a file are fixed when it starts: a type that comes late must be waited
        // for (a hub port's mixed audio on a loaded machine came 2-3 s after the video).
        pipeline = await client.create('MediaPipeline');
        const file = path.join(DIR, 'v7', 'late-audio.webm');
        const video = await pipeline.create('PlayerEndpoint', { uri: `file://${media.videoOnly}` });
        const audio = await pipeline.create('PlayerEndpoint', { uri: `file://${media.audioOnly}` });
        const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'WEBM' });
        await video.connect(recorder, 'VIDEO');
        await audio.connect(recorder, 'AUDIO');
        await recorder.record();
        await video.play();
        await sleep(3000);
        const eos = once(audio, 'EndOfStream', (SECONDS + 8) * 1000, 'audio EndOfStream');
        await audio.play();
        await eos;
        await recorder.stopAndWait();
        await pipeline.release();
        const p = probe(file);
        assert.deepEqual(p.streams, { video: 'vp8', audio: 'opus' }, JSON.stringify(p));
        assert.ok(p.start.audio - p.start.video > 2, `the audio starts where it came: ${JSON.stringify(p.start)}`);
        assert.ok(decodedFrames(file) >= SECONDS * FPS * 0.8, 'every played frame kept while waiting for the audio');
      });

      it('a recording stopped while it waits for its second stream keeps the first', async () => {
        pipeline = await client.create('MediaPipeline');
        const file = path.join(DIR, 'v7', 'stopped-waiting.webm');
        const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.videoOnly}` });
        const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'WEBM' });
        await player.connect(recorder);
        await recorder.record();
        await player.play();
        await sleep(1500);
        await within(12000, recorder.stopAndWait(), 'stopAndWait');
        await pipeline.release();
        const p = probe(file);
        assert.deepEqual(p.streams, { video: 'vp8' }, JSON.stringify(p));
        // What came before the stop is in the file (the player's start-up under load eats into
        // the 1.5 s; before the fix there was no file at all).
        const frames = decodedFrames(file);
        assert.ok(frames >= 10, `decoded ${frames} frames of at most ${1.5 * FPS}`);
      });

      it('passes H.264 through untouched with useEncodedMedia into MP4', async () => {
        const file = await playIntoRecorder(`file://${media.mp4}`, 'MP4', { useEncodedMedia: true, name: 'encoded-mp4' });
        const p = probe(file);
        assert.deepEqual(p.streams, { video: 'h264', audio: 'aac' }, JSON.stringify(p));
        assert.ok(decodedFrames(file) >= SECONDS * FPS * 0.9);
      });
    }

    it('answers KURENTO_SPLIT_RECORDER and unsupported URI schemes as KMS: an illegal-param error', async () => {
      pipeline = await client.create('MediaPipeline');
      await rejectsWithCode(pipeline.create('RecorderEndpoint', { uri: `file://${DIR}/x.ksr`, mediaProfile: 'KURENTO_SPLIT_RECORDER' }), 40107);
      await rejectsWithCode(pipeline.create('PlayerEndpoint', { uri: 'gopher://127.0.0.1/x' }), 40107);
      await rejectsWithCode(pipeline.create('RecorderEndpoint', { uri: 'file://relative/x.webm' }), 40107);
      await pipeline.release();
    });

    it('raises Error within 5 s for a missing file, a refused or unknown host, and a file that is not media', async () => {
      const refused = await new Promise((resolve) => {
        const s = net.createServer();
        s.listen(0, '127.0.0.1', () => {
          const { port } = s.address();
          s.close(() => resolve(port));
        });
      });
      const cases = [
        ['missing file', `file://${DIR}/does-not-exist.webm`, 'INVALID_URI'],
        ['refused host', `http://127.0.0.1:${refused}/a.webm`, 'INVALID_URI'],
        ['unresolvable host', 'http://no-such-host.invalid/a.webm', 'INVALID_URI'],
        ['not a media file', `file://${media.text}`, 'INVALID_MEDIA'],
      ];
      pipeline = await client.create('MediaPipeline');
      for (const [what, uri, type] of cases) {
        const player = await pipeline.create('PlayerEndpoint', { uri });
        const t0 = Date.now();
        const error = once(player, 'Error', 5000, `${what}: Error event`);
        await player.play();
        const e = await error;
        assert.equal(e.type, type, `${what}: ${JSON.stringify(e)}`);
        assert.ok(e.description.length > 0);
        process.stdout.write(`${v.name} ${what}: ${type} after ${Date.now() - t0} ms\n`);
        await player.release();
      }
      await pipeline.release();
    });

    it('plays over HTTP, reports videoInfo and position, and seeks', async () => {
      const body = fs.readFileSync(media.webm);
      // As a real server: byte ranges, so the player can seek.
      const srv = http.createServer((req, res) => {
        const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
        if (!m) {
          res.writeHead(200, { 'Content-Type': 'video/webm', 'Content-Length': body.length, 'Accept-Ranges': 'bytes' });
          return res.end(body);
        }
        const start = Number(m[1]);
        const end = m[2] ? Math.min(Number(m[2]), body.length - 1) : body.length - 1;
        res.writeHead(206, {
          'Content-Type': 'video/webm', 'Accept-Ranges': 'bytes',
          'Content-Range': `bytes ${start}-${end}/${body.length}`, 'Content-Length': end - start + 1,
        });
        res.end(body.subarray(start, end + 1));
      });
      await new Promise((r) => srv.listen(0, '127.0.0.1', r));
      try {
        pipeline = await client.create('MediaPipeline');
        const player = await pipeline.create('PlayerEndpoint', { uri: `http://127.0.0.1:${srv.address().port}/in.webm` });
        const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${DIR}/v${v.major}/http.webm` });
        await player.connect(recorder);
        await recorder.record();
        const eos = once(player, 'EndOfStream', 15000);
        await player.play();
        await sleep(1000);
        const info = await player.getVideoInfo();
        assert.equal(info.isSeekable, true, JSON.stringify(info));
        assert.ok(Math.abs(info.duration - SECONDS * 1000) < 200, JSON.stringify(info));
        const pos = await player.getPosition();
        assert.ok(pos > 300 && pos < 2500, `position ${pos} ms after 1 s`);
        await viaCallback(player, 'setPosition', 3000);
        await sleep(200);
        const after = await player.getPosition();
        // A seek lands on the keyframe at or before the target (one per second here); without
        // the seek the position would be about 1.3 s.
        assert.ok(after >= 1950, `position ${after} ms after seeking to 3000`);
        await eos;
        await recorder.stopAndWait();
        const p = probe(`${DIR}/v${v.major}/http.webm`);
        assert.deepEqual(p.streams, { video: 'vp8', audio: 'opus' });
        await pipeline.release();
      } finally {
        srv.close();
      }
    });

    it('plays a live RTSP camera (networkCache) into a recorder, decoded and re-encoded to VP8, and passes its H.264 through', async () => {
      const port = await new Promise((resolve) => {
        const s = net.createServer();
        s.listen(0, '127.0.0.1', () => {
          const { port: p } = s.address();
          s.close(() => resolve(p));
        });
      });
      const rtsp = spawn('/usr/bin/python3', [path.join(__dirname, '..', 'lib', 'rtsp-server.py'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await within(10000, new Promise((resolve, reject) => {
          rtsp.stdout.on('data', (d) => String(d).includes('ready') && resolve());
          rtsp.once('exit', (code) => reject(new Error(`RTSP server exited (${code})`)));
        }), 'RTSP server start');
        for (const [useEncodedMedia, profile, streams] of [[false, 'WEBM', { video: 'vp8', audio: 'opus' }], [true, 'MP4', { video: 'h264', audio: 'aac' }]]) {
          pipeline = await client.create('MediaPipeline');
          const file = path.join(DIR, `v${v.major}`, `rtsp-${profile}.rec`);
          const player = await pipeline.create('PlayerEndpoint', { uri: `rtsp://127.0.0.1:${port}/cam`, networkCache: 200, useEncodedMedia });
          const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: profile });
          await player.connect(recorder);
          const errors = [];
          player.on('Error', (e) => errors.push(e));
          const recording = once(recorder, 'Recording', 8000, 'Recording from RTSP');
          await recorder.record();
          await player.play();
          await recording;
          await sleep(3000);
          await recorder.stopAndWait();
          await pipeline.release();
          assert.deepEqual(errors, []);
          const p = probe(file);
          assert.deepEqual(p.streams, streams, `${profile}: ${JSON.stringify(p)}`);
          const frames = decodedFrames(file);
          assert.ok(frames >= 60, `${profile}: decoded ${frames} frames of about 90`);
        }
      } finally {
        rtsp.kill('SIGKILL');
      }
    });

    it('transcodes a VP8 source once for two H.264-only sinks, whose ffmpeg receivers decode H.264', async () => {
      pipeline = await client.create('MediaPipeline');
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.webm}` });
      const states = [];
      player.on('MediaTranscodingStateChanged', (e) => states.push(`${e.mediaType}:${e.state}`));
      const receivers = [];
      for (let i = 0; i < 2; i++) {
        const port = await freeRtpPair();
        const offer = [
          'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=ffmpeg', 'c=IN IP4 127.0.0.1', 't=0 0',
          `m=video ${port} RTP/AVP 96`, 'a=rtpmap:96 H264/90000', 'a=fmtp:96 packetization-mode=1', 'a=recvonly', '',
        ].join('\r\n');
        const ep = await pipeline.create('RtpEndpoint');
        const answer = await ep.processOffer(offer);
        assert.match(answer, /a=rtpmap:96 H264\/90000/, answer);
        const sdpFile = path.join(DIR, `v${v.major}-h264-${i}.sdp`);
        fs.writeFileSync(sdpFile, offer);
        const child = spawn('ffmpeg', ['-v', 'error', '-protocol_whitelist', 'file,udp,rtp', '-i', sdpFile, '-frames:v', '30', '-f', 'framemd5', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => { out += d; });
        const done = new Promise((resolve) => child.once('exit', (code) => resolve({ code, frames: out.split('\n').filter((l) => /^0,/.test(l)).length })));
        receivers.push({ ep, child, done });
        await player.connect(ep, 'VIDEO');
      }
      await sleep(300);
      await player.play();
      try {
        const results = await within(15000, Promise.all(receivers.map((r) => r.done)), 'ffmpeg receivers decoding 30 H.264 frames');
        for (const r of results) assert.deepEqual(r, { code: 0, frames: 30 });
        assert.equal(await player.isMediaTranscoding('VIDEO'), true);
        assert.deepEqual(states, ['VIDEO:TRANSCODING'], 'one transcoder shared by both sinks');
        // What an operator's Prometheus sees of this: the pipeline, its elements, one transcoder,
        // and H.264 leaving for the two receivers through the RtpEndpoint's packet path.
        const m = await server.metrics();
        assert.ok(m.kms_pipelines >= 1, JSON.stringify(m));
        assert.ok(m['kms_elements{type="RtpEndpoint"}'] >= 2, JSON.stringify(m));
        assert.ok(m['kms_elements{type="PlayerEndpoint"}'] >= 1);
        assert.ok(m.kms_transcoders >= 1, `transcoders: ${m.kms_transcoders}`);
        assert.ok(m['kms_rtp_sent_packets_total{media="video"}'] >= 60, `sent: ${m['kms_rtp_sent_packets_total{media="video"}']}`);
        assert.ok(m['kms_rtp_sent_bytes_total{media="video"}'] > 10000);
        assert.ok(m.kms_forwarding_latency_seconds_count >= 1, 'latency observed');
        assert.ok(m['kms_rpc_requests_total{method="create",code="ok"}'] >= 4);
      } finally {
        for (const r of receivers) r.child.kill('SIGKILL');
      }
      await pipeline.release();
    });

    it('transcodes Opus to PCMU for a phone-like RtpEndpoint, whose ffmpeg decodes G.711 audio', async () => {
      pipeline = await client.create('MediaPipeline');
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.webm}` });
      const port = await freeRtpPair();
      const offer = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=phone', 'c=IN IP4 127.0.0.1', 't=0 0',
        `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=recvonly', ''].join('\r\n');
      const ep = await pipeline.create('RtpEndpoint');
      const answer = await ep.processOffer(offer);
      assert.match(answer, /m=audio \d+ RTP\/AVP 0/, answer);
      const sdpFile = path.join(DIR, `v${v.major}-pcmu.sdp`);
      fs.writeFileSync(sdpFile, offer);
      const child = spawn('ffmpeg', ['-v', 'error', '-protocol_whitelist', 'file,udp,rtp', '-i', sdpFile, '-t', '1', '-f', 'framemd5', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      const done = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      const transcoding = once(player, 'MediaTranscodingStateChanged', 8000);
      await player.connect(ep, 'AUDIO');
      await sleep(300);
      await player.play();
      try {
        assert.equal((await transcoding).mediaType, 'AUDIO');
        assert.equal(await within(10000, done, 'ffmpeg decoding 1 s of PCMU'), 0);
        const frames = out.split('\n').filter((l) => /^0,/.test(l)).length;
        assert.ok(frames >= 5, `ffmpeg decoded ${frames} PCMU frames:\n${out}`);
        assert.match(out, /pcm_mulaw|codec_id/, 'framemd5 header');
      } finally {
        child.kill('SIGKILL');
      }
      await pipeline.release();
    });

    it('pause holds the player where it is; play resumes from there', async () => {
      pipeline = await client.create('MediaPipeline');
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.webm}` });
      const states = [];
      player.on('UriEndpointStateChanged', (e) => states.push(e.state));
      await player.play();
      await sleep(800);
      await player.pause();
      await sleep(200);
      const held = await player.getPosition();
      await sleep(700);
      const still = await player.getPosition();
      assert.ok(Math.abs(still - held) < 50, `paused at ${held} ms, ${still} ms 700 ms later`);
      await player.play();
      await sleep(500);
      const moving = await player.getPosition();
      assert.ok(moving > still + 300, `resumed from ${still} ms: ${moving} ms 500 ms later`);
      assert.deepEqual(states, ['START', 'PAUSE', 'START']);
      await pipeline.release();
    });

    it('setVideoFormat forces H.264 on what leaves a VP8 player: an MKV recorder gets H.264', async () => {
      pipeline = await client.create('MediaPipeline');
      const file = path.join(DIR, `v${v.major}`, 'forced-h264.mkv');
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.webm}` });
      const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'MKV_VIDEO_ONLY' });
      await viaCallback(player, 'setVideoFormat', { codec: 'H264', framerate: { numerator: 30, denominator: 1 } });
      await player.connect(recorder);
      const transcoding = once(player, 'MediaTranscodingStateChanged', 8000);
      const eos = once(player, 'EndOfStream', 15000);
      await recorder.record();
      await player.play();
      assert.equal((await transcoding).state, 'TRANSCODING');
      await eos;
      await recorder.stopAndWait();
      await pipeline.release();
      const p = probe(file);
      assert.deepEqual(p.streams, { video: 'h264' }, JSON.stringify(p));
      assert.ok(decodedFrames(file) >= SECONDS * FPS * 0.8);
    });

    it('HttpPostEndpoint plays a POSTed file (raw and multipart) into a recorder, and ends the stream after disconnectionTimeout', async () => {
      const body = fs.readFileSync(media.webm);
      const post = (url, payload, headers) => new Promise((resolve, reject) => {
        const req = http.request(url, { method: 'POST', headers: { 'Content-Length': payload.length, ...headers } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode));
        });
        req.on('error', reject);
        req.end(payload);
      });
      const boundary = '----kurentoTestBoundary7MA4YWxk';
      const multipart = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.webm"\r\nContent-Type: video/webm\r\n\r\n`),
        body,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      for (const [how, payload, headers, useEncodedMedia] of [
        ['raw', body, { 'Content-Type': 'video/webm' }, false],
        ['multipart', multipart, { 'Content-Type': `multipart/form-data; boundary=${boundary}` }, true],
      ]) {
        pipeline = await client.create('MediaPipeline');
        const file = path.join(DIR, `v${v.major}`, `http-post-${how}.webm`);
        const ep = await pipeline.create('HttpPostEndpoint', { useEncodedMedia });
        const url = await ep.getUrl();
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}$/, url);
        const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}` });
        await ep.connect(recorder);
        await recorder.record();
        const eos = once(ep, 'EndOfStream', 15000, `${how}: EndOfStream`);
        assert.equal(await post(url, payload, headers), 200, `${how}: HTTP status`);
        await eos;
        await recorder.stopAndWait();
        await pipeline.release();
        const p = probe(file);
        assert.deepEqual(p.streams, { video: 'vp8', audio: 'opus' }, `${how}: ${JSON.stringify(p)}`);
        assert.ok(Math.abs(p.duration - SECONDS) < 0.5, `${how}: duration ${p.duration}`);
        assert.ok(decodedFrames(file) >= SECONDS * FPS * 0.9, how);
      }
      // A connection lost mid-upload: the stream ends disconnectionTimeout later.
      pipeline = await client.create('MediaPipeline');
      const ep = await pipeline.create('HttpPostEndpoint', { disconnectionTimeout: 1 });
      const url = new URL(await ep.getUrl());
      const eos = once(ep, 'EndOfStream', 10000, 'EndOfStream after a lost upload');
      const sock = net.connect(Number(url.port), url.hostname);
      await new Promise((r) => sock.once('connect', r));
      sock.write(`POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Length: ${body.length}\r\n\r\n`);
      sock.write(body.subarray(0, body.length / 2));
      await sleep(300);
      const t0 = Date.now();
      sock.destroy();
      await eos;
      assert.ok(Date.now() - t0 >= 900, 'waited for a reconnection first');
      // Not a registered upload: 404, and the server is fine.
      assert.equal(await post(`http://${url.host}/no-such-upload`, Buffer.from('x'), {}), 404);
      await pipeline.release();
    });

    if (v.major === 7) {
      it('a server stopped with SIGTERM finalises the MP4 it was recording (docker stop)', async () => {
        const own = new KmsServer();
        await own.start();
        const c = await connect(v.pkg, own.url);
        const file = path.join(DIR, 'v7', 'sigterm.mp4');
        try {
          const p = await c.create('MediaPipeline');
          const player = await p.create('PlayerEndpoint', { uri: `file://${media.webm}` });
          const recorder = await p.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'MP4' });
          await player.connect(recorder);
          const recording = once(recorder, 'Recording', 8000);
          await recorder.record();
          await player.play();
          await recording;
          await sleep(2000);
        } finally {
          closeClient(c);
          await own.stop();
        }
        assert.deepEqual(own.exits.at(-1), { code: 0, signal: null }, 'clean exit');
        const p = probe(file);
        assert.deepEqual(p.streams, { video: 'h264', audio: 'aac' }, JSON.stringify(p));
        assert.ok(p.duration > 1.5, `duration ${p.duration}`);
      });
    }

    it('records to an http:// URI: one streamed POST that ffprobe reads (WEBM and MP4)', async () => {
      const bodies = {};
      const srv = http.createServer((req, res) => {
        const parts = [];
        req.on('data', (d) => parts.push(d));
        req.on('end', () => {
          bodies[req.url] = { method: req.method, chunked: req.headers['transfer-encoding'] === 'chunked', body: Buffer.concat(parts) };
          res.end();
        });
      });
      await new Promise((r) => srv.listen(0, '127.0.0.1', r));
      try {
        for (const [profile, streams] of [['WEBM', { video: 'vp8', audio: 'opus' }], ['MP4', { video: 'h264', audio: 'aac' }]]) {
          pipeline = await client.create('MediaPipeline');
          const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.webm}` });
          const url = `http://127.0.0.1:${srv.address().port}/up/${profile}`;
          const recorder = await pipeline.create('RecorderEndpoint', { uri: url, mediaProfile: profile });
          await player.connect(recorder);
          const eos = once(player, 'EndOfStream', 15000);
          await recorder.record();
          await player.play();
          await eos;
          await recorder.stopAndWait();
          await pipeline.release();
          await eventually(() => bodies[`/up/${profile}`], 5000, `${profile} upload`);
          const got = bodies[`/up/${profile}`];
          assert.equal(got.method, 'POST');
          assert.ok(got.chunked, 'streamed as it is recorded (chunked)');
          const file = path.join(DIR, `v${v.major}-http-upload.${profile.toLowerCase()}`);
          fs.writeFileSync(file, got.body);
          const p = probe(file);
          assert.deepEqual(p.streams, streams, `${profile}: ${JSON.stringify(p)}`);
          assert.ok(decodedFrames(file) >= SECONDS * FPS * 0.8, profile);
        }
      } finally {
        srv.close();
      }
    });

    it('stopOnEndOfStream: the recorder stops and finalises when its player ends', async () => {
      pipeline = await client.create('MediaPipeline');
      const file = path.join(DIR, `v${v.major}`, 'stop-on-eos.webm');
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.webm}` });
      const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, stopOnEndOfStream: true });
      await player.connect(recorder);
      const stopped = once(recorder, 'Stopped', (SECONDS + 8) * 1000, 'Stopped without a stop()');
      await recorder.record();
      await player.play();
      await stopped;
      assert.equal(await recorder.getState(), 'STOP');
      await pipeline.release();
      const p = probe(file);
      assert.deepEqual(p.streams, { video: 'vp8', audio: 'opus' });
      assert.ok(Math.abs(p.duration - SECONDS) < 0.4, `duration ${p.duration}`);
    });

    it('leaves paused time out of the recording, and a released recorder leaves a playable file', async () => {
      pipeline = await client.create('MediaPipeline');
      const file = path.join(DIR, `v${v.major}`, 'paused.webm');
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.webm}` });
      const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}` });
      await player.connect(recorder);
      const paused = once(recorder, 'Paused', 5000);
      await recorder.record();
      await player.play();
      await sleep(1000);
      await recorder.pause();
      await paused;
      assert.equal(await recorder.getState(), 'PAUSE');
      await sleep(1500);
      await recorder.record();
      await sleep(1000);
      await recorder.release();
      await eventually(() => fs.existsSync(file) && probe(file).duration > 0, 10000, 'finalised file');
      const p = probe(file);
      assert.deepEqual(p.streams, { video: 'vp8', audio: 'opus' });
      assert.ok(p.duration > 1.5 && p.duration < 2.7, `recorded about 2 s of 3.5, got ${p.duration}`);
      // About 2 s of 30 fps video; a loaded machine's player encoder drops frames, so the bar is
      // well below 60 but far above what a broken file decodes.
      const frames = decodedFrames(file);
      assert.ok(frames > 20, `decoded frames: ${frames}`);
      await pipeline.release();
    });
  });
}

function bindUdp(port) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', () => resolve(null));
    sock.bind(port, '127.0.0.1', () => resolve(sock));
  });
}

/** A free even UDP port on 127.0.0.1 whose odd neighbour is free too (ffmpeg puts RTCP there). */
async function freeRtpPair() {
  for (let i = 0; i < 100; i++) {
    const a = await bindUdp(0);
    if (!a) continue;
    const { port } = a.address();
    const b = port % 2 === 0 && port < 65535 ? await bindUdp(port + 1) : null;
    await new Promise((r) => a.close(r));
    if (b) {
      await new Promise((r) => b.close(r));
      return port;
    }
  }
  throw new Error('no free even/odd UDP port pair on 127.0.0.1');
}

async function eventually(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('mediaServer.resources.transcoding = false', () => {
  const off = useServer({ resources: { transcoding: false } });
  it('a sink that cannot take its source codec gets an Error event (UNSUPPORTED_MEDIA_TYPE), and nothing is transcoded', async () => {
    const v = VERSIONS[0];
    const c = await connect(v.pkg, off.url);
    try {
      const pipeline = await c.create('MediaPipeline');
      const player = await pipeline.create('PlayerEndpoint', { uri: `file://${media.webm}` });
      const ep = await pipeline.create('RtpEndpoint');
      await ep.processOffer(['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
        'm=video 40000 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=fmtp:96 packetization-mode=1', 'a=recvonly', ''].join('\r\n'));
      let transcoding = 0;
      player.on('MediaTranscodingStateChanged', () => { transcoding += 1; });
      const error = once(ep, 'Error', 8000, 'Error on the H.264-only sink');
      await player.connect(ep, 'VIDEO');
      await player.play();
      const e = await error;
      assert.equal(e.type, 'UNSUPPORTED_MEDIA_TYPE', JSON.stringify(e));
      assert.match(e.description, /VP8.*transcoding is off/, e.description);
      await sleep(500);
      assert.equal(transcoding, 0);
      assert.equal(await player.isMediaTranscoding('VIDEO'), false);
      await pipeline.release();
    } finally {
      closeClient(c);
    }
  });
});
