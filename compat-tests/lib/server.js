'use strict';
// Starts the kurento-media-server binary under test as a child process with a throw-away config
// directory, on a free loopback port. The process is stopped by the pid we started, never by name.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');

function serverBinary() {
  return process.env.KMS_BIN || path.join(REPO_ROOT, 'target', 'release', 'kurento-media-server');
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

function writeConfig(dir, { port, path: wsPath = 'kurento', garbageCollectorPeriod = 240, resources = {}, metricsPort }) {
  const conf = {
    mediaServer: {
      net: { websocket: { port, path: wsPath } },
      resources: { garbageCollectorPeriod, ...resources },
    },
  };
  if (metricsPort) conf.mediaServer.metrics = { port: metricsPort };
  const confFile = path.join(dir, 'kurento.conf.json');
  fs.writeFileSync(confFile, JSON.stringify(conf, null, 2));
  const modDir = path.join(dir, 'modules', 'kurento');
  fs.mkdirSync(modDir, { recursive: true });
  fs.writeFileSync(path.join(modDir, 'WebRtcEndpoint.conf.ini'), 'networkInterfaces=lo\n');
  // Test servers run side by side: HttpPostEndpoint URLs on a free port, not KMS's 9091.
  fs.writeFileSync(path.join(modDir, 'HttpEndpoint.conf.ini'), 'port=0\n');
  return confFile;
}

class KmsServer {
  constructor(opts = {}) {
    this.opts = opts;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kms-compat-'));
    this.logFile = path.join(this.dir, 'server.log');
    this.proc = null;
    this.port = opts.port || 0;
    this.exits = [];
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/kurento`;
  }

  /** `opts.metrics`: the Prometheus endpoint is on, here. */
  get metricsUrl() {
    return `http://127.0.0.1:${this.metricsPort}/metrics`;
  }

  /** The server's metrics now, as { 'name{labels}': value }. */
  async metrics() {
    const text = await new Promise((resolve, reject) => {
      require('node:http').get(this.metricsUrl, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`metrics: HTTP ${res.statusCode}`))));
      }).on('error', reject);
    });
    const out = {};
    for (const line of text.split('\n')) {
      const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    if (this.opts.metrics && !this.metricsPort) this.metricsPort = await freePort();
    const confFile = writeConfig(this.dir, { ...this.opts, port: this.port, metricsPort: this.metricsPort });
    const bin = serverBinary();
    if (!fs.existsSync(bin)) {
      throw new Error(`server binary not found: ${bin} (build it or set KMS_BIN)`);
    }
    const log = fs.openSync(this.logFile, 'a');
    fs.writeSync(log, `--- start ${bin} --conf-file ${confFile} (port ${this.port})\n`);
    const proc = spawn(bin, ['--conf-file', confFile], {
      stdio: ['ignore', log, log],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
    });
    fs.closeSync(log);
    this.proc = proc;
    proc.exitInfo = null;
    proc.once('exit', (code, signal) => {
      proc.exitInfo = { code, signal };
      this.exits.push(proc.exitInfo);
    });

    const deadline = Date.now() + (Number(process.env.KMS_START_TIMEOUT_MS) || 15000);
    while (Date.now() < deadline) {
      if (proc.exitInfo) {
        throw new Error(
          `server exited during start-up (${JSON.stringify(proc.exitInfo)})\n${this.log()}`,
        );
      }
      if (await canConnect(this.port)) return this;
      await sleep(50);
    }
    await this.stop();
    throw new Error(`server did not accept connections on port ${this.port}\n${this.log()}`);
  }

  /** True while the process we started has not exited. */
  alive() {
    return !!this.proc && !this.proc.exitInfo;
  }

  log() {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '(no server log)';
    }
  }

  async stop() {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitInfo) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const timeout = sleep(5000).then(() => 'timeout');
    if ((await Promise.race([exited, timeout])) === 'timeout') {
      proc.kill('SIGKILL');
      await exited;
    }
  }

  /** Stops the process and starts a fresh one on the same port (a new serverId, no sessions). */
  async restart() {
    await this.stop();
    await this.start();
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * node:test helper: starts a server before the tests of the file, stops it after, and prints its log
 * when a test of the file failed or the process died.
 */
function useServer(opts = {}) {
  const { before, after, afterEach } = require('node:test');
  const server = new KmsServer(opts);
  let failed = false;
  before(async () => {
    await server.start();
  });
  afterEach((ctx) => {
    // afterEach receives the test context; a failing test leaves an error on it in node >= 20.
    if (ctx && ctx.passed === false) failed = true;
  });
  after(async () => {
    const died = server.proc && server.proc.exitInfo;
    await server.stop();
    if (failed || died || process.env.KMS_SHOW_LOG) {
      process.stderr.write(`\n===== server log (${server.logFile}) =====\n${server.log()}\n=====\n`);
    }
    if (!failed && !died) server.cleanup();
  });
  return server;
}

module.exports = { KmsServer, useServer, freePort, sleep, serverBinary, REPO_ROOT };
