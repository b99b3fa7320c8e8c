'use strict';
// WebRTC ↔ plain RTP bridges through the published kurento-client (6.18 and 7.x): a WebRtcEndpoint
// (headless Chromium) and an RtpEndpoint (ffmpeg on loopback) in one MediaPipeline, connected
// without transcoding.
//   (a) browser fake camera → WebRtcEndpoint → RtpEndpoint → ffmpeg, which must decode 30 VP8 frames
//       from the SDP offer it was described by (the RtpEndpoint answered it sendonly).
//   (b) ffmpeg test pattern (VP8) → RtpEndpoint → WebRtcEndpoint → browser, whose remote <video>
//       must keep decoding frames of ffmpeg's size.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const dgram = require('node:dgram');
const kurento = require('./lib/kurento');
const { startStack, openPage } = require('./lib/stack');
const { createRtpBridgeApp } = require('./lib/apps/rtp-bridge');
const { sleep, tempDir, waitFor, spawnLogged, stopChild, readText } = require('./lib/procs');
const { withScenario, waitInPage, pageStats } = require('./lib/scenario');

const FRAMES = 30;

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

function ffmpegSdp(port, direction) {
  return [
    'v=0',
    'o=- 0 0 IN IP4 127.0.0.1',
    's=ffmpeg',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=video ${port} RTP/AVP 96`,
    'a=rtpmap:96 VP8/90000',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

/** Port and first payload type of the m=video line of an SDP. */
function videoMedia(sdp) {
  const m = /^m=video (\d+) [A-Z/]+ (\d+)/m.exec(sdp);
  assert.ok(m, `no m=video line in ${sdp}`);
  return { port: Number(m[1]), pt: Number(m[2]) };
}

function ffmpegArgs(rest) {
  return ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...rest];
}

function startFfmpeg(sc, dir, name, args) {
  const log = path.join(dir, `${name}.log`);
  const child = spawnLogged('ffmpeg', ffmpegArgs(args), log);
  sc.defer(name, () => stopChild(child));
  sc.report(`${name} log`, () => readText(log));
  return child;
}

const label = (pkg) => `${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}`;

async function startPage(stack, direction) {
  const page = await openPage(stack, 'rtp-bridge.html', { direction });
  await page.click('#start');
  await waitInPage(
    page,
    () => window.testState.state === 'started' || window.testState.errors.length > 0,
    'startResponse (SDP answer) applied',
  );
  const state = await page.evaluate(() => window.testState);
  assert.deepEqual(state.errors, [], 'errors in the page after start');
  return page;
}

for (const pkg of kurento.CLIENTS) {
  const titleA = `rtp-bridge (a) browser → WebRtcEndpoint → RtpEndpoint → ffmpeg [${label(pkg)}]`;
  test(titleA, { timeout: 90000 }, () =>
    withScenario(titleA, { timeoutMs: 60000 }, async (sc) => {
      const dir = tempDir('kms-rtp-bridge-');
      sc.defer('temp dir', () => fs.rmSync(dir, { recursive: true, force: true }));
      const recvPort = await freeRtpPair();
      const rtpOffer = ffmpegSdp(recvPort, 'recvonly');
      const sdpFile = path.join(dir, 'recv.sdp');
      fs.writeFileSync(sdpFile, rtpOffer);
      const md5File = path.join(dir, 'recv.framemd5');
      let receiver = null;
      const stack = await startStack(sc, {
        pkg,
        createApp: ({ kurentoPkg, wsUri }) =>
          createRtpBridgeApp({
            kurentoPkg,
            wsUri,
            mode: 'to-rtp',
            rtpOffer,
            async onRtpReady(session) {
              assert.match(session.rtpAnswer, /a=sendonly/, `RtpEndpoint answer: ${session.rtpAnswer}`);
              assert.match(session.rtpAnswer, /a=rtpmap:96 VP8\/90000/, `RtpEndpoint answer: ${session.rtpAnswer}`);
              receiver = startFfmpeg(sc, dir, 'ffmpeg receiver', [
                '-protocol_whitelist', 'file,udp,rtp',
                '-reorder_queue_size', '64',
                '-i', sdpFile,
                '-frames:v', String(FRAMES),
                '-f', 'framemd5', '-y', md5File,
              ]);
              // Let ffmpeg bind its port before the browser's first (key)frame is forwarded.
              await sleep(500);
            },
          }),
      });
      const { server, app } = stack;
      const page = await startPage(stack, 'send');
      assert.ok(receiver, 'the application never gave the RtpEndpoint its offer');
      const [session] = Object.values(app.sessions);
      await waitFor(
        `ffmpeg decoding ${FRAMES} frames of the browser's video`,
        async () => {
          if (receiver.exitInfo) return true;
          // A receiver that missed the first keyframe waits for the next one (7.x has the call).
          if (typeof session.webRtcEndpoint.requestKeyframe === 'function') {
            await session.webRtcEndpoint.requestKeyframe().catch(() => null);
          }
          return false;
        },
        { timeoutMs: 30000, intervalMs: 1000 },
      );
      const frames = readText(md5File)
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('#'));
      assert.deepEqual(receiver.exitInfo, { code: 0, signal: null }, 'ffmpeg receiver exit');
      assert.equal(frames.length, FRAMES, `ffmpeg decoded ${frames.length} frames`);
      process.stdout.write(`${titleA}: ffmpeg decoded ${frames.length} frames\n`);
      const sample = await pageStats(page);
      assert.ok(sample.stats.videoPacketsSent > 0, `the browser sent no video: ${JSON.stringify(sample)}`);
      const stats = await session.rtpEndpoint.getStats();
      const out = Object.values(stats).find((s) => s.type === 'outboundrtp' && s.id.endsWith('video'));
      assert.ok(out && out.packetsSent > 0, `RtpEndpoint sent no video in getStats: ${JSON.stringify(stats)}`);
      assert.deepEqual(app.errors, [], 'application server errors');
      assert.ok(server.alive(), 'media server died');
    }));

  const titleB = `rtp-bridge (b) ffmpeg → RtpEndpoint → WebRtcEndpoint → browser [${label(pkg)}]`;
  test(titleB, { timeout: 90000 }, () =>
    withScenario(titleB, { timeoutMs: 60000 }, async (sc) => {
      const dir = tempDir('kms-rtp-bridge-');
      sc.defer('temp dir', () => fs.rmSync(dir, { recursive: true, force: true }));
      // ffmpeg sends from this pair, so the offer describing it is true.
      const sendPort = await freeRtpPair();
      const rtpOffer = ffmpegSdp(sendPort, 'sendonly');
      const stack = await startStack(sc, {
        pkg,
        createApp: ({ kurentoPkg, wsUri }) =>
          createRtpBridgeApp({
            kurentoPkg,
            wsUri,
            mode: 'from-rtp',
            rtpOffer,
            async onRtpReady(session) {
              assert.match(session.rtpAnswer, /a=recvonly/, `RtpEndpoint answer: ${session.rtpAnswer}`);
              const ours = videoMedia(session.rtpAnswer);
              startFfmpeg(sc, dir, 'ffmpeg sender', [
                '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30,format=yuv420p',
                '-t', '40',
                '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8',
                '-g', '30', '-auto-alt-ref', '0', '-b:v', '300k',
                '-payload_type', String(ours.pt),
                '-f', 'rtp',
                `rtp://127.0.0.1:${ours.port}?localrtpport=${sendPort}&localrtcpport=${sendPort + 1}&pkt_size=1200`,
              ]);
            },
          }),
      });
      const { server, app } = stack;
      const page = await startPage(stack, 'recv');
      const first = await waitFor(
        "the browser decoding ffmpeg's video",
        async () => {
          const s = await pageStats(page);
          return s && s.stats.framesDecoded > 0 && s.remoteVideo.videoWidth > 0 ? s : false;
        },
        { timeoutMs: 25000, intervalMs: 250 },
      );
      await sleep(1200);
      const second = await pageStats(page);
      assert.ok(
        second.stats.framesDecoded > first.stats.framesDecoded,
        `framesDecoded must keep rising (${first.stats.framesDecoded} → ${second.stats.framesDecoded})`,
      );
      assert.equal(second.remoteVideo.videoWidth, 320, JSON.stringify(second));
      assert.equal(second.remoteVideo.videoHeight, 240, JSON.stringify(second));
      assert.match(String(second.stats.videoCodec), /VP8/i, JSON.stringify(second));
      process.stdout.write(`${titleB}: browser decoded ${second.stats.framesDecoded} frames\n`);
      const [session] = Object.values(app.sessions);
      const stats = await session.rtpEndpoint.getStats();
      const inb = Object.values(stats).find((s) => s.type === 'inboundrtp' && s.id.endsWith('video'));
      assert.ok(inb && inb.packetsReceived > 0, `RtpEndpoint received no video in getStats: ${JSON.stringify(stats)}`);
      assert.deepEqual(app.errors, [], 'application server errors');
      assert.ok(server.alive(), 'media server died');
    }));
}
