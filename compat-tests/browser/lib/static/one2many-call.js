// Browser side of kurento-tutorial-node/kurento-one2many-call (static/js/index.js), rewritten with the
// same message flow: presenter → WebRtcPeerSendonly + {id:'presenter'}; viewer →
// WebRtcPeerRecvonly + {id:'viewer'}; *Response → processAnswer; stopCommunication → dispose.
// Additions: loopback-only candidates and window.testState; `?videoCodec=H264` makes a viewer offer
// that video codec only (setCodecPreferences before the offer is created).
'use strict';

var ws = new WebSocket('ws://' + location.host + '/one2many');
var video;
var webRtcPeer;

window.testState = {
  wsOpen: false,
  role: null,
  answerApplied: false,
  stopCommunications: 0,
  rejections: [],
  errors: [],
  serverCandidates: [],
  videoCodecPreferences: null,
  offerVideoCodecs: null,
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
  var parsedMessage = JSON.parse(message.data);
  console.info('Received message: ' + parsedMessage.id);

  switch (parsedMessage.id) {
    case 'presenterResponse':
      presenterResponse(parsedMessage);
      break;
    case 'viewerResponse':
      viewerResponse(parsedMessage);
      break;
    case 'stopCommunication':
      window.testState.stopCommunications++;
      dispose();
      break;
    case 'iceCandidate':
      window.testState.serverCandidates.push(parsedMessage.candidate);
      if (!kmsTest.isLoopbackCandidate(parsedMessage.candidate)) return;
      webRtcPeer.addIceCandidate(parsedMessage.candidate, function (error) {
        if (error) return onError('Error adding candidate: ' + error);
      });
      break;
    default:
      onError('Unrecognized message ' + parsedMessage.id);
  }
};

function presenterResponse(message) {
  if (message.response != 'accepted') {
    window.testState.rejections.push(message.message || message.response);
    console.warn('Call not accepted for the following reason: ' + message.message);
    dispose();
  } else {
    applyAnswer(message.sdpAnswer);
  }
}

function viewerResponse(message) {
  if (message.response != 'accepted') {
    window.testState.rejections.push(message.message || message.response);
    console.warn('Call not accepted for the following reason: ' + message.message);
    dispose();
  } else {
    applyAnswer(message.sdpAnswer);
  }
}

function applyAnswer(sdpAnswer) {
  webRtcPeer.processAnswer(kmsTest.filterSdp(sdpAnswer), function (error) {
    if (error) return onError(error);
    window.testState.answerApplied = true;
  });
}

function presenter() {
  if (!webRtcPeer) {
    window.testState.role = 'presenter';
    var options = {
      localVideo: video,
      onicecandidate: onIceCandidate,
      configuration: kmsTest.rtcConfiguration(),
    };
    webRtcPeer = kurentoUtils.WebRtcPeer.WebRtcPeerSendonly(options, function (error) {
      if (error) return onError(error);
      this.generateOffer(onOfferPresenter);
    });
  }
}

function onOfferPresenter(error, offerSdp) {
  if (error) return onError(error);
  sendMessage({ id: 'presenter', sdpOffer: offerSdp });
}

function viewer() {
  if (!webRtcPeer) {
    window.testState.role = 'viewer';
    var options = {
      remoteVideo: video,
      onicecandidate: onIceCandidate,
      configuration: kmsTest.rtcConfiguration(),
    };
    webRtcPeer = kurentoUtils.WebRtcPeer.WebRtcPeerRecvonly(options, function (error) {
      if (error) return onError(error);
      var videoCodec = kmsTest.params.get('videoCodec');
      if (videoCodec) {
        try {
          window.testState.videoCodecPreferences = kmsTest
            .restrictVideoCodec(this.peerConnection, 'video/' + videoCodec)
            .map(function (c) {
              return c.mimeType + (c.sdpFmtpLine ? ' ' + c.sdpFmtpLine : '');
            });
        } catch (e) {
          return onError(e);
        }
      }
      this.generateOffer(onOfferViewer);
    });
  }
}

function onOfferViewer(error, offerSdp) {
  if (error) return onError(error);
  window.testState.offerVideoCodecs = kmsTest.videoCodecsOf(offerSdp);
  sendMessage({ id: 'viewer', sdpOffer: offerSdp });
}

function onIceCandidate(candidate) {
  if (!kmsTest.isLoopbackCandidate(candidate)) return;
  sendMessage({ id: 'onIceCandidate', candidate: candidate });
}

function stop() {
  if (webRtcPeer) {
    sendMessage({ id: 'stop' });
    dispose();
  }
}

function dispose() {
  window.testState.answerApplied = false;
  if (webRtcPeer) {
    webRtcPeer.dispose();
    webRtcPeer = null;
  }
}

function sendMessage(message) {
  ws.send(JSON.stringify(message));
}

window.testStats = async function () {
  if (!webRtcPeer) return null;
  return {
    stats: await kmsTest.summarizeStats(webRtcPeer.peerConnection),
    remoteVideo: kmsTest.videoElementInfo(video),
  };
};

window.addEventListener('load', function () {
  video = document.getElementById('video');
  document.getElementById('call').addEventListener('click', presenter);
  document.getElementById('viewer').addEventListener('click', viewer);
  document.getElementById('terminate').addEventListener('click', stop);
});
