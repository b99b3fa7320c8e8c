'use strict';
// Application server of kurento-tutorial-node/kurento-chroma (WebRTC loopback through KMS's optional
// ChromaFilter, module kurento-module-chroma), written again with the same structure and the same
// kurento-client calls as the tutorial's server.js: kurento.register('kurento-module-chroma') →
// getKurentoClient → start → createMediaElements (WebRtcEndpoint, then
// 'chroma.ChromaFilter' {window: chroma.WindowParam {topRightCornerX 5, topRightCornerY 5, width 30,
// height 30}}) → connectMediaElements (webRtcEndpoint → filter, filter.setBackground(<url>/img/mario.jpg),
// filter → webRtcEndpoint) → processOffer + gatherCandidates; onIceCandidate queues browser
// candidates until the endpoint exists; stop releases the pipeline. The loopback is the skeleton of
// ./loopback-filter.js; this file creates and connects the filter. (The tutorial's onIceCandidate
// builds the candidate with kurento.register.complexTypes.IceCandidate, the same constructor as the
// skeleton's kurento.getComplexType('IceCandidate').) Differences: no express/session (one
// WebSocket = one session), plain http:// and ws://, the kurento-client generation (and its copy of
// the module package) is chosen by the test, and the background is not the tutorial's
// http://files.openvidu.io/img/mario.jpg but the image the test generated, served by the test's web
// server as /img/mario.jpg (loopback only).

const kurentoLib = require('../kurento');
const { createLoopbackFilterApp } = require('./loopback-filter');

const BACKGROUND_PATH = '/img/mario.jpg';

/**
 * @param {object} o
 * @param {string} o.kurentoPkg kurento-client alias
 * @param {string} o.wsUri media server URI
 * @param {string} o.backgroundImageFile the JPEG served as /img/mario.jpg
 */
function createChromaApp({ kurentoPkg, wsUri, backgroundImageFile }) {
  const kurento = kurentoLib.load(kurentoPkg);
  kurentoLib.loadModule(kurentoPkg, 'chroma'); // kurento.register('kurento-module-chroma')
  /** Every setBackground URI, for the test. */
  const backgroundUris = [];

  function createFilter(pipeline, ctx, callback) {
    const options = {
      window: kurento.getComplexType('chroma.WindowParam')({
        topRightCornerX: 5,
        topRightCornerY: 5,
        width: 30,
        height: 30,
      }),
    };
    pipeline.create('chroma.ChromaFilter', options, callback);
  }

  function connectMediaElements(webRtcEndpoint, filter, { appServerUrl }, callback) {
    webRtcEndpoint.connect(filter, (error) => {
      if (error) return callback(error);
      // The tutorial: const appServerUrl = "http://files.openvidu.io";
      const uri = appServerUrl + BACKGROUND_PATH;
      backgroundUris.push(uri);
      filter.setBackground(uri, (error) => {
        if (error) return callback(error);
        filter.connect(webRtcEndpoint, callback);
      });
    });
  }

  const app = createLoopbackFilterApp({ kurentoPkg, wsUri, path: '/chroma' }, { createFilter, connectMediaElements });
  return Object.assign(app, {
    files: { [BACKGROUND_PATH]: backgroundImageFile },
    backgroundPath: BACKGROUND_PATH,
    backgroundUris,
  });
}

module.exports = { createChromaApp };
