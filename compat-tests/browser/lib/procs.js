'use strict';
// Child processes, ports, temp dirs and polling shared by the browser tests.
//
// Every child we start is remembered by pid so that a test that dies half-way (timeout, assertion,
// crash of the test process) still leaves no coturn / server / browser behind. We only ever signal
// pids we spawned ourselves.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const live = new Set();

process.once('exit', () => {
  for (const child of live) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A free port on 127.0.0.1 for the given protocol ('tcp' or 'udp'), as chosen by the kernel. */
function freePort(proto = 'tcp') {
  if (proto === 'udp') {
    const dgram = require('node:dgram');
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket('udp4');
      sock.once('error', reject);
      sock.bind(0, '127.0.0.1', () => {
        const { port } = sock.address();
        sock.close(() => resolve(port));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A port that is free for both TCP and UDP (coturn listens on both). */
async function freeTcpUdpPort() {
  for (let i = 0; i < 20; i++) {
    const port = await freePort('tcp');
    const ok = await new Promise((resolve) => {
      const sock = require('node:dgram').createSocket('udp4');
      sock.once('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no port free for both TCP and UDP on 127.0.0.1');
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/**
 * Polls `fn` until it returns a truthy value (which is returned) or the time is up (throws with
 * `what` and the last value/error, so the failure says what was being waited for). An error with
 * `fatal: true` thrown by `fn` is rethrown immediately.
 */
async function waitFor(what, fn, { timeoutMs = 10000, intervalMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      // A condition that can never become true (e.g. the process exited) ends the wait at once.
      if (err && err.fatal) throw err;
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.stack || last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Spawns `cmd args` with stdout+stderr appended to `logFile`. Returns the ChildProcess with an
 * `exitInfo` field that is set once it exits.
 */
function spawnLogged(cmd, args, logFile, opts = {}) {
  const fd = fs.openSync(logFile, 'a');
  fs.writeSync(fd, `--- ${cmd} ${args.join(' ')}\n`);
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], ...opts });
  fs.closeSync(fd);
  child.exitInfo = null;
  live.add(child);
  child.once('exit', (code, signal) => {
    child.exitInfo = { code, signal };
    live.delete(child);
  });
  child.once('error', (err) => {
    child.exitInfo = { error: err.message };
    live.delete(child);
  });
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
async function stopChild(child, graceMs = 3000) {
  if (!child || child.exitInfo || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if ((await Promise.race([exited, sleep(graceMs).then(() => 'timeout')])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

module.exports = {
  REPO_ROOT,
  sleep,
  tempDir,
  freePort,
  freeTcpUdpPort,
  canConnect,
  waitFor,
  spawnLogged,
  stopChild,
  readText,
};
