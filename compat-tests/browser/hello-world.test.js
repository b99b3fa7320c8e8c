'use strict';
// kurento-tutorial-node/kurento-hello-world end to end: the tutorial's application logic on the
// published kurento-client (6.18 and 7.x), the tutorial's page on the published kurento-utils in
// headless Chromium, and our kurento-media-server in between. Passes only when the WebRTC loopback
// really works: the remote <video> decodes the browser's own (fake-camera) video coming back
// through the server, and audio RTP comes back too. Four ICE set-ups: host candidates, relay-only
// with turnURL from WebRtcEndpoint.conf.ini, relay-only with setTurnUrl() from the application,
// and STUN (server-reflexive candidates) from the ini.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const kurento = require('./lib/kurento');
const { startStack, openPage } = require('./lib/stack');
const { createHelloWorldApp } = require('./lib/apps/hello-world');
const { waitFor } = require('./lib/procs');
const { withScenario, waitInPage, expectMediaFlowing } = require('./lib/scenario');

const relayIce = (coturn) => ({ iceServers: [coturn.iceServer()], iceTransportPolicy: 'relay' });

function assertRelayUsed(sample, state, coturn) {
  const pair = sample.stats.selectedPair;
  assert.ok(pair, `no selected candidate pair: ${JSON.stringify(sample)}`);
  assert.equal(pair.local.type, 'relay', `browser must send through coturn: ${JSON.stringify(pair)}`);
  assert.ok(coturn.count('ALLOCATE') >= 1, 'coturn logged no ALLOCATE success');
  assert.ok(
    coturn.count('CHANNEL_BIND') + coturn.count('CREATE_PERMISSION') >= 1,
    'coturn logged neither CHANNEL_BIND nor CREATE_PERMISSION success',
  );
  // The server was given coturn too (ini or setTurnUrl): it must have gathered a relayed candidate.
  assert.ok(
    state.serverCandidates.some((c) => / typ relay/.test(c.candidate)),
    `server announced no relay candidate: ${JSON.stringify(state.serverCandidates.map((c) => c.candidate))}`,
  );
}

const VARIANTS = [
  {
    name: '(a) host candidates on loopback',
    check(sample, state) {
      const pair = sample.stats.selectedPair;
      assert.ok(pair, `no selected candidate pair: ${JSON.stringify(sample)}`);
      assert.equal(pair.local.type, 'host', JSON.stringify(pair));
      // The server gathers on lo only, so the browser's peer is 127.0.0.1 (Chromium hides the address
      // of a peer-reflexive remote candidate, which a check racing the signalled candidate creates).
      assert.ok(
        pair.remote.address === '127.0.0.1' || pair.remote.type === 'prflx',
        `browser must talk to the server on 127.0.0.1: ${JSON.stringify(pair)}`,
      );
      assert.ok(
        state.serverCandidates.some((c) => / 127\.0\.0\.1 \d+ typ host/.test(c.candidate)),
        `server announced no 127.0.0.1 host candidate: ${JSON.stringify(state.serverCandidates.map((c) => c.candidate))}`,
      );
    },
  },
  {
    name: '(b) relay-only, turnURL in WebRtcEndpoint.conf.ini',
    coturn: true,
    ini: (coturn) => ({ turnURL: coturn.kmsTurnUrl() }),
    pageIce: relayIce,
    check: assertRelayUsed,
  },
  {
    name: '(c) relay-only, setTurnUrl() by the application',
    coturn: true,
    setTurnUrl: true,
    pageIce: relayIce,
    check: assertRelayUsed,
  },
  {
    name: '(d) STUN server in WebRtcEndpoint.conf.ini',
    coturn: true,
    ini: (coturn) => ({ stunServerAddress: '127.0.0.1', stunServerPort: coturn.port }),
    check(sample, state, coturn) {
      assert.ok(
        state.serverCandidates.some((c) => / typ srflx/.test(c.candidate)),
        `server announced no srflx candidate: ${JSON.stringify(state.serverCandidates.map((c) => c.candidate))}`,
      );
      // The page has no ICE servers here, so every Binding request coturn saw came from the server.
      assert.ok(coturn.count('BINDING') >= 1, 'coturn logged no STUN BINDING from the media server');
    },
  },
];

for (const pkg of kurento.CLIENTS) {
  for (const variant of VARIANTS) {
    const title = `hello-world ${variant.name} [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}]`;
    test(title, { timeout: 90000 }, () =>
      withScenario(title, { timeoutMs: 60000 }, async (sc) => {
        const stack = await startStack(sc, {
          pkg,
          coturn: !!variant.coturn,
          ini: variant.ini,
          createApp: ({ kurentoPkg, wsUri, coturn }) =>
            createHelloWorldApp({ kurentoPkg, wsUri, turnUrl: variant.setTurnUrl ? coturn.kmsTurnUrl() : null }),
        });
        const { coturn, server, observer, app } = stack;
        const baseline = await kurento.pipelineCount(observer);
        const page = await openPage(stack, 'hello-world.html', variant.pageIce ? { ice: variant.pageIce(coturn) } : {});

        await page.click('#start');
        await waitInPage(
          page,
          () => window.testState.state === 'started' || window.testState.errors.length > 0,
          'startResponse (SDP answer) applied',
        );
        const afterAnswer = await page.evaluate(() => window.testState);
        assert.deepEqual(afterAnswer.errors, [], 'errors in the page after start');
        assert.equal(await kurento.pipelineCount(observer), baseline + 1, 'start must create one MediaPipeline');

        const sample = await expectMediaFlowing(page, 'remote video of the loopback');
        const state = await page.evaluate(() => window.testState);
        assert.deepEqual(state.errors, [], 'errors in the page');
        assert.ok(state.serverCandidates.length > 0, 'the server sent no IceCandidateFound candidate');
        variant.check(sample, state, coturn);
        // The server's own view: getStats on the endpoint shows RTP flowing both ways.
        const [session] = Object.values(app.sessions);
        assert.ok(session, 'the application holds no session');
        const stats = await session.webRtcEndpoint.getStats();
        const byType = (t, kind) => Object.values(stats).find((s) => s.type === t && s.id.endsWith(kind));
        for (const kind of ['audio', 'video']) {
          const inbound = byType('inboundrtp', kind);
          const outbound = byType('outboundrtp', kind);
          assert.ok(inbound && inbound.packetsReceived > 0, `no inbound ${kind} packets in getStats: ${JSON.stringify(stats)}`);
          assert.ok(outbound && outbound.packetsSent > 0, `no outbound ${kind} packets in getStats: ${JSON.stringify(stats)}`);
        }
        assert.ok(server.alive(), 'media server died');

        await page.click('#stop');
        await waitFor(
          `pipeline count back to ${baseline} after stop`,
          async () => (await kurento.pipelineCount(observer)) === baseline,
          { timeoutMs: 10000 },
        );
        assert.deepEqual(app.errors, [], 'application server errors');
        assert.ok(server.alive(), 'media server died');
      }));
  }
}
