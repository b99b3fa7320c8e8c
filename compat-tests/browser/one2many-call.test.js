'use strict';
// kurento-tutorial-node/kurento-one2many-call end to end: one presenter tab (sendonly) and three
// viewer tabs (recvonly). Every viewer must decode the presenter's video and receive its audio.
// Viewer 2 leaves: only its WebRtcEndpoint is released and viewers 1 and 3 keep decoding. The
// presenter stops: the remaining viewers get stopCommunication and the pipeline is released.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const kurento = require('./lib/kurento');
const { startStack, openPage, pipelineIds, childCount } = require('./lib/stack');
const { createOne2ManyApp } = require('./lib/apps/one2many-call');
const { waitFor, sleep } = require('./lib/procs');
const { withScenario, waitInPage, pageStats, expectMediaFlowing, expectStillDecoding } = require('./lib/scenario');

async function waitAnswered(page, label) {
  await waitInPage(
    page,
    () => window.testState.answerApplied || window.testState.errors.length > 0 || window.testState.rejections.length > 0,
    `${label}: SDP answer applied`,
    30000,
  );
  const st = await page.evaluate(() => window.testState);
  assert.deepEqual(st.errors, [], `${label}: page errors`);
  assert.deepEqual(st.rejections, [], `${label}: rejected`);
  assert.ok(st.answerApplied, `${label}: SDP answer not applied`);
}

for (const pkg of kurento.CLIENTS) {
  const title = `one2many-call: presenter + 3 viewers [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}]`;
  test(title, { timeout: 150000 }, () =>
    withScenario(title, { timeoutMs: 120000 }, async (sc) => {
      const stack = await startStack(sc, { pkg, createApp: createOne2ManyApp });
      const { server, observer, app } = stack;
      const before = await pipelineIds(observer);

      const presenter = await openPage(stack, 'one2many-call.html');
      await presenter.click('#call');
      await waitAnswered(presenter, 'presenter');
      const after = await pipelineIds(observer);
      const created = after.filter((id) => !before.includes(id));
      assert.equal(created.length, 1, `the presenter creates one MediaPipeline (before ${before}, after ${after})`);
      const pipelineId = created[0];

      const viewers = [];
      for (let i = 1; i <= 3; i++) {
        const v = await openPage(stack, 'one2many-call.html');
        await v.click('#viewer');
        await waitAnswered(v, `viewer ${i}`);
        viewers.push(v);
      }
      assert.equal(await childCount(observer, pipelineId), 4, 'presenter + 3 viewer WebRtcEndpoints');

      for (let i = 0; i < viewers.length; i++) {
        await expectMediaFlowing(viewers[i], `viewer ${i + 1}`);
      }
      const p1 = await pageStats(presenter);
      await sleep(1000);
      const p2 = await pageStats(presenter);
      assert.ok(p2.stats.videoPacketsSent > p1.stats.videoPacketsSent, 'presenter keeps sending video');

      // Viewer 2 leaves; its endpoint is released, nobody else is disturbed.
      await viewers[1].click('#terminate');
      await waitFor('viewer 2 endpoint released', async () => (await childCount(observer, pipelineId)) === 3, {
        timeoutMs: 10000,
      });
      await expectStillDecoding(viewers[0], 'viewer 1 after viewer 2 left');
      await expectStillDecoding(viewers[2], 'viewer 3 after viewer 2 left');
      assert.equal(await viewers[0].evaluate(() => window.testState.stopCommunications), 0);

      // The presenter stops: the remaining viewers are told, and the pipeline goes away.
      await presenter.click('#terminate');
      for (const i of [0, 2]) {
        await waitInPage(viewers[i], () => window.testState.stopCommunications === 1, `viewer ${i + 1}: stopCommunication`, 10000);
      }
      assert.equal(await viewers[1].evaluate(() => window.testState.stopCommunications), 0, 'viewer 2 had already left');
      await waitFor('the pipeline released after the presenter stopped', async () => {
        const ids = await pipelineIds(observer);
        return !ids.includes(pipelineId);
      }, { timeoutMs: 10000 });
      assert.deepEqual(await pipelineIds(observer), before, 'pipelines after the presenter stopped');
      assert.deepEqual(app.errors, [], 'application server errors');
      assert.ok(server.alive(), 'media server died');
    }));
}
