'use strict';
// Application server of kurento-tutorial-node/kurento-hello-world (WebRTC loopback), written again
// with the same structure and the same kurento-client calls as the tutorial's server.js:
// getKurentoClient → start → createMediaElements (WebRtcEndpoint) → connectMediaElements
// (webRtcEndpoint → webRtcEndpoint) → processOffer + gatherCandidates; onIceCandidate queues
// browser candidates until the endpoint exists; stop releases the pipeline. All of it is the
// loopback skeleton of ./loopback-filter.js, with no filter. Differences: no express/session (one
// WebSocket = one session), plain ws://, the kurento-client generation is chosen by the test, and
// an optional TURN URL is set on the endpoint with setTurnUrl (variant (c) of the hello-world test).

const { createLoopbackFilterApp } = require('./loopback-filter');

function createHelloWorldApp({ kurentoPkg, wsUri, turnUrl = null }) {
  return createLoopbackFilterApp({ kurentoPkg, wsUri, path: '/helloworld', turnUrl });
}

module.exports = { createHelloWorldApp };
