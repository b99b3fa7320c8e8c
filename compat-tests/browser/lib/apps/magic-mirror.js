'use strict';
// Application server of kurento-tutorial-node/kurento-magic-mirror (WebRTC loopback through a
// FaceOverlayFilter), written again with the same structure and the same kurento-client calls as the
// tutorial's server.js: getKurentoClient → start → createMediaElements (WebRtcEndpoint,
// FaceOverlayFilter, setOverlayedImage(<app url>/img/mario-wings.png, -0.35, -1.2, 1.6, 1.6)) →
// connectMediaElements (webRtcEndpoint → faceOverlayFilter → webRtcEndpoint) → processOffer +
// gatherCandidates; onIceCandidate queues browser candidates until the endpoint exists; stop releases
// the pipeline. The loopback is the skeleton of ./loopback-filter.js; this file creates the filter.
// Differences: no express/session (one WebSocket = one session), plain http:// and ws://, the
// kurento-client generation is chosen by the test, and the overlay image is the one the test
// generated (served by the test's web server as /img/mario-wings.png, like the tutorial's
// express.static does with static/img/mario-wings.png).

const { createLoopbackFilterApp } = require('./loopback-filter');

const OVERLAY_PATH = '/img/mario-wings.png';

/**
 * @param {object} o
 * @param {string} o.kurentoPkg kurento-client alias
 * @param {string} o.wsUri media server URI
 * @param {string} o.overlayImageFile the PNG served as /img/mario-wings.png
 */
function createMagicMirrorApp({ kurentoPkg, wsUri, overlayImageFile }) {
  /** Every setOverlayedImage URI, for the test. */
  const overlayUris = [];

  function createFilter(pipeline, { appServerUrl }, callback) {
    pipeline.create('FaceOverlayFilter', (error, faceOverlayFilter) => {
      if (error) return callback(error);
      const uri = appServerUrl + OVERLAY_PATH;
      overlayUris.push(uri);
      faceOverlayFilter.setOverlayedImage(uri, -0.35, -1.2, 1.6, 1.6, (error) => {
        if (error) return callback(error);
        return callback(null, faceOverlayFilter);
      });
    });
  }

  const app = createLoopbackFilterApp({ kurentoPkg, wsUri, path: '/magicmirror' }, { createFilter });
  return Object.assign(app, { files: { [OVERLAY_PATH]: overlayImageFile }, overlayPath: OVERLAY_PATH, overlayUris });
}

module.exports = { createMagicMirrorApp };
