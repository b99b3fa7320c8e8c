'use strict';
// Starts our kurento-media-server binary with a throw-away configuration directory, the way KMS is
// configured in production: kurento.conf.json plus modules/kurento/WebRtcEndpoint.conf.ini.

const fs = require('node:fs');
const path = require('node:path');
const {
  REPO_ROOT,
  tempDir,
  freePort,
  canConnect,
  waitFor,
  spawnLogged,
  stopChild,
  readText,
} = require('./procs');

function serverBinary() {
  return process.env.KMS_BIN || path.join(REPO_ROOT, 'target', 'release', 'kurento-media-server');
}

class MediaServer {
  /**
   * @param {object} webRtc extra WebRtcEndpoint.conf.ini keys, e.g. { turnURL } or
   *   { stunServerAddress, stunServerPort }; networkInterfaces=lo is always set so that the
   *   server only gathers loopback candidates.
   */
  constructor(webRtc = {}) {
    this.webRtc = { networkInterfaces: 'lo', ...webRtc };
    this.dir = tempDir('kms-browser-');
    this.logFile = path.join(this.dir, 'server.log');
    this.port = 0;
    this.proc = null;
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/kurento`;
  }

  writeConfig() {
    const conf = { mediaServer: { net: { websocket: { port: this.port, path: 'kurento' } } } };
    const confFile = path.join(this.dir, 'kurento.conf.json');
    fs.writeFileSync(confFile, JSON.stringify(conf, null, 2));
    const modDir = path.join(this.dir, 'modules', 'kurento');
    fs.mkdirSync(modDir, { recursive: true });
    const ini = Object.entries(this.webRtc)
      .map(([k, v]) => `${k}=${v}\n`)
      .join('');
    fs.writeFileSync(path.join(modDir, 'WebRtcEndpoint.conf.ini'), ini);
    return confFile;
  }

  async start() {
    const bin = serverBinary();
    if (!fs.existsSync(bin)) throw new Error(`server binary not found: ${bin} (build it or set KMS_BIN)`);
    this.port = await freePort();
    const confFile = this.writeConfig();
    this.proc = spawnLogged(bin, ['--conf-file', confFile], this.logFile, {
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
    });
    await waitFor(
      `media server accepting on 127.0.0.1:${this.port}`,
      async () => {
        if (this.proc.exitInfo) {
          const err = new Error(`server exited during start-up: ${JSON.stringify(this.proc.exitInfo)}`);
          err.fatal = true;
          throw err;
        }
        return canConnect(this.port);
      },
      { timeoutMs: Number(process.env.KMS_START_TIMEOUT_MS) || 15000, intervalMs: 50 },
    );
    return this;
  }

  alive() {
    return !!this.proc && !this.proc.exitInfo;
  }

  log() {
    return readText(this.logFile);
  }

  async stop() {
    await stopChild(this.proc, 5000);
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { MediaServer, serverBinary };
