'use strict';
// Figures for filters and hubs (BENCHMARKS.md, "Filters and mixing hubs"), measured in one run on
// this machine through the published kurento-client 7:
//   - CPU per filtered 640x480@30 stream: GStreamerFilter (videoflip), FaceOverlayFilter (a face
//     in view, so detection and overlay both run), and the optional modules' filters: ChromaFilter
//     (a green-screen clip, every backdrop pixel replaced), CrowdDetectorFilter (the tutorial's
//     region on busy content), PointerDetectorFilter (calibrated, tracking, two windows) and
//     PlateDetectorFilter (a plate in view, so the OCR runs; its tesseract processes count);
//   - CPU of a four-input Composite;
//   - added end-to-end latency through each: one player feeds a direct RtpEndpoint and the
//     filter's (or hub's) RtpEndpoint at once; its clip is black, then turns to a busy picture, and
//     the first large frame on each socket marks the change, so the difference in arrival times is
//     what the filter adds (decode, filter, encode, and for the hub its mixing latency).
// CPU is the server process's own (utime + stime from /proc), as a fraction of one core; players
// pass VP8 through (useEncodedMedia), and their cost is measured alone and subtracted.
//
//   RUST_LOG=info,kurento_media_server::gst_bridge::overlay=debug node compat-tests/bench/filters.js [streams=2]

const { execFileSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { KmsServer } = require('../lib/server');
const { connect, closeClient, loadModule, load } = require('../lib/clients');
const { astronautPng, magentaPng } = require('../lib/media');

const STREAMS = Number(process.argv[2] || 2);
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-bench-filters-'));
const TICK = 100; // USER_HZ
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // utime + stime, and the waited-for children's (the plate detector's tesseract runs).
  return Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
}

async function cpuOver(pid, ms) {
  const t0 = cpuTicks(pid);
  const w0 = Date.now();
  await sleep(ms);
  return (cpuTicks(pid) - t0) / TICK / ((Date.now() - w0) / 1000);
}

function ffmpeg(...args) {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args]);
}

const VP8 = ['-pix_fmt', 'yuv420p', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1M', '-g', '30'];

function bindUdp() {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

/** An RtpEndpoint that sends VP8 to a local socket; `onFrame(bytes, ms)` per frame (marker bit). */
async function videoSink(pipeline, onFrame) {
  const sock = await bindUdp();
  let bytes = 0;
  sock.on('message', (m) => {
    bytes += m.length;
    if (m[1] & 0x80) {
      onFrame(bytes, Date.now());
      bytes = 0;
    }
  });
  const ep = await pipeline.create('RtpEndpoint');
  await ep.processOffer(['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=video ${sock.address().port} RTP/AVP 96`, 'a=rtpmap:96 VP8/90000', 'a=recvonly', ''].join('\r\n'));
  return { ep, sock };
}

/** A HubPort once created (wrapped: an awaited kurento-client object resolves to a copy). */
function hubPort(hub) {
  return new Promise((resolve, reject) => {
    const port = hub.createHubPort((e) => (e ? reject(e) : resolve({ port })));
  });
}

/** The arrival time of the first frame larger than `big` bytes. */
function firstBig(big) {
  let resolve;
  const p = new Promise((r) => { resolve = r; });
  return { p, onFrame: (bytes, ms) => { if (bytes > big) resolve(ms); } };
}

async function main() {
  const server = new KmsServer();
  await server.start();
  const pid = server.proc.pid;
  for (const m of ['chroma', 'crowddetector', 'platedetector', 'pointerdetector']) loadModule('kurento-client-7', m);
  const kurento = load('kurento-client-7');
  const client = await connect('kurento-client-7', server.url);
  const out = { streams: STREAMS };
  try {
    const busy = path.join(DIR, 'busy.webm');
    ffmpeg('-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=30', '-t', '30', ...VP8, busy);
    const face = path.join(DIR, 'face.webm');
    ffmpeg('-loop', '1', '-i', astronautPng(), '-t', '30', '-r', '30', '-vf', 'scale=640:480', ...VP8, face);
    // Black for 3 s, then the busy picture: a jump in frame size marks the change.
    const change = path.join(DIR, 'change.webm');
    ffmpeg('-f', 'lavfi', '-i', 'color=c=black:size=640x480:rate=30:d=3', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=30:d=3',
      '-filter_complex', '[0:v][1:v]concat=n=2:v=1[v]', '-map', '[v]', ...VP8, change);
    const overlay = magentaPng(path.join(DIR, 'overlay.png'), 200, 120);
    const green = path.join(DIR, 'green.webm');
    ffmpeg('-f', 'lavfi', '-i', 'color=c=0x00C040:size=640x480:rate=30:d=30', '-vf', 'drawbox=x=220:y=140:w=200:h=200:color=0x808080:t=fill', ...VP8, green);
    const plate = path.join(DIR, 'plate.webm');
    ffmpeg('-f', 'lavfi', '-i', 'color=c=0x303030:size=640x480:rate=30:d=30', '-vf',
      'drawbox=x=230:y=300:w=180:h=40:color=white:t=fill,drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf:text=1234 BCD:fontsize=30:fontcolor=black:x=245:y=305',
      ...VP8, plate);
    const region = (type) => kurento.getComplexType(type)({ topRightCornerX: 5, topRightCornerY: 5, width: 30, height: 30 });
    const clips = { faceoverlay: face, chroma: green, platedetector: plate };

    const makers = {
      videoflip: (p) => p.create('GStreamerFilter', { command: 'videoflip method=horizontal-flip' }),
      faceoverlay: async (p) => {
        const f = await p.create('FaceOverlayFilter');
        await f.setOverlayedImage(overlay, -0.35, -1.2, 1.6, 1.6);
        return f;
      },
      chroma: (p) => p.create('chroma.ChromaFilter', { window: region('chroma.WindowParam'), backgroundImage: `file://${overlay}` }),
      crowddetector: (p) => {
        const P = kurento.getComplexType('crowddetector.RelativePoint');
        return p.create('crowddetector.CrowdDetectorFilter', {
          rois: [kurento.getComplexType('crowddetector.RegionOfInterest')({
            id: 'roi1',
            points: [P({ x: 0, y: 0 }), P({ x: 0.5, y: 0 }), P({ x: 0.5, y: 0.5 }), P({ x: 0, y: 0.5 })],
            regionOfInterestConfig: kurento.getComplexType('crowddetector.RegionOfInterestConfig')({}),
          })],
        });
      },
      pointerdetector: async (p) => {
        const f = await p.create('pointerdetector.PointerDetectorFilter', { calibrationRegion: region('pointerdetector.WindowParam') });
        const W = kurento.getComplexType('pointerdetector.PointerDetectorWindowMediaParam');
        await f.addWindow(W({ id: 'window0', height: 50, width: 50, upperRightX: 500, upperRightY: 150 }));
        await f.addWindow(W({ id: 'window1', height: 50, width: 50, upperRightX: 500, upperRightY: 250 }));
        await f.trackColorFromCalibrationRegion();
        return f;
      },
      platedetector: (p) => p.create('platedetector.PlateDetectorFilter'),
    };

    // 1. CPU per filtered stream: N players alone, then each through its filter into a sink.
    for (const [name, make] of Object.entries(makers)) {
      const clip = clips[name] || busy;
      const pipeline = await client.create('MediaPipeline');
      const players = [];
      const socks = [];
      for (let i = 0; i < STREAMS; i++) {
        const pl = await pipeline.create('PlayerEndpoint', { uri: `file://${clip}`, useEncodedMedia: true });
        const { ep, sock } = await videoSink(pipeline, () => {});
        socks.push(sock);
        await pl.connect(ep, 'VIDEO');
        players.push({ pl, ep });
        await pl.play();
      }
      await sleep(2000);
      const direct = await cpuOver(pid, 5000);
      for (const { pl, ep } of players) {
        const f = await make(pipeline);
        await pl.connect(f, 'VIDEO');
        await f.connect(ep, 'VIDEO');
      }
      await sleep(3000);
      const filtered = await cpuOver(pid, 8000);
      out[`${name}_cpu_per_stream`] = (filtered - direct) / STREAMS;
      for (const s of socks) s.close();
      await pipeline.release();
    }

    // 2. A four-input Composite, its grid sent to one sink.
    {
      const pipeline = await client.create('MediaPipeline');
      const hub = await pipeline.create('Composite');
      const players = [];
      for (let i = 0; i < 4; i++) {
        const pl = await pipeline.create('PlayerEndpoint', { uri: `file://${busy}`, useEncodedMedia: true });
        await pl.play();
        players.push(pl);
      }
      await sleep(2000);
      const alone = await cpuOver(pid, 5000);
      for (const pl of players) {
        const { port } = await hubPort(hub);
        await pl.connect(port);
      }
      const { port: outPort } = await hubPort(hub);
      const { ep, sock } = await videoSink(pipeline, () => {});
      await outPort.connect(ep, 'VIDEO');
      await sleep(3000);
      const mixing = await cpuOver(pid, 8000);
      out.composite4_cpu = mixing - alone;
      sock.close();
      await pipeline.release();
    }

    // 3. Added latency: the same player into a direct sink and through the filter or hub.
    out.added_latency_ms = {};
    for (const name of ['videoflip', 'faceoverlay', 'composite']) {
      const runs = [];
      for (let i = 0; i < 3; i++) {
        const pipeline = await client.create('MediaPipeline');
        const pl = await pipeline.create('PlayerEndpoint', { uri: `file://${change}`, useEncodedMedia: true });
        const a = firstBig(8000);
        const b = firstBig(8000);
        const d = await videoSink(pipeline, a.onFrame);
        const f = await videoSink(pipeline, b.onFrame);
        await pl.connect(d.ep, 'VIDEO');
        if (name === 'composite') {
          const hub = await pipeline.create('Composite');
          const { port: inPort } = await hubPort(hub);
          const { port: outPort } = await hubPort(hub);
          await pl.connect(inPort);
          await outPort.connect(f.ep, 'VIDEO');
        } else {
          const filter = await makers[name](pipeline);
          await pl.connect(filter, 'VIDEO');
          await filter.connect(f.ep, 'VIDEO');
        }
        await pl.play();
        const timeout = sleep(10000).then(() => NaN);
        const [ta, tb] = await Promise.all([Promise.race([a.p, timeout]), Promise.race([b.p, timeout])]);
        runs.push(tb - ta);
        d.sock.close();
        f.sock.close();
        await pipeline.release();
      }
      runs.sort((x, y) => x - y);
      out.added_latency_ms[name] = { median: runs[1], all: runs };
    }
    // Face detections per second per filter, from the server's debug log (RUST_LOG below).
    out.face_detections_per_s = (server.log().match(/face detections: [0-9.]+\/s/g) || [])
      .map((l) => Number(/([0-9.]+)\/s/.exec(l)[1]));
  } finally {
    await closeClient(client);
    await server.stop();
  }
  console.log(JSON.stringify(out, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
