// Browser side of kurento-tutorial-node/kurento-one2one-call (static/js/index.js), rewritten with the
// same message flow and states. The callee accepts through window.confirm() as in the tutorial (the
// test answers the dialog). Additions: loopback-only candidates and window.testState.
'use strict';

var ws = new WebSocket('ws://' + location.host + '/one2one');
var videoInput;
var videoOutput;
var webRtcPeer;

var NOT_REGISTERED = 0;
var REGISTERING = 1;
var REGISTERED = 2;
var NO_CALL = 0;
var PROCESSING_CALL = 1;
var IN_CALL = 2;
var registerState = null;
var callState = null;

window.testState = {
  wsOpen: false,
  registered: false,
  call: 'none', // none | processing | in_call
  answerApplied: false,
  stopCommunications: 0,
  rejections: [],
  errors: [],
  serverCandidates: [],
  sentCandidates: [],
};

function setRegisterState(nextState) {
  registerState = nextState;
  window.testState.registered = nextState === REGISTERED;
}

function setCallState(nextState) {
  callState = nextState;
  window.testState.call = ['none', 'processing', 'in_call'][nextState];
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
  console.info('Received message: ' + parsedMessage.id);

  switch (parsedMessage.id) {
    case 'registerResponse':
      resgisterResponse(parsedMessage);
      break;
    case 'callResponse':
      callResponse(parsedMessage);
      break;
    case 'incomingCall':
      incomingCall(parsedMessage);
      break;
    case 'startCommunication':
      startCommunication(parsedMessage);
      break;
    case 'stopCommunication':
      console.info('Communication ended by remote peer');
      window.testState.stopCommunications++;
      stop(true);
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

function resgisterResponse(message) {
  if (message.response == 'accepted') {
    setRegisterState(REGISTERED);
  } else {
    setRegisterState(NOT_REGISTERED);
    onError('Error registering user: ' + (message.message || message.response));
  }
}

function callResponse(message) {
  if (message.response != 'accepted') {
    console.info('Call not accepted by peer. Closing call');
    window.testState.rejections.push(message.message || message.response);
    stop(true);
  } else {
    setCallState(IN_CALL);
    applyAnswer(message.sdpAnswer);
  }
}

function startCommunication(message) {
  setCallState(IN_CALL);
  applyAnswer(message.sdpAnswer);
}

function applyAnswer(sdpAnswer) {
  webRtcPeer.processAnswer(kmsTest.filterSdp(sdpAnswer), function (error) {
    if (error) return onError(error);
    window.testState.answerApplied = true;
  });
}

function peerOptions() {
  return {
    localVideo: videoInput,
    remoteVideo: videoOutput,
    onicecandidate: onIceCandidate,
    configuration: kmsTest.rtcConfiguration(),
  };
}

function incomingCall(message) {
  // If bussy just reject without disturbing user
  if (callState != NO_CALL) {
    return sendMessage({
      id: 'incomingCallResponse',
      from: message.from,
      callResponse: 'reject',
      message: 'bussy',
    });
  }

  setCallState(PROCESSING_CALL);
  if (confirm('User ' + message.from + ' is calling you. Do you accept the call?')) {
    webRtcPeer = kurentoUtils.WebRtcPeer.WebRtcPeerSendrecv(peerOptions(), function (error) {
      if (error) {
        onError(error);
        setCallState(NO_CALL);
      }
      this.generateOffer(function (error, offerSdp) {
        if (error) {
          onError(error);
          setCallState(NO_CALL);
        }
        sendMessage({
          id: 'incomingCallResponse',
          from: message.from,
          callResponse: 'accept',
          sdpOffer: offerSdp,
        });
      });
    });
  } else {
    sendMessage({
      id: 'incomingCallResponse',
      from: message.from,
      callResponse: 'reject',
      message: 'user declined',
    });
    stop(true);
  }
}

function register() {
  var name = document.getElementById('name').value;
  if (name == '') {
    window.alert('You must insert your user name');
    return;
  }
  setRegisterState(REGISTERING);
  sendMessage({ id: 'register', name: name });
}

function call() {
  if (document.getElementById('peer').value == '') {
    window.alert('You must specify the peer name');
    return;
  }
  setCallState(PROCESSING_CALL);
  webRtcPeer = kurentoUtils.WebRtcPeer.WebRtcPeerSendrecv(peerOptions(), function (error) {
    if (error) {
      onError(error);
      setCallState(NO_CALL);
    }
    this.generateOffer(function (error, offerSdp) {
      if (error) {
        onError(error);
        setCallState(NO_CALL);
      }
      sendMessage({
        id: 'call',
        from: document.getElementById('name').value,
        to: document.getElementById('peer').value,
        sdpOffer: offerSdp,
      });
    });
  });
}

function stop(message) {
  setCallState(NO_CALL);
  window.testState.answerApplied = false;
  if (webRtcPeer) {
    webRtcPeer.dispose();
    webRtcPeer = null;
    if (!message) sendMessage({ id: 'stop' });
  }
}

function sendMessage(message) {
  ws.send(JSON.stringify(message));
}

function onIceCandidate(candidate) {
  if (!kmsTest.isLoopbackCandidate(candidate)) return;
  window.testState.sentCandidates.push(candidate.candidate);
  sendMessage({ id: 'onIceCandidate', candidate: candidate });
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
  setRegisterState(NOT_REGISTERED);
  setCallState(NO_CALL);
  videoInput = document.getElementById('videoInput');
  videoOutput = document.getElementById('videoOutput');
  document.getElementById('register').addEventListener('click', register);
  document.getElementById('call').addEventListener('click', call);
  document.getElementById('terminate').addEventListener('click', function () {
    stop();
  });
});
