// Browser side of kurento-tutorial-node/kurento-hello-world (static/js/index.js), rewritten with the
// same message flow: start → generateOffer → {id:'start', sdpOffer} → startResponse →
// processAnswer; ICE candidates both ways as onIceCandidate / iceCandidate; stop → {id:'stop'} and
// dispose. Additions for the test: only loopback candidates are signalled or applied, and
// window.testState records what happened.
'use strict';

var ws = new WebSocket('ws://' + location.host + '/helloworld');
var videoInput;
var videoOutput;
var webRtcPeer;

window.testState = {
  wsOpen: false,
  state: 'idle',
  errors: [],
  sentCandidates: [],
  droppedLocalCandidates: [],
  serverCandidates: [],
  droppedServerCandidates: [],
  sdpAnswer: null,
};

function log(msg) {
  console.log(msg);
}

function onError(error) {
  var msg = error && error.message ? error.message : String(error);
  window.testState.errors.push(msg);
  console.error(msg);
}

ws.onopen = function () {
  window.testState.wsOpen = true;
};

ws.onmessage = function (message) {
  var parsedMessage = JSON.parse(message.data);
  log('Received message: ' + parsedMessage.id);

  switch (parsedMessage.id) {
    case 'startResponse':
      startResponse(parsedMessage);
      break;
    case 'error':
      onError('Error message from server: ' + parsedMessage.message);
      break;
    case 'iceCandidate':
      window.testState.serverCandidates.push(parsedMessage.candidate);
      if (!kmsTest.isLoopbackCandidate(parsedMessage.candidate)) {
        window.testState.droppedServerCandidates.push(parsedMessage.candidate);
        return;
      }
      webRtcPeer.addIceCandidate(parsedMessage.candidate, function (error) {
        if (error) return onError('Error adding candidate: ' + error);
      });
      break;
    default:
      onError('Unrecognized message ' + parsedMessage.id);
  }
};

function start() {
  window.testState.state = 'starting';
  var options = {
    localVideo: videoInput,
    remoteVideo: videoOutput,
    onicecandidate: onIceCandidate,
    configuration: kmsTest.rtcConfiguration(),
  };

  webRtcPeer = kurentoUtils.WebRtcPeer.WebRtcPeerSendrecv(options, function (error) {
    if (error) return onError(error);
    this.generateOffer(onOffer);
  });
  window.webRtcPeer = webRtcPeer;
}

function onIceCandidate(candidate) {
  if (!kmsTest.isLoopbackCandidate(candidate)) {
    window.testState.droppedLocalCandidates.push(candidate.candidate);
    return;
  }
  window.testState.sentCandidates.push(candidate.candidate);
  sendMessage({ id: 'onIceCandidate', candidate: candidate });
}

function onOffer(error, offerSdp) {
  if (error) return onError(error);
  sendMessage({ id: 'start', sdpOffer: offerSdp });
}

function startResponse(message) {
  window.testState.sdpAnswer = message.sdpAnswer;
  webRtcPeer.processAnswer(kmsTest.filterSdp(message.sdpAnswer), function (error) {
    if (error) return onError(error);
    window.testState.state = 'started';
  });
}

function stop() {
  if (webRtcPeer) {
    webRtcPeer.dispose();
    webRtcPeer = null;
    sendMessage({ id: 'stop' });
  }
  window.testState.state = 'stopped';
}

function sendMessage(message) {
  ws.send(JSON.stringify(message));
}

// Polled by the test: RTP statistics of the peer connection plus the <video> elements.
window.testStats = async function () {
  if (!webRtcPeer) return null;
  return {
    stats: await kmsTest.summarizeStats(webRtcPeer.peerConnection),
    remoteVideo: kmsTest.videoElementInfo(videoOutput),
    localVideo: kmsTest.videoElementInfo(videoInput),
  };
};

window.addEventListener('load', function () {
  videoInput = document.getElementById('videoInput');
  videoOutput = document.getElementById('videoOutput');
  document.getElementById('start').addEventListener('click', start);
  document.getElementById('stop').addEventListener('click', stop);
});
