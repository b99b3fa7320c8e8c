'use strict';
// coturn on 127.0.0.1 as TURN/STUN server for the relay and STUN variants (test-peers.md §1).

const path = require('node:path');
const fs = require('node:fs');
const {
  tempDir,
  freeTcpUdpPort,
  canConnect,
  waitFor,
  spawnLogged,
  stopChild,
  readText,
} = require('./procs');

const USER = 'test';
const PASSWORD = 'test123';
const REALM = 'kms.test';

class Coturn {
  constructor() {
    this.dir = tempDir('kms-coturn-');
    this.logFile = path.join(this.dir, 'turn.log');
    this.port = 0;
    this.proc = null;
  }

  async start() {
    this.port = await freeTcpUdpPort();
    // Relay ports below the kernel's ephemeral range (32768+) so they never collide with the
    // browser's or the server's own sockets; a random window keeps parallel runs apart.
    const minPort = 30000 + Math.floor(Math.random() * 20) * 100;
    const args = [
      '-c', '/dev/null', '-n',
      '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${this.port}`,
      `--min-port=${minPort}`, `--max-port=${minPort + 99}`,
      '--lt-cred-mech', `--user=${USER}:${PASSWORD}`, `--realm=${REALM}`, '--fingerprint',
      '--no-tls', '--no-dtls', '--no-cli', '--allow-loopback-peers',
      // Not in the test-peers recipe: without it coturn does not log STUN Binding requests, and the
      // STUN variant needs to see that the media server really asked coturn for its address.
      '--log-binding',
      `--userdb=${path.join(this.dir, 'turndb')}`,
      '--log-file=stdout', '--simple-log', '--verbose',
      `--pidfile=${path.join(this.dir, 'turn.pid')}`,
    ];
    this.proc = spawnLogged('turnserver', args, this.logFile);
    await waitFor(
      `coturn listening on 127.0.0.1:${this.port}`,
      async () => {
        if (this.proc.exitInfo) {
          const err = new Error(`turnserver exited: ${JSON.stringify(this.proc.exitInfo)}`);
          err.fatal = true;
          throw err;
        }
        return /UDP listener opened on: 127\.0\.0\.1/.test(this.log()) && canConnect(this.port);
      },
      { timeoutMs: 10000, intervalMs: 100 },
    );
    return this;
  }

  /** `turn:` URL plus credentials for an RTCPeerConnection iceServers entry. */
  iceServer() {
    return { urls: [`turn:127.0.0.1:${this.port}?transport=udp`], username: USER, credential: PASSWORD };
  }

  /** The KMS `turnURL` / `setTurnUrl` syntax: user:password@ip:port?transport=udp. */
  kmsTurnUrl() {
    return `${USER}:${PASSWORD}@127.0.0.1:${this.port}?transport=udp`;
  }

  log() {
    return readText(this.logFile);
  }

  /** How many times coturn logged `<REQUEST> processed, success` (e.g. ALLOCATE, CHANNEL_BIND). */
  count(request) {
    const re = new RegExp(`incoming packet ${request} processed, success`, 'g');
    return (this.log().match(re) || []).length;
  }

  async stop() {
    await stopChild(this.proc);
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

module.exports = { Coturn, USER, PASSWORD, REALM };
