'use strict';
// Application server of kurento-tutorial-node/kurento-platedetector (WebRTC loopback through KMS's
// optional PlateDetectorFilter, module kurento-module-platedetector), written again with the same
// structure and the same kurento-client calls as the tutorial's server.js:
// kurento.register('kurento-module-platedetector') → getKurentoClient → start →
// createMediaElements (WebRtcEndpoint, then 'platedetector.PlateDetectorFilter', no parameters) →
// connectMediaElements (webRtcEndpoint → filter → webRtcEndpoint) → IceCandidateFound, and the
// filter's PlateDetected events, each sent to the page as {id: 'plateDetected', data} through
// start's callback (which the tutorial calls once per event) → processOffer + gatherCandidates;
// onIceCandidate queues browser candidates until the endpoint exists; stop releases the pipeline.
// The loopback is the skeleton of ./loopback-filter.js; this file creates the filter and
// subscribes to its event. Differences: no express/session (one WebSocket = one session), plain
// ws://, the kurento-client generation (and its copy of the module package) is chosen by the test,
// and the events are also recorded (`events`) for the test.

const kurentoLib = require('../kurento');
const { createLoopbackFilterApp } = require('./loopback-filter');

/**
 * @param {object} o
 * @param {string} o.kurentoPkg kurento-client alias
 * @param {string} o.wsUri media server URI
 */
function createPlateDetectorApp({ kurentoPkg, wsUri }) {
  kurentoLib.loadModule(kurentoPkg, 'platedetector'); // kurento.register('kurento-module-platedetector')
  /** Every filter event as the application got it: { type: 'PlateDetected', data, at }. */
  const events = [];

  const app = createLoopbackFilterApp({ kurentoPkg, wsUri, path: '/platedetector' }, {
    createFilter(pipeline, ctx, callback) {
      pipeline.create('platedetector.PlateDetectorFilter', callback);
    },
    afterIceCandidateFound({ filter, callback }) {
      filter.on('PlateDetected', (data) => {
        events.push({ type: 'PlateDetected', data, at: Date.now() });
        return callback(null, 'plateDetected', data);
      });
    },
    eventMessage: (type, data) => ({ id: 'plateDetected', data }),
  });
  return Object.assign(app, { events });
}

module.exports = { createPlateDetectorApp };
