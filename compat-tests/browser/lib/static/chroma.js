// Browser side of kurento-tutorial-node/kurento-chroma (static/js/index.js), rewritten with the same
// message flow: start → WebRtcPeerSendrecv → generateOffer → {id:'start', sdpOffer} → startResponse
// → processAnswer; ICE candidates both ways as onIceCandidate / iceCandidate; stop → {id:'stop'} and
// dispose; all of it the loopback page of loopback-filter.js. Additions for the test: only loopback
// candidates are signalled or applied, window.testState records what happened, and
// window.testProbe / window.testSnapshot read the pixels of the local and remote <video> through a
// canvas.
'use strict';

loopbackPage({ path: '/chroma' });

// ---- pixel probes (test only) ----------------------------------------------------------------

// geom: { width, height, regions: {name: {x0, y0, x1, y1}} } in camera coordinates. What the
// remote (through the server) and the local (raw camera) <video> show there (kmsTest.probeFrames).
window.testProbe = function (geom) {
  return kmsTest.probeFrames(videoOutput, videoInput, geom.width, geom.height, geom.regions);
};
