// Browser side of kurento-tutorial-js/kurento-recorder (js/index.js), with the kurento-client part
// moved to the application (lib/apps/recorder.js) and the hello-world tutorial's signalling:
// start → WebRtcPeerSendrecv (local camera out, loopback back in) → {id:'start', sdpOffer} →
// startResponse → processAnswer; the server's 'recording' says the file is being written; stop →
// {id:'stop'} → 'stopped' (recording finalised, pipeline released) → dispose; play →
// WebRtcPeerRecvonly → {id:'play', sdpOffer} → playResponse → processAnswer; 'playEnd' is the
// player's EndOfStream. ICE candidates both ways as onIceCandidate / iceCandidate, loopback only.
// window.testState records what happened.
'use strict';

var ws = new WebSocket('ws://' + location.host + '/recorder');
var videoInput;
var videoOutput;
var webRtcPeer;

window.testState = {
  wsOpen: false,
  state: 'idle',
  recording: false,
  playEnded: false,
  errors: [],
  serverCandidates: [],
  sdpAnswer: null,
};

function onError(error) {
  var msg = error && error.message ? error.message : String(error);
  window.testState.errors.push(msg);
  console.error(msg);
}

ws.onopen = function () {
  window.testState.wsOpen = true;
};

ws.onmessage = function (message) {
  var parsed = JSON.parse(message.data);
  console.log('Received message: ' + parsed.id);

  switch (parsed.id) {
    case 'startResponse':
      processAnswer(parsed.sdpAnswer, 'started');
      break;
    case 'playResponse':
      processAnswer(parsed.sdpAnswer, 'playing');
      break;
    case 'recording':
      window.testState.recording = true;
      break;
    case 'stopped':
      dispose();
      window.testState.state = 'stopped';
      break;
    case 'playEnd':
      // As the tutorial: the player's pipeline is gone; the peer is left until stop.
      window.testState.playEnded = true;
      break;
    case 'error':
      onError('Error message from server: ' + parsed.message);
      break;
    case 'iceCandidate':
      window.testState.serverCandidates.push(parsed.candidate);
      if (!kmsTest.isLoopbackCandidate(parsed.candidate)) return;
      webRtcPeer.addIceCandidate(parsed.candidate, function (error) {
        if (error) return onError('Error adding candidate: ' + error);
      });
      break;
    default:
      onError('Unrecognized message ' + parsed.id);
  }
};

function createPeer(ctor, options, messageId) {
  options.onicecandidate = function (candidate) {
    if (kmsTest.isLoopbackCandidate(candidate)) sendMessage({ id: 'onIceCandidate', candidate: candidate });
  };
  options.configuration = kmsTest.rtcConfiguration();
  webRtcPeer = ctor(options, function (error) {
    if (error) return onError(error);
    this.generateOffer(function (error, offerSdp) {
      if (error) return onError(error);
      sendMessage({ id: messageId, sdpOffer: offerSdp });
    });
  });
}

function processAnswer(sdpAnswer, state) {
  window.testState.sdpAnswer = sdpAnswer;
  webRtcPeer.processAnswer(kmsTest.filterSdp(sdpAnswer), function (error) {
    if (error) return onError(error);
    window.testState.state = state;
  });
}

function startRecording() {
  window.testState.state = 'starting';
  createPeer(
    kurentoUtils.WebRtcPeer.WebRtcPeerSendrecv,
    { localVideo: videoInput, remoteVideo: videoOutput },
    'start',
  );
}

function startPlaying() {
  window.testState.state = 'playStarting';
  window.testState.serverCandidates = [];
  createPeer(kurentoUtils.WebRtcPeer.WebRtcPeerRecvonly, { remoteVideo: videoOutput }, 'play');
}

function stop() {
  if (window.testState.state === 'started') {
    // Recording: the peer keeps sending until the server has finalised the file.
    window.testState.state = 'stopping';
    sendMessage({ id: 'stop' });
    return;
  }
  if (webRtcPeer) sendMessage({ id: 'stop' });
  dispose();
  window.testState.state = 'stopped';
}

function dispose() {
  if (webRtcPeer) {
    webRtcPeer.dispose();
    webRtcPeer = null;
  }
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
  document.getElementById('start').addEventListener('click', startRecording);
  document.getElementById('stop').addEventListener('click', stop);
  document.getElementById('play').addEventListener('click', startPlaying);
});
