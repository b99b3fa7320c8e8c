'use strict';
// Test media made with ffmpeg, and what ffprobe/ffmpeg see in a recorded file: the checks every
// player, recorder and filter test shares (a recording passes only when ffprobe reads it and
// ffmpeg decodes it).

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { within } = require('./util');

const CACHE = path.join(__dirname, '..', '.cache');

function ffmpeg(...args) {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** ffprobe's view of a file: codec name and start time by stream type, video size, duration (s). */
function probe(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,start_time,width,height:format=duration', '-of', 'json', file]);
  const j = JSON.parse(out);
  const streams = {};
  const start = {};
  let size = null;
  for (const s of j.streams || []) {
    streams[s.codec_type] = s.codec_name;
    start[s.codec_type] = Number(s.start_time);
    if (s.codec_type === 'video') size = `${s.width}x${s.height}`;
  }
  return { streams, start, size, duration: Number(j.format && j.format.duration) };
}

/** Frames ffmpeg decodes from the file's video. */
function decodedFrames(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
  return Number(String(out).trim().split(/\s+/)[0]);
}

/** One decoded frame at `seconds` as YUV 4:2:0 planes, with the mean of each plane. */
function frameAt(file, seconds, width, height) {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-ss', String(seconds), '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-'], { maxBuffer: 64 << 20 });
  const y = width * height;
  const c = y / 4;
  const mean = (b) => b.reduce((s, v) => s + v, 0) / b.length;
  return {
    y: mean(raw.subarray(0, y)),
    u: mean(raw.subarray(y, y + c)),
    v: mean(raw.subarray(y + c, y + 2 * c)),
  };
}

/** Average PSNR (dB) of `a`'s video against `b`'s with ffmpeg's filter `bFilter` applied to b. */
function psnrOf(a, b, bFilter = 'null') {
  const r = spawnSync('ffmpeg', ['-v', 'info', '-i', a, '-i', b, '-lavfi', `[1:v]${bFilter}[r];[0:v][r]psnr`, '-f', 'null', '-'], { encoding: 'utf8' });
  const m = /average:([0-9.]+|inf)/.exec(r.stderr || '');
  if (!m) throw new Error(`no PSNR in ffmpeg output: ${(r.stderr || '').slice(-500)}`);
  return m[1] === 'inf' ? Infinity : Number(m[1]);
}

/** The loudest sample of the file's audio, in dBFS (ffmpeg volumedetect). */
function maxVolume(file) {
  const r = spawnSync('ffmpeg', ['-v', 'info', '-i', file, '-vn', '-af', 'volumedetect', '-f', 'null', '-'], { encoding: 'utf8' });
  const m = /max_volume: (-?[0-9.]+|-inf) dB/.exec(r.stderr);
  if (!m) throw new Error(`no volume in ffmpeg output: ${r.stderr.slice(-500)}`);
  return m[1] === '-inf' ? -Infinity : Number(m[1]);
}

/**
 * Share of the pixels in a region of the frame at `seconds` whose colour `is(r, g, b)`: x, y, w, h
 * in pixels of the decoded frame.
 */
function colourShare(file, seconds, { x, y, w, h }, is) {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-ss', String(seconds), '-i', file, '-frames:v', '1',
    '-vf', `crop=${w}:${h}:${x}:${y}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
  let n = 0;
  for (let i = 0; i + 2 < raw.length; i += 3) {
    if (is(raw[i], raw[i + 1], raw[i + 2])) n++;
  }
  return n / (raw.length / 3);
}

const COLOURS = {
  magenta: (r, g, b) => r > 180 && g < 90 && b > 180,
  red: (r, g, b) => r > 170 && g < 80 && b < 80,
  blue: (r, g, b) => r < 80 && g < 80 && b > 170,
};

/** Share of strongly magenta pixels (the overlay tests' image colour) in a region. */
function magentaShare(file, seconds, region) {
  return colourShare(file, seconds, region, COLOURS.magenta);
}

/** An opaque magenta PNG of w×h with an alpha channel (what the overlay tests draw). */
function magentaPng(file, w = 100, h = 60) {
  ffmpeg('-f', 'lavfi', '-i', `color=c=magenta:s=${w}x${h},format=rgba`, '-frames:v', '1', file);
  return file;
}

/**
 * A public-domain photo of a face: NASA's portrait of astronaut Eileen Collins, shipped as
 * skimage/data/astronaut.png in the scikit-image 0.22.0 wheel on PyPI (downloaded once with pip
 * and cached in compat-tests/.cache). 512×512; opencv's frontal-face cascade finds the face.
 */
function astronautPng() {
  const out = path.join(CACHE, 'astronaut.png');
  if (fs.existsSync(out)) return out;
  const wheels = path.join(CACHE, 'wheels');
  fs.mkdirSync(wheels, { recursive: true });
  const find = () => fs.readdirSync(wheels).find((f) => /^scikit_image-0\.22\.0-.*\.whl$/.test(f));
  if (!find()) {
    // One fixed wheel whatever the local Python: only its data files are used.
    execFileSync('python3', ['-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:',
      '--python-version', '3.11', '--platform', 'manylinux2014_x86_64', '--implementation', 'cp', '--abi', 'cp311',
      'scikit-image==0.22.0', '-d', wheels], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300000 });
  }
  const wheel = find();
  if (!wheel) throw new Error(`pip left no scikit-image 0.22.0 wheel in ${wheels}`);
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync('python3', ['-c',
    'import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as f: f.write(z.read("skimage/data/astronaut.png"))',
    path.join(wheels, wheel), tmp]);
  fs.renameSync(tmp, out);
  return out;
}

/**
 * `file`, made once: `make(tmp)` (sync or async) writes it under a temporary name in the same
 * directory, which is then renamed into place, so an interrupted run leaves no half-written file
 * behind. Returns `file`.
 */
async function cached(file, make) {
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.part${path.extname(file)}`;
  fs.rmSync(tmp, { force: true });
  await make(tmp);
  fs.renameSync(tmp, file);
  return file;
}

/**
 * An ffmpeg expression of `t` (seconds) that moves piecewise linearly through `keys`, a list of
 * [time, value] in increasing time (equal values in a row hold still), and stays at the last
 * value afterwards. For overlay's x/y (eval=frame), geq, drawbox and similar.
 */
function motionExpr(keys) {
  const num = (v) => String(Number(v.toFixed(4)));
  let expr = num(keys[keys.length - 1][1]);
  for (let i = keys.length - 2; i >= 0; i--) {
    const [t0, v0] = keys[i];
    const [t1, v1] = keys[i + 1];
    const here = v0 === v1 || t1 === t0 ? num(v0) : `${num(v0)}+(${num(v1 - v0)})*(t-${num(t0)})/${num(t1 - t0)}`;
    expr = `if(lt(t,${num(t1)}),${here},${expr})`;
  }
  return expr;
}

function once(obj, event, ms, what) {
  return within(ms, new Promise((resolve) => obj.once(event, resolve)), what || event);
}

module.exports = {
  ffmpeg, probe, decodedFrames, frameAt, psnrOf, maxVolume, colourShare, COLOURS, magentaShare, magentaPng, astronautPng,
  cached, motionExpr, once,
};
