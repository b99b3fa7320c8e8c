'use strict';
// WebRtcEndpoint data channels (useDataChannels) with the published kurento-client and
// kurento-utils in headless Chromium: (a) the hello-world-data-channel shape, an endpoint connected
// to itself echoes what the browser sends on its channel; (b) one presenter connected to two
// viewers: the presenter's messages reach both viewers' channels.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const kurento = require('./lib/kurento');
const { startStack, openPage } = require('./lib/stack');
const { createDataChannelApp } = require('./lib/apps/data-channels');
const { withScenario, waitInPage } = require('./lib/scenario');

async function started(page, role) {
  await page.evaluate((r) => window.startDataChannels(r), role);
  await waitInPage(
    page,
    () => (window.testState.state === 'started' && window.testState.channelOpen) || window.testState.errors.length > 0,
    `${role}: data channel open`,
  );
  assert.deepEqual(await page.evaluate(() => window.testState.errors), [], `${role}: page errors`);
}

/** Sends distinct messages until every page has received one of them (channels may open late). */
async function sendUntilReceived(from, pages, prefix) {
  for (let i = 0; i < 40; i++) {
    const text = `${prefix}-${i}`;
    await from.evaluate((t) => window.sendData(t), text);
    await new Promise((r) => setTimeout(r, 250));
    const got = await Promise.all(pages.map((p) => p.evaluate(() => window.testState.received)));
    if (got.every((g) => g.some((m) => m.startsWith(prefix)))) return got;
  }
  const got = await Promise.all(pages.map((p) => p.evaluate(() => window.testState.received)));
  assert.fail(`not every page received '${prefix}-*': ${JSON.stringify(got)}`);
}

for (const pkg of kurento.CLIENTS) {
  const tag = `[${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}]`;

  test(`data channels (a) loopback echo ${tag}`, { timeout: 90000 }, () =>
    withScenario(`dc loopback ${tag}`, { timeoutMs: 60000 }, async (sc) => {
      const stack = await startStack(sc, { pkg, createApp: (o) => createDataChannelApp(o) });
      const page = await openPage(stack, 'data-channels.html');
      await started(page, 'loopback');
      const [got] = await sendUntilReceived(page, [page], 'echo');
      assert.ok(got.every((m) => m.startsWith('echo-')), `only echoed text comes back: ${JSON.stringify(got)}`);
      const ids = await page.evaluate(() => window.testState.serverChannelIds);
      assert.ok(ids.length >= 1 && ids.every((i) => Number.isInteger(i)), `DataChannelOpened with a channelId: ${ids}`);
      assert.deepEqual(stack.app.errors, [], 'application errors');
      assert.ok(stack.server.alive(), 'media server died');
    }));

  test(`data channels (b) one presenter to two viewers ${tag}`, { timeout: 90000 }, () =>
    withScenario(`dc one2many ${tag}`, { timeoutMs: 60000 }, async (sc) => {
      const stack = await startStack(sc, { pkg, createApp: (o) => createDataChannelApp(o) });
      const presenter = await openPage(stack, 'data-channels.html');
      await started(presenter, 'presenter');
      const viewers = [await openPage(stack, 'data-channels.html'), await openPage(stack, 'data-channels.html')];
      for (const v of viewers) await started(v, 'viewer');
      await sendUntilReceived(presenter, viewers, 'news');
      // The presenter is a source only: nothing routes viewers' messages, nor its own, back to it.
      await viewers[0].evaluate(() => window.sendData('from-viewer'));
      await new Promise((r) => setTimeout(r, 500));
      const back = await presenter.evaluate(() => window.testState.received);
      assert.deepEqual(back, [], `the presenter received ${JSON.stringify(back)}`);
      assert.deepEqual(stack.app.errors, [], 'application errors');
      assert.ok(stack.server.alive(), 'media server died');
    }));
}
