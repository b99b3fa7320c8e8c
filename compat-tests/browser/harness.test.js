'use strict';
// Self-check of the browser test plumbing WITHOUT the media server: the esbuild bundle of the
// published kurento-utils, the static server, headless Chromium with fake devices, the loopback-only
// candidate filter, the stats probes, and coturn. Two kurentoUtils.WebRtcPeerSendrecv peers in one
// page call each other; if this fails, the hello-world/one2one/one2many failures say nothing about
// the server.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { launchBrowser } = require('./lib/chromium');
const { Coturn } = require('./lib/coturn');
const { startWebServer } = require('./lib/web-server');
const { withScenario, expectMediaFlowing } = require('./lib/scenario');

async function runHarness(sc, query, mode = 'sendrecv') {
  const web = await startWebServer(null);
  sc.defer('web server', () => web.close());
  const browser = await launchBrowser();
  sc.defer('browser', () => browser.close());
  sc.report('browser console', () => browser.consoleLog());
  const page = await browser.newPage();
  await page.goto(web.url('harness.html', query));
  assert.equal(
    await page.evaluate(() => typeof kurentoUtils.WebRtcPeer.WebRtcPeerSendrecv),
    'function',
    'the bundle must define the kurentoUtils global like the tutorials expect',
  );
  await page.evaluate((m) => window.startHarness(m), mode);
  // In 'oneway' mode only B (the recvonly viewer) receives.
  const a = mode === 'oneway' ? null : await expectMediaFlowing(page, 'peer A', { statsArgs: ['A'] });
  const b = await expectMediaFlowing(page, 'peer B', { statsArgs: ['B'] });
  const state = await page.evaluate(() => window.testState);
  assert.deepEqual(state.errors, [], 'page errors');
  for (const name of ['A', 'B']) {
    assert.ok(state.sent[name].length > 0, `peer ${name} signalled no loopback candidate`);
    for (const c of state.sent[name]) assert.match(c, / 127\.0\.0\.1 /, `peer ${name} signalled ${c}`);
  }
  await page.evaluate(() => window.stopHarness());
  return { a, b, state };
}

test('harness: two kurentoUtils peers, host candidates on 127.0.0.1 only', { timeout: 90000 }, () =>
  withScenario('harness host', { timeoutMs: 60000 }, async (sc) => {
    const { a, b, state } = await runHarness(sc, {});
    for (const s of [a, b]) {
      const pair = s.stats.selectedPair;
      assert.ok(pair, `no selected candidate pair: ${JSON.stringify(s)}`);
      assert.equal(pair.local.type, 'host', JSON.stringify(pair));
      // Chromium prefers its eth0 socket over lo for the same remote 127.0.0.1 candidate (packets to
      // a local address never leave the machine); the other side then sees a peer-reflexive
      // candidate. Whatever the pair, the signalled destination is 127.0.0.1.
      assert.ok(pair.remote.address === '127.0.0.1' || pair.remote.type === 'prflx', JSON.stringify(pair));
      assert.equal(s.stats.videoCodec, 'video/VP8');
    }
    assert.ok(
      [a, b].some((s) => s.stats.selectedPair.remote.address === '127.0.0.1'),
      'neither side uses a signalled 127.0.0.1 candidate',
    );
    // Chromium also gathers ::1 and the eth0 address; the filter must have had something to drop.
    assert.ok(state.dropped.A.length + state.dropped.B.length > 0, 'no non-loopback candidate was dropped');
  }));

test('harness: two kurentoUtils peers, relay-only through coturn', { timeout: 90000 }, () =>
  withScenario('harness relay', { timeoutMs: 60000 }, async (sc) => {
    const coturn = new Coturn();
    sc.defer('coturn', async () => {
      await coturn.stop();
      coturn.cleanup();
    });
    sc.report('coturn log', () => coturn.log());
    await coturn.start();
    const ice = { iceServers: [coturn.iceServer()], iceTransportPolicy: 'relay' };
    const { a, b } = await runHarness(sc, { ice });
    for (const s of [a, b]) {
      const pair = s.stats.selectedPair;
      assert.ok(pair, `no selected candidate pair: ${JSON.stringify(s)}`);
      assert.equal(pair.local.type, 'relay', `local candidate: ${JSON.stringify(pair)}`);
      assert.equal(pair.local.address, '127.0.0.1');
      assert.equal(pair.local.relayProtocol, 'udp');
    }
    assert.ok(coturn.count('ALLOCATE') >= 2, `ALLOCATE successes: ${coturn.count('ALLOCATE')}`);
    assert.ok(
      coturn.count('CHANNEL_BIND') + coturn.count('CREATE_PERMISSION') >= 1,
      'coturn logged neither CHANNEL_BIND nor CREATE_PERMISSION success',
    );
  }));

test('harness: WebRtcPeerRecvonly viewer offers to a WebRtcPeerSendonly presenter (one2many shape)', { timeout: 90000 }, () =>
  withScenario('harness oneway', { timeoutMs: 60000 }, async (sc) => {
    const { b } = await runHarness(sc, {}, 'oneway');
    assert.equal(b.stats.videoPacketsSent, 0, 'the recvonly viewer must not send video');
    assert.equal(b.stats.videoCodec, 'video/VP8');
  }));
