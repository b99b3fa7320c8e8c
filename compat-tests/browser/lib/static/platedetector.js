// Browser side of kurento-tutorial-node/kurento-platedetector (static/js/index.js), rewritten with
// the same message flow: start → WebRtcPeerSendrecv → generateOffer → {id:'start', sdpOffer} →
// startResponse → processAnswer; ICE candidates both ways as onIceCandidate / iceCandidate;
// plateDetected → "License plate detected <plate>" in the console; stop → {id:'stop'} and dispose.
// The loopback page is loopback-filter.js; this file adds plateDetected. Additions for the test:
// only loopback candidates are signalled or applied, the camera is sent at its full size
// (kmsTest.keepResolution: the plate's characters need their pixels), window.testState records
// what happened (with every message by id and the filter's events), and window.testSnapshot takes
// PNGs of the local and remote <video> for failure reports.
'use strict';

loopbackPage({
  path: '/platedetector',
  messages: { plateDetected: plateDetected },
  recordMessages: true,
  keepResolution: true,
});

function plateDetected(message) {
  log('License plate detected ' + message.data.plate);
}
