'use strict';
// Figures for the GStreamer side (BENCHMARKS.md, "Recording, playing, transcoding"), measured in
// one run on this machine through the published kurento-client 7:
//   - recorder CPU per stream without transcoding (VP8 + Opus into WEBM, muxed as received);
//   - player time from play() to its first RTP packet on the wire (decoded + re-encoded, and
//     useEncodedMedia);
//   - transcoder CPU per 640x480@30 VP8 → H.264 stream;
//   - simultaneous recordings one core sustains (from the per-stream CPU, checked by running them).
// CPU is the server process's own (utime + stime from /proc), as a fraction of one core.
//
//   node compat-tests/bench/processing.js [recorders=20] [transcoders=4]

const { execFileSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { KmsServer } = require('../lib/server');
const { connect, closeClient } = require('../lib/clients');

const RECORDERS = Number(process.argv[2] || 20);
const TRANSCODERS = Number(process.argv[3] || 4);
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-bench-processing-'));
const TICK = 100; // USER_HZ
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

/** Fraction of one core the server used over `ms`. */
async function cpuOver(pid, ms) {
  const t0 = cpuTicks(pid);
  const w0 = Date.now();
  await sleep(ms);
  return (cpuTicks(pid) - t0) / TICK / ((Date.now() - w0) / 1000);
}

function makeMedia(name, size, seconds) {
  const file = path.join(DIR, name);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=30`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds), '-pix_fmt', 'yuv420p', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1M', '-g', '30', '-c:a', 'libopus', '-ac', '2', file]);
  return file;
}

function bindUdp() {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

async function main() {
  const server = new KmsServer();
  await server.start();
  const pid = server.proc.pid;
  const client = await connect('kurento-client-7', server.url);
  const out = {};
  try {
    const vga = makeMedia('vga.webm', '640x480', 40);
    // Idle baseline.
    out.idle_cpu = await cpuOver(pid, 2000);

    // 1. Recorders: one encoded player (no decoding) feeding N WEBM recorders.
    let pipeline = await client.create('MediaPipeline');
    const player = await pipeline.create('PlayerEndpoint', { uri: `file://${vga}`, useEncodedMedia: true });
    await player.play();
    await sleep(2000);
    const playerOnly = await cpuOver(pid, 5000);
    const recorders = [];
    for (let i = 0; i < RECORDERS; i++) {
      const r = await pipeline.create('RecorderEndpoint', { uri: `file://${DIR}/rec-${i}.webm` });
      await player.connect(r);
      await r.record();
      recorders.push(r);
    }
    await sleep(3000);
    const withRecorders = await cpuOver(pid, 8000);
    for (const r of recorders) await r.stopAndWait();
    await pipeline.release();
    // Every recording must be complete: both streams, and the length recorded.
    let complete = 0;
    const durations = [];
    for (let i = 0; i < RECORDERS; i++) {
      const j = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name:format=duration', '-of', 'json', `${DIR}/rec-${i}.webm`]));
      const names = (j.streams || []).map((x) => x.codec_name).sort().join('+');
      durations.push(Number(j.format.duration));
      if (names === 'opus+vp8') complete += 1;
    }
    out.recorders = RECORDERS;
    out.recordings_complete = complete;
    out.recording_seconds = { min: Math.min(...durations), max: Math.max(...durations) };
    out.recorder_cpu_per_stream = (withRecorders - playerOnly) / RECORDERS;
    out.recordings_per_core = Math.floor(1 / out.recorder_cpu_per_stream);

    // 2. Play → first RTP packet, decoded and encoded.
    out.play_to_first_packet_ms = {};
    for (const useEncodedMedia of [false, true]) {
      const times = [];
      for (let i = 0; i < 5; i++) {
        pipeline = await client.create('MediaPipeline');
        const p = await pipeline.create('PlayerEndpoint', { uri: `file://${vga}`, useEncodedMedia });
        const ep = await pipeline.create('RtpEndpoint');
        const sock = await bindUdp();
        const port = sock.address().port;
        await ep.processOffer(['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
          `m=video ${port} RTP/AVP 96`, 'a=rtpmap:96 VP8/90000', 'a=recvonly', ''].join('\r\n'));
        await p.connect(ep, 'VIDEO');
        const first = new Promise((resolve) => sock.once('message', () => resolve(Date.now())));
        const t0 = Date.now();
        await p.play();
        times.push((await first) - t0);
        sock.close();
        await pipeline.release();
      }
      times.sort((a, b) => a - b);
      out.play_to_first_packet_ms[useEncodedMedia ? 'encoded' : 'decoded'] = { median: times[2], all: times };
    }

    // 3. Transcoders: K encoded VGA players, each into one H.264-only RtpEndpoint.
    pipeline = await client.create('MediaPipeline');
    const socks = [];
    const players = [];
    for (let i = 0; i < TRANSCODERS; i++) {
      const p = await pipeline.create('PlayerEndpoint', { uri: `file://${vga}`, useEncodedMedia: true });
      await p.play();
      players.push(p);
    }
    await sleep(2000);
    const playersOnly = await cpuOver(pid, 5000);
    let received = 0;
    for (const p of players) {
      const sock = await bindUdp();
      sock.on('message', () => { received += 1; });
      socks.push(sock);
      const ep = await pipeline.create('RtpEndpoint');
      await ep.processOffer(['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
        `m=video ${sock.address().port} RTP/AVP 96`, 'a=rtpmap:96 H264/90000', 'a=fmtp:96 packetization-mode=1', 'a=recvonly', ''].join('\r\n'));
      await p.connect(ep, 'VIDEO');
    }
    await sleep(4000);
    const withTranscoders = await cpuOver(pid, 8000);
    out.transcoders = TRANSCODERS;
    out.transcoder_cpu_per_stream = (withTranscoders - playersOnly) / TRANSCODERS;
    out.transcoded_packets_received = received;
    for (const s of socks) s.close();
    await pipeline.release();
  } finally {
    closeClient(client);
    await server.stop();
  }
  out.cores = os.cpus().length;
  out.cpu_model = os.cpus()[0].model;
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  fs.rmSync(DIR, { recursive: true, force: true });
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
