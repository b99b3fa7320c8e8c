'use strict';
// getStats as KMS gives it, on the hello-world loopback: the server's inbound and outbound video
// SSRCs are the ones the browser's peer connection sends and receives, the packet counts move,
// and with MediaPipeline latencyStats on the endpoint's own EndpointStats entry carries the
// end-to-end video latency (nanoseconds) as a positive number.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const kurento = require('./lib/kurento');
const { startStack, openPage } = require('./lib/stack');
const { createHelloWorldApp } = require('./lib/apps/hello-world');
const { waitFor } = require('./lib/procs');
const { withScenario, waitInPage, expectMediaFlowing, pageStats } = require('./lib/scenario');

const promisify = (obj, method, ...args) =>
  new Promise((resolve, reject) => obj[method](...args, (e, v) => (e ? reject(e) : resolve(v))));

for (const pkg of kurento.CLIENTS) {
  const title = `getStats real SSRCs and E2E latency [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}]`;
  test(title, { timeout: 90000 }, () =>
    withScenario(title, { timeoutMs: 60000 }, async (sc) => {
      const stack = await startStack(sc, {
        pkg,
        createApp: ({ kurentoPkg, wsUri }) => createHelloWorldApp({ kurentoPkg, wsUri }),
      });
      const { server, app } = stack;
      const page = await openPage(stack, 'hello-world.html');
      await page.click('#start');
      await waitInPage(
        page,
        () => window.testState.state === 'started' || window.testState.errors.length > 0,
        'startResponse (SDP answer) applied',
      );
      await expectMediaFlowing(page, 'remote video of the loopback');

      const [session] = Object.values(app.sessions);
      assert.ok(session, 'the application holds no session');
      const { pipeline, webRtcEndpoint } = session;
      assert.equal(await promisify(pipeline, 'getLatencyStats'), false, 'latencyStats defaults to false');
      // Off (the default), KMS reports no element entry.
      const off = await webRtcEndpoint.getStats('VIDEO');
      assert.ok(
        !Object.values(off).some((s) => s.type === 'endpoint'),
        `no EndpointStats without latencyStats: ${JSON.stringify(off)}`,
      );
      await promisify(pipeline, 'setLatencyStats', true);
      assert.equal(await promisify(pipeline, 'getLatencyStats'), true);

      let last;
      await waitFor(
        'getStats(VIDEO) with SSRCs matching the browser and a positive videoE2ELatency',
        async () => {
          const browser = (await pageStats(page)).stats;
          const stats = await webRtcEndpoint.getStats('VIDEO');
          const all = Object.values(stats);
          const inbound = all.find((s) => s.type === 'inboundrtp' && s.id.endsWith('video'));
          const outbound = all.find((s) => s.type === 'outboundrtp' && s.id.endsWith('video'));
          const endpoint = all.find((s) => s.type === 'endpoint');
          last = { browser, stats };
          return (
            inbound && outbound && endpoint &&
            inbound.ssrc === String(browser.videoSsrcSent) &&
            outbound.ssrc === String(browser.videoSsrcReceived) &&
            inbound.packetsReceived > 0 && outbound.packetsSent > 0 &&
            typeof endpoint.videoE2ELatency === 'number' && endpoint.videoE2ELatency > 0 &&
            // Input latency is measured from the moment latencyStats is switched on.
            endpoint.inputVideoLatency > 0
          );
        },
        { timeoutMs: 10000, intervalMs: 500 },
      ).catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(last)}`);
      });

      const all = Object.values(last.stats);
      assert.ok(!all.some((s) => /audio$/.test(s.id || '')), `getStats('VIDEO') lists audio: ${JSON.stringify(last.stats)}`);
      const inbound = all.find((s) => s.type === 'inboundrtp');
      const outbound = all.find((s) => s.type === 'outboundrtp');
      assert.match(inbound.ssrc, /^\d+$/);
      assert.notEqual(inbound.ssrc, outbound.ssrc);
      assert.ok(inbound.bytesReceived > 0 && outbound.bytesSent > 0, JSON.stringify(last.stats));
      const endpoint = all.find((s) => s.type === 'endpoint');
      assert.equal(endpoint.id, webRtcEndpoint.id);
      const e2e = endpoint.E2ELatency;
      assert.ok(Array.isArray(e2e) && e2e.length === 1, `E2ELatency: ${JSON.stringify(endpoint)}`);
      assert.equal(e2e[0].name, 'sink_video_default');
      assert.equal(e2e[0].type, 'VIDEO');
      assert.ok(e2e[0].avg > 0);
      // The loopback endpoint is its own sink: the pipeline hands it its own video back.
      assert.deepEqual(endpoint.inputLatency.map((l) => [l.name, l.type]), [['sink_video_default', 'VIDEO']]);
      // Nanoseconds: a loopback on one machine stays well under a second.
      assert.ok(endpoint.videoE2ELatency < 1e9, `videoE2ELatency in ns: ${endpoint.videoE2ELatency}`);
      assert.ok(server.alive(), 'media server died');
      await page.click('#stop');
      assert.deepEqual(app.errors, [], 'application server errors');
    }));
}
