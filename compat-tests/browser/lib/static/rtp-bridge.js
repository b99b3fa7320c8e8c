// Page of the RTP bridge test. ?direction=send: the fake camera goes out with WebRtcPeerSendonly
// (towards ffmpeg); ?direction=recv: ffmpeg's test pattern comes in with WebRtcPeerRecvonly. The
// signalling is the hello-world tutorial's; only loopback candidates are signalled or applied, and
// window.testState records what happened.
'use strict';

var ws = new WebSocket('ws://' + location.host + '/rtpbridge');
var direction = kmsTest.params.get('direction') || 'send';
var videoInput;
var videoOutput;
var webRtcPeer;

window.testState = { wsOpen: false, state: 'idle', errors: [], serverCandidates: [], sdpAnswer: null };

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
  switch (parsed.id) {
    case 'startResponse':
      window.testState.sdpAnswer = parsed.sdpAnswer;
      webRtcPeer.processAnswer(kmsTest.filterSdp(parsed.sdpAnswer), function (error) {
        if (error) return onError(error);
        window.testState.state = 'started';
      });
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

function start() {
  window.testState.state = 'starting';
  var options = {
    onicecandidate: function (candidate) {
      if (kmsTest.isLoopbackCandidate(candidate)) sendMessage({ id: 'onIceCandidate', candidate: candidate });
    },
    configuration: kmsTest.rtcConfiguration(),
  };
  var ctor;
  if (direction === 'send') {
    options.localVideo = videoInput;
    ctor = kurentoUtils.WebRtcPeer.WebRtcPeerSendonly;
  } else {
    options.remoteVideo = videoOutput;
    ctor = kurentoUtils.WebRtcPeer.WebRtcPeerRecvonly;
  }
  webRtcPeer = ctor(options, function (error) {
    if (error) return onError(error);
    this.generateOffer(function (error, offerSdp) {
      if (error) return onError(error);
      sendMessage({ id: 'start', sdpOffer: offerSdp });
    });
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
