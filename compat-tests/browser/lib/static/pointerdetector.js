// Browser side of kurento-tutorial-node/kurento-pointerdetector (static/js/index.js), rewritten with
// the same message flow: start → WebRtcPeerSendrecv → generateOffer → {id:'start', sdpOffer} →
// startResponse → processAnswer; ICE candidates both ways as onIceCandidate / iceCandidate;
// Calibrate → {id:'calibrate'}; WindowIn / WindowOut → "Window in detected in <roiId>" / "Window out
// detected in <roiId>" in the console; stop → {id:'stop'} and dispose. (The tutorial's switch has a
// second, unreachable case 'error'; left out.) The loopback page is loopback-filter.js; this file
// adds WindowIn / WindowOut and Calibrate. Additions for the test: only loopback candidates are
// signalled or applied, the camera is sent at its full size (kmsTest.keepResolution: the tutorial's
// windows are in pixels of a 640×480 picture), window.testState records what happened (with every
// message by id and the filter's events), and window.testProbe / window.testSnapshot read the
// pixels of the local and remote <video> through a canvas.
'use strict';

loopbackPage({
  path: '/pointerdetector',
  messages: { WindowIn: windowIn, WindowOut: windowOut },
  recordMessages: true,
  keepResolution: true,
});

function windowIn(message) {
  log('Window in detected in ' + message.roiId);
}

function windowOut(message) {
  log('Window out detected in ' + message.roiId);
}

function calibrate() {
  if (webRtcPeer) {
    log('Calibrating...');
    sendMessage({ id: 'calibrate' });
  }
}

window.addEventListener('load', function () {
  document.getElementById('calibrate').addEventListener('click', calibrate);
});

// ---- pixel probes (test only) ----------------------------------------------------------------

// geom: { width, height, regions: {name: {x0, y0, x1, y1}} } in camera coordinates. What the
// remote (through the server) and the local (raw camera) <video> show there (kmsTest.probeFrames).
window.testProbe = function (geom) {
  return kmsTest.probeFrames(videoOutput, videoInput, geom.width, geom.height, geom.regions);
};
