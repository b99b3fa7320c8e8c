// Browser side that kurento-tutorial-node's WebRTC loopback demos share (static/js/index.js of
// kurento-hello-world, kurento-magic-mirror, kurento-chroma, kurento-crowddetector,
// kurento-platedetector and kurento-pointerdetector), written once with the message flow they
// have in common: start → WebRtcPeerSendrecv → generateOffer → {id:'start', sdpOffer} →
// startResponse → processAnswer; ICE candidates both ways as onIceCandidate / iceCandidate; a
// server error returns to the idle state; stop → {id:'stop'} and dispose. As in the tutorials,
// ws, videoInput, videoOutput, webRtcPeer, log, onError, sendMessage, start and stop are globals:
// each page's own script, loaded after this one, calls loopbackPage({...}) with its WebSocket path
// and the handlers of its own server messages, and uses those globals. Additions for the test: only
// loopback candidates are signalled or applied, window.testState records what happened (with
// `recordMessages`, also every message by id and the filter's events), `keepResolution` sends the
// camera at its full size (kmsTest.keepResolution), window.testStats reads the RTP statistics and
// the <video> elements, and window.testSnapshot takes PNGs of the local and remote <video>.
'use strict';

var ws;
var videoInput;
var videoOutput;
var webRtcPeer;
var loopbackOptions;

/**
 * Opens the page's signalling socket and wires the Start / Stop buttons.
 * @param {object} options
 * @param {string} options.path the application's WebSocket path, e.g. '/helloworld'
 * @param {Object<string, function(object)>} [options.messages] handlers of the page's own server
 *   messages, by id (the rest end in "Unrecognized message <id>")
 * @param {boolean} [options.recordMessages] test only: count every message by id
 *   (testState.received) and keep those other than startResponse / error / iceCandidate
 *   (testState.filterEvents, the first 1000)
 * @param {boolean} [options.keepResolution] test only: once the answer is applied, ask the sender
 *   to keep the camera's resolution (testState.degradationPreference)
 */
function loopbackPage(options) {
  loopbackOptions = options;
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
  if (options.recordMessages) {
    // Test only: how many messages of each id arrived, and the filter's events as they came.
    window.testState.received = {};
    window.testState.filterEvents = [];
  }

  ws = new WebSocket('ws://' + location.host + options.path);
  ws.onopen = function () {
    window.testState.wsOpen = true;
  };
  ws.onmessage = onMessage;

  window.addEventListener('load', function () {
    videoInput = document.getElementById('videoInput');
    videoOutput = document.getElementById('videoOutput');
    document.getElementById('start').addEventListener('click', start);
    document.getElementById('stop').addEventListener('click', stop);
  });
}

function log(msg) {
  console.log(msg);
}

function onError(error) {
  var msg = error && error.message ? error.message : String(error);
  window.testState.errors.push(msg);
  console.error(msg);
}

function onMessage(message) {
  var parsedMessage = JSON.parse(message.data);
  log('Received message: ' + parsedMessage.id);
  if (loopbackOptions.recordMessages) recordMessage(parsedMessage);

  var handlers = loopbackOptions.messages || {};
  switch (parsedMessage.id) {
    case 'startResponse':
      startResponse(parsedMessage);
      break;
    case 'error':
      window.testState.state = 'idle';
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
      if (Object.prototype.hasOwnProperty.call(handlers, parsedMessage.id)) {
        handlers[parsedMessage.id](parsedMessage);
        break;
      }
      onError('Unrecognized message ' + parsedMessage.id);
  }
}

function recordMessage(parsedMessage) {
  window.testState.received[parsedMessage.id] = (window.testState.received[parsedMessage.id] || 0) + 1;
  if (['startResponse', 'error', 'iceCandidate'].indexOf(parsedMessage.id) === -1 && window.testState.filterEvents.length < 1000) {
    window.testState.filterEvents.push(parsedMessage);
  }
}

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
    if (loopbackOptions.keepResolution) {
      // Test only: the filter works on the camera's own pixels, so keep them (see kmsTest.keepResolution).
      kmsTest.keepResolution(webRtcPeer.peerConnection).then(function (result) {
        window.testState.degradationPreference = result;
      });
    }
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

// A PNG (data: URL) of the current frame of the remote ('remote') or local ('local') <video>, at
// the video's own resolution.
window.testSnapshot = function (which) {
  return kmsTest.snapshot(which === 'local' ? videoInput : videoOutput);
};
