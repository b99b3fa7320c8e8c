'use strict';
// The full set-up every tutorial test needs, registered for clean-up and failure logs on a scenario:
// optional coturn → our media server → an observer kurento-client → the tutorial application with
// its web server → headless Chromium.

const assert = require('node:assert/strict');
const kurento = require('./kurento');
const { launchBrowser } = require('./chromium');
const { Coturn } = require('./coturn');
const { MediaServer } = require('./kms');
const { startWebServer } = require('./web-server');
const { waitFor } = require('./procs');
const { waitInPage, expectMediaFlowing } = require('./scenario');

/**
 * @param sc scenario from withScenario
 * @param {object} o
 * @param {string} o.pkg kurento-client alias ('kurento-client-6' | 'kurento-client-7')
 * @param {boolean} [o.coturn] start coturn first
 * @param {(coturn) => object} [o.ini] extra WebRtcEndpoint.conf.ini keys
 * @param {(opts) => object} o.createApp application factory, called with { kurentoPkg, wsUri, coturn }
 * @param {object} [o.browser] launchBrowser options, e.g. { fakeVideoFile }
 */
async function startStack(sc, { pkg, coturn: wantCoturn = false, ini = null, createApp, browser: browserOpts = {} }) {
  let coturn = null;
  if (wantCoturn) {
    coturn = new Coturn();
    sc.defer('coturn', async () => {
      await coturn.stop();
      coturn.cleanup();
    });
    sc.report('coturn log', () => coturn.log());
    await coturn.start();
  }

  const server = new MediaServer(ini ? ini(coturn) : {});
  sc.defer('media server', async () => {
    await server.stop();
    server.cleanup();
  });
  sc.report('media server log', () => server.log());
  await server.start();

  // A second, independent client watches the server the way an operator would.
  const observer = await kurento.connect(pkg, server.url);
  sc.defer('observer client', () => kurento.close(observer));

  const app = createApp({ kurentoPkg: pkg, wsUri: server.url, coturn });
  const web = await startWebServer(app);
  sc.defer('web server', () => web.close());
  sc.report('application errors', () => app.errors.join('\n'));

  const browser = await launchBrowser(browserOpts);
  sc.defer('browser', () => browser.close());
  sc.report('browser console', () => browser.consoleLog());

  return { coturn, server, observer, app, web, browser };
}

/** Opens `file` of the web server in a new tab and waits for its signalling socket. */
async function openPage(stack, file, query = {}) {
  const page = await stack.browser.newPage();
  await page.goto(stack.web.url(file, query));
  await page.waitForFunction(() => window.testState && window.testState.wsOpen, null, { timeout: 10000 });
  return page;
}

/** Ids of the MediaPipelines the server currently reports (ServerManager.getPipelines). */
async function pipelineIds(observer) {
  const manager = await observer.getServerManager();
  return (await manager.getPipelines()).map((p) => p.id);
}

/** Number of children (elements) of the pipeline with the given id, as the server reports them. */
async function childCount(observer, pipelineId) {
  const manager = await observer.getServerManager();
  const pipeline = (await manager.getPipelines()).find((p) => p.id === pipelineId);
  if (!pipeline) return -1;
  return (await pipeline.getChildren()).length;
}

/**
 * Start of a WebRTC loopback through one filter (the tutorials' WebRtcEndpoint → filter →
 * WebRtcEndpoint): clicks #start, waits until the page applied the SDP answer, and checks that no
 * page error (other than those `ignoreErrors` matches) came up and that exactly one new
 * MediaPipeline, holding `elements` elements, exists. Returns the id of that pipeline.
 * @param {object} stack from startStack
 * @param page from openPage
 * @param {object} o
 * @param {string[]} o.pipelinesBefore pipelineIds() before the page started
 * @param {number} o.elements children of the new pipeline (WebRtcEndpoint + filter: 2)
 * @param {string} o.what the pipeline's contents, for the failure message
 * @param {RegExp} [o.ignoreErrors] page errors the tutorial's page raises by design
 */
async function startLoopback(stack, page, { pipelinesBefore, elements, what, ignoreErrors = null }) {
  await page.click('#start');
  await waitInPage(
    page,
    () => window.testState.state === 'started' || window.testState.errors.length > 0,
    'startResponse (SDP answer) applied',
  );
  const afterAnswer = await page.evaluate(() => window.testState);
  const errors = afterAnswer.errors.filter((e) => !(ignoreErrors && ignoreErrors.test(e)));
  assert.deepEqual(errors, [], 'errors in the page after start');
  const created = (await pipelineIds(stack.observer)).filter((id) => !pipelinesBefore.includes(id));
  assert.equal(created.length, 1, 'start must create one MediaPipeline');
  assert.equal(await childCount(stack.observer, created[0]), elements, `the pipeline holds ${what}`);
  return created[0];
}

/**
 * The loopback's media (expectMediaFlowing: the remote <video> decodes, audio arrives), with the
 * media server's exit status in the failure message if it died on the way.
 */
async function expectLoopbackMedia(stack, page, label) {
  try {
    return await expectMediaFlowing(page, label);
  } catch (err) {
    if (!stack.server.alive()) {
      err.message += `; the media server died: ${JSON.stringify(stack.server.proc.exitInfo)} (see its log)`;
    }
    throw err;
  }
}

/**
 * End of such a loopback: clicks #stop (the page releases its peer and sends `stop`, the
 * application releases the pipeline), waits until the server no longer reports the pipeline, and
 * checks that the application saw no error and the server is still up.
 */
async function stopLoopback(stack, page, pipelineId) {
  await page.click('#stop');
  await waitFor(
    'the pipeline released after stop',
    async () => !(await pipelineIds(stack.observer)).includes(pipelineId),
    { timeoutMs: 10000 },
  );
  assert.deepEqual(stack.app.errors, [], 'application server errors');
  assert.ok(stack.server.alive(), 'media server died');
}

module.exports = { startStack, openPage, pipelineIds, childCount, startLoopback, expectLoopbackMedia, stopLoopback };
