'use strict';
// kurento-tutorial-node/kurento-one2one-call end to end: two tabs register (alice, bob), alice calls
// bob, bob accepts through the tutorial's confirm() dialog; both remote <video>s must decode the
// other side's video and receive its audio through one MediaPipeline with two WebRtcEndpoints
// connected both ways. Alice hangs up: the pipeline is released and bob gets stopCommunication.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const kurento = require('./lib/kurento');
const { startStack, openPage, pipelineIds, childCount } = require('./lib/stack');
const { createOne2OneApp } = require('./lib/apps/one2one-call');
const { waitFor } = require('./lib/procs');
const { withScenario, waitInPage, expectMediaFlowing } = require('./lib/scenario');

async function register(page, name) {
  await page.fill('#name', name);
  await page.click('#register');
  await waitInPage(page, () => window.testState.registered || window.testState.errors.length > 0, `${name}: registerResponse`);
  assert.deepEqual(await page.evaluate(() => window.testState.errors), [], `${name}: register failed`);
}

for (const pkg of kurento.CLIENTS) {
  const title = `one2one-call [${pkg.replace('-client-', '-client@')} = ${kurento.version(pkg)}]`;
  test(title, { timeout: 120000 }, () =>
    withScenario(title, { timeoutMs: 90000 }, async (sc) => {
      const stack = await startStack(sc, { pkg, createApp: createOne2OneApp });
      const { server, observer, app } = stack;
      const before = await pipelineIds(observer);

      const alice = await openPage(stack, 'one2one-call.html');
      const bob = await openPage(stack, 'one2one-call.html');
      await register(alice, 'alice');
      await register(bob, 'bob');

      const dialogs = [];
      bob.on('dialog', (d) => {
        dialogs.push(d.message());
        d.accept();
      });
      await alice.fill('#peer', 'bob');
      await alice.click('#call');

      for (const [name, page] of [['alice', alice], ['bob', bob]]) {
        await waitInPage(
          page,
          () => window.testState.answerApplied || window.testState.errors.length > 0 || window.testState.rejections.length > 0,
          `${name}: call set up (SDP answer applied)`,
          30000,
        );
        const st = await page.evaluate(() => window.testState);
        assert.deepEqual(st.errors, [], `${name}: page errors`);
        assert.deepEqual(st.rejections, [], `${name}: call rejected`);
        assert.equal(st.call, 'in_call', `${name}: call state`);
      }
      assert.deepEqual(dialogs, ['User alice is calling you. Do you accept the call?']);

      const after = await pipelineIds(observer);
      const created = after.filter((id) => !before.includes(id));
      assert.equal(created.length, 1, `one MediaPipeline for the call (before ${before}, after ${after})`);
      assert.equal(await childCount(observer, created[0]), 2, 'the call pipeline holds two WebRtcEndpoints');

      await expectMediaFlowing(alice, 'alice sees bob');
      await expectMediaFlowing(bob, 'bob sees alice');
      for (const [name, page] of [['alice', alice], ['bob', bob]]) {
        const st = await page.evaluate(() => window.testState);
        assert.ok(st.serverCandidates.length > 0, `${name}: the server sent no candidate`);
      }

      await alice.click('#terminate');
      await waitInPage(bob, () => window.testState.stopCommunications === 1, 'bob: stopCommunication after hang-up', 10000);
      assert.equal(await bob.evaluate(() => window.testState.call), 'none');
      await waitFor(
        'the call pipeline released after hang-up',
        async () => !(await pipelineIds(observer)).includes(created[0]),
        { timeoutMs: 10000 },
      );
      assert.deepEqual(await pipelineIds(observer), before, 'pipelines after hang-up');
      assert.deepEqual(app.errors, [], 'application server errors');
      assert.ok(server.alive(), 'media server died');
    }));
}
