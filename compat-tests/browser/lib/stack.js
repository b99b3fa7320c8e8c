'use strict';
// The full set-up every tutorial test needs, registered for clean-up and failure logs on a scenario:
// optional coturn → our media server → an observer kurento-client → the tutorial application with
// its web server → headless Chromium.

const kurento = require('./kurento');
const { launchBrowser } = require('./chromium');
const { Coturn } = require('./coturn');
const { MediaServer } = require('./kms');
const { startWebServer } = require('./web-server');

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

module.exports = { startStack, openPage, pipelineIds, childCount };
